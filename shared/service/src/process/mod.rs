//! Paying payouts: claim → pay → settle, for the hourly batch and for an admin's
//! manual process and retry.
//!
//! Safety rests on three facts. A claim is a conditional write from `pending`, so only
//! one caller pays a given attempt. The gateway is idempotent by a key derived from the
//! payout and attempt, so asking twice cannot pay twice. And a claim is a lease: if its
//! holder dies, a later run takes the payout over and asks the gateway what happened
//! under that key before doing anything else.
//!
//! Its rooms, in the order a payout meets them: `run` (the hourly batch and drain, with
//! `pipeline` keeping its books),
//! `claim` (taking a pending payout, with where it goes), `pay` (the gateway call and
//! settling what it said), `reconcile` (taking over a payout whose holder died),
//! `manual` (an admin's process, retry and cancel), `round` (a new attempt), `changes`
//! (what each status change writes) and `report` (how an attempt ended: its log line
//! and metric).

mod changes;
pub(crate) use changes::{declined, paid, reversed};
mod claim;
mod manual;
mod pay;
mod pipeline;
mod reconcile;
mod report;
mod round;
mod run;

pub use pipeline::{RunSummary, Stopped};
pub(crate) use report::log_reported;
pub(crate) use round::send_round_again;

use aws_lambda_events::eventbridge::EventBridgeEvent;

use crate::config::ProcessorConfig;
use domain::error::{Conflict, Error, Result};
use domain::payout::{Acting, Payout, HISTORY_LIMIT};
use domain::time::Timestamp;
use gateway::PaymentGateway;
use store::Store;

/// The scheduled Lambda's work: one run per EventBridge event. The event carries no
/// input; its id and time go into the log so a run can be matched to its trigger.
/// `deadline` is when the invocation will be cut off (the Lambda context's), which
/// drain mode stops short of.
pub async fn on_schedule<G: PaymentGateway>(
    processor: &Processor<'_, G>,
    event: &EventBridgeEvent,
    deadline: Option<std::time::SystemTime>,
) -> Result<RunSummary> {
    platform::telemetry::schedule_fired(event, "run");
    processor
        .run_until(deadline.map(domain::time::deadline_instant))
        .await
}

/// Pays payouts through a gateway: the hourly run and an admin's actions on one payout
/// share it, and with it every rule of when an attempt may be sent again.
pub struct Processor<'a, G> {
    store: &'a Store,
    gateway: &'a G,
    config: ProcessorConfig,
    /// The admin this processor works for, whose request every status change it writes
    /// goes into the payout's history as; `None` for the schedule's own runs.
    acting: Option<Acting>,
}

impl<'a, G: PaymentGateway> Processor<'a, G> {
    pub fn new(store: &'a Store, gateway: &'a G, config: ProcessorConfig) -> Self {
        Processor {
            store,
            gateway,
            config,
            acting: None,
        }
    }

    /// The same processor, on an admin's request.
    pub fn acting_for(mut self, acting: Acting) -> Self {
        self.acting = Some(acting);
        self
    }

    /// An admin action that starts a new round of changes needs room in the history:
    /// one that cannot be recorded is not done (see [`HISTORY_LIMIT`]).
    fn history_has_room(&self, payout: &Payout) -> Result<()> {
        if self.acting.is_some() && payout.history.len() >= HISTORY_LIMIT {
            return Err(Error::Conflict(Conflict::Refused(format!(
                "payout {} has {} admin actions in its history, the most it keeps; it can \
                 only be cancelled now",
                payout.payout_id,
                payout.history.len()
            ))));
        }
        Ok(())
    }

    /// The last instant a request sent under a claim made at `sent_at` could still be
    /// created by the gateway: the lease outlives every function's timeout, so the
    /// request left us before `sent_at + lease`, and the gateway may create it up to its
    /// late window after that.
    fn last_landing(&self, sent_at: Timestamp) -> Timestamp {
        sent_at.plus_secs(
            self.config
                .lease_secs
                .saturating_add(self.gateway.late_transfer_window_secs()),
        )
    }

    /// Whether the payout's current attempt may still be created by the gateway, as of
    /// `asked_at` (read before the gateway was asked, whose "no record" speaks for that
    /// moment). `sent_at` is its latest send that could have reached the gateway.
    fn may_still_land(&self, payout: &Payout, asked_at: Timestamp) -> bool {
        payout
            .sent_at()
            .is_some_and(|sent_at| asked_at <= self.last_landing(sent_at))
    }
}
