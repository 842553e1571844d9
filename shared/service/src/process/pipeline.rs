//! The run's bookkeeping, apart from the reads and payments it schedules: what was
//! read and waits, what is in flight, and the rules for reading and starting more and
//! for stopping (`Pipeline`), with what a run reports (`RunSummary`, `Stopped`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::report::Outcome;
use crate::config::ProcessorConfig;
use domain::payout::Payout;

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
    /// Reads of the queue: 1, unless draining.
    #[serde(default)]
    pub batches: usize,
    #[serde(default)]
    pub stopped: Stopped,
}

/// Why a run read the queue no further.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// Not draining: a run is one batch (the default: one batch an hour).
    #[default]
    OneBatch,
    /// Draining, and nothing was left to take.
    QueueEmpty,
    /// Draining, and the slowest payout so far plus `DRAIN_MARGIN_SECS` no longer fit
    /// before the deadline: what was in flight finished, nothing new started.
    Deadline,
    /// Draining, and `batch_size` payouts in a row settled nothing (what they took went
    /// back to the queue, or was someone else's), or the queue's head held only payouts
    /// this run had sent back.
    NoProgress,
    /// Draining, and a later read of the queue failed: the run fails, after reporting
    /// what it did until then.
    StoreError,
    /// The gateway refused our credentials: the run fails.
    GatewayMisconfigured,
}

/// What a run met that its summary does not show.
#[derive(Debug, Default)]
pub(super) struct RunTally {
    pub(super) skipped: usize,
    pub(super) errored: usize,
    pub(super) misconfigured: usize,
    /// Pending payouts passed over because their user's account is on hold (counted at
    /// every read that meets them).
    pub(super) held: usize,
}

/// What one read of the queue found.
#[derive(Debug, Default)]
pub(super) struct Segment {
    /// Payouts past their lease, or accepted and due for another look (first read only).
    pub(super) stuck: Vec<Payout>,
    /// Pending payouts this run has not taken before, oldest first.
    pub(super) fresh: Vec<Payout>,
    pub(super) held: usize,
    /// Account checks the gateway refused for our credentials.
    pub(super) misconfigured: usize,
    /// Pending payouts at the head of the queue that this run had taken already.
    pub(super) taken_before: usize,
}

/// What a run has taken so far.
#[derive(Debug, Default)]
pub(super) struct Taken {
    /// Pending payouts. One it sends back to the queue is at its head again at once;
    /// taking it twice in a run would only ask the gateway again.
    pub(super) payouts: HashSet<Uuid>,
    /// Users whose destination was not verified when this run met them, and whether
    /// their payouts may be taken now (the check, started or asked about once a run,
    /// has its answer).
    pub(super) checked: HashMap<u64, bool>,
}

/// The most pending payouts a batch reads to find ones its run has not taken yet.
pub(super) const MAX_PENDING_READ: usize = 1_000;

/// The run's state between steps: what is read and waiting, what is in flight, and
/// whether it may read or start more. Only [`Processor::run_until`]'s loop changes it,
/// between awaits, so no lock is needed.
pub(super) struct Pipeline {
    draining: bool,
    batch_size: usize,
    concurrency: usize,
    pub(super) summary: RunSummary,
    pub(super) tally: RunTally,
    waiting: VecDeque<(bool, Payout)>,
    in_flight: usize,
    /// `None` while a read has it.
    taken: Option<Taken>,
    /// Payouts of the first read still to start: they start whatever the deadline, as a
    /// run without drain mode would.
    unconditional: usize,
    /// The longest one payout has taken, from its claim to its settling: a payout started
    /// now may take as long.
    slowest: Duration,
    /// Pending payouts finished in a row without getting anywhere.
    streak: usize,
    /// The last read found nothing new while payouts were still in flight: read again
    /// once they have finished (one sent back is then at the head of the queue).
    read_when_idle: bool,
    /// Why no further read is made; no payout starts either, unless `OneBatch`.
    pub(super) stopped: Option<Stopped>,
}

impl Pipeline {
    pub(super) fn new(config: &ProcessorConfig) -> Self {
        Pipeline {
            draining: config.drain.is_some(),
            batch_size: config.batch_size,
            concurrency: config.concurrency.max(1),
            summary: RunSummary::default(),
            tally: RunTally::default(),
            waiting: VecDeque::new(),
            in_flight: 0,
            taken: None,
            unconditional: 0,
            slowest: Duration::ZERO,
            streak: 0,
            read_when_idle: false,
            stopped: None,
        }
    }

    /// The first reason wins: it is what ended the run.
    fn stop(&mut self, why: Stopped) {
        self.stopped.get_or_insert(why);
    }

    fn halted(&self) -> bool {
        self.stopped.is_some_and(|why| why != Stopped::OneBatch)
    }

    fn idle(&self) -> bool {
        self.in_flight == 0 && self.waiting.is_empty()
    }

    pub(super) fn read_done(&mut self, taken: Taken, segment: Segment) {
        self.taken = Some(taken);
        self.summary.batches += 1;
        self.tally.held += segment.held;
        self.tally.misconfigured += segment.misconfigured;
        let first = self.summary.batches == 1;
        let found_work = !segment.fresh.is_empty() || !segment.stuck.is_empty();
        self.waiting
            .extend(segment.stuck.into_iter().map(|payout| (true, payout)));
        self.waiting
            .extend(segment.fresh.into_iter().map(|payout| (false, payout)));
        if first {
            self.unconditional = self.waiting.len();
        }
        if !self.draining {
            self.stop(Stopped::OneBatch);
        } else if segment.misconfigured > 0 {
            self.stop(Stopped::GatewayMisconfigured);
        } else if !found_work {
            if self.idle() {
                // A head of the queue made only of payouts this run sent back means the
                // gateway is turning them away, not that the queue is empty. (Others it
                // took may still show there: an index's copy can lag behind the claim.)
                self.stop(if segment.taken_before > 0 && self.summary.requeued > 0 {
                    Stopped::NoProgress
                } else {
                    Stopped::QueueEmpty
                });
            } else {
                self.read_when_idle = true;
            }
        }
    }

    pub(super) fn read_failed(&mut self, taken: Taken) {
        self.taken = Some(taken);
        self.stop(Stopped::StoreError);
    }

    /// The next payout to start, if a slot is free and the run may start one: in drain
    /// mode, past the first read, only if the slowest payout so far and the margin fit
    /// before the deadline.
    pub(super) fn next_to_start(
        &mut self,
        deadline: Option<Instant>,
        margin: Duration,
    ) -> Option<(bool, Payout)> {
        if self.halted()
            || self.in_flight >= self.concurrency
            || self.waiting.is_empty()
            || !self.time_for_more(deadline, margin)
        {
            return None;
        }
        self.unconditional = self.unconditional.saturating_sub(1);
        let (recovering, payout) = self.waiting.pop_front()?;
        self.in_flight += 1;
        if !recovering {
            self.summary.found += 1;
        }
        Some((recovering, payout))
    }

    /// Whether a payout started now would finish in time: always for the first read's,
    /// otherwise (in drain mode, with a deadline) if the slowest payout so far and the
    /// margin fit before it. Once it does not, the run stops at the deadline.
    fn time_for_more(&mut self, deadline: Option<Instant>, margin: Duration) -> bool {
        if self.unconditional > 0 || !self.draining {
            return true;
        }
        let fits = deadline.is_none_or(|deadline| {
            deadline.saturating_duration_since(Instant::now()) >= self.slowest + margin
        });
        if !fits {
            self.stop(Stopped::Deadline);
        }
        fits
    }

    /// The run's `Taken`, for a new read, when one is due: in drain mode, when fewer
    /// payouts wait than slots there are, so that the next read is back before they run
    /// out; after a read that found nothing new, only once the run is idle; never once
    /// nothing more may start.
    pub(super) fn read_due(
        &mut self,
        deadline: Option<Instant>,
        margin: Duration,
    ) -> Option<Taken> {
        if self.stopped.is_some()
            || self.taken.is_none()
            || self.waiting.len() >= self.concurrency
            || (self.read_when_idle && !self.idle())
            || !self.time_for_more(deadline, margin)
        {
            return None;
        }
        self.read_when_idle = false;
        self.taken.take()
    }

    /// How many pending payouts a read takes in, to find `batch_size` this run has not
    /// taken: the ones it took may still be at the head of the queue (waiting, in
    /// flight, or sent back).
    pub(super) fn read_limit(&self) -> usize {
        self.batch_size
            .saturating_add(self.waiting.len())
            .saturating_add(self.in_flight)
            .saturating_add(self.summary.requeued)
            .min(MAX_PENDING_READ)
    }

    pub(super) fn finished(&mut self, recovering: bool, outcome: Outcome, took: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.slowest = self.slowest.max(took);
        if recovering && !matches!(outcome, Outcome::Skipped | Outcome::Errored) {
            self.summary.recovered += 1;
        }
        // A payout that ended, or that the gateway took on: what a drain is for. A stuck
        // one's outcome says nothing of the queue, and does not count either way.
        if !recovering {
            let progress = matches!(
                outcome,
                Outcome::Completed | Outcome::Failed | Outcome::Reversed | Outcome::Accepted
            );
            self.streak = if progress { 0 } else { self.streak + 1 };
        }
        match outcome {
            Outcome::Skipped => self.tally.skipped += 1,
            Outcome::Held => self.tally.held += 1,
            Outcome::Errored => self.tally.errored += 1,
            Outcome::Misconfigured => self.tally.misconfigured += 1,
            settled => count(&mut self.summary, settled),
        }
        if !self.draining {
            return;
        }
        if outcome == Outcome::Misconfigured {
            self.stop(Stopped::GatewayMisconfigured);
        }
        // The gateway turning everything away, or another run taking it all: without
        // this brake the run would take the queue's payouts one after another until
        // its deadline, sending each back.
        if self.streak >= self.batch_size.max(1) {
            self.stop(Stopped::NoProgress);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Drain;
    use domain::money::Paise;
    use domain::payout::PayoutType;
    use domain::time::Timestamp;

    fn config(batch_size: usize, concurrency: usize, draining: bool) -> ProcessorConfig {
        ProcessorConfig {
            batch_size,
            concurrency,
            lease_secs: 300,
            poll_secs: 60,
            drain: draining.then_some(Drain { margin_secs: 30 }),
            validate_accounts: false,
        }
    }

    fn pending(count: usize) -> Vec<Payout> {
        (0..count)
            .map(|_| {
                Payout::new(
                    Uuid::new_v4(),
                    7,
                    PayoutType::ScoutBounty,
                    Paise(100),
                    Timestamp::now(),
                )
            })
            .collect()
    }

    fn read(pipeline: &mut Pipeline, fresh: usize, taken_before: usize) {
        let taken = pipeline.taken.take().unwrap_or_default();
        pipeline.read_done(
            taken,
            Segment {
                fresh: pending(fresh),
                taken_before,
                ..Segment::default()
            },
        );
    }

    fn start_all(pipeline: &mut Pipeline, deadline: Option<Instant>) -> usize {
        let mut started = 0;
        while pipeline
            .next_to_start(deadline, Duration::from_secs(30))
            .is_some()
        {
            started += 1;
        }
        started
    }

    #[test]
    fn it_reads_again_before_what_it_read_runs_out() {
        let mut pipeline = Pipeline::new(&config(100, 50, true));
        read(&mut pipeline, 100, 0);
        assert_eq!(start_all(&mut pipeline, None), 50);
        // Fifty wait, as many as there are slots: no read yet.
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        pipeline.finished(false, Outcome::Completed, Duration::from_millis(5));
        assert_eq!(start_all(&mut pipeline, None), 1);
        // 49 wait for 50 slots: the next read goes out, past the 99 this run holds.
        assert_eq!(pipeline.read_limit(), 100 + 49 + 50);
        assert!(pipeline.read_due(None, Duration::ZERO).is_some());
        // One read at a time.
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
    }

    #[test]
    fn without_drain_mode_it_reads_once_and_pays_all_it_read() {
        let mut pipeline = Pipeline::new(&config(10, 3, false));
        read(&mut pipeline, 10, 0);
        assert_eq!(start_all(&mut pipeline, None), 3);
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        for _ in 0..7 {
            pipeline.finished(false, Outcome::Requeued, Duration::ZERO);
            assert_eq!(start_all(&mut pipeline, None), 1);
        }
        assert_eq!(pipeline.summary.found, 10);
        assert_eq!(pipeline.stopped, Some(Stopped::OneBatch));
    }

    #[test]
    fn a_read_that_finds_nothing_new_is_made_again_once_the_run_is_idle() {
        let mut pipeline = Pipeline::new(&config(10, 10, true));
        read(&mut pipeline, 10, 0);
        start_all(&mut pipeline, None);
        let taken = pipeline.read_due(None, Duration::ZERO);
        assert!(taken.is_some());
        pipeline.read_done(taken.unwrap_or_default(), Segment::default());
        assert_eq!(pipeline.stopped, None);
        for _ in 0..9 {
            pipeline.finished(false, Outcome::Completed, Duration::ZERO);
            assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        }
        pipeline.finished(false, Outcome::Requeued, Duration::ZERO);
        let taken = pipeline.read_due(None, Duration::ZERO);
        assert!(taken.is_some());
        // The one it sent back is all the queue holds: the gateway turns it away.
        pipeline.read_done(
            taken.unwrap_or_default(),
            Segment {
                taken_before: 1,
                ..Segment::default()
            },
        );
        assert_eq!(pipeline.stopped, Some(Stopped::NoProgress));
    }

    #[test]
    fn payouts_it_took_that_still_show_pending_do_not_make_an_emptied_queue_no_progress() {
        let mut pipeline = Pipeline::new(&config(10, 10, true));
        read(&mut pipeline, 3, 0);
        start_all(&mut pipeline, None);
        for _ in 0..3 {
            pipeline.finished(false, Outcome::Completed, Duration::ZERO);
        }
        read(&mut pipeline, 0, 3);
        assert_eq!(pipeline.stopped, Some(Stopped::QueueEmpty));
    }

    #[test]
    fn a_streak_of_batch_size_payouts_getting_nowhere_stops_the_drain() {
        let mut pipeline = Pipeline::new(&config(5, 5, true));
        read(&mut pipeline, 5, 0);
        start_all(&mut pipeline, None);
        for n in 0..4 {
            pipeline.finished(false, Outcome::Requeued, Duration::ZERO);
            assert_eq!(pipeline.stopped, None, "after {n}");
        }
        // A stuck payout's outcome neither breaks nor extends the streak.
        pipeline.finished(true, Outcome::Accepted, Duration::ZERO);
        assert_eq!(pipeline.stopped, None);
        pipeline.finished(false, Outcome::Skipped, Duration::ZERO);
        assert_eq!(pipeline.stopped, Some(Stopped::NoProgress));
        assert!(pipeline.next_to_start(None, Duration::ZERO).is_none());
    }

    #[test]
    fn past_the_first_read_nothing_starts_unless_the_slowest_payout_and_the_margin_fit() {
        let mut pipeline = Pipeline::new(&config(2, 1, true));
        read(&mut pipeline, 2, 0);
        let soon = Some(Instant::now() + Duration::from_secs(40));
        // The first read's payouts start whatever the deadline, as without drain mode.
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(false, Outcome::Completed, Duration::from_secs(5));
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(false, Outcome::Completed, Duration::from_secs(5));
        // 40 s left: 5 s (the slowest) and the 30 s margin fit; 15 s would not.
        read(&mut pipeline, 2, 0);
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(false, Outcome::Completed, Duration::from_secs(15));
        assert_eq!(start_all(&mut pipeline, soon), 0);
        assert_eq!(pipeline.stopped, Some(Stopped::Deadline));
        assert!(pipeline.read_due(soon, Duration::from_secs(30)).is_none());
        assert_eq!(pipeline.summary.found, 3);
    }
}
