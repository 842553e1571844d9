//! Paying payouts: claim → pay → settle, for the hourly batch and for an admin's
//! manual process and retry.
//!
//! Safety rests on three facts. A claim is a conditional write from `pending`, so only
//! one caller pays a given attempt. The gateway is idempotent by a key derived from the
//! payout and attempt, so asking twice cannot pay twice. And a claim is a lease: if its
//! holder dies, a later run takes the payout over and asks the gateway what happened
//! under that key before doing anything else.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use futures::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::config::ProcessorConfig;
use crate::error::{Error, Result};
use crate::gateway::{GatewayError, PaymentGateway, TransferOutcome};
use crate::metrics::{self, Unit};
use crate::money::Paise;
use crate::payout::{
    Acting, EarlierAttempt, IdempotencyKey, Payout, PayoutStatus, Transition, HISTORY_LIMIT,
};
use crate::store::{AccountGuard, Lease, PayoutIndex, StatusChange, Store};
use crate::time::Timestamp;
use crate::verification::{self, Verdict};
use domain::account::{PayoutAccount, PayoutHold, PAYOUT_ACCOUNT_INVALID, PAYOUT_ACCOUNT_MISSING};

/// The scheduled Lambda's work: one run per EventBridge event. The event carries no
/// input; its id and time go into the log so a run can be matched to its trigger.
/// `deadline` is when the invocation will be cut off (the Lambda context's), which
/// drain mode stops short of.
pub async fn on_schedule<G: PaymentGateway>(
    processor: &Processor<'_, G>,
    event: &EventBridgeEvent,
    deadline: Option<std::time::SystemTime>,
) -> Result<RunSummary> {
    crate::telemetry::schedule_fired(event, "run");
    processor
        .run_until(deadline.map(crate::time::deadline_instant))
        .await
}

/// What one run of the processor did. `completed`, `failed` and `requeued` count the
/// outcomes of every payout the run settled, the reconciled ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Pending payouts the run picked up.
    pub found: usize,
    pub completed: usize,
    pub failed: usize,
    /// Paid, then sent back by the bank: waiting for an admin like a failed one.
    #[serde(default)]
    pub reversed: usize,
    /// Sent back to pending under the same key (gateway unreachable, or a reconciled
    /// payout the gateway never saw).
    pub requeued: usize,
    /// Payouts stuck in `processing` past their lease, or accepted by the gateway and
    /// due for another look, reconciled with the gateway.
    pub recovered: usize,
    /// Accepted by the gateway and not final yet: left `processing`, looked at again later.
    pub accepted: usize,
    /// Batches taken: 1, unless draining.
    #[serde(default)]
    pub batches: usize,
    #[serde(default)]
    pub stopped: Stopped,
}

impl RunSummary {
    fn add(&mut self, batch: &RunSummary) {
        self.found += batch.found;
        self.completed += batch.completed;
        self.failed += batch.failed;
        self.reversed += batch.reversed;
        self.requeued += batch.requeued;
        self.recovered += batch.recovered;
        self.accepted += batch.accepted;
    }
}

/// Why a run took no further batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// Not draining: a run is one batch (the default, the seed's schedule).
    #[default]
    OneBatch,
    /// Draining, and nothing was left to take.
    QueueEmpty,
    /// Draining, and less than `DRAIN_MARGIN_SECS` was left before the deadline.
    Deadline,
    /// Draining, and a batch settled nothing: what it took went back to the queue.
    NoProgress,
    /// Draining, and a later batch could not read the queue: the run fails, after
    /// reporting what the earlier batches did.
    StoreError,
    /// The gateway refused our credentials: the run fails.
    GatewayMisconfigured,
}

/// One batch's outcomes, with what the summary does not show.
#[derive(Debug, Default)]
struct BatchTally {
    summary: RunSummary,
    skipped: usize,
    errored: usize,
    misconfigured: usize,
    /// Pending payouts passed over because their user's account is on hold.
    held: usize,
    /// Payouts that ended, or were accepted by the gateway.
    progress: usize,
    /// Pending payouts at the head of the queue that this run had taken already.
    taken_before: usize,
}

/// What a run has taken so far.
#[derive(Debug, Default)]
struct Taken {
    /// Pending payouts. One it sends back to the queue is at its head again at once;
    /// taking it twice in a run would only ask the gateway again.
    payouts: HashSet<Uuid>,
    /// Users whose destination was not verified when this run met them, and whether
    /// their payouts may be taken now (the check, started or asked about once a run,
    /// has its answer).
    checked: HashMap<u64, bool>,
}

/// The most users whose account check a run starts or asks about: each is a gateway
/// call or two, made outside the batch, so a crowd of unanswered checks (a slow bank
/// takes days) neither fills every batch nor makes a run long.
const MAX_CHECKS_PER_RUN: usize = 100;

/// The most pending payouts a batch reads to find ones its run has not taken yet.
const MAX_PENDING_READ: usize = 1_000;

impl BatchTally {
    fn add(&mut self, batch: &BatchTally) {
        self.skipped += batch.skipped;
        self.held += batch.held;
        self.errored += batch.errored;
        self.misconfigured += batch.misconfigured;
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
    Reversed,
    Requeued,
    Accepted,
    /// Another caller claimed it first, or took it over: theirs to settle. Also a
    /// payout whose beneficiary could not be registered this time: still pending.
    Skipped,
    /// Its user's account changed recently: left pending, untouched, not a failure.
    Held,
    /// The gateway refused our own credentials: requeued, and the run fails.
    Misconfigured,
    /// A storage error left it in `processing`; its lease will bring it back.
    Errored,
}

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
            return Err(Error::Conflict(format!(
                "payout {} has {} admin actions in its history, the most it keeps; it can \
                 only be cancelled now",
                payout.payout_id,
                payout.history.len()
            )));
        }
        Ok(())
    }

    /// The hourly run without a deadline (tests, benchmarks, local runs).
    pub async fn run(&self) -> Result<RunSummary> {
        self.run_until(None).await
    }

    /// The hourly run: reconcile expired leases, then pay up to a batch of the oldest
    /// pending payouts, `concurrency` at a time. In drain mode, batch after batch until
    /// the queue is empty, a batch gets nowhere, or `deadline` is nearer than the margin.
    pub async fn run_until(&self, deadline: Option<Instant>) -> Result<RunSummary> {
        let started = Instant::now();
        info!(
            event = "run_started",
            drain = self.config.drain.is_some(),
            "🔄 Starting automated payout processing..."
        );
        let mut summary = RunSummary::default();
        let mut tally = BatchTally::default();
        let mut taken = Taken::default();
        let mut slowest = Duration::ZERO;
        let mut failure = None;
        summary.stopped = loop {
            let batch_started = Instant::now();
            // Boxed: a batch's future holds every payout's pay or reconcile, and nesting
            // it in this loop's overflows the compiler's layout query (release builds).
            let next = Box::pin(self.batch(summary.batches == 0, &mut taken, summary.requeued));
            let batch = match next.await {
                Ok(batch) => batch,
                Err(err) if summary.batches == 0 => return Err(err),
                // What the earlier batches did is still reported below.
                Err(err) => {
                    failure = Some(err);
                    break Stopped::StoreError;
                }
            };
            slowest = slowest.max(batch_started.elapsed());
            summary.batches += 1;
            summary.add(&batch.summary);
            tally.add(&batch);
            let Some(drain) = self.config.drain else {
                break Stopped::OneBatch;
            };
            if batch.misconfigured > 0 {
                break Stopped::GatewayMisconfigured;
            }
            if batch.summary.found == 0 && batch.summary.recovered == 0 {
                // A head of the queue made only of payouts this run sent back means the
                // gateway is turning them away, not that the queue is empty.
                break if batch.taken_before > 0 {
                    Stopped::NoProgress
                } else {
                    Stopped::QueueEmpty
                };
            }
            // Nothing ended or reached the gateway: what it took went back to the queue
            // (the gateway is down) or was someone else's.
            if batch.progress == 0 {
                break Stopped::NoProgress;
            }
            // The next batch may take as long as the slowest so far; the margin is kept
            // on top of that, so a run ends between batches instead of being cut off.
            let needed = slowest + Duration::from_secs(drain.margin_secs);
            if deadline
                .is_some_and(|deadline| deadline.saturating_duration_since(Instant::now()) < needed)
            {
                break Stopped::Deadline;
            }
        };

        info!(
            event = "run_completed",
            found = summary.found,
            completed = summary.completed,
            failed = summary.failed,
            reversed = summary.reversed,
            requeued = summary.requeued,
            recovered = summary.recovered,
            accepted = summary.accepted,
            batches = summary.batches,
            stopped = ?summary.stopped,
            skipped = tally.skipped,
            held = tally.held,
            errored = tally.errored,
            "✅ Automated payout processing completed"
        );
        if let Some(err) = failure {
            error!(event = "run_failed", batches = summary.batches, error = %err, "a batch could not read the queue");
            return Err(err);
        }
        if tally.misconfigured > 0 {
            // A failed run is what raises the alarm; the payouts wait, untouched.
            error!(
                event = "gateway_misconfigured",
                payouts = tally.misconfigured,
                "the gateway refused our credentials or configuration; payouts were left pending"
            );
            return Err(Error::Config(format!(
                "the gateway refused our credentials or configuration for {} payouts",
                tally.misconfigured
            )));
        }
        let as_count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        metrics::emit(
            &[
                ("PayoutsFound", Unit::Count, as_count(summary.found)),
                ("PayoutsRecovered", Unit::Count, as_count(summary.recovered)),
                ("ClaimsLost", Unit::Count, as_count(tally.skipped)),
                ("SettleErrors", Unit::Count, as_count(tally.errored)),
                ("Batches", Unit::Count, as_count(summary.batches)),
                (
                    "BatchDurationMs",
                    Unit::Milliseconds,
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                ),
            ],
            &[],
        );
        Ok(summary)
    }

    /// One batch: the oldest pending payouts this run has not taken yet, at most
    /// `batch_size`, and in the run's first batch the expired leases too (reading them
    /// means reading every processing payout: once a run is enough).
    async fn batch(&self, first: bool, taken: &mut Taken, requeued: usize) -> Result<BatchTally> {
        let now = Timestamp::now();
        let batch_size = self.config.batch_size;
        let mut tally = BatchTally::default();
        let stuck = async {
            if first {
                self.store.expired_leases(now, batch_size).await
            } else {
                Ok(Vec::new())
            }
        };
        // Past the ones this run sent back, which sit at the head of the queue.
        let limit = batch_size.saturating_add(requeued).min(MAX_PENDING_READ);
        // Both queries at once. A payout that reconciliation sends back to pending is
        // paid by the next batch or run, like any other pending payout.
        let (stuck, pending) = tokio::try_join!(
            stuck,
            self.store.query_payouts(
                &PayoutIndex::Status(PayoutStatus::Pending),
                false,
                limit,
                None,
            )
        )?;
        let mut fresh = Vec::with_capacity(batch_size);
        let mut page = pending;
        let mut read = 0;
        loop {
            read += page.payouts.len();
            // Held users' payouts stay pending at the head of the queue for a day, and
            // those of users whose destination is being verified for as long as the bank
            // takes: they are passed over here, or a few of them would fill every batch.
            // A user whose check this run has not looked at yet has it started or asked
            // about first, outside the batch; if it has its answer, their payouts go on.
            let users: HashSet<u64> = page.payouts.iter().map(|payout| payout.user_id).collect();
            let gates = self.store.account_gates(&users).await?;
            let validating = self.config.validate_accounts;
            let hold_of = |user_id: u64| {
                gates
                    .get(&user_id)
                    .and_then(|gate| gate.hold(now, validating))
            };
            let mut to_check: Vec<u64> = users
                .iter()
                .copied()
                .filter(|user| {
                    hold_of(*user) == Some(PayoutHold::Unverified)
                        && !taken.checked.contains_key(user)
                        && !gates.get(user).is_some_and(|gate| gate.not_migrated)
                })
                .collect();
            to_check.sort_unstable();
            to_check.truncate(MAX_CHECKS_PER_RUN.saturating_sub(taken.checked.len()));
            let verdicts: Vec<(u64, Result<bool>)> = stream::iter(to_check)
                .map(
                    |user_id| async move { (user_id, Box::pin(self.check_account(user_id)).await) },
                )
                .buffer_unordered(self.config.concurrency)
                .collect()
                .await;
            for (user_id, verdict) in verdicts {
                let may_take = match verdict {
                    Ok(may_take) => may_take,
                    Err(Error::Config(why)) => {
                        error!(event = "verification_misconfigured", user_id, reason = %why, "the gateway refused our credentials while checking an account");
                        tally.misconfigured += 1;
                        false
                    }
                    Err(err) => {
                        warn!(event = "verification_failed", user_id, error = %err, "could not move the account's check on; its payouts wait");
                        false
                    }
                };
                taken.checked.insert(user_id, may_take);
            }
            for payout in page.payouts {
                // A claim is conditioned on the account in its own key space: until the
                // user's account has moved there, their payouts would only be skipped.
                let not_migrated = gates
                    .get(&payout.user_id)
                    .is_some_and(|gate| gate.not_migrated);
                let waits = not_migrated
                    || match hold_of(payout.user_id) {
                        Some(PayoutHold::Changed { .. }) => true,
                        Some(PayoutHold::Unverified) => {
                            !taken.checked.get(&payout.user_id).copied().unwrap_or(false)
                        }
                        None => false,
                    };
                if taken.payouts.contains(&payout.payout_id) {
                    tally.taken_before += 1;
                } else if waits {
                    tally.held += 1;
                } else if fresh.len() < batch_size {
                    taken.payouts.insert(payout.payout_id);
                    fresh.push(payout);
                }
            }
            let Some(next) = page.next else { break };
            if fresh.len() >= batch_size || read >= MAX_PENDING_READ {
                break;
            }
            page = self
                .store
                .query_payouts(
                    &PayoutIndex::Status(PayoutStatus::Pending),
                    false,
                    limit,
                    Some(next),
                )
                .await?;
        }
        let pending = fresh;
        tally.summary.found = pending.len();
        info!(
            event = "pending_found",
            found = tally.summary.found,
            stuck = stuck.len(),
            "📋 Found {} pending payouts",
            tally.summary.found
        );
        let work = stuck
            .into_iter()
            .map(|payout| (true, payout))
            .chain(pending.into_iter().map(|payout| (false, payout)));
        let outcomes: Vec<(bool, Outcome)> = stream::iter(work)
            .map(|(recovering, payout)| async move {
                if recovering {
                    return (true, self.reconcile(payout).await);
                }
                let outcome = match Box::pin(self.take(&payout)).await {
                    Ok(Some(claimed)) => Box::pin(self.pay(claimed)).await.1,
                    Ok(None) => Outcome::Skipped,
                    Err(Error::Config(_)) => Outcome::Misconfigured,
                    // Its user's hold began after the queue was read, or their destination
                    // is being verified.
                    Err(Error::PayoutAccountOnHold { .. } | Error::PayoutAccountUnverified { .. }) => {
                        Outcome::Held
                    }
                    // Another run took it, or the index copy was stale: the payout as
                    // stored is someone else's, or the next run's.
                    Err(
                        Error::InvalidTransition { .. }
                        | Error::Conflict(_)
                        | Error::NotFound { .. },
                    ) => Outcome::Skipped,
                    Err(err) => {
                        error!(event = "claim_failed", payout_id = %payout.payout_id, error = %err, "claim failed");
                        Outcome::Errored
                    }
                };
                (false, outcome)
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for (recovering, outcome) in outcomes {
            if recovering && !matches!(outcome, Outcome::Skipped | Outcome::Errored) {
                tally.summary.recovered += 1;
            }
            // A payout that ended, or that the gateway took on: what a drain is for. A
            // stuck one that is still with the gateway, or went back to the queue, is not.
            if matches!(
                outcome,
                Outcome::Completed | Outcome::Failed | Outcome::Reversed
            ) || (!recovering && outcome == Outcome::Accepted)
            {
                tally.progress += 1;
            }
            match outcome {
                Outcome::Skipped => tally.skipped += 1,
                Outcome::Held => tally.held += 1,
                Outcome::Errored => tally.errored += 1,
                Outcome::Misconfigured => tally.misconfigured += 1,
                settled => count(&mut tally.summary, settled),
            }
        }

        Ok(tally)
    }

    /// An admin's "process now": claim the pending payout, pay it, and return it as
    /// it stands afterwards. Refused (409) unless it is pending.
    pub async fn process_one(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        self.history_has_room(&payout)?;
        match Box::pin(self.take(&payout)).await? {
            Some(claimed) => Ok(Box::pin(self.pay(claimed)).await.0),
            None => Err(Error::Conflict(format!(
                "payout {payout_id} could not be sent now (its payout account is changing \
                 or the gateway is busy); it stays pending"
            ))),
        }
    }

    /// Sends a failed payout round again as a new attempt (a declined key stays
    /// declined at the gateway), then processes it at once.
    pub async fn retry(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        self.history_has_room(&payout)?;
        let requeued = send_round_again_as(self.store, &payout, self.acting.as_ref()).await?;
        info!(event = "payout_retried", payout_id = %payout_id, attempt = requeued.attempt, "payout sent round again");
        match Box::pin(self.take(&requeued)).await {
            Ok(Some(claimed)) => Ok(Box::pin(self.pay(claimed)).await.0),
            // The hourly run got to it first, or it waits for its account (or the end of
            // its hold): show it as it is.
            Ok(None)
            | Err(
                Error::InvalidTransition { .. }
                | Error::Conflict(_)
                | Error::PayoutAccountOnHold { .. }
                | Error::PayoutAccountUnverified { .. },
            ) => self.store.existing_payout(payout_id).await,
            Err(err) => Err(err),
        }
    }

    /// Withdraws a pending or failed payout; a scout's reservation returns to its
    /// available earnings in the same transaction.
    ///
    /// A pending payout whose attempt was sent before (it went back to the queue with
    /// its outcome unknown) may have been paid: the gateway is asked about that
    /// attempt's key first. Paid → the payout is recorded as completed and the cancel
    /// refused (`already_paid`); declined → cancelled; no answer, or no record while a
    /// request sent under the key could still land → `gateway_outcome_unknown`,
    /// nothing changed. The write is conditioned on the attempt and its send as read,
    /// so a processor that takes the payout meanwhile makes the cancel a clean 409.
    pub async fn cancel(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        if !Transition::Cancel.allows(payout.status) {
            return Err(Error::InvalidTransition {
                payout_id: payout_id.to_string(),
                transition: Transition::Cancel,
                status: payout.status,
            });
        }
        let mut came_back = false;
        if let (PayoutStatus::Pending, Some(sent_at)) = (payout.status, payout.sent_at()) {
            came_back = self.ensure_attempt_unpaid(&payout, sent_at).await?;
        }
        let now = Timestamp::now();
        let mut next = payout.clone();
        if came_back {
            // As a webhook would record it: a late report of the payment then finds
            // the payout past it, not a payment of a cancelled payout.
            next.gateway_status = Some("reversed".to_owned());
        }
        next.cancelled_at = Some(now);
        next.updated_at = now;
        self.store
            .change_status_as(
                &payout,
                StatusChange {
                    transition: Transition::Cancel,
                    next,
                    lease: Lease::NotHeld,
                    gateway_status_not_in: None,
                },
                self.acting.as_ref(),
            )
            .await
    }

    /// `Ok` only when the gateway has said that the payout's current attempt did not
    /// pay and will not; `Ok(true)` when it paid and the bank sent the money back.
    async fn ensure_attempt_unpaid(&self, payout: &Payout, sent_at: Timestamp) -> Result<bool> {
        let key = payout.idempotency_key();
        let unknown = |why: String| {
            Error::GatewayOutcomeUnknown(format!(
                "payout {} attempt {} was sent to the gateway at {sent_at} and {why}; \
                 nothing was changed, try again later",
                payout.payout_id, payout.attempt
            ))
        };
        // Read before asking: the gateway's "no record" speaks for the moment it was
        // asked, no later, so that is the moment compared with the last instant a
        // request could still land (a slow answer must not stretch it).
        let asked_at = Timestamp::now();
        match self.gateway.lookup(&key, payout).await {
            Err(unavailable) => Err(unknown(format!(
                "the gateway cannot be asked now ({unavailable})"
            ))),
            Ok(Some(TransferOutcome::Accepted { gateway_status, .. })) => Err(unknown(format!(
                "the gateway holds it ({gateway_status}) and has not finished it"
            ))),
            // Declined, or paid and sent back by the bank: either way the money is ours.
            Ok(Some(TransferOutcome::Declined { .. })) => Ok(false),
            Ok(Some(TransferOutcome::Reversed { .. })) => Ok(true),
            Ok(Some(TransferOutcome::Paid {
                reference,
                gateway_payout_id,
            })) => {
                let confirmed = self
                    .store
                    .change_status_as(
                        payout,
                        StatusChange {
                            transition: Transition::Confirm,
                            next: paid(payout, reference, gateway_payout_id),
                            lease: Lease::NotHeld,
                            gateway_status_not_in: None,
                        },
                        self.acting.as_ref(),
                    )
                    .await?;
                log_settled(&confirmed);
                Err(Error::AlreadyPaid {
                    payout_id: payout.payout_id.to_string(),
                    reference: confirmed.payment_reference.unwrap_or_default(),
                })
            }
            // No record: final only once any request sent under the key is over and the
            // gateway's own lag has passed after it (`sent_at` is the attempt's latest
            // send that could have created anything).
            Ok(None) => {
                if !self.may_still_land(payout, asked_at) {
                    Ok(false)
                } else {
                    Err(unknown(format!(
                        "the gateway has no record of it yet, but that request could still \
                         land until {}",
                        self.last_landing(sent_at)
                    )))
                }
            }
        }
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

    /// Claims a pending payout, with where it is paid fixed on it when the gateway
    /// pays people's own accounts. `None`: not this time (the beneficiary could not be
    /// registered); the payout stays pending. A user whose account changed recently
    /// has their payouts held: `PayoutAccountOnHold`, nothing written.
    ///
    /// The claim is written only while the account is the revision read here: a save
    /// that lands in between (a new destination, a hold) makes it a clean conflict.
    ///
    /// Callers box this future and [`Processor::pay`]'s: each holds gateway calls whose
    /// futures are large, and nested unboxed they overflow a debug build's thread stack.
    async fn take(&self, payout: &Payout) -> Result<Option<Claimed>> {
        // Before the claim marks the attempt as sent: keys that cannot be read (a
        // secret not set yet, access refused) must leave it as it was, not "sent,
        // outcome unknown", which would make a cancel wait on the gateway.
        if let Err(GatewayError::Misconfigured(why)) = self.gateway.ready().await {
            error!(event = "gateway_not_ready", payout_id = %payout.payout_id, reason = %why, "the gateway cannot be called (our credentials); the payout stays pending, untouched");
            return Err(Error::Config(why));
        }
        let account = self.store.payout_account(payout.user_id).await?;
        if let Some(until) = account
            .as_ref()
            .and_then(|account| account.hold_at(Timestamp::now()))
        {
            info!(event = "payout_held", payout_id = %payout.payout_id, user_id = payout.user_id, hold_until = %until, "the user's payout account changed recently; the payout waits");
            return Err(Error::PayoutAccountOnHold {
                user_id: payout.user_id,
                until,
            });
        }
        let guard = AccountGuard {
            user_id: payout.user_id,
            revision: account.as_ref().map(|account| account.revision),
        };
        let mut destination = None;
        let mut missing_account = None;
        // Once the gateway may hold the attempt its destination is part of the request
        // under its key, and stays; an attempt never sent, or sent with none (so never
        // built into a request this gateway took), goes where the account says now.
        let fixed = payout.sent_at().is_some() && payout.gateway_fund_account_id.is_some();
        if self.gateway.requires_payout_account() && !fixed {
            match self.beneficiary(payout, account.as_ref()).await? {
                ready @ Beneficiary::Ready { .. } => destination = Some(ready),
                Beneficiary::Missing(reason) => missing_account = Some(reason),
                Beneficiary::Unverified => {
                    info!(event = "payout_unverified", payout_id = %payout.payout_id, user_id = payout.user_id, "the user's payout account is being verified; the payout waits");
                    return Err(Error::PayoutAccountUnverified {
                        user_id: payout.user_id,
                    });
                }
                Beneficiary::NotNow => return Ok(None),
            }
        }
        let mut claimed = self.claim(payout, destination, guard).await?;
        claimed.resend = payout.sent_at().is_some();
        claimed.account_revision = guard.revision;
        if let Some(reason) = missing_account {
            // Nothing to send: it fails at once, never blocking the queue, and goes back
            // to pending when the user saves an account.
            let mut next = settled(&claimed.payout);
            next.failure_reason = Some(reason.to_owned());
            claimed.missing_account = Some(next);
        }
        Ok(Some(claimed))
    }

    /// Where the payout's user is paid, registered at the gateway once per account
    /// revision and remembered on the account.
    async fn beneficiary(
        &self,
        payout: &Payout,
        account: Option<&PayoutAccount>,
    ) -> Result<Beneficiary> {
        let Some(account) = account else {
            return Ok(Beneficiary::Missing(PAYOUT_ACCOUNT_MISSING));
        };
        let mode = self
            .gateway
            .mode_for(account.destination.kind, payout.amount_paise);
        let ready = |fund_account_id| Beneficiary::Ready {
            fund_account_id,
            mode,
            destination: account.destination.masked.clone(),
            account_revision: account.revision,
        };
        match self.fund_account(account).await? {
            Registration::Ready(fund_account_id) => {
                self.verified(account, fund_account_id, ready).await
            }
            // RazorpayX will not take this account: the payout fails (it must not hold
            // up the queue) and comes back when the user saves another.
            Registration::Refused(why) => {
                warn!(event = "beneficiary_refused", payout_id = %payout.payout_id, user_id = payout.user_id, reason = %why, "the gateway refused the payout account");
                Ok(Beneficiary::Missing(PAYOUT_ACCOUNT_INVALID))
            }
            Registration::NotNow => Ok(Beneficiary::NotNow),
        }
    }

    /// The gateway's fund account for the account's revision: the one remembered, or
    /// one registered now and remembered on the account.
    async fn fund_account(&self, account: &PayoutAccount) -> Result<Registration> {
        if let Some(fund_account_id) = account.gateway_fund_account_id.clone() {
            return Ok(Registration::Ready(fund_account_id));
        }
        let ids = match self.gateway.register_beneficiary(account).await {
            Ok(ids) => ids,
            Err(GatewayError::Misconfigured(why)) => return Err(Error::Config(why)),
            Err(GatewayError::Refused(why)) => return Ok(Registration::Refused(why)),
            Err(err) => {
                warn!(event = "beneficiary_not_registered", user_id = account.user_id, error = %err, "could not register the payout account at the gateway; its payouts stay pending");
                return Ok(Registration::NotNow);
            }
        };
        // Only for the revision read: if the user saved another account meanwhile,
        // these ids are the old account's and must not be paid to.
        if !self
            .store
            .remember_gateway_ids(account.user_id, account.revision, &ids)
            .await?
        {
            return Ok(Registration::NotNow);
        }
        Ok(Registration::Ready(ids.fund_account_id))
    }

    /// Moves the check of a user's destination on (started, or asked about): whether
    /// their payouts may be taken now. A user without an account, or whose account the
    /// gateway refuses, may: taking the payout fails it for that.
    async fn check_account(&self, user_id: u64) -> Result<bool> {
        let Some(account) = self.store.payout_account(user_id).await? else {
            return Ok(true);
        };
        let fund_account_id = match self.fund_account(&account).await? {
            Registration::Ready(fund_account_id) => fund_account_id,
            Registration::Refused(_) => return Ok(true),
            Registration::NotNow => return Ok(false),
        };
        let verdict = verification::check(
            self.store,
            self.gateway,
            &account,
            &fund_account_id,
            self.config.lease_secs,
        )
        .await?;
        Ok(verdict != Verdict::Waiting)
    }

    /// The beneficiary, once its destination is verified when accounts are
    /// (`PAYOUT_ACCOUNT_VALIDATION`): until then its payouts wait, and an account the
    /// check found invalid or under another name fails them.
    async fn verified(
        &self,
        account: &PayoutAccount,
        fund_account_id: String,
        ready: impl FnOnce(String) -> Beneficiary,
    ) -> Result<Beneficiary> {
        if !self.config.validate_accounts {
            return Ok(ready(fund_account_id));
        }
        Ok(
            match verification::check(
                self.store,
                self.gateway,
                account,
                &fund_account_id,
                self.config.lease_secs,
            )
            .await?
            {
                Verdict::Verified => ready(fund_account_id),
                Verdict::Waiting => Beneficiary::Unverified,
                Verdict::Invalid => Beneficiary::Missing(PAYOUT_ACCOUNT_INVALID),
            },
        )
    }

    /// Takes a pending payout under a lease; `destination` (where a gateway that pays
    /// people's accounts sends it) is fixed on it in the same write, which holds only
    /// while the account is as `guard` says.
    async fn claim(
        &self,
        payout: &Payout,
        destination: Option<Beneficiary>,
        guard: AccountGuard,
    ) -> Result<Claimed> {
        let now = Timestamp::now();
        let token = Uuid::new_v4().to_string();
        let mut next = payout.clone();
        if let Some(Beneficiary::Ready {
            fund_account_id,
            mode,
            destination,
            account_revision,
        }) = destination
        {
            next.gateway_fund_account_id = Some(fund_account_id);
            next.gateway_mode = Some(mode.to_owned());
            next.destination = Some(destination);
            next.account_revision = Some(account_revision);
        }
        // The attempt keeps the account it was first claimed under: a resend under its key
        // must be the same request. Only an attempt never sent is given one: one sent by
        // a version that did not record it went from the configured account, which it
        // keeps using (changing the account while such attempts are open is not safe;
        // README, RAZORPAYX_ACCOUNT_NUMBER).
        if next.gateway_account_number.is_none() && payout.sent_at().is_none() {
            next.gateway_account_number = self.gateway.paying_account().map(str::to_owned);
        }
        next.lease_expires_at = Some(now.plus_secs(self.config.lease_secs));
        next.processed_at = Some(now);
        // Marked before the call, in the claim itself: a holder that dies after reaching
        // the gateway leaves no other trace. The send before it is kept, for when this
        // one turns out to have created nothing.
        next.previous_sent_at = payout.sent_at();
        next.attempt_sent_at = Some(now);
        next.first_sent_at = payout.first_sent_at.or(Some(now));
        next.updated_at = now;
        let payout = self
            .store
            .change_status_guarded(
                payout,
                StatusChange {
                    transition: Transition::Claim,
                    next,
                    lease: Lease::Acquire(&token),
                    gateway_status_not_in: None,
                },
                self.acting.as_ref(),
                Some(guard),
            )
            .await?;
        Ok(Claimed {
            payout,
            token,
            missing_account: None,
            resend: false,
            account_revision: None,
        })
    }

    async fn pay(&self, mut claimed: Claimed) -> (Payout, Outcome) {
        if let Some(failed) = claimed.missing_account.take() {
            let decided_on = claimed.account_revision;
            let (payout, outcome) = self.settle(claimed, Transition::Fail, failed).await;
            return self
                .requeue_if_account_saved_meanwhile(payout, outcome, decided_on)
                .await;
        }
        if claimed.payout.amount_paise == Paise::ZERO {
            // Only items from before zero-price orders were refused can be here.
            let mut next = settled(&claimed.payout);
            next.failure_reason = Some("amount is 0 paise: nothing to pay".to_owned());
            return self.settle(claimed, Transition::Fail, next).await;
        }
        let key = claimed.payout.idempotency_key();
        let poll_secs = self.config.poll_secs;
        if claimed.resend {
            let asked_at = Timestamp::now();
            match self.gateway.lookup(&key, &claimed.payout).await {
                Ok(Some(outcome)) => {
                    let (transition, next) = settlement(&claimed.payout, outcome, poll_secs);
                    return self.settle(claimed, transition, next).await;
                }
                // No earlier send can land any more, and none did: the gateway never saw
                // the attempt, so it is not sent to where it was fixed before (the user
                // may have replaced that account since); its next claim takes the
                // account as it is then.
                Ok(None)
                    if claimed
                        .payout
                        .previous_sent_at
                        .is_none_or(|earlier| asked_at > self.last_landing(earlier)) =>
                {
                    let (transition, next) = requeue_never_sent(
                        &claimed.payout,
                        "the gateway has no record of the attempt, and no send of it can land \
                         any more: it is sent afresh"
                            .to_owned(),
                    );
                    return self.settle(claimed, transition, next).await;
                }
                Ok(None) => {}
                // This claim sent nothing: only an earlier send may be at the gateway.
                Err(unknown) => {
                    let misconfigured = matches!(unknown, GatewayError::Misconfigured(_));
                    let (transition, next) = requeue_unsent(&claimed.payout, unknown.to_string());
                    let (payout, outcome) = self.settle(claimed, transition, next).await;
                    // Our own fault stops a drain like any other misconfiguration.
                    return (
                        payout,
                        if misconfigured {
                            Outcome::Misconfigured
                        } else {
                            outcome
                        },
                    );
                }
            }
        }
        // Read before the call: a "no record" in its answer speaks for a later moment.
        let asked_at = Timestamp::now();
        let (transition, next) = match self.gateway.transfer(&key, &claimed.payout).await {
            Ok(outcome) => settlement(&claimed.payout, outcome, poll_secs),
            // The outcome is unknown: ask about this key before anything else, so a
            // transfer that did happen is recorded now rather than a run later.
            Err(GatewayError::Unavailable(why)) => {
                match self.gateway.lookup(&key, &claimed.payout).await {
                    Ok(Some(outcome)) => settlement(&claimed.payout, outcome, poll_secs),
                    Ok(None) | Err(_) => requeue(&claimed.payout, why),
                }
            }
            Err(GatewayError::Refused(reason)) => {
                let mut next = settled(&claimed.payout);
                next.failure_reason = Some(reason);
                (Transition::Fail, next)
            }
            // This request created nothing; an earlier one under the key may have, or
            // may still: the attempt stays as it was before this claim.
            Err(GatewayError::RateLimited(why)) => {
                requeue_unsent(&claimed.payout, format!("rate limited: {why}"))
            }
            // Refused, and no record under the key. An earlier send may still be created
            // until its last landing: until then the attempt waits as it was; after
            // it, the refusal is the attempt's answer.
            Err(GatewayError::EarlierSendMayLand(why))
                if claimed
                    .payout
                    .previous_sent_at
                    .is_some_and(|earlier| asked_at <= self.last_landing(earlier)) =>
            {
                requeue_unsent(
                    &claimed.payout,
                    format!("refused a resend while an earlier send may still land: {why}"),
                )
            }
            Err(GatewayError::EarlierSendMayLand(reason)) => {
                let mut next = settled(&claimed.payout);
                next.failure_reason = Some(reason);
                (Transition::Fail, next)
            }
            Err(GatewayError::Misconfigured(why)) => {
                let (transition, next) = requeue_unsent(&claimed.payout, why);
                let (payout, _) = self.settle(claimed, transition, next).await;
                return (payout, Outcome::Misconfigured);
            }
        };
        self.settle(claimed, transition, next).await
    }

    /// An account saved while this payout was failing for want of one (none, or one
    /// the gateway refused) may have looked for waiting payouts before this one's marker
    /// was written: the account is read again after the failure, and if it is not the
    /// revision the failure was decided on, the payout goes round again now. The save
    /// writes its account before it reads the markers, and this writes its marker before
    /// it reads the account: one of the two sees the other.
    async fn requeue_if_account_saved_meanwhile(
        &self,
        payout: Payout,
        outcome: Outcome,
        decided_on: Option<u64>,
    ) -> (Payout, Outcome) {
        if !payout.waits_for_account() {
            return (payout, outcome);
        }
        let saved_since = match self.store.payout_account(payout.user_id).await {
            Ok(account) => account.map(|account| account.revision) != decided_on,
            // Unread, it stays failed; the user's next save finds its marker.
            Err(_) => false,
        };
        if !saved_since {
            return (payout, outcome);
        }
        match send_round_again_as(self.store, &payout, self.acting.as_ref()).await {
            Ok(requeued) => (requeued, Outcome::Requeued),
            Err(_) => (payout, outcome),
        }
    }

    /// A payout whose lease ran out: its holder died somewhere between claim and
    /// settle. Take it over, then settle it by what the gateway knows of its key.
    async fn reconcile(&self, stuck: Payout) -> Outcome {
        let Some(expired_at) = stuck.lease_expires_at else {
            return Outcome::Skipped;
        };
        let now = Timestamp::now();
        let token = Uuid::new_v4().to_string();
        let mut next = stuck.clone();
        next.lease_expires_at = Some(now.plus_secs(self.config.lease_secs));
        next.updated_at = now;
        let taken = self
            .store
            .change_status(
                &stuck,
                StatusChange {
                    transition: Transition::Reclaim,
                    next,
                    lease: Lease::TakeOver {
                        token: &token,
                        expired_at,
                    },
                    gateway_status_not_in: None,
                },
            )
            .await;
        let payout = match taken {
            Ok(payout) => payout,
            Err(Error::InvalidTransition { .. } | Error::Conflict(_) | Error::NotFound { .. }) => {
                return Outcome::Skipped
            }
            Err(err) => {
                error!(event = "reclaim_failed", payout_id = %stuck.payout_id, error = %err, "reclaim failed");
                return Outcome::Errored;
            }
        };
        let key = payout.idempotency_key();
        let accepted = payout.gateway_payout_id.is_some();
        if accepted {
            info!(
                event = "gateway_poll",
                payout_id = %payout.payout_id,
                gateway_payout_id = payout.gateway_payout_id.as_deref().unwrap_or_default(),
                gateway_status = payout.gateway_status.as_deref().unwrap_or_default(),
                "asking the gateway about an accepted payout"
            );
        } else {
            warn!(
            event = "lease_expired",
            payout_id = %payout.payout_id,
            user_id = payout.user_id,
            amount_paise = payout.amount_paise.get(),
            idempotency_key = %key,
            "payout was stuck in processing; reconciling with the gateway"
            );
        }
        let poll_secs = self.config.poll_secs;
        // Read before asking, as in a cancel: "no record" speaks for this moment.
        let asked_at = Timestamp::now();
        let (transition, next) = match self.gateway.lookup(&key, &payout).await {
            Ok(Some(outcome)) => settlement(&payout, outcome, poll_secs),
            // The gateway has this attempt (it accepted it); no answer, or none about
            // it, is no reason to send it again: it stays with the gateway, looked at later.
            Ok(None) if accepted => {
                let mut next = settled(&payout);
                next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
                next.last_error = Some(format!(
                    "the gateway has no record of {}",
                    payout.gateway_payout_id.as_deref().unwrap_or_default()
                ));
                (Transition::Accept, next)
            }
            // Past every instant the claim's request could have been created at, "no
            // record" is final: the attempt never reached the gateway.
            Ok(None) if !self.may_still_land(&payout, asked_at) => requeue_unsent(
                &payout,
                "lease expired and the gateway never created a transfer".to_owned(),
            ),
            Ok(None) => requeue(
                &payout,
                "lease expired before the gateway saw a transfer".to_owned(),
            ),
            Err(unavailable) if accepted => {
                let mut next = settled(&payout);
                next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
                next.last_error = Some(unavailable.to_string());
                (Transition::Accept, next)
            }
            Err(unavailable) => requeue(&payout, unavailable.to_string()),
        };
        self.settle(
            Claimed {
                payout,
                token,
                missing_account: None,
                resend: false,
                account_revision: None,
            },
            transition,
            next,
        )
        .await
        .1
    }

    async fn settle(
        &self,
        claimed: Claimed,
        transition: Transition,
        next: Payout,
    ) -> (Payout, Outcome) {
        let Claimed { payout, token, .. } = claimed;
        // The webhooks' guard: what the gateway said here must not overwrite a later
        // status a webhook recorded while the call was out.
        let later = next
            .gateway_status
            .as_deref()
            .filter(|status| payout.gateway_status.as_deref() != Some(*status))
            .map(|status| self.gateway.statuses_after(status));
        let written = self
            .store
            .change_status_as(
                &payout,
                StatusChange {
                    transition,
                    next,
                    lease: Lease::Release(&token),
                    gateway_status_not_in: later,
                },
                self.acting.as_ref(),
            )
            .await;
        match written {
            Ok(settled) => {
                let outcome = log_settled(&settled);
                (settled, outcome)
            }
            Err(err @ (Error::InvalidTransition { .. } | Error::Conflict(_))) => {
                warn!(event = "lease_lost", payout_id = %payout.payout_id, error = %err, "lease lost before settling; the new holder settles it");
                (payout, Outcome::Skipped)
            }
            Err(err) => {
                error!(event = "settle_failed", payout_id = %payout.payout_id, error = %err, "settle failed; the lease will bring it back");
                (payout, Outcome::Errored)
            }
        }
    }
}

struct Claimed {
    payout: Payout,
    token: String,
    /// Set when the user has no payout account: the failure to settle instead of paying.
    missing_account: Option<Payout>,
    /// The attempt was sent before this claim: the gateway is asked about it before it
    /// is sent again (a gateway forgets keys after a while; RazorpayX after 7 days).
    resend: bool,
    /// The account revision the claim was decided on (`None`: the user had none).
    account_revision: Option<u64>,
}

enum Registration {
    Ready(String),
    /// The gateway will not take the account (its reason).
    Refused(String),
    NotNow,
}

enum Beneficiary {
    Ready {
        fund_account_id: String,
        mode: &'static str,
        /// Masked, for the payout's record and its emails.
        destination: String,
        account_revision: u64,
    },
    /// No account to pay to (`payout_account_missing`), or one the gateway refused or
    /// its check found wrong (`payout_account_invalid`).
    Missing(&'static str),
    /// Its destination is being verified: the payout waits, unclaimed.
    Unverified,
    NotNow,
}

/// Sends a failed payout round again as its next attempt (a declined key stays declined
/// at the gateway), under the usual conditional write; refused (409) once every attempt
/// a key can name is used.
pub(crate) async fn send_round_again(store: &Store, payout: &Payout) -> Result<Payout> {
    send_round_again_as(store, payout, None).await
}

/// [`send_round_again`] on an admin's request, recorded in the payout's history.
async fn send_round_again_as(
    store: &Store,
    payout: &Payout,
    acting: Option<&Acting>,
) -> Result<Payout> {
    if payout.attempt >= IdempotencyKey::MAX_ATTEMPT {
        return Err(Error::Conflict(format!(
            "payout {} has used all {} attempts",
            payout.payout_id,
            IdempotencyKey::MAX_ATTEMPT
        )));
    }
    store
        .change_status_as(
            payout,
            StatusChange {
                transition: Transition::Retry,
                next: next_attempt(payout),
                lease: Lease::NotHeld,
                gateway_status_not_in: None,
            },
            acting,
        )
        .await
}

/// The next attempt of a payout whose last one will never pay: a new key, nothing sent,
/// nothing fixed of where it goes (the account may have changed since).
fn next_attempt(payout: &Payout) -> Payout {
    let mut next = payout.clone();
    next.earlier_attempts.push(EarlierAttempt {
        attempt: payout.attempt,
        gateway_payout_id: payout.gateway_payout_id.clone(),
        ended: payout.status,
    });
    next.attempt += 1;
    // The new attempt has not been near the gateway (see `Payout::sent_at`).
    next.attempt_sent_at = None;
    next.first_sent_at = None;
    next.previous_sent_at = None;
    next.processed_at = None;
    next.failure_reason = None;
    next.last_error = None;
    // A reversed payout was completed once: the new attempt has paid nothing yet.
    next.payment_reference = None;
    next.completed_at = None;
    next.gateway_fund_account_id = None;
    next.gateway_mode = None;
    next.destination = None;
    next.account_revision = None;
    next.gateway_account_number = None;
    next.gateway_payout_id = None;
    next.gateway_status = None;
    next.gateway_status_details = None;
    next.updated_at = Timestamp::now();
    next
}

fn settlement(payout: &Payout, outcome: TransferOutcome, poll_secs: u64) -> (Transition, Payout) {
    match outcome {
        TransferOutcome::Paid {
            reference,
            gateway_payout_id,
        } => (
            Transition::Complete,
            paid(payout, reference, gateway_payout_id),
        ),
        TransferOutcome::Declined { reason } => {
            let mut next = settled(payout);
            next.failure_reason = Some(reason);
            (Transition::Fail, next)
        }
        TransferOutcome::Reversed { reason } => {
            let mut next = settled(payout);
            next.failure_reason = Some(reason);
            // Recorded as a webhook would, so that a late report of the payment finds
            // the payout past it.
            next.gateway_status = Some("reversed".to_owned());
            (Transition::Reverse, next)
        }
        TransferOutcome::Accepted {
            gateway_payout_id,
            gateway_status,
        } => {
            let mut next = settled(payout);
            next.gateway_payout_id = Some(gateway_payout_id);
            next.gateway_status = Some(gateway_status);
            // Nobody holds it; the processor looks at it again once this passes.
            next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
            (Transition::Accept, next)
        }
    }
}

fn paid(payout: &Payout, reference: String, gateway_payout_id: Option<String>) -> Payout {
    let mut next = settled(payout);
    next.payment_reference = Some(reference);
    if gateway_payout_id.is_some() {
        next.gateway_payout_id = gateway_payout_id;
    }
    next.completed_at = Some(next.updated_at);
    next
}

fn settled(payout: &Payout) -> Payout {
    let mut next = payout.clone();
    next.lease_expires_at = None;
    next.last_error = None;
    next.updated_at = Timestamp::now();
    next
}

fn requeue(payout: &Payout, why: String) -> (Transition, Payout) {
    let mut next = payout.clone();
    next.lease_expires_at = None;
    next.last_error = Some(why);
    next.updated_at = Timestamp::now();
    (Transition::Requeue, next)
}

/// Back to the queue after a claim whose own request is known to have created nothing
/// at the gateway (refused, rate limited, never sent): the attempt is as it was before
/// the claim. Its last send that could have landed is the one before, and if there was
/// none the gateway has never seen the attempt, which then goes wherever its user's
/// account says at its next claim.
fn requeue_unsent(payout: &Payout, why: String) -> (Transition, Payout) {
    if payout.previous_sent_at.is_none() {
        return requeue_never_sent(payout, why);
    }
    let (transition, mut next) = requeue(payout, why);
    next.attempt_sent_at = payout.previous_sent_at;
    next.previous_sent_at = None;
    (transition, next)
}

/// Back to the queue as an attempt the gateway never saw and never will: no send of
/// it could still be created, so nothing of it is fixed any more and its next claim
/// sends it wherever its user's account says then.
fn requeue_never_sent(payout: &Payout, why: String) -> (Transition, Payout) {
    let (transition, mut next) = requeue(payout, why);
    next.attempt_sent_at = None;
    next.previous_sent_at = None;
    next.first_sent_at = None;
    // `sent_at` falls back on it for items older than `attempt_sent_at`.
    next.processed_at = None;
    next.gateway_fund_account_id = None;
    next.gateway_mode = None;
    next.destination = None;
    next.account_revision = None;
    next.gateway_account_number = None;
    (transition, next)
}

fn log_settled(payout: &Payout) -> Outcome {
    let outcome = log_settlement(payout);
    let (metric, paid) = match outcome {
        Outcome::Completed => ("PayoutsCompleted", payout.amount_paise.get()),
        Outcome::Failed => ("PayoutsFailed", 0),
        Outcome::Reversed => ("PayoutsReversed", 0),
        Outcome::Accepted => ("PayoutsAccepted", 0),
        _ => ("PayoutsRequeued", 0),
    };
    metrics::emit(
        &[
            (metric, Unit::Count, 1),
            ("AmountPaidPaise", Unit::None, paid),
        ],
        &[("payout_id", payout.payout_id.to_string().into())],
    );
    outcome
}

/// The log line and metric of a payout a gateway's webhook moved, as if the
/// processor had settled it.
pub(crate) fn log_reported(payout: &Payout) {
    log_settled(payout);
}

fn log_settlement(payout: &Payout) -> Outcome {
    let (id, user, amount) = (payout.payout_id, payout.user_id, payout.amount_paise);
    match payout.status {
        PayoutStatus::Completed => {
            info!(
                event = "payout_completed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                payment_reference = payout.payment_reference.as_deref().unwrap_or_default(),
                "✅ Payout {id} completed: {amount} to user {user}"
            );
            Outcome::Completed
        }
        PayoutStatus::Failed => {
            let reason = payout.failure().map_or("", |reason| reason.code);
            warn!(
                event = "payout_failed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                failure_reason = reason,
                gateway_reason = gateway_reason(payout),
                detail = %logged(payout.failure_reason.as_deref()),
                "❌ Payout {id} failed: {reason}"
            );
            Outcome::Failed
        }
        PayoutStatus::Reversed => {
            let reason = payout.failure().map_or("", |reason| reason.code);
            warn!(
                event = "payout_reversed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                failure_reason = reason,
                gateway_reason = gateway_reason(payout),
                detail = %logged(payout.failure_reason.as_deref()),
                "↩️ Payout {id} was reversed by the bank: {reason}; an admin retries or cancels it"
            );
            Outcome::Reversed
        }
        PayoutStatus::Processing => {
            info!(
                event = "payout_accepted",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                gateway_payout_id = payout.gateway_payout_id.as_deref().unwrap_or_default(),
                gateway_status = payout.gateway_status.as_deref().unwrap_or_default(),
                "📤 Payout {id} accepted by the gateway: {amount} to user {user}, not final yet"
            );
            Outcome::Accepted
        }
        _ => {
            let why = payout.last_error_reason().map_or("", |reason| reason.code);
            warn!(
                event = "payout_requeued",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                attempt = payout.attempt,
                reason = why,
                detail = %logged(payout.last_error.as_deref()),
                "↩️ Payout {id} back to pending: {why}"
            );
            Outcome::Requeued
        }
    }
}

/// The gateway's reason code for its status, when it gave one that is a code.
fn gateway_reason(payout: &Payout) -> &str {
    payout
        .gateway_status_details
        .as_ref()
        .and_then(crate::payout::GatewayStatusDetails::reason_code)
        .unwrap_or_default()
}

/// The stored words behind a reason (the gateway's, as often as not), for an operator:
/// they can quote the user's VPA, IFSC or account number back, so those are taken out.
fn logged(stored: Option<&str>) -> String {
    crate::telemetry::redact(stored.unwrap_or_default())
}

fn count(summary: &mut RunSummary, outcome: Outcome) {
    match outcome {
        Outcome::Completed => summary.completed += 1,
        Outcome::Failed => summary.failed += 1,
        Outcome::Reversed => summary.reversed += 1,
        Outcome::Requeued => summary.requeued += 1,
        Outcome::Accepted => summary.accepted += 1,
        Outcome::Skipped | Outcome::Held | Outcome::Errored | Outcome::Misconfigured => {}
    }
}
