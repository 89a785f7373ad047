//! The budget script's keys, arguments and replies as Rust values, without any I/O.

use uuid::Uuid;

use crate::limits::{Month, MonthlyLimits};
use crate::options::BudgetOptions;
use crate::outcome::{LimitKind, Reservation, Usage};

/// What the script is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Reserve,
    Settle,
    Release,
    Peek,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Reserve => "reserve",
            Op::Settle => "settle",
            Op::Release => "release",
            Op::Peek => "peek",
        }
    }
}

/// One script call: `EVALSHA sha 3 keys… args…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) op: Op,
    /// The month's hash, its open reservations, its completed ids.
    pub(crate) keys: [String; 3],
    pub(crate) args: Vec<String>,
}

/// The hash holding a company's month: `{key_prefix}budget:{company_id}:{YYYY-MM}`; the two
/// sorted sets append `:open` and `:done`. NEVER CHANGE: budgets already in Redis live there.
pub(crate) fn month_key(prefix: &str, company_id: Uuid, month: Month) -> String {
    format!("{prefix}budget:{}:{month}", company_id.hyphenated())
}

/// Where a budget's keys live and how long they are kept: the shared Redis key prefix and the
/// budget's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) key_prefix: &'a str,
    pub(crate) options: &'a BudgetOptions,
}

impl Call {
    fn new(op: Op, scope: &Scope<'_>, company_id: Uuid, month: Month) -> Call {
        let (options, hash) = (
            scope.options,
            month_key(scope.key_prefix, company_id, month),
        );
        Call {
            op,
            keys: [hash.clone(), format!("{hash}:open"), format!("{hash}:done")],
            args: vec![
                op.as_str().to_owned(),
                options.reservation_ttl_ms.to_string(),
                options.settle_window_ms.to_string(),
                options.month_key_ttl_ms.to_string(),
            ],
        }
    }

    /// Holds one query and `estimate` micro-USD if both fit under `limits`.
    pub(crate) fn reserve(
        scope: &Scope<'_>,
        company_id: Uuid,
        month: Month,
        id: Uuid,
        limits: MonthlyLimits,
        estimate_micro_usd: i64,
    ) -> Call {
        let mut call = Call::new(Op::Reserve, scope, company_id, month);
        let queries = limits
            .queries
            .map_or(-1, |q| i64::try_from(q).unwrap_or(i64::MAX));
        call.args.extend([
            id.simple().to_string(),
            estimate_micro_usd.to_string(),
            queries.to_string(),
            limits.cost_micro_usd.unwrap_or(-1).to_string(),
        ]);
        call
    }

    /// Settles (`actual` spent) or, with `None`, releases a reservation.
    pub(crate) fn complete(
        scope: &Scope<'_>,
        reservation: &Reservation,
        actual_micro_usd: Option<i64>,
    ) -> Call {
        let op = if actual_micro_usd.is_some() {
            Op::Settle
        } else {
            Op::Release
        };
        let mut call = Call::new(op, scope, reservation.company_id, reservation.month);
        call.args.extend([
            reservation.id.simple().to_string(),
            reservation.estimate_micro_usd.to_string(),
            reservation.reserved_at_ms.to_string(),
            actual_micro_usd.unwrap_or(0).to_string(),
        ]);
        call
    }

    /// Reads the usage (reclaiming expired holds first).
    pub(crate) fn peek(scope: &Scope<'_>, company_id: Uuid, month: Month) -> Call {
        Call::new(Op::Peek, scope, company_id, month)
    }
}

/// What the script did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Granted,
    Refused(LimitKind),
    /// `was_open`: the reservation still held room, which was given back.
    Applied {
        was_open: bool,
    },
    AlreadyDone,
    TooLate,
    Peeked,
}

/// A parsed script reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: Status,
    /// The usage after the call.
    pub(crate) usage: Usage,
    /// Redis server time, ms since the epoch.
    pub(crate) now_ms: i64,
    /// Expired reservations whose holds this call reclaimed.
    pub(crate) reclaimed: u64,
}

impl Reply {
    /// `{status, detail, queries_used, queries_reserved, cost_spent, cost_reserved, now_ms,
    /// reclaimed}`; `None` for anything else.
    pub(crate) fn parse(op: Op, reply: &[i64]) -> Option<Reply> {
        let &[status, detail, qu, qr, cs, cr, now_ms, reclaimed] = reply else {
            return None;
        };
        let status = match (op, status, detail) {
            (Op::Reserve, 1, 0) => Status::Granted,
            (Op::Reserve, 0, 1) => Status::Refused(LimitKind::Queries),
            (Op::Reserve, 0, 2) => Status::Refused(LimitKind::Cost),
            (Op::Settle | Op::Release, 1, open @ (0 | 1)) => Status::Applied {
                was_open: open == 1,
            },
            (Op::Settle | Op::Release, 2, 0) => Status::AlreadyDone,
            (Op::Settle | Op::Release, 3, 0) => Status::TooLate,
            (Op::Peek, 1, 0) => Status::Peeked,
            _ => return None,
        };
        Some(Reply {
            status,
            usage: Usage {
                queries_used: qu,
                queries_reserved: qr,
                cost_spent_micro_usd: cs,
                cost_reserved_micro_usd: cr,
            },
            now_ms,
            reclaimed: u64::try_from(reclaimed).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_company_and_month_under_the_prefix() {
        let company = Uuid::from_u128(0x1234);
        let month = Month::new(2025, 7).unwrap();
        let options = BudgetOptions::default();
        let scope = Scope {
            key_prefix: "p:",
            options: &options,
        };
        let call = Call::peek(&scope, company, month);
        let hash = "p:budget:00000000-0000-0000-0000-000000001234:2025-07";
        assert_eq!(
            call.keys,
            [
                hash.to_owned(),
                format!("{hash}:open"),
                format!("{hash}:done")
            ]
        );
        assert_eq!(call.args[0], "peek");
    }

    #[test]
    fn passes_unlimited_as_minus_one() {
        let options = BudgetOptions::default();
        let scope = Scope {
            key_prefix: "t:",
            options: &options,
        };
        let call = Call::reserve(
            &scope,
            Uuid::nil(),
            Month::new(2025, 1).unwrap(),
            Uuid::nil(),
            MonthlyLimits::new(None, Some(9)),
            3,
        );
        assert_eq!(&call.args[5..], ["3", "-1", "9"]);
    }

    #[test]
    fn parses_every_reply_the_script_gives() {
        let usage = |r: Reply| (r.status, r.usage.queries_reserved, r.reclaimed);
        let granted = Reply::parse(Op::Reserve, &[1, 0, 1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(usage(granted), (Status::Granted, 2, 6));
        assert_eq!(
            Reply::parse(Op::Reserve, &[0, 2, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .status,
            Status::Refused(LimitKind::Cost)
        );
        assert_eq!(
            Reply::parse(Op::Settle, &[1, 1, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .status,
            Status::Applied { was_open: true }
        );
        assert_eq!(
            Reply::parse(Op::Release, &[3, 0, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .status,
            Status::TooLate
        );
        assert!(Reply::parse(Op::Reserve, &[2, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(Reply::parse(Op::Peek, &[1, 0]).is_none());
    }
}
