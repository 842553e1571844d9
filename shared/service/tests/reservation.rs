//! Scout payout requests reserve earnings (docs/LIFECYCLE.md), against DynamoDB
//! Local.

use devkit::admin::cancel_payout;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, gateway, processor_config};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::PayoutStatus;
use domain::Error;
use service::config::PayoutLimits;
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Requested, Scout};
use store::Store;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const OWNER: u64 = 7;

async fn store_with_scout(earnings: u64) -> Store {
    let store = fresh_store().await;
    let scout = Scout::with_earnings("s-1", OWNER, Paise(earnings));
    assert!(store.insert_scout(&scout).await.unwrap());
    store
}

fn ask(amount: Option<u64>) -> PayoutRequest {
    PayoutRequest {
        scout_id: "s-1".to_owned(),
        amount: amount.map(Paise),
        idempotency_key: None,
    }
}

async fn scout(store: &Store) -> Scout {
    store.scout("s-1").await.unwrap().unwrap()
}

#[tokio::test]
async fn a_request_moves_the_amount_from_available_to_reserved() {
    let store = store_with_scout(50_000).await;
    let requested = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(10_000)))
        .await
        .unwrap();
    let Requested::Created(payout) = requested else {
        panic!("expected a new payout")
    };
    assert_eq!(payout.status, PayoutStatus::Pending);
    assert_eq!(payout.amount_paise, Paise(10_000));
    assert_eq!(payout.user_id, OWNER);
    assert_eq!(store.payout(payout.payout_id).await.unwrap(), Some(payout));
    let scout = scout(&store).await;
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise(40_000), Paise(10_000))
    );
    let summary = store.summary(OWNER).await.unwrap();
    assert_eq!((summary.total, summary.pending_paise), (1, Paise(10_000)));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn more_than_available_is_refused_and_nothing_changes() {
    let store = store_with_scout(5_000).await;
    let before = scout(&store).await;
    let err = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(5_001)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InsufficientEarnings {
                available: Paise(5_000),
                requested: Paise(5_001)
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 422);
    assert_eq!(scout(&store).await, before);
    assert_eq!(store.summary(OWNER).await.unwrap().total, 0);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn an_omitted_amount_takes_all_available_earnings() {
    let store = store_with_scout(12_345).await;
    let requested = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(None))
        .await
        .unwrap();
    assert_eq!(requested.payout().amount_paise, Paise(12_345));
    let scout = scout(&store).await;
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise::ZERO, Paise(12_345))
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn nothing_available_is_refused() {
    let store = store_with_scout(0).await;
    let err = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NothingToPayOut), "{err:?}");
    assert_eq!(err.http_status(), 400);
    assert_eq!(
        scout(&store).await,
        Scout::with_earnings("s-1", OWNER, Paise::ZERO)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn amounts_outside_the_limits_and_zero_are_refused() {
    let store = store_with_scout(50_000_000).await;
    let before = scout(&store).await;
    for (amount, status) in [(99, 422), (10_000_001, 422), (0, 400)] {
        let err = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(amount)))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), status, "{amount}: {err:?}");
    }
    // "All of it" above the maximum is refused too, not silently capped.
    let err = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AmountOutOfRange { .. }), "{err:?}");
    assert_eq!(scout(&store).await, before);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_request() {
    let store = store_with_scout(50_000).await;
    let err = request_payout(&store, LIMITS, &Actor::user(OWNER + 1), ask(Some(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 403);
    assert_eq!(scout(&store).await.earnings_paise, Paise(50_000));
    let by_admin = request_payout(&store, LIMITS, &Actor::admin(1), ask(Some(1_000)))
        .await
        .unwrap();
    assert_eq!(
        by_admin.payout().user_id,
        OWNER,
        "the payout goes to the scout's owner"
    );
    let missing = PayoutRequest {
        scout_id: "nope".to_owned(),
        ..ask(Some(1_000))
    };
    assert_eq!(
        request_payout(&store, LIMITS, &Actor::admin(1), missing)
            .await
            .unwrap_err()
            .http_status(),
        404
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn cancel_returns_the_reservation_to_available() {
    let store = store_with_scout(50_000).await;
    let payout = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(20_000)))
        .await
        .unwrap()
        .payout()
        .clone();
    let cancelled = cancel_payout(
        &store,
        &gateway(&store, 1.0),
        processor_config(10),
        &Actor::admin(1),
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    assert!(cancelled.cancelled_at.is_some());
    assert_eq!(
        store.payout(payout.payout_id).await.unwrap(),
        Some(cancelled)
    );
    let scout = scout(&store).await;
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise(50_000), Paise::ZERO)
    );
    assert_eq!(
        store.summary(OWNER).await.unwrap().pending_paise,
        Paise::ZERO
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn completion_moves_reserved_to_paid() {
    let store = store_with_scout(50_000).await;
    let payout = request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(20_000)))
        .await
        .unwrap()
        .payout()
        .clone();
    let gateway = gateway(&store, 1.0);
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!((summary.found, summary.completed), (1, 1));
    let paid = store.payout(payout.payout_id).await.unwrap().unwrap();
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert!(paid
        .payment_reference
        .as_deref()
        .is_some_and(|r| r.starts_with("PAY-")));
    let scout = scout(&store).await;
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise, scout.paid_paise),
        (Paise(30_000), Paise::ZERO, Paise(20_000))
    );
    let totals = store.summary(OWNER).await.unwrap();
    assert_eq!(
        (totals.total_paid_paise, totals.pending_paise),
        (Paise(20_000), Paise::ZERO)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_hundred_concurrent_requests_never_reserve_more_than_the_scout_had() {
    let store = store_with_scout(50_000).await;
    let requests = (0..100).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            request_payout(&store, LIMITS, &Actor::user(OWNER), ask(Some(1_000))).await
        })
    });
    let mut created = 0;
    for request in requests {
        match request.await.unwrap() {
            Ok(Requested::Created(_)) => created += 1,
            Ok(Requested::Replayed(_)) => panic!("no idempotency key was sent"),
            Err(Error::InsufficientEarnings { .. } | Error::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        created, 50,
        "50,000 paise hold exactly fifty 1,000-paise payouts"
    );
    let scout = scout(&store).await;
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise::ZERO, Paise(50_000))
    );
    assert_eq!(store.summary(OWNER).await.unwrap().total, 50);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_payout() {
    let store = store_with_scout(50_000).await;
    let keyed = |amount: Option<u64>| PayoutRequest {
        idempotency_key: Some("order-42-payout".to_owned()),
        ..ask(amount)
    };
    let first = request_payout(&store, LIMITS, &Actor::user(OWNER), keyed(Some(5_000)))
        .await
        .unwrap();
    assert!(matches!(first, Requested::Created(_)));
    let again = request_payout(&store, LIMITS, &Actor::user(OWNER), keyed(Some(5_000)))
        .await
        .unwrap();
    assert_eq!(again, Requested::Replayed(first.payout().clone()));

    let err = request_payout(&store, LIMITS, &Actor::user(OWNER), keyed(Some(6_000)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
    assert_eq!(err.http_status(), 422);

    // The key is the user's own: another caller's identical key is another request.
    let admin = request_payout(&store, LIMITS, &Actor::admin(1), keyed(Some(5_000)))
        .await
        .unwrap();
    assert!(matches!(admin, Requested::Created(_)));
    assert_eq!(scout(&store).await.reserved_paise, Paise(10_000));

    for bad in ["", "tab\there", &"k".repeat(256), "ключ"] {
        let request = PayoutRequest {
            idempotency_key: Some(bad.to_owned()),
            ..ask(Some(5_000))
        };
        let err = request_payout(&store, LIMITS, &Actor::user(OWNER), request)
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), 400, "{bad:?}");
    }
    assert_eq!(scout(&store).await.reserved_paise, Paise(10_000));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_create_one_payout() {
    let store = store_with_scout(50_000).await;
    let requests = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let request = PayoutRequest {
                idempotency_key: Some("same".to_owned()),
                ..ask(Some(2_500))
            };
            request_payout(&store, LIMITS, &Actor::user(OWNER), request).await
        })
    });
    let mut ids = std::collections::BTreeSet::new();
    for request in requests {
        if let Ok(requested) = request.await.unwrap() {
            ids.insert(requested.payout().payout_id);
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(scout(&store).await.reserved_paise, Paise(2_500));
    assert_books_balance(&store, &["s-1"], &[]).await;
}
