//! What callers get back: a [`Reservation`] or a [`Refused`], a [`Completion`], a [`Usage`].

use serde::{Deserialize, Serialize};
use trestle_tiers::Tier;
use uuid::Uuid;

use crate::limits::Month;

/// Which store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// The shared Redis script: the limit holds across all engine instances.
    Redis,
    /// This instance's own share, because Redis did not answer.
    LocalFallback,
}

impl Source {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::LocalFallback => "local_fallback",
        }
    }
}

/// Room held for one AI call until it is settled or released. Pass it back to
/// [`Budgets::settle`](crate::Budgets::settle) or [`Budgets::release`](crate::Budgets::release);
/// it may be stored (serde) to settle after a restart within `settle_window_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub(crate) id: Uuid,
    pub(crate) company_id: Uuid,
    pub(crate) month: Month,
    pub(crate) estimate_micro_usd: i64,
    /// Redis server time (ms since the epoch) when reserved; this machine's for a local one.
    pub(crate) reserved_at_ms: i64,
    pub(crate) source: Source,
}

impl Reservation {
    /// Unique per reservation; settle and release count once per id.
    pub fn id(&self) -> Uuid {
        self.id
    }
    pub fn company_id(&self) -> Uuid {
        self.company_id
    }
    pub fn month(&self) -> Month {
        self.month
    }
    /// The cost held, in micro-USD.
    pub fn estimate_micro_usd(&self) -> i64 {
        self.estimate_micro_usd
    }
    /// When it was made, ms since the Unix epoch.
    pub fn reserved_at_ms(&self) -> i64 {
        self.reserved_at_ms
    }
    /// Whether the shared budget or this instance's fallback share granted it.
    pub fn source(&self) -> Source {
        self.source
    }
}

/// The limit a refused reservation would have crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Monthly AI queries.
    Queries,
    /// Monthly AI cost (micro-USD).
    Cost,
}

/// A reservation was refused: the call must not go to the provider. Not a
/// [`crate::Error`]: it is the budget doing its job. `Display` is a message for people;
/// `std::error::Error` is implemented only so callers can pass it on with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub company_id: Uuid,
    pub month: Month,
    /// The limit reached.
    pub which: LimitKind,
    /// Its value: queries, or micro-USD.
    pub limit: i64,
    /// Queries made, or micro-USD spent, this month (as far as `source` knows).
    pub used: i64,
    /// Held by reservations in flight, same unit.
    pub reserved: i64,
    /// The tier the limits came from, if they came from one.
    pub tier: Option<Tier>,
    pub source: Source,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tier = self.tier.map(|t| format!(" ({t})")).unwrap_or_default();
        match self.which {
            LimitKind::Queries => write!(
                f,
                "monthly AI query limit {}{tier} reached: {} used, {} reserved",
                thousands(self.limit),
                thousands(self.used),
                thousands(self.reserved)
            ),
            LimitKind::Cost => write!(
                f,
                "monthly AI cost limit {}{tier} reached: {} spent, {} reserved",
                dollars(self.limit),
                dollars(self.used),
                dollars(self.reserved)
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// What a settle or release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Completion {
    /// Applied to the shared budget now.
    Applied,
    /// This reservation was already settled or released: nothing changed.
    AlreadyDone,
    /// Later than `settle_window_ms` after the reservation: ignored (its hold was reclaimed
    /// long ago, and it can no longer be told apart from a repeat).
    TooLate,
    /// Redis did not answer: applied to this instance's fallback and queued; sent to Redis when
    /// it answers again.
    Queued,
}

impl Completion {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Completion::Applied => "applied",
            Completion::AlreadyDone => "already_done",
            Completion::TooLate => "too_late",
            Completion::Queued => "queued",
        }
    }
}

/// A company's month as Redis holds it (after reclaiming expired reservations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Settled queries.
    pub queries_used: i64,
    /// Queries held by reservations in flight.
    pub queries_reserved: i64,
    /// Settled cost, micro-USD.
    pub cost_spent_micro_usd: i64,
    /// Cost held by reservations in flight, micro-USD.
    pub cost_reserved_micro_usd: i64,
}

/// `12,000`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// `$1,049.98`, rounded to the nearest cent.
fn dollars(micro_usd: i64) -> String {
    let cents = (i128::from(micro_usd.unsigned_abs()) + 5_000) / 10_000;
    let sign = if micro_usd < 0 { "-" } else { "" };
    let whole = i64::try_from(cents / 100).unwrap_or(i64::MAX);
    format!("{sign}${}.{:02}", thousands(whole), cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(which: LimitKind, limit: i64, used: i64, reserved: i64) -> Refused {
        Refused {
            company_id: Uuid::nil(),
            month: Month::new(2025, 6).unwrap(),
            which,
            limit,
            used,
            reserved,
            tier: Some(Tier::Professional),
            source: Source::Redis,
        }
    }

    #[test]
    fn refusal_message_names_the_limit_in_dollars_or_queries() {
        assert_eq!(
            refused(LimitKind::Cost, 50_000_000, 49_980_000, 50_000).to_string(),
            "monthly AI cost limit $50.00 (professional) reached: $49.98 spent, $0.05 reserved"
        );
        let mut by_hand = refused(LimitKind::Queries, 12_000, 11_998, 2);
        by_hand.tier = None;
        assert_eq!(
            by_hand.to_string(),
            "monthly AI query limit 12,000 reached: 11,998 used, 2 reserved"
        );
    }

    #[test]
    fn formats_money_to_the_nearest_cent() {
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(4_999), "$0.00");
        assert_eq!(dollars(5_000), "$0.01");
        assert_eq!(dollars(1_049_980_000), "$1,049.98");
        assert_eq!(dollars(-1_500_000), "-$1.50");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
