//! What a payout adds to the counters and to its user's summary when it is created
//! and when its status changes.

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::stats::CounterChange;
use crate::{update_item, Store};
use domain::error::Result;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;

use crate::expr::summary_update;

pub(super) fn in_flight(status: PayoutStatus) -> i128 {
    i128::from(status.is_in_flight())
}

pub(super) fn reserves(status: PayoutStatus) -> i128 {
    i128::from(status.holds_reservation())
}

pub(super) fn paid(status: PayoutStatus) -> i128 {
    i128::from(status.is_paid())
}

impl Store {
    /// A new payout on the counters: one more in its status and of its type.
    pub(super) fn creation_counters(&self, payout: &Payout) -> Result<Vec<TransactWriteItem>> {
        self.counter_updates(CounterChange::creation(payout))
    }

    /// A status change on the counters: one fewer in the old status, one more in the
    /// new; in the hour and day buckets, a completion or failure reached is added, and
    /// one left (returned by the bank, retried, cancelled) is retracted from where it
    /// was added, so that a payout counts there once, by how it ended. `payout` is the
    /// copy the write is conditioned on, `at` the `updated_at` it writes.
    pub(super) fn transition_counters(
        &self,
        payout: &Payout,
        from: PayoutStatus,
        to: PayoutStatus,
        at: Timestamp,
    ) -> Result<Vec<TransactWriteItem>> {
        if from == to {
            return Ok(Vec::new());
        }
        self.counter_updates(CounterChange::transition(payout, from, to, at))
    }

    pub(super) fn creation_summary(&self, payout: &Payout) -> Result<Option<TransactWriteItem>> {
        let amount = i128::from(payout.amount_paise.get());
        Ok(summary_update(
            &self.table,
            payout.user_id,
            &[
                ("total", 1),
                ("pending_paise", amount * in_flight(payout.status)),
            ],
        )?
        .map(update_item))
    }
}
