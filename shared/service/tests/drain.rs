//! Drain mode: the processor keeps paying, a new payout as soon as one finishes, until
//! the queue is empty, the run gets nowhere, or the invocation's deadline is nearer than
//! the slowest payout so far plus the margin.
//! Against DynamoDB Local and the simulated gateway; every test ends with the books.

use std::time::{Duration, Instant};

use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, gateway, processor_config};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus};
use futures::stream::{self, StreamExt, TryStreamExt};
use gateway::{GatewayError, PaymentGateway, SimulatedGateway, TransferOutcome};
use service::config::{Drain, PayoutLimits, ProcessorConfig};
use service::process::{Processor, RunSummary, Stopped};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{PayoutIndex, Store};

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(10_000_000),
};
const SCOUTS: usize = 20;

fn scout_ids() -> Vec<String> {
    (0..SCOUTS).map(|n| format!("s-{n}")).collect()
}

fn owner(scout: usize) -> u64 {
    100 + scout as u64
}

/// `count` pending payouts of 1,000 paise, spread over the scouts so that the requests
/// do not all race for one balance.
async fn backlog(count: usize) -> Store {
    let store = fresh_store().await;
    for (n, scout) in scout_ids().iter().enumerate() {
        store
            .insert_scout(&Scout::with_earnings(scout, owner(n), Paise(1_000_000_000)))
            .await
            .unwrap();
    }
    stream::iter(0..count)
        .map(|n| {
            let store = store.clone();
            async move {
                let scout = n % SCOUTS;
                let request = PayoutRequest {
                    scout_id: format!("s-{scout}"),
                    amount: Some(Paise(1_000)),
                    idempotency_key: None,
                };
                request_payout(&store, LIMITS, &Actor::user(owner(scout)), request).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    store
}

fn draining(batch_size: usize, concurrency: usize, margin_secs: u64) -> ProcessorConfig {
    ProcessorConfig {
        concurrency,
        drain: Some(Drain { margin_secs }),
        validate_accounts: false,
        ..processor_config(batch_size)
    }
}

async fn count_in(store: &Store, status: PayoutStatus) -> usize {
    devkit::invariants::payouts_in(store, &PayoutIndex::Status(status))
        .await
        .len()
}

async fn books(store: &Store) {
    let scouts = scout_ids();
    let scouts: Vec<&str> = scouts.iter().map(String::as_str).collect();
    let users: Vec<u64> = (0..SCOUTS).map(owner).collect();
    assert_books_balance(store, &scouts, &users).await;
}

#[tokio::test]
async fn drain_mode_empties_a_backlog_of_a_thousand_in_one_invocation() {
    let store = backlog(1_000).await;
    let paying = gateway(&store, 1.0);
    // The longest a Lambda invocation may run (15 minutes), with the default margin.
    let deadline = Instant::now() + Duration::from_secs(900);
    let summary = Processor::new(&store, &paying, draining(100, 20, 30))
        .run_until(Some(deadline))
        .await
        .unwrap();

    assert_eq!(summary.stopped, Stopped::QueueEmpty, "{summary:?}");
    assert_eq!((summary.found, summary.completed), (1_000, 1_000));
    // Reads of a hundred at most, and the last that found the queue empty.
    assert!(summary.batches >= 11, "{summary:?}");
    assert_eq!(count_in(&store, PayoutStatus::Pending).await, 0);
    assert_eq!(count_in(&store, PayoutStatus::Completed).await, 1_000);
    books(&store).await;
}

/// The simulated gateway, slowed down by `delay`, turning away (as an unreachable bank
/// would) the payouts in `refused` and counting every attempt at them.
struct Scripted {
    inner: SimulatedGateway,
    delay: Duration,
    refused: std::collections::HashSet<uuid::Uuid>,
    attempts_at_refused: std::sync::atomic::AtomicUsize,
}

impl Scripted {
    fn new(store: &Store, delay: Duration, refused: &[Payout]) -> Self {
        Scripted {
            inner: gateway(store, 1.0),
            delay,
            refused: refused.iter().map(|payout| payout.payout_id).collect(),
            attempts_at_refused: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl PaymentGateway for Scripted {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        tokio::time::sleep(self.delay).await;
        if self.refused.contains(&payout.payout_id) {
            self.attempts_at_refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(GatewayError::Unavailable("connection reset".to_owned()));
        }
        self.inner.transfer(key, payout).await
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        self.inner.lookup(key, payout).await
    }
}

#[tokio::test]
async fn drain_mode_stops_before_the_deadline_when_it_cannot_finish() {
    let store = backlog(200).await;
    let slow = Scripted::new(&store, Duration::from_millis(100), &[]);
    // 200 payouts at 100 ms, five at a time, take four seconds at the very least; the
    // run may start payouts for about one second only.
    let deadline = Instant::now() + Duration::from_secs(2);
    let summary = Processor::new(&store, &slow, draining(10, 5, 1))
        .run_until(Some(deadline))
        .await
        .unwrap();

    assert_eq!(summary.stopped, Stopped::Deadline, "{summary:?}");
    assert!(
        summary.batches >= 1 && summary.completed < 200,
        "{summary:?}"
    );
    // Everything it took, it settled: nothing is left in flight.
    assert_eq!(summary.completed, summary.found);
    assert_eq!(count_in(&store, PayoutStatus::Processing).await, 0);
    assert_eq!(
        count_in(&store, PayoutStatus::Pending).await,
        200 - summary.completed
    );
    books(&store).await;
}

/// The simulated gateway holding one payout's transfer until `others` other payouts
/// have been paid, or ten seconds have passed, and recording which it was.
struct HoldsOne {
    inner: SimulatedGateway,
    held: uuid::Uuid,
    others: usize,
    paid_others: std::sync::atomic::AtomicUsize,
    released_by_others: std::sync::atomic::AtomicBool,
}

impl PaymentGateway for HoldsOne {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        use std::sync::atomic::Ordering::SeqCst;
        if payout.payout_id == self.held {
            let give_up = Instant::now() + Duration::from_secs(10);
            while Instant::now() < give_up {
                if self.paid_others.load(SeqCst) >= self.others {
                    self.released_by_others.store(true, SeqCst);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            return self.inner.transfer(key, payout).await;
        }
        let outcome = self.inner.transfer(key, payout).await;
        self.paid_others.fetch_add(1, SeqCst);
        outcome
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        self.inner.lookup(key, payout).await
    }
}

#[tokio::test]
async fn a_slow_payout_holds_up_only_its_own_slot() {
    let store = backlog(60).await;
    let oldest = store
        .query_payouts(&PayoutIndex::Status(PayoutStatus::Pending), false, 1, None)
        .await
        .unwrap()
        .payouts;
    let gateway = HoldsOne {
        inner: gateway(&store, 1.0),
        held: oldest[0].payout_id,
        others: 40,
        paid_others: std::sync::atomic::AtomicUsize::new(0),
        released_by_others: std::sync::atomic::AtomicBool::new(false),
    };
    let summary = Processor::new(&store, &gateway, draining(10, 5, 1))
        .run_until(None)
        .await
        .unwrap();
    // Forty others, four reads' worth, were paid while the oldest was with the gateway:
    // a run that waited for each batch's slowest payout could pay nine at most.
    assert!(
        gateway
            .released_by_others
            .load(std::sync::atomic::Ordering::SeqCst),
        "the held payout waited out its ten seconds: {summary:?}"
    );
    assert_eq!(
        (summary.found, summary.completed, summary.stopped),
        (60, 60, Stopped::QueueEmpty)
    );
    assert_eq!(count_in(&store, PayoutStatus::Completed).await, 60);
    books(&store).await;
}

#[tokio::test]
async fn a_drain_with_less_than_the_margin_left_takes_one_batch() {
    let store = backlog(30).await;
    let paying = gateway(&store, 1.0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let summary = Processor::new(&store, &paying, draining(10, 10, 60))
        .run_until(Some(deadline))
        .await
        .unwrap();
    assert_eq!(
        (summary.batches, summary.completed, summary.stopped),
        (1, 10, Stopped::Deadline)
    );
    assert_eq!(count_in(&store, PayoutStatus::Pending).await, 20);
    books(&store).await;
}

/// A gateway that cannot be reached: every send goes back to the queue.
struct Unreachable;

impl PaymentGateway for Unreachable {
    async fn transfer(
        &self,
        _key: &IdempotencyKey,
        _payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        Err(GatewayError::Unavailable("connection refused".to_owned()))
    }

    async fn lookup(
        &self,
        _key: &IdempotencyKey,
        _payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        Err(GatewayError::Unavailable("connection refused".to_owned()))
    }
}

#[tokio::test]
async fn a_drain_stops_when_a_batch_only_requeues() {
    let store = backlog(30).await;
    let summary = Processor::new(&store, &Unreachable, draining(10, 10, 1))
        .run_until(None)
        .await
        .unwrap();
    // Without the brake it would take every payout in turn, sending each back, until
    // the deadline. It stops once ten (`BATCH_SIZE`) in a row got nowhere; the ones
    // already in flight then (ten at most) finish, sent back like the others.
    assert_eq!(summary.stopped, Stopped::NoProgress, "{summary:?}");
    assert!(
        (10..20).contains(&summary.requeued) && summary.completed == 0,
        "{summary:?}"
    );
    assert_eq!(count_in(&store, PayoutStatus::Pending).await, 30);
    books(&store).await;
}

#[tokio::test]
async fn a_drain_takes_what_it_sent_back_once_and_drains_past_it() {
    let store = backlog(30).await;
    let oldest: Vec<Payout> = store
        .query_payouts(&PayoutIndex::Status(PayoutStatus::Pending), false, 5, None)
        .await
        .unwrap()
        .payouts;
    let gateway = Scripted::new(&store, Duration::ZERO, &oldest);
    let summary = Processor::new(&store, &gateway, draining(10, 10, 1))
        .run_until(None)
        .await
        .unwrap();
    // The five at the head of the queue went back to it once each; the 25 behind them
    // were paid; then only the five were left, and the run stopped rather than spin.
    assert_eq!(
        (summary.completed, summary.requeued, summary.stopped),
        (25, 5, Stopped::NoProgress),
        "{summary:?}"
    );
    assert_eq!(
        gateway
            .attempts_at_refused
            .load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    assert_eq!(count_in(&store, PayoutStatus::Pending).await, 5);
    books(&store).await;
}

#[tokio::test]
async fn without_drain_a_run_is_one_batch() {
    let store = backlog(25).await;
    let paying = gateway(&store, 1.0);
    let summary: RunSummary = Processor::new(&store, &paying, processor_config(10))
        .run_until(Some(Instant::now() + Duration::from_secs(900)))
        .await
        .unwrap();
    assert_eq!(
        (summary.batches, summary.completed, summary.stopped),
        (1, 10, Stopped::OneBatch)
    );
    assert_eq!(count_in(&store, PayoutStatus::Pending).await, 15);
    books(&store).await;
}
