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
    /// this run had taken and left pending.
    NoProgress,
    /// Draining, and a later read of the queue failed: what was read before is still
    /// paid (in time), then the run fails, after reporting what it did.
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
    pub(super) taken_before: Vec<Uuid>,
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
    /// Payouts of the first read still to start: they start whatever the deadline or a
    /// stop, as a run without drain mode would.
    unconditional: usize,
    /// The longest one payout has taken, from its claim (or reconciling) to its settling,
    /// `None` before any has finished: a payout started now may take as long.
    slowest_payout: Option<Duration>,
    /// The longest a read of the queue has taken (its account checks included).
    slowest_read: Duration,
    /// Pending payouts finished in a row without getting anywhere.
    streak: usize,
    /// Pending payouts this run finished without getting anywhere: sent back, skipped,
    /// held, or in error. Seen at the head of the queue again, they are what the queue
    /// still holds, not an index copy lagging behind a payout that went.
    left_pending: HashSet<Uuid>,
    /// The last read found nothing new while payouts were still in flight: read again
    /// once they have finished (one sent back is then at the head of the queue).
    read_when_idle: bool,
    /// Why no further read is made.
    pub(super) stopped: Option<Stopped>,
    /// No payout starts either, but the first read's.
    halted: bool,
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
            slowest_payout: None,
            slowest_read: Duration::ZERO,
            streak: 0,
            left_pending: HashSet::new(),
            read_when_idle: false,
            stopped: None,
            halted: false,
        }
    }

    /// No further read; what waits still starts. The first reason wins: it is what
    /// ended the run.
    fn stop_reading(&mut self, why: Stopped) {
        self.stopped.get_or_insert(why);
    }

    /// No further read, and nothing new starts but the first read's payouts.
    fn halt(&mut self, why: Stopped) {
        self.stop_reading(why);
        self.halted = true;
    }

    fn idle(&self) -> bool {
        self.in_flight == 0 && self.waiting.is_empty()
    }

    pub(super) fn read_done(&mut self, taken: Taken, segment: Segment, took: Duration) {
        self.taken = Some(taken);
        self.slowest_read = self.slowest_read.max(took);
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
            self.stop_reading(Stopped::OneBatch);
        } else if segment.misconfigured > 0 {
            self.halt(Stopped::GatewayMisconfigured);
        } else if !found_work {
            if self.idle() {
                // A head of the queue made only of payouts this run took and left pending
                // means the gateway is turning them away, not that the queue is empty.
                let turned_away = segment
                    .taken_before
                    .iter()
                    .any(|payout_id| self.left_pending.contains(payout_id));
                self.stop_reading(if turned_away {
                    Stopped::NoProgress
                } else {
                    Stopped::QueueEmpty
                });
            } else {
                self.read_when_idle = true;
            }
        }
    }

    /// A later read that failed: no more reads (the run then fails); what was read
    /// before still starts, in time.
    pub(super) fn read_failed(&mut self, taken: Taken, took: Duration) {
        self.taken = Some(taken);
        self.slowest_read = self.slowest_read.max(took);
        self.stop_reading(Stopped::StoreError);
    }

    /// The next payout to start, if a slot is free and the run may start one: the first
    /// read's always; in drain mode, a later read's only once a payout has shown how
    /// long one takes, and only while the slowest so far and the margin fit before the
    /// deadline (else the run stops at the deadline).
    pub(super) fn next_to_start(
        &mut self,
        deadline: Option<Instant>,
        margin: Duration,
    ) -> Option<(bool, Payout)> {
        if self.in_flight >= self.concurrency || self.waiting.is_empty() {
            return None;
        }
        if self.unconditional > 0 {
            self.unconditional -= 1;
        } else {
            let slowest = self.slowest_payout?;
            if self.halted {
                return None;
            }
            if !fits(deadline, slowest + margin) {
                self.halt(Stopped::Deadline);
                return None;
            }
        }
        let (recovering, payout) = self.waiting.pop_front()?;
        self.in_flight += 1;
        if !recovering {
            self.summary.found += 1;
        }
        Some((recovering, payout))
    }

    /// The run's `Taken`, for a new read, when one is due: in drain mode, when fewer
    /// payouts wait than slots there are, so that the next read is back before they run
    /// out; after a read that found nothing new, only once the run is idle; and only if
    /// the slowest read, then the slowest payout, and the margin fit before the deadline
    /// (else reading stops at the deadline, and what waits still starts, in time).
    pub(super) fn read_due(
        &mut self,
        deadline: Option<Instant>,
        margin: Duration,
    ) -> Option<Taken> {
        if self.stopped.is_some()
            || self.taken.is_none()
            || self.waiting.len() >= self.concurrency
            || (self.read_when_idle && !self.idle())
        {
            return None;
        }
        let payout = self.slowest_payout.unwrap_or_default();
        if !fits(deadline, self.slowest_read + payout + margin) {
            self.stop_reading(Stopped::Deadline);
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

    pub(super) fn finished(
        &mut self,
        payout_id: Uuid,
        recovering: bool,
        outcome: Outcome,
        took: Duration,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.slowest_payout = Some(
            self.slowest_payout
                .map_or(took, |slowest| slowest.max(took)),
        );
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
            if !progress {
                self.left_pending.insert(payout_id);
            }
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
            self.halt(Stopped::GatewayMisconfigured);
        }
        // The gateway turning everything away, or another run taking it all: without
        // this brake the run would take the queue's payouts one after another until
        // its deadline, sending each back.
        if self.streak >= self.batch_size.max(1) {
            self.halt(Stopped::NoProgress);
        }
    }
}

/// Whether `needed` still fits before `deadline` (always, without one).
fn fits(deadline: Option<Instant>, needed: Duration) -> bool {
    deadline.is_none_or(|deadline| deadline.saturating_duration_since(Instant::now()) >= needed)
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

    fn read(pipeline: &mut Pipeline, fresh: usize, taken_before: &[Uuid]) {
        let taken = pipeline.taken.take().unwrap_or_default();
        pipeline.read_done(
            taken,
            Segment {
                fresh: pending(fresh),
                taken_before: taken_before.to_vec(),
                ..Segment::default()
            },
            Duration::from_millis(20),
        );
    }

    /// A read, due now, that finds nothing this run has not taken.
    fn read_nothing_new(pipeline: &mut Pipeline) {
        let taken = pipeline.read_due(None, Duration::ZERO);
        assert!(taken.is_some(), "no read was due");
        pipeline.read_done(
            taken.unwrap_or_default(),
            Segment::default(),
            Duration::ZERO,
        );
    }

    fn start_all(pipeline: &mut Pipeline, deadline: Option<Instant>) -> usize {
        started(pipeline, deadline).len()
    }

    fn started(pipeline: &mut Pipeline, deadline: Option<Instant>) -> Vec<Uuid> {
        let mut ids = Vec::new();
        while let Some((_, payout)) = pipeline.next_to_start(deadline, Duration::from_secs(30)) {
            ids.push(payout.payout_id);
        }
        ids
    }

    #[test]
    fn it_reads_again_before_what_it_read_runs_out() {
        let mut pipeline = Pipeline::new(&config(100, 50, true));
        read(&mut pipeline, 100, &[]);
        assert_eq!(start_all(&mut pipeline, None), 50);
        // Fifty wait, as many as there are slots: no read yet.
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        pipeline.finished(
            Uuid::nil(),
            false,
            Outcome::Completed,
            Duration::from_millis(5),
        );
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
        read(&mut pipeline, 10, &[]);
        assert_eq!(start_all(&mut pipeline, None), 3);
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        for _ in 0..7 {
            pipeline.finished(Uuid::nil(), false, Outcome::Requeued, Duration::ZERO);
            assert_eq!(start_all(&mut pipeline, None), 1);
        }
        assert_eq!(pipeline.summary.found, 10);
        assert_eq!(pipeline.stopped, Some(Stopped::OneBatch));
    }

    #[test]
    fn a_read_that_finds_nothing_new_is_made_again_once_the_run_is_idle() {
        let mut pipeline = Pipeline::new(&config(10, 10, true));
        read(&mut pipeline, 10, &[]);
        let ids = started(&mut pipeline, None);
        read_nothing_new(&mut pipeline);
        assert_eq!(pipeline.stopped, None);
        for id in &ids[..9] {
            pipeline.finished(*id, false, Outcome::Completed, Duration::ZERO);
            assert!(pipeline.read_due(None, Duration::ZERO).is_none());
        }
        pipeline.finished(ids[9], false, Outcome::Requeued, Duration::ZERO);
        let taken = pipeline.read_due(None, Duration::ZERO);
        assert!(taken.is_some());
        // The one it sent back is all the queue holds (with a lagging copy of one that
        // went): the gateway turns it away.
        pipeline.read_done(
            taken.unwrap_or_default(),
            Segment {
                taken_before: vec![ids[0], ids[9]],
                ..Segment::default()
            },
            Duration::ZERO,
        );
        assert_eq!(pipeline.stopped, Some(Stopped::NoProgress));
    }

    #[test]
    fn payouts_it_took_that_still_show_pending_do_not_make_an_emptied_queue_no_progress() {
        let mut pipeline = Pipeline::new(&config(10, 10, true));
        read(&mut pipeline, 3, &[]);
        let ids = started(&mut pipeline, None);
        for id in &ids {
            pipeline.finished(*id, false, Outcome::Completed, Duration::ZERO);
        }
        read(&mut pipeline, 0, &ids);
        assert_eq!(pipeline.stopped, Some(Stopped::QueueEmpty));
    }

    #[test]
    fn a_streak_of_batch_size_payouts_getting_nowhere_stops_the_drain() {
        let mut pipeline = Pipeline::new(&config(5, 5, true));
        read(&mut pipeline, 5, &[]);
        start_all(&mut pipeline, None);
        for n in 0..4 {
            pipeline.finished(Uuid::nil(), false, Outcome::Requeued, Duration::ZERO);
            assert_eq!(pipeline.stopped, None, "after {n}");
        }
        // A stuck payout's outcome neither breaks nor extends the streak.
        pipeline.finished(Uuid::nil(), true, Outcome::Accepted, Duration::ZERO);
        assert_eq!(pipeline.stopped, None);
        pipeline.finished(Uuid::nil(), false, Outcome::Skipped, Duration::ZERO);
        assert_eq!(pipeline.stopped, Some(Stopped::NoProgress));
        assert!(pipeline.next_to_start(None, Duration::ZERO).is_none());
    }

    #[test]
    fn past_the_first_read_nothing_starts_unless_the_slowest_payout_and_the_margin_fit() {
        let mut pipeline = Pipeline::new(&config(2, 1, true));
        read(&mut pipeline, 2, &[]);
        let soon = Some(Instant::now() + Duration::from_secs(40));
        // The first read's payouts start whatever the deadline, as without drain mode.
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(
            Uuid::nil(),
            false,
            Outcome::Completed,
            Duration::from_secs(5),
        );
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(
            Uuid::nil(),
            false,
            Outcome::Completed,
            Duration::from_secs(5),
        );
        // 40 s left: 5 s (the slowest) and the 30 s margin fit; 15 s would not.
        read(&mut pipeline, 2, &[]);
        assert_eq!(start_all(&mut pipeline, soon), 1);
        pipeline.finished(
            Uuid::nil(),
            false,
            Outcome::Completed,
            Duration::from_secs(15),
        );
        assert_eq!(start_all(&mut pipeline, soon), 0);
        assert_eq!(pipeline.stopped, Some(Stopped::Deadline));
        assert!(pipeline.read_due(soon, Duration::from_secs(30)).is_none());
        assert_eq!(pipeline.summary.found, 3);
    }

    #[test]
    fn payouts_left_pending_without_a_requeue_still_make_an_idle_head_no_progress() {
        let mut pipeline = Pipeline::new(&config(10, 10, true));
        read(&mut pipeline, 4, &[]);
        let ids = started(&mut pipeline, None);
        read_nothing_new(&mut pipeline);
        // The gateway could not register their payees: skipped, left pending.
        for id in &ids {
            pipeline.finished(*id, false, Outcome::Skipped, Duration::ZERO);
        }
        read(&mut pipeline, 0, &ids);
        assert_eq!(pipeline.stopped, Some(Stopped::NoProgress));
    }

    #[test]
    fn a_failed_later_read_stops_reading_and_what_was_read_still_starts() {
        let mut pipeline = Pipeline::new(&config(10, 2, true));
        read(&mut pipeline, 10, &[]);
        assert_eq!(start_all(&mut pipeline, None), 2);
        for _ in 0..7 {
            pipeline.finished(Uuid::nil(), false, Outcome::Completed, Duration::ZERO);
            start_all(&mut pipeline, None);
        }
        let taken = pipeline.read_due(None, Duration::ZERO);
        assert!(taken.is_some());
        pipeline.read_failed(taken.unwrap_or_default(), Duration::ZERO);
        assert_eq!(pipeline.stopped, Some(Stopped::StoreError));
        pipeline.finished(Uuid::nil(), false, Outcome::Completed, Duration::ZERO);
        assert_eq!(start_all(&mut pipeline, None), 1);
        assert_eq!(pipeline.summary.found, 10);
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
    }

    #[test]
    fn a_refused_account_check_stops_the_drain_after_the_first_reads_payouts() {
        let mut pipeline = Pipeline::new(&config(5, 5, true));
        let taken = pipeline.taken.take().unwrap_or_default();
        pipeline.read_done(
            taken,
            Segment {
                fresh: pending(3),
                misconfigured: 1,
                ..Segment::default()
            },
            Duration::ZERO,
        );
        assert_eq!(pipeline.stopped, Some(Stopped::GatewayMisconfigured));
        assert_eq!(start_all(&mut pipeline, None), 3);
        assert!(pipeline.read_due(None, Duration::ZERO).is_none());
    }

    #[test]
    fn a_later_reads_payouts_wait_until_one_payout_has_shown_how_long_it_takes() {
        let mut pipeline = Pipeline::new(&config(2, 4, true));
        read(&mut pipeline, 2, &[]);
        assert_eq!(start_all(&mut pipeline, None), 2);
        read(&mut pipeline, 2, &[]);
        assert_eq!(start_all(&mut pipeline, None), 0);
        pipeline.finished(
            Uuid::nil(),
            false,
            Outcome::Completed,
            Duration::from_millis(300),
        );
        assert_eq!(start_all(&mut pipeline, None), 2);
    }

    #[test]
    fn no_read_goes_out_unless_the_slowest_read_and_payout_and_the_margin_fit() {
        // A 6 s read, then a 5 s payout.
        let after_one_payout = || {
            let mut pipeline = Pipeline::new(&config(1, 1, true));
            let segment = Segment {
                fresh: pending(1),
                ..Segment::default()
            };
            pipeline.read_done(Taken::default(), segment, Duration::from_secs(6));
            let ids = started(&mut pipeline, None);
            pipeline.finished(ids[0], false, Outcome::Completed, Duration::from_secs(5));
            pipeline
        };
        let margin = Duration::from_secs(30);
        let mut pipeline = after_one_payout();
        assert!(pipeline
            .read_due(Some(Instant::now() + Duration::from_secs(60)), margin)
            .is_some());
        // 40 s left: the read, the payout and the margin do not fit.
        let mut pipeline = after_one_payout();
        assert!(pipeline
            .read_due(Some(Instant::now() + Duration::from_secs(40)), margin)
            .is_none());
        assert_eq!(pipeline.stopped, Some(Stopped::Deadline));
    }
}
