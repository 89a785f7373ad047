//! A reservation against a company's monthly limits, held while a provider is called: settling
//! it with the call's cost or releasing it are the only ways to end it.

use trestle_budget::{Budgets, Reservation};
use trestle_events::Event;

/// A granted reservation. Dropped without being ended (a panicking request task), it is
/// released on a task of its own.
#[must_use = "a reservation is ended by settle or release"]
pub(crate) struct ReservationGuard {
    budgets: Budgets,
    reservation: Option<Reservation>,
}

impl ReservationGuard {
    pub(crate) fn new(budgets: Budgets, reservation: Reservation) -> Self {
        ReservationGuard {
            budgets,
            reservation: Some(reservation),
        }
    }

    /// Settles with the cost the call's usage events carry.
    pub(crate) async fn settle(mut self, events: &[Event]) {
        let actual = events
            .iter()
            .map(|e| match e {
                Event::UsageRecorded(u) => u.cost_micro_usd,
                _ => 0,
            })
            .sum();
        if let Some(reservation) = self.reservation.take() {
            self.budgets.settle(&reservation, actual).await;
        }
    }

    /// Gives the reservation back: nothing was spent.
    pub(crate) async fn release(mut self) {
        if let Some(reservation) = self.reservation.take() {
            self.budgets.release(&reservation).await;
        }
    }
}

impl Drop for ReservationGuard {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let budgets = self.budgets.clone();
            runtime.spawn(async move {
                budgets.release(&reservation).await;
            });
        }
    }
}
