//! Every status change of DESIGN §4 against DynamoDB Local: each allowed one writes,
//! each refused one is a typed error and leaves the stored item exactly as it was.

use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, gateway};
use shared::auth::Actor;
use shared::config::PayoutLimits;
use shared::gateway::{PaymentGateway, TransferOutcome};
use shared::money::Paise;
use shared::payout::{Payout, PayoutStatus, Transition, TRANSITIONS};
use shared::scout::{request_payout, PayoutRequest, Scout};
use shared::store::{Lease, StatusChange, Store};
use shared::time::Timestamp;
use shared::Error;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(1_000_000),
};
const TOKEN: &str = "lease-of-this-test";

async fn new_pending(store: &Store) -> Payout {
    request_payout(
        store,
        LIMITS,
        &Actor::user(7),
        PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(1_000)),
            idempotency_key: None,
        },
    )
    .await
    .unwrap()
    .payout()
    .clone()
}

/// The lease argument a transition is made with in normal operation.
fn lease_for(transition: Transition, payout: &Payout) -> Lease<'static> {
    match transition {
        Transition::Claim => Lease::Acquire(TOKEN),
        Transition::Reclaim => Lease::TakeOver {
            token: TOKEN,
            expired_at: payout.lease_expires_at.unwrap_or(payout.created_at),
        },
        Transition::Complete | Transition::Fail | Transition::Requeue => Lease::Release(TOKEN),
        Transition::Retry | Transition::Cancel => Lease::NotHeld,
    }
}

async fn apply(store: &Store, current: &Payout, transition: Transition) -> Result<Payout, Error> {
    apply_paying(store, current, transition, true).await
}

/// Makes the change; a completion is first paid through the simulated gateway when
/// `pay` is set, so the ledger agrees with it. Refused attempts must not pay.
async fn apply_paying(
    store: &Store,
    current: &Payout,
    transition: Transition,
    pay: bool,
) -> Result<Payout, Error> {
    let mut next = current.clone();
    next.updated_at = Timestamp::now();
    match transition {
        Transition::Claim | Transition::Reclaim => {
            next.lease_expires_at = Some(Timestamp::now().plus_secs(300));
        }
        Transition::Complete if !pay => {
            next.lease_expires_at = None;
            next.payment_reference = Some("PAY-0-00000000".to_owned());
        }
        Transition::Complete => {
            let paid = gateway(store, 1.0)
                .transfer(&current.idempotency_key(), current)
                .await
                .unwrap();
            let TransferOutcome::Paid { reference } = paid else {
                panic!("a gateway with success rate 1 declined")
            };
            next.lease_expires_at = None;
            next.payment_reference = Some(reference);
            next.completed_at = Some(Timestamp::now());
        }
        Transition::Fail => {
            next.lease_expires_at = None;
            next.failure_reason = Some("declined".to_owned());
        }
        Transition::Requeue => {
            next.lease_expires_at = None;
            next.last_error = Some("timeout".to_owned());
        }
        Transition::Retry => {
            next.attempt += 1;
            next.failure_reason = None;
        }
        Transition::Cancel => next.cancelled_at = Some(Timestamp::now()),
    }
    let lease = lease_for(transition, current);
    store
        .change_status(
            current,
            StatusChange {
                transition,
                next,
                lease,
            },
        )
        .await
}

/// A payout brought to `status` through allowed transitions only.
async fn payout_in(store: &Store, status: PayoutStatus) -> Payout {
    let pending = new_pending(store).await;
    let path: &[Transition] = match status {
        PayoutStatus::Pending => &[],
        PayoutStatus::Processing => &[Transition::Claim],
        PayoutStatus::Completed => &[Transition::Claim, Transition::Complete],
        PayoutStatus::Failed => &[Transition::Claim, Transition::Fail],
        PayoutStatus::Cancelled => &[Transition::Cancel],
    };
    let mut payout = pending;
    for step in path {
        payout = apply(store, &payout, *step).await.unwrap();
    }
    assert_eq!(payout.status, status);
    payout
}

async fn store_with_scout() -> Store {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", 7, Paise(1_000_000)))
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn every_allowed_transition_is_written_with_its_index_key() {
    let store = store_with_scout().await;
    for (transition, from, to) in TRANSITIONS {
        for status in *from {
            let current = payout_in(&store, *status).await;
            let written = apply(&store, &current, *transition)
                .await
                .unwrap_or_else(|err| {
                    panic!("{transition:?} from {status}: {err}");
                });
            assert_eq!(written.status, *to, "{transition:?} from {status}");
            let stored = store.payout(current.payout_id).await.unwrap().unwrap();
            assert_eq!(stored, written, "{transition:?} from {status}: stored item");
        }
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn every_refused_transition_is_a_conflict_and_changes_nothing() {
    let store = store_with_scout().await;
    for status in PayoutStatus::ALL {
        for transition in Transition::ALL.into_iter().filter(|t| !t.allows(status)) {
            let current = payout_in(&store, status).await;
            let scout_before = store.scout("s-1").await.unwrap();
            let summary_before = store.summary(7).await.unwrap();

            // Refused before any write, from what was read…
            let err = apply_paying(&store, &current, transition, false)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidTransition { status: s, .. } if s == status),
                "{transition:?} from {status}: {err:?}"
            );
            assert_eq!(err.http_status(), 409);

            // …and by DynamoDB's condition when the read was stale: pretend the payout
            // is still in a state the transition allows.
            let mut stale = current.clone();
            stale.status = transition.allowed_from()[0];
            let err = apply_paying(&store, &stale, transition, false)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidTransition { status: s, .. } if s == status),
                "stale {transition:?} from {status}: {err:?}"
            );

            assert_eq!(
                store.payout(current.payout_id).await.unwrap(),
                Some(current)
            );
            assert_eq!(store.scout("s-1").await.unwrap(), scout_before);
            assert_eq!(store.summary(7).await.unwrap(), summary_before);
        }
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn settling_under_someone_elses_lease_is_refused() {
    let store = store_with_scout().await;
    let processing = payout_in(&store, PayoutStatus::Processing).await;
    let mut next = processing.clone();
    next.payment_reference = Some("PAY-2-cafebabe".to_owned());
    let err = store
        .change_status(
            &processing,
            StatusChange {
                transition: Transition::Complete,
                next,
                lease: Lease::Release("not-our-lease"),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(
        store.payout(processing.payout_id).await.unwrap(),
        Some(processing.clone())
    );

    // A takeover must name the expiry it saw: a renewed lease cannot be taken.
    let err = store
        .change_status(
            &processing,
            StatusChange {
                transition: Transition::Reclaim,
                next: processing.clone(),
                lease: Lease::TakeOver {
                    token: "thief",
                    expired_at: Timestamp::from_millis(0),
                },
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(
        store.payout(processing.payout_id).await.unwrap(),
        Some(processing)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_missing_payout_is_not_found() {
    let store = store_with_scout().await;
    let mut ghost = new_pending(&store).await;
    ghost.payout_id = uuid::Uuid::new_v4();
    let err = apply(&store, &ghost, Transition::Cancel).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
