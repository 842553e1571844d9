//! The processor (docs/LIFECYCLE.md) against DynamoDB Local and the simulated
//! gateway: batches, concurrency, failures, overlapping runs and crash recovery.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use devkit::admin::{cancel_payout, process_payout, retry_payout};
use devkit::invariants::{assert_books_balance, user_payouts};
use devkit::testing::{fresh_store, gateway, processor_config, Snapshot};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use domain::Error;
use gateway::{GatewayError, PaymentGateway, SimulatedGateway, TransferOutcome};
use service::config::{PayoutLimits, ProcessorConfig};
use service::process::{on_schedule, Processor, RunSummary};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{Lease, StatusChange, Store};

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(10_000_000),
};
const OWNER: u64 = 7;
const ADMIN: Actor = Actor {
    user_id: 1,
    role: domain::actor::Role::Admin,
};

/// A store whose scout `s-1` has requested `count` payouts of 1,000 paise, oldest first.
async fn store_with_pending(count: usize) -> (Store, Vec<Payout>) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    let mut payouts = Vec::new();
    for _ in 0..count {
        let request = PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(1_000)),
            idempotency_key: None,
        };
        let requested = request_payout(&store, LIMITS, &Actor::user(OWNER), request)
            .await
            .unwrap();
        payouts.push(requested.payout().clone());
        // Distinct creation milliseconds make "oldest first" unambiguous.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (store, payouts)
}

/// A run that did nothing beyond taking its one batch (not draining).
fn one_batch() -> RunSummary {
    RunSummary {
        batches: 1,
        ..RunSummary::default()
    }
}

async fn status_of(store: &Store, payout: &Payout) -> PayoutStatus {
    store
        .payout(payout.payout_id)
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn a_run_pays_the_ten_oldest_pending_payouts() {
    let (store, payouts) = store_with_pending(15).await;
    let gateway = gateway(&store, 1.0);
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(
        summary,
        RunSummary {
            found: 10,
            completed: 10,
            ..one_batch()
        }
    );
    for (index, payout) in payouts.iter().enumerate() {
        let expected = if index < 10 {
            PayoutStatus::Completed
        } else {
            PayoutStatus::Pending
        };
        assert_eq!(status_of(&store, payout).await, expected, "payout #{index}");
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Holds every transfer until `expected` of them are in flight at once, and counts
/// how many met there: a one-after-another processor can never meet.
struct Rendezvous {
    inner: SimulatedGateway,
    barrier: tokio::sync::Barrier,
    met: AtomicUsize,
}

impl PaymentGateway for Rendezvous {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        // Generous: on a loaded machine ten claims take a while to all reach here, and
        // only a processor that pays one at a time waits it out.
        if tokio::time::timeout(Duration::from_secs(30), self.barrier.wait())
            .await
            .is_ok()
        {
            self.met.fetch_add(1, Ordering::SeqCst);
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
async fn a_batch_is_paid_concurrently() {
    let (store, _) = store_with_pending(10).await;
    let gateway = Rendezvous {
        inner: gateway(&store, 1.0),
        barrier: tokio::sync::Barrier::new(10),
        met: AtomicUsize::new(0),
    };
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(summary.completed, 10);
    assert_eq!(
        gateway.met.load(Ordering::SeqCst),
        10,
        "all ten transfers were in flight together"
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_declined_payout_fails_with_a_reason_and_keeps_its_reservation() {
    let (store, payouts) = store_with_pending(3).await;
    let scout_before = store.scout("s-1").await.unwrap().unwrap();
    let gateway = gateway(&store, 0.0);
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(
        (summary.found, summary.failed, summary.completed),
        (3, 3, 0)
    );
    for payout in &payouts {
        let failed = store.payout(payout.payout_id).await.unwrap().unwrap();
        assert_eq!(failed.status, PayoutStatus::Failed);
        assert!(failed
            .failure_reason
            .as_deref()
            .is_some_and(|reason| !reason.is_empty()));
        assert_eq!(failed.payment_reference, None);
        assert_eq!(failed.lease_expires_at, None);
    }
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap(),
        scout_before,
        "a failed payout still holds its reservation until retried or cancelled"
    );
    assert_eq!(
        store.summary(OWNER).await.unwrap().pending_paise,
        Paise::ZERO
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Notes every key sent while another transfer under the same key is still in flight:
/// two runs holding one payout at once, which its lease must rule out.
struct OneAtATime {
    inner: SimulatedGateway,
    in_flight: Mutex<HashSet<String>>,
    overlaps: Mutex<Vec<String>>,
}

impl PaymentGateway for OneAtATime {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        let name = key.as_str().to_owned();
        let fresh = self.in_flight.lock().unwrap().insert(name.clone());
        if !fresh {
            self.overlaps.lock().unwrap().push(name.clone());
        }
        let outcome = self.inner.transfer(key, payout).await;
        if fresh {
            self.in_flight.lock().unwrap().remove(&name);
        }
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
async fn overlapping_runs_pay_each_payout_exactly_once() {
    let (store, payouts) = store_with_pending(30).await;
    let gateway = OneAtATime {
        inner: SimulatedGateway::new(
            store.clone(),
            service::config::SimulatedGatewayConfig {
                success_rate: 1.0,
                latency_ms: 50,
                seed: Some(1),
            },
        ),
        in_flight: Mutex::new(HashSet::new()),
        overlaps: Mutex::new(Vec::new()),
    };
    let first = Processor::new(&store, &gateway, processor_config(30));
    let second = Processor::new(&store, &gateway, processor_config(30));
    let (a, b) = tokio::join!(first.run(), second.run());
    let (a, b) = (a.unwrap(), b.unwrap());
    // Where both runs reached for one payout at once, both may lose the race (a skip),
    // and a slow machine can requeue one under its key: the next run pays those. What
    // must hold is that no payout is completed twice or paid under a second key.
    let mut completed = a.completed + b.completed;
    let mut requeued = a.requeued + b.requeued;
    for _ in 0..5 {
        let next = Processor::new(&store, &gateway, processor_config(30))
            .run()
            .await
            .unwrap();
        if next.found == 0 {
            break;
        }
        completed += next.completed;
        requeued += next.requeued;
    }
    assert_eq!(completed, 30, "{a:?} {b:?}");
    assert_eq!(
        *gateway.overlaps.lock().unwrap(),
        Vec::<String>::new(),
        "two runs sent one payout's key at once"
    );

    let calls = gateway.inner.transfer_calls();
    assert_eq!(
        calls.len(),
        30,
        "one key per payout, never a second: {calls:?}"
    );
    // A key goes again only after a requeue sent its payout round again.
    let sent: u32 = calls.values().sum();
    assert!(
        sent as usize <= 30 + requeued,
        "{sent} transfers for 30 payouts and {requeued} requeues"
    );
    for payout in &payouts {
        assert_eq!(status_of(&store, payout).await, PayoutStatus::Completed);
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Leaves `payout` as a Lambda that died mid-payment would: `processing`, under a
/// lease that has already run out.
async fn abandon_in_processing(store: &Store, payout: &Payout) -> Payout {
    let mut next = payout.clone();
    next.lease_expires_at = Some(Timestamp::now().minus_secs(1));
    next.processed_at = Some(Timestamp::now().minus_secs(301));
    store
        .change_status(
            payout,
            StatusChange {
                transition: Transition::Claim,
                next,
                lease: Lease::Acquire("the-lambda-that-died"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stuck_payout_the_gateway_paid_is_completed_without_a_second_transfer() {
    let (store, payouts) = store_with_pending(1).await;
    let gateway = gateway(&store, 1.0);
    let stuck = abandon_in_processing(&store, &payouts[0]).await;
    // The dead Lambda got as far as the gateway.
    let TransferOutcome::Paid { reference, .. } = gateway
        .transfer(&stuck.idempotency_key(), &stuck)
        .await
        .unwrap()
    else {
        panic!("success rate 1 declined")
    };

    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(
        summary,
        RunSummary {
            found: 0,
            completed: 1,
            recovered: 1,
            ..one_batch()
        }
    );
    let settled = store.payout(stuck.payout_id).await.unwrap().unwrap();
    assert_eq!(settled.status, PayoutStatus::Completed);
    assert_eq!(settled.payment_reference, Some(reference));
    assert_eq!(settled.attempt, 1);
    assert_eq!(
        gateway.transfer_calls().get(&stuck.idempotency_key()),
        Some(&1),
        "reconciled by lookup, not paid again"
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_stuck_payout_the_gateway_never_saw_goes_back_to_pending_and_is_paid_once() {
    let (store, payouts) = store_with_pending(1).await;
    let gateway = gateway(&store, 1.0);
    let stuck = abandon_in_processing(&store, &payouts[0]).await;
    let processor = Processor::new(&store, &gateway, processor_config(10));

    let first = processor.run().await.unwrap();
    assert_eq!(
        first,
        RunSummary {
            requeued: 1,
            recovered: 1,
            ..one_batch()
        }
    );
    let requeued = store.payout(stuck.payout_id).await.unwrap().unwrap();
    assert_eq!(requeued.status, PayoutStatus::Pending);
    assert_eq!(requeued.attempt, 1, "same attempt, same key");
    assert!(requeued.last_error.is_some());
    assert!(gateway.transfer_calls().is_empty());

    let second = processor.run().await.unwrap();
    assert_eq!((second.found, second.completed), (1, 1));
    let settled = store.payout(stuck.payout_id).await.unwrap().unwrap();
    assert_eq!(settled.status, PayoutStatus::Completed);
    assert_eq!(
        gateway.transfer_calls().get(&stuck.idempotency_key()),
        Some(&1)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_live_lease_is_left_alone() {
    let (store, payouts) = store_with_pending(1).await;
    let gateway = gateway(&store, 1.0);
    let mut next = payouts[0].clone();
    next.lease_expires_at = Some(Timestamp::now().plus_secs(300));
    let held = store
        .change_status(
            &payouts[0],
            StatusChange {
                transition: Transition::Claim,
                next,
                lease: Lease::Acquire("a-live-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(summary, one_batch());
    assert_eq!(store.payout(held.payout_id).await.unwrap(), Some(held));
    assert!(gateway.transfer_calls().is_empty());
}

/// Times out once per key before the transfer is made, like a gateway behind a
/// flaky network.
struct TimesOutOnce {
    inner: SimulatedGateway,
    seen: Mutex<HashSet<IdempotencyKey>>,
}

impl PaymentGateway for TimesOutOnce {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        let first = self.seen.lock().unwrap().insert(key.clone());
        if first {
            return Err(GatewayError::Unavailable("timed out after 10 s".to_owned()));
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
async fn a_gateway_timeout_requeues_with_the_same_key_and_the_next_run_pays() {
    let (store, payouts) = store_with_pending(2).await;
    let gateway = TimesOutOnce {
        inner: gateway(&store, 1.0),
        seen: Mutex::new(HashSet::new()),
    };
    let processor = Processor::new(&store, &gateway, processor_config(10));
    let first = processor.run().await.unwrap();
    assert_eq!((first.found, first.requeued, first.completed), (2, 2, 0));
    for payout in &payouts {
        let requeued = store.payout(payout.payout_id).await.unwrap().unwrap();
        assert_eq!(requeued.status, PayoutStatus::Pending);
        assert_eq!(requeued.attempt, 1);
        assert!(requeued
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")));
        assert_eq!(requeued.lease_expires_at, None);
    }
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.reserved_paise,
        Paise(2_000),
        "still reserved while requeued"
    );

    let second = processor.run().await.unwrap();
    assert_eq!((second.found, second.completed), (2, 2));
    let calls = gateway.inner.transfer_calls();
    for payout in &payouts {
        assert_eq!(calls.get(&payout.idempotency_key()), Some(&1));
        let paid = store.payout(payout.payout_id).await.unwrap().unwrap();
        assert_eq!(paid.last_error, None);
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn an_admin_processes_one_payout_now() {
    let (store, payouts) = store_with_pending(2).await;
    let gateway = gateway(&store, 1.0);
    let config = processor_config(10);
    let target = &payouts[1];

    let err = process_payout(
        &store,
        &gateway,
        config,
        &Actor::user(OWNER),
        target.payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.http_status(), 403);
    assert_eq!(status_of(&store, target).await, PayoutStatus::Pending);

    let paid = process_payout(&store, &gateway, config, &ADMIN, target.payout_id)
        .await
        .unwrap();
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(store.payout(target.payout_id).await.unwrap(), Some(paid));
    assert_eq!(status_of(&store, &payouts[0]).await, PayoutStatus::Pending);

    let err = process_payout(&store, &gateway, config, &ADMIN, target.payout_id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                status: PayoutStatus::Completed,
                ..
            }
        ),
        "{err:?}"
    );
    let missing = process_payout(&store, &gateway, config, &ADMIN, uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert_eq!(missing.http_status(), 404);
    assert_eq!(gateway.transfer_calls().len(), 1);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn retry_pays_a_failed_payout_as_a_new_attempt() {
    let (store, payouts) = store_with_pending(1).await;
    let config = processor_config(10);
    let declining = gateway(&store, 0.0);
    Processor::new(&store, &declining, config)
        .run()
        .await
        .unwrap();
    let failed = store.payout(payouts[0].payout_id).await.unwrap().unwrap();
    assert_eq!(failed.status, PayoutStatus::Failed);

    let paying = gateway(&store, 1.0);
    let err = retry_payout(
        &store,
        &paying,
        config,
        &Actor::user(OWNER),
        failed.payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.http_status(), 403);
    assert_eq!(
        store.payout(failed.payout_id).await.unwrap(),
        Some(failed.clone())
    );

    let retried = retry_payout(&store, &paying, config, &ADMIN, failed.payout_id)
        .await
        .unwrap();
    assert_eq!(retried.status, PayoutStatus::Completed);
    assert_eq!(retried.attempt, 2);
    assert_eq!(retried.failure_reason, None);
    // The declined key stays declined at the gateway; the new attempt has its own.
    assert!(matches!(
        paying
            .lookup(&failed.idempotency_key(), &failed)
            .await
            .unwrap(),
        Some(TransferOutcome::Declined { .. })
    ));
    assert_eq!(
        paying.transfer_calls().get(&retried.idempotency_key()),
        Some(&1)
    );

    let err = retry_payout(&store, &paying, config, &ADMIN, failed.payout_id)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 409, "only failed payouts are retried");
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_failed_payout_can_be_cancelled_and_its_reservation_returns() {
    let (store, payouts) = store_with_pending(1).await;
    let declining = gateway(&store, 0.0);
    Processor::new(&store, &declining, processor_config(10))
        .run()
        .await
        .unwrap();
    let before = store.scout("s-1").await.unwrap().unwrap();
    let cancelled = cancel_payout(
        &store,
        &declining,
        processor_config(10),
        &ADMIN,
        payouts[0].payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    let after = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        after.reserved_paise,
        before.reserved_paise.checked_sub(Paise(1_000)).unwrap()
    );
    assert_eq!(
        after.earnings_paise,
        before.earnings_paise.checked_add(Paise(1_000)).unwrap()
    );
    let err = cancel_payout(
        &store,
        &declining,
        processor_config(10),
        &ADMIN,
        payouts[0].payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.http_status(), 409);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn the_sample_scheduled_event_drives_the_processor() {
    let (store, _) = store_with_pending(3).await;
    let text =
        std::fs::read_to_string(devkit::paths::workspace_root().join("events/scheduled.json"))
            .unwrap();
    let event: EventBridgeEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
    let gateway = gateway(&store, 1.0);
    let processor = Processor::new(&store, &gateway, processor_config(10));
    let summary = on_schedule(&processor, &event, None).await.unwrap();
    assert_eq!((summary.found, summary.completed), (3, 3));
    assert_eq!(
        serde_json::to_value(summary).unwrap(),
        serde_json::json!({"found": 3, "completed": 3, "failed": 0, "reversed": 0, "requeued": 0, "recovered": 0, "accepted": 0, "batches": 1, "stopped": "one_batch"})
    );
    assert!(user_payouts(&store, OWNER)
        .await
        .iter()
        .all(|payout| payout.status == PayoutStatus::Completed));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The gateway records the transfer, then the call fails (a timeout after the bank
/// took it), and while `reachable` is off the lookup that follows fails too: the
/// processor cannot know that it paid.
struct PaysThenLosesTheAnswer {
    inner: SimulatedGateway,
    reachable: AtomicBool,
}

impl PaysThenLosesTheAnswer {
    fn new(inner: SimulatedGateway) -> Self {
        PaysThenLosesTheAnswer {
            inner,
            reachable: AtomicBool::new(false),
        }
    }
}

impl PaymentGateway for PaysThenLosesTheAnswer {
    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        self.inner.transfer(key, payout).await?;
        Err(GatewayError::Unavailable(
            "read timed out after the request was sent".to_owned(),
        ))
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        if !self.reachable.load(Ordering::SeqCst) {
            return Err(GatewayError::Unavailable("connection reset".to_owned()));
        }
        self.inner.lookup(key, payout).await
    }
}

/// Cannot be reached: every call fails before the gateway sees it.
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

/// The gateway paid, our call failed, the payout went back to the queue;
/// an admin cancels it. The cancel asks the gateway, finds the transfer, records the
/// payout as completed and refuses: the reservation is not handed back, so the scout
/// cannot request the same money again and be paid twice.
#[tokio::test]
async fn cancel_after_a_lost_gateway_answer_finds_the_payment_and_refuses() {
    let (store, payouts) = store_with_pending(1).await;
    let id = payouts[0].payout_id;
    let gateway = PaysThenLosesTheAnswer::new(gateway(&store, 1.0));
    let config = processor_config(10);
    let run = Processor::new(&store, &gateway, config)
        .run()
        .await
        .unwrap();
    assert_eq!((run.found, run.requeued), (1, 1));
    let requeued = store.payout(id).await.unwrap().unwrap();
    assert_eq!(requeued.status, PayoutStatus::Pending);
    assert!(
        requeued.attempt_sent_at.is_some(),
        "the attempt is marked as sent"
    );
    assert_books_balance(&store, &["s-1"], &[]).await;

    gateway.reachable.store(true, Ordering::SeqCst);
    let err = cancel_payout(&store, &gateway, config, &ADMIN, id)
        .await
        .unwrap_err();
    assert_eq!((err.http_status(), err.code()), (409, "already_paid"));
    let Some(TransferOutcome::Paid { reference, .. }) = gateway
        .lookup(&requeued.idempotency_key(), &requeued)
        .await
        .unwrap()
    else {
        panic!("the gateway holds the transfer")
    };
    assert!(err.to_string().contains(&reference), "{err}");
    let settled = store.payout(id).await.unwrap().unwrap();
    assert_eq!(settled.status, PayoutStatus::Completed);
    assert_eq!(settled.payment_reference, Some(reference));
    assert!(settled.completed_at.is_some());

    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.reserved_paise, scout.paid_paise),
        (Paise::ZERO, Paise(1_000))
    );
    let again = request_payout(
        &store,
        LIMITS,
        &Actor::user(OWNER),
        PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(10_000_000 - 1_000 + 1)),
            idempotency_key: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(again.http_status(), 422, "{again}");
    let later = Processor::new(&store, &gateway, config)
        .run()
        .await
        .unwrap();
    assert_eq!(later, one_batch());
    assert_eq!(gateway.inner.transfer_calls().len(), 1);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// When the gateway cannot say, nothing ends the attempt: 409 gateway_outcome_unknown
/// and the data untouched, also while a request sent under its key could still land.
/// Once that window has passed, no record means never paid, and the cancel goes through.
#[tokio::test]
async fn cancel_waits_until_the_gateway_can_say_the_attempt_did_not_pay() {
    let (store, payouts) = store_with_pending(1).await;
    let id = payouts[0].payout_id;
    let config = processor_config(10);
    let run = Processor::new(&store, &Unreachable, config)
        .run()
        .await
        .unwrap();
    assert_eq!(run.requeued, 1);
    let before = Snapshot::take(&store, &["s-1"], &[], &[OWNER]).await;

    let err = cancel_payout(&store, &Unreachable, config, &ADMIN, id)
        .await
        .unwrap_err();
    assert_eq!(
        (err.http_status(), err.code()),
        (409, "gateway_outcome_unknown")
    );
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &[], &[OWNER]).await,
        before
    );

    let answering = gateway(&store, 1.0);
    let err = cancel_payout(&store, &answering, config, &ADMIN, id)
        .await
        .unwrap_err();
    assert_eq!(
        (err.http_status(), err.code()),
        (409, "gateway_outcome_unknown")
    );
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &[], &[OWNER]).await,
        before
    );

    let short_lease = ProcessorConfig {
        lease_secs: 1,
        ..config
    };
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let cancelled = cancel_payout(&store, &answering, short_lease, &ADMIN, id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise(10_000_000), Paise::ZERO)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// A payout requeued before `attempt_sent_at` existed carries only `processed_at`
/// from its claim: cancel still treats its attempt as sent and asks the gateway.
#[tokio::test]
async fn cancel_of_an_item_from_before_attempt_sent_at_still_asks_the_gateway() {
    let (store, payouts) = store_with_pending(1).await;
    let pending = &payouts[0];
    let mut claimed = pending.clone();
    claimed.processed_at = Some(Timestamp::now());
    claimed.lease_expires_at = Some(Timestamp::now().plus_secs(300));
    let claimed = store
        .change_status(
            pending,
            StatusChange {
                transition: Transition::Claim,
                next: claimed,
                lease: Lease::Acquire("an-older-release"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    let gateway = gateway(&store, 1.0);
    gateway
        .transfer(&claimed.idempotency_key(), &claimed)
        .await
        .unwrap();
    let mut requeued = claimed.clone();
    requeued.lease_expires_at = None;
    requeued.last_error = Some("timed out".to_owned());
    let requeued = store
        .change_status(
            &claimed,
            StatusChange {
                transition: Transition::Requeue,
                next: requeued,
                lease: Lease::Release("an-older-release"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        requeued.attempt_sent_at, None,
        "as an older release wrote it"
    );

    let err = cancel_payout(
        &store,
        &gateway,
        processor_config(10),
        &ADMIN,
        pending.payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "already_paid");
    let settled = store.payout(pending.payout_id).await.unwrap().unwrap();
    assert_eq!(settled.status, PayoutStatus::Completed);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The lost answer was a decline: the attempt will never pay, so the cancel goes
/// through at once.
#[tokio::test]
async fn cancel_after_a_lost_decline_cancels() {
    let (store, payouts) = store_with_pending(1).await;
    let id = payouts[0].payout_id;
    let gateway = PaysThenLosesTheAnswer::new(gateway(&store, 0.0));
    let config = processor_config(10);
    Processor::new(&store, &gateway, config)
        .run()
        .await
        .unwrap();
    gateway.reachable.store(true, Ordering::SeqCst);
    let cancelled = cancel_payout(&store, &gateway, config, &ADMIN, id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    assert_eq!(store.payout(id).await.unwrap(), Some(cancelled));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The answer is lost but the gateway can be asked at once: the processor looks the
/// key up before anything else and records the payment in the same run.
#[tokio::test]
async fn a_lost_answer_is_looked_up_at_once() {
    let (store, payouts) = store_with_pending(1).await;
    let gateway = PaysThenLosesTheAnswer::new(gateway(&store, 1.0));
    gateway.reachable.store(true, Ordering::SeqCst);
    let run = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!((run.found, run.completed, run.requeued), (1, 1, 0));
    let paid = store.payout(payouts[0].payout_id).await.unwrap().unwrap();
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(gateway.inner.transfer_calls().len(), 1);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Answers every transfer "queued", but only after a webhook has recorded the later
/// "processing" for it: the answer is older news than what is stored.
struct OvertakenByAWebhook {
    store: Store,
}

impl PaymentGateway for OvertakenByAWebhook {
    fn statuses_after(&self, status: &str) -> &'static [&'static str] {
        match status {
            "queued" => &["processing", "processed"],
            _ => &[],
        }
    }

    async fn transfer(
        &self,
        _key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        let stored = self.store.payout(payout.payout_id).await.unwrap().unwrap();
        let mut reported = stored.clone();
        reported.gateway_payout_id = Some("pout_1".to_owned());
        reported.gateway_status = Some("processing".to_owned());
        self.store
            .change_status(
                &stored,
                StatusChange {
                    transition: Transition::Track,
                    next: reported,
                    lease: Lease::NotHeld,
                    gateway_status_not_in: Some(&["processing", "processed"]),
                },
            )
            .await
            .unwrap();
        Ok(TransferOutcome::Accepted {
            gateway_payout_id: "pout_1".to_owned(),
            gateway_status: "queued".to_owned(),
        })
    }

    async fn lookup(
        &self,
        _key: &IdempotencyKey,
        _payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        Ok(None)
    }
}

/// The processor's own writes carry the webhooks' stale-status guard: an
/// answer that says less than a webhook already recorded does not replace it.
#[tokio::test]
async fn a_gateways_answer_does_not_overwrite_a_later_status_a_webhook_recorded() {
    let (store, payouts) = store_with_pending(1).await;
    let gateway = OvertakenByAWebhook {
        store: store.clone(),
    };
    Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    let stored = store.payout(payouts[0].payout_id).await.unwrap().unwrap();
    assert_eq!(stored.status, PayoutStatus::Processing);
    assert_eq!(
        stored.gateway_status.as_deref(),
        Some("processing"),
        "{stored:?}"
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}
