//! The hourly run: expired leases reconciled, then a batch of the oldest pending
//! payouts paid, `concurrency` at a time; in drain mode, batch after batch. Held and
//! unverified users' payouts are passed over here, not claimed.

use futures::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};
use uuid::Uuid;

use super::report::Outcome;
use super::Processor;
use domain::account::PayoutHold;
use domain::error::{Error, Result};
use domain::payout::PayoutStatus;
use domain::time::Timestamp;
use gateway::PaymentGateway;
use platform::metrics::{self, Unit};
use store::PayoutIndex;

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
    /// Not draining: a run is one batch (the default: one batch an hour).
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

impl<G: PaymentGateway> Processor<'_, G> {
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
