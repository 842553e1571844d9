//! The hourly run: expired leases reconciled, then the oldest pending payouts paid,
//! up to `concurrency` in flight. Without drain mode a run pays one read of the queue
//! (`batch_size` payouts). In drain mode it is a pipeline: a payout is claimed as soon
//! as another finishes, and the queue is read again before what was read runs out, so
//! no payout waits for the slowest of a batch. Held and unverified users' payouts are
//! passed over here, not claimed.

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, FuturesUnordered, StreamExt};
use std::collections::HashSet;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use uuid::Uuid;

use super::pipeline::{Pipeline, RunSummary, Segment, Stopped, Taken, MAX_PENDING_READ};
use super::report::Outcome;
use super::Processor;
use domain::account::PayoutHold;
use domain::error::{Error, Result};
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;
use gateway::PaymentGateway;
use platform::metrics::{self, Unit};
use store::PayoutIndex;

/// What the pipeline hands back: a read of the queue, or a payout done with.
enum Step {
    /// The run's `Taken` travels with its read, the only one at a time that changes it.
    Read {
        taken: Taken,
        found: Result<Segment>,
        took: Duration,
    },
    Done {
        payout_id: Uuid,
        recovering: bool,
        outcome: Outcome,
        took: Duration,
    },
}

/// The most users whose account check a run starts or asks about: each is a gateway
/// call or two, made outside the batch, so a crowd of unanswered checks (a slow bank
/// takes days) neither fills every batch nor makes a run long.
const MAX_CHECKS_PER_RUN: usize = 100;

impl<G: PaymentGateway> Processor<'_, G> {
    /// The hourly run without a deadline (tests, benchmarks, local runs).
    pub async fn run(&self) -> Result<RunSummary> {
        self.run_until(None).await
    }

    /// The hourly run: reconcile expired leases, then pay the oldest pending payouts, up
    /// to `concurrency` in flight: one read of the queue, or in drain mode read after
    /// read until the queue is empty, the run gets nowhere, or `deadline` is nearer than
    /// the slowest payout so far plus the margin. Every payout started is finished.
    pub async fn run_until(&self, deadline: Option<Instant>) -> Result<RunSummary> {
        let started = Instant::now();
        info!(
            event = "run_started",
            drain = self.config.drain.is_some(),
            "🔄 Starting automated payout processing..."
        );
        let margin = Duration::from_secs(self.config.drain.map_or(0, |drain| drain.margin_secs));
        let mut run = Pipeline::new(&self.config);
        let mut steps: FuturesUnordered<BoxFuture<'_, Step>> = FuturesUnordered::new();
        steps.push(self.read(true, Taken::default(), run.read_limit()).boxed());
        let mut failure = None;
        while let Some(step) = steps.next().await {
            match step {
                Step::Read {
                    taken,
                    found: Ok(segment),
                    took,
                } => run.read_done(taken, segment, took),
                Step::Read {
                    found: Err(err), ..
                } if run.summary.batches == 0 => return Err(err),
                // What the run did until then is still reported below.
                Step::Read {
                    taken,
                    found: Err(err),
                    took,
                } => {
                    failure = Some(err);
                    run.read_failed(taken, took);
                }
                Step::Done {
                    payout_id,
                    recovering,
                    outcome,
                    took,
                } => run.finished(payout_id, recovering, outcome, took),
            }
            while let Some((recovering, payout)) = run.next_to_start(deadline, margin) {
                steps.push(self.settle_one(recovering, payout).boxed());
            }
            let limit = run.read_limit();
            if let Some(taken) = run.read_due(deadline, margin) {
                steps.push(self.read(false, taken, limit).boxed());
            }
        }
        let Pipeline {
            mut summary,
            tally,
            stopped,
            ..
        } = run;
        // Every way out of the loop above records why; the queue read empty otherwise.
        summary.stopped = stopped.unwrap_or(Stopped::QueueEmpty);

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
            error!(event = "run_failed", batches = summary.batches, error = %err, "a read of the queue failed");
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

    /// One payout, from its claim (or, for a stuck one, its reconciling) to its settling.
    async fn settle_one(&self, recovering: bool, payout: Payout) -> Step {
        let began = Instant::now();
        let payout_id = payout.payout_id;
        let outcome = if recovering {
            self.reconcile(payout).await
        } else {
            match Box::pin(self.take(&payout)).await {
                Ok(Some(claimed)) => Box::pin(self.pay(claimed)).await.1,
                Ok(None) => Outcome::Skipped,
                Err(Error::Config(_)) => Outcome::Misconfigured,
                // Its user's hold began after the queue was read, or their destination
                // is being verified.
                Err(Error::PayoutAccountOnHold { .. } | Error::PayoutAccountUnverified { .. }) => {
                    Outcome::Held
                }
                // Another run took it, or the index copy was stale: the payout as stored
                // is someone else's, or the next run's.
                Err(
                    Error::InvalidTransition { .. } | Error::Conflict(_) | Error::NotFound { .. },
                ) => Outcome::Skipped,
                Err(err) => {
                    error!(event = "claim_failed", payout_id = %payout.payout_id, error = %err, "claim failed");
                    Outcome::Errored
                }
            }
        };
        Step::Done {
            payout_id,
            recovering,
            outcome,
            took: began.elapsed(),
        }
    }

    /// A read of the queue, with the run's `Taken` handed back beside what it found.
    async fn read(&self, first: bool, mut taken: Taken, limit: usize) -> Step {
        let began = Instant::now();
        let found = self.read_queue(first, &mut taken, limit).await;
        Step::Read {
            taken,
            found,
            took: began.elapsed(),
        }
    }

    /// The oldest pending payouts this run has not taken yet, at most `batch_size`
    /// (reading at most `limit` a page, `MAX_PENDING_READ` in all), and in the run's
    /// first read the expired leases too (reading them means reading every processing
    /// payout: once a run is enough).
    async fn read_queue(&self, first: bool, taken: &mut Taken, limit: usize) -> Result<Segment> {
        let now = Timestamp::now();
        let batch_size = self.config.batch_size;
        let mut segment = Segment::default();
        let stuck = async {
            if first {
                self.store.expired_leases(now, batch_size).await
            } else {
                Ok(Vec::new())
            }
        };
        // Both queries at once. A payout that reconciliation sends back to pending is
        // paid by a later read or run, like any other pending payout.
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
                        segment.misconfigured += 1;
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
                    segment.taken_before.push(payout.payout_id);
                } else if waits {
                    segment.held += 1;
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
        info!(
            event = "pending_found",
            found = fresh.len(),
            stuck = stuck.len(),
            "📋 Found {} pending payouts",
            fresh.len()
        );
        segment.fresh = fresh;
        segment.stuck = stuck;
        Ok(segment)
    }
}
