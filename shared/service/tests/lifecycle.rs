//! Every status change of the lifecycle (`TRANSITIONS`) against DynamoDB Local: each
//! allowed one writes, each refused one is a typed error and leaves the stored item
//! exactly as it was.

use devkit::admin::process_payout;
use devkit::faults::LoseResponses;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, gateway, processor_config};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition, TRANSITIONS};
use domain::time::Timestamp;
use domain::{Conflict, Error};
use gateway::{PaymentGateway, TransferOutcome};
use service::config::PayoutLimits;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{Lease, StatusChange, Store};

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(1_000_000),
};
const TOKEN: &str = "lease-of-this-test";
/// Another processor's: a refused write must not pass for our own earlier one.
const OTHER_TOKEN: &str = "lease-of-another-processor";

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

/// The lease argument a transition is made with in normal operation, by the holder
/// of `token`.
fn lease_for<'a>(transition: Transition, payout: &Payout, token: &'a str) -> Lease<'a> {
    match transition {
        Transition::Claim => Lease::Acquire(token),
        Transition::Reclaim => Lease::TakeOver {
            token,
            expired_at: payout.lease_expires_at.unwrap_or(payout.created_at),
        },
        // A gateway's word on a payout nobody holds (a webhook) breaks no lease.
        Transition::Fail if payout.status == PayoutStatus::Pending => Lease::Break,
        Transition::Complete | Transition::Fail | Transition::Requeue | Transition::Accept => {
            Lease::Release(token)
        }
        Transition::Confirm | Transition::Track | Transition::Retry | Transition::Cancel => {
            Lease::NotHeld
        }
        Transition::Reverse => Lease::Break,
    }
}

async fn apply(store: &Store, current: &Payout, transition: Transition) -> Result<Payout, Error> {
    apply_paying(store, current, transition, true, TOKEN).await
}

/// Makes the change as the holder of `token`; a completion is first paid through the
/// simulated gateway when `pay` is set, so the ledger agrees with it. Refused
/// attempts must not pay.
async fn apply_paying(
    store: &Store,
    current: &Payout,
    transition: Transition,
    pay: bool,
    token: &str,
) -> Result<Payout, Error> {
    let mut next = current.clone();
    next.updated_at = Timestamp::now();
    match transition {
        Transition::Claim => {
            next.lease_expires_at = Some(Timestamp::now().plus_secs(300));
            next.attempt_sent_at = Some(Timestamp::now());
        }
        Transition::Reclaim => {
            next.lease_expires_at = Some(Timestamp::now().plus_secs(300));
        }
        Transition::Complete | Transition::Confirm if !pay => {
            next.lease_expires_at = None;
            next.payment_reference = Some("PAY-0-00000000".to_owned());
        }
        Transition::Complete | Transition::Confirm => {
            let paid = gateway(store, 1.0)
                .transfer(&current.idempotency_key(), current)
                .await
                .unwrap();
            let TransferOutcome::Paid { reference, .. } = paid else {
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
        Transition::Accept => {
            next.lease_expires_at = Some(Timestamp::now().plus_secs(60));
            next.gateway_payout_id = Some("pout_0000010000abcd".to_owned());
            next.gateway_status = Some("processing".to_owned());
        }
        Transition::Track => {
            next.gateway_payout_id = Some("pout_0000010000abcd".to_owned());
            next.gateway_status = Some("queued".to_owned());
        }
        Transition::Reverse => {
            next.lease_expires_at = None;
            next.failure_reason = Some("reversed: beneficiary account closed".to_owned());
        }
        Transition::Retry => {
            next.attempt += 1;
            next.attempt_sent_at = None;
            next.failure_reason = None;
        }
        Transition::Cancel => next.cancelled_at = Some(Timestamp::now()),
    }
    let lease = lease_for(transition, current, token);
    store
        .change_status(
            current,
            StatusChange {
                transition,
                next,
                lease,
                gateway_status_not_in: None,
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
        PayoutStatus::Reversed => &[Transition::Claim, Transition::Complete, Transition::Reverse],
    };
    let mut payout = pending;
    for step in path {
        // The simulated gateway never takes a payment back: a payout on its way to
        // `reversed` is recorded as paid without a transfer, as if the bank had
        // returned it.
        let pay = status != PayoutStatus::Reversed;
        payout = apply_paying(store, &payout, *step, pay, TOKEN)
            .await
            .unwrap();
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
            let err = apply_paying(&store, &current, transition, false, OTHER_TOKEN)
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
            let err = apply_paying(&store, &stale, transition, false, OTHER_TOKEN)
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
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Stale(_))),
        "{err:?}"
    );
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
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Stale(_))),
        "{err:?}"
    );
    assert_eq!(
        store.payout(processing.payout_id).await.unwrap(),
        Some(processing)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The lifecycle's lease rules (`LEASE_RULES`) are checked on every write: a change made
/// under a lease its transition does not take is a bug, refused before anything is
/// written, whatever the status allows.
#[tokio::test]
async fn a_change_under_a_lease_its_transition_does_not_take_writes_nothing() {
    let store = store_with_scout().await;
    let pending = payout_in(&store, PayoutStatus::Pending).await;
    let processing = payout_in(&store, PayoutStatus::Processing).await;
    for (current, transition, lease) in [
        // A claim that takes no lease would leave a processing payout nobody holds.
        (&pending, Transition::Claim, Lease::NotHeld),
        // A settle that ignores the lease would settle under another's feet.
        (&processing, Transition::Complete, Lease::NotHeld),
        // Only a reclaim may take over.
        (
            &processing,
            Transition::Requeue,
            Lease::TakeOver {
                token: TOKEN,
                expired_at: Timestamp::from_millis(0),
            },
        ),
        // An admin's cancel holds no lease to break.
        (&pending, Transition::Cancel, Lease::Break),
    ] {
        assert!(!transition.lease_uses().contains(&lease.kind()));
        let err = store
            .change_status(
                current,
                StatusChange {
                    transition,
                    next: current.clone(),
                    lease,
                    gateway_status_not_in: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Invariant(_)),
            "{transition:?}: {err:?}"
        );
        assert_eq!(err.http_status(), 500);
        assert_eq!(
            store.payout(current.payout_id).await.unwrap().as_ref(),
            Some(current),
            "{transition:?} wrote"
        );
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The lifecycle's attempt rules (`ATTEMPT_RULES`) are checked on every write: only a
/// retry starts a new attempt (a new idempotency key), and no change but a requeue after
/// a refused send forgets that the attempt was sent. Either would leave a transfer the
/// gateway may still make behind a key nobody asks about again: refused, nothing
/// written.
#[tokio::test]
async fn a_change_that_gives_up_a_sent_attempt_writes_nothing() {
    let store = store_with_scout().await;
    let failed = payout_in(&store, PayoutStatus::Failed).await;
    // Claimed (and so sent), then back to the queue with its outcome unknown.
    let claimed = payout_in(&store, PayoutStatus::Processing).await;
    let sent = apply(&store, &claimed, Transition::Requeue).await.unwrap();
    assert!(sent.attempt_sent_at.is_some());
    let next_key = |payout: &Payout| {
        let mut next = payout.clone();
        next.attempt += 1;
        next
    };
    let unsent = |payout: &Payout| {
        let mut next = payout.clone();
        next.attempt_sent_at = None;
        next
    };
    let processing = payout_in(&store, PayoutStatus::Processing).await;
    let mut sent_earlier = processing.clone();
    sent_earlier.attempt_sent_at = Some(Timestamp::from_millis(0));
    let mut sent_retry = next_key(&failed);
    sent_retry.attempt_sent_at = Some(Timestamp::now());
    for (current, transition, next) in [
        // A cancel under a new key: a late "processed" for the old one finds no payout.
        (&sent, Transition::Cancel, next_key(&sent)),
        // A cancel that forgets the send: the next look would not ask the gateway.
        (&sent, Transition::Cancel, unsent(&sent)),
        // A settle under the lease that forgets the send, or moves it back: "no record"
        // would look final before a request sent under the key could have landed.
        (&processing, Transition::Complete, unsent(&processing)),
        (&processing, Transition::Fail, sent_earlier),
        // A retry that keeps the old, declined key would be declined again.
        (&failed, Transition::Retry, failed.clone()),
        // A retry's new attempt has been nowhere near the gateway.
        (&failed, Transition::Retry, sent_retry),
    ] {
        assert!(transition.allows(current.status));
        let err = store
            .change_status(
                current,
                StatusChange {
                    transition,
                    next,
                    lease: lease_for(transition, current, TOKEN),
                    gateway_status_not_in: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Invariant(_)),
            "{transition:?}: {err:?}"
        );
        assert_eq!(
            store.payout(current.payout_id).await.unwrap().as_ref(),
            Some(current),
            "{transition:?} wrote"
        );
    }
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

/// A copy read before a decline, a retry and a new attempt (a stale index
/// entry) says `pending`, as the item does, but of another attempt. Claiming from it
/// would send the old attempt's key again; it is refused and nothing changes.
#[tokio::test]
async fn a_claim_from_a_copy_of_an_earlier_attempt_is_refused() {
    let store = store_with_scout().await;
    let stale = new_pending(&store).await;
    let mut payout = stale.clone();
    for step in [Transition::Claim, Transition::Fail, Transition::Retry] {
        payout = apply(&store, &payout, step).await.unwrap();
    }
    assert_eq!((payout.status, payout.attempt), (PayoutStatus::Pending, 2));

    let err = apply(&store, &stale, Transition::Claim).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Stale(_))),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 409);
    assert_eq!(store.payout(payout.payout_id).await.unwrap(), Some(payout));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Two retries far apart: the later one, from a read taken before the earlier one,
/// would write the attempt number backwards and reuse a declined key.
#[tokio::test]
async fn a_retry_from_an_old_read_cannot_move_the_attempt_backwards() {
    let store = store_with_scout().await;
    let mut payout = new_pending(&store).await;
    for step in [Transition::Claim, Transition::Fail] {
        payout = apply(&store, &payout, step).await.unwrap();
    }
    let old_read = payout.clone();
    for step in [Transition::Retry, Transition::Claim, Transition::Fail] {
        payout = apply(&store, &payout, step).await.unwrap();
    }
    assert_eq!((payout.status, payout.attempt), (PayoutStatus::Failed, 2));

    let err = apply(&store, &old_read, Transition::Retry)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Stale(_))),
        "{err:?}"
    );
    assert_eq!(store.payout(payout.payout_id).await.unwrap(), Some(payout));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// A pending payout that was claimed and requeued in between (same status, same
/// attempt) is not the one that was read: its attempt has been sent since.
#[tokio::test]
async fn a_send_in_between_makes_an_old_read_stale() {
    let store = store_with_scout().await;
    let read = new_pending(&store).await;
    let mut payout = read.clone();
    for step in [Transition::Claim, Transition::Requeue] {
        payout = apply(&store, &payout, step).await.unwrap();
    }
    assert_eq!((payout.status, payout.attempt), (read.status, read.attempt));
    assert!(payout.attempt_sent_at.is_some());

    let err = apply(&store, &read, Transition::Cancel).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Stale(_))),
        "{err:?}"
    );
    assert_eq!(store.payout(payout.payout_id).await.unwrap(), Some(payout));
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// A copy that differs from the stored payout in what it pays (amount, scout) is no
/// copy of it: the claim is refused rather than computed from it, and nothing changes.
#[tokio::test]
async fn a_claim_from_a_copy_that_differs_in_what_it_pays_is_refused() {
    let store = store_with_scout().await;
    let stored = new_pending(&store).await;
    for forge in [
        |copy: &mut Payout| copy.amount_paise = Paise(999_999),
        |copy: &mut Payout| copy.scout_id = Some("someone-else".to_owned()),
        |copy: &mut Payout| copy.user_id = 4242,
    ] {
        let mut copy = stored.clone();
        forge(&mut copy);
        let err = apply(&store, &copy, Transition::Claim).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict(Conflict::Stale(_))),
            "{err:?}"
        );
        assert_eq!(
            store.payout(stored.payout_id).await.unwrap(),
            Some(stored.clone())
        );
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The claim's response is lost after DynamoDB applied it and the SDK sends it again:
/// the second try finds our own lease on the item and carries on as the winner,
/// instead of a 409 and a payout stranded in `processing` until its lease runs out.
#[tokio::test]
async fn a_claim_whose_response_was_lost_proceeds_as_the_winner() {
    let store = store_with_scout().await;
    let pending = new_pending(&store).await;
    // The claim moves the payout counters too: one transaction, answered again from
    // its client request token when the SDK sends it once more.
    let lose = LoseResponses::new("TransactWriteItems", 1);
    let flaky = Store::new(lose.wrap(store.client()), store.table());
    let gateway = gateway(&store, 1.0);

    let paid = process_payout(
        &flaky,
        &gateway,
        processor_config(10),
        &Actor::admin(1),
        pending.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(lose.remaining(), 0, "the claim's response was lost");
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(store.payout(pending.payout_id).await.unwrap(), Some(paid));
    assert_eq!(gateway.transfer_calls().len(), 1);
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// A settlement (a transaction) whose response is lost is not applied twice and not
/// reported as lost: DynamoDB answers the SDK's resend from its client request token
/// (the SDK's behaviour this service relies on, held here).
#[tokio::test]
async fn a_settlement_whose_response_was_lost_is_applied_once() {
    let store = store_with_scout().await;
    let pending = new_pending(&store).await;
    let lose = LoseResponses::new("TransactWriteItems", 1);
    let flaky = Store::new(lose.wrap(store.client()), store.table());
    let gateway = gateway(&store, 1.0);

    let paid = process_payout(
        &flaky,
        &gateway,
        processor_config(10),
        &Actor::admin(1),
        pending.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(lose.remaining(), 0, "the settlement's response was lost");
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(store.payout(pending.payout_id).await.unwrap(), Some(paid));
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.paid_paise, Paise(1_000), "paid once");
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// A write that takes no lease (here a requeue's release) whose response is lost: the
/// resend is refused, and the refusal's item carries this change's id, so the caller
/// learns that its own write landed instead of a 409.
#[tokio::test]
async fn a_lost_response_to_any_status_change_is_recognised_as_our_own() {
    let store = store_with_scout().await;
    let claimed = apply(&store, &new_pending(&store).await, Transition::Claim)
        .await
        .unwrap();
    let lose = LoseResponses::new("TransactWriteItems", 1);
    let flaky = Store::new(lose.wrap(store.client()), store.table());
    let requeued = apply(&flaky, &claimed, Transition::Requeue).await.unwrap();
    assert_eq!(lose.remaining(), 0, "the requeue's response was lost");
    assert_eq!(requeued.status, PayoutStatus::Pending);
    assert_eq!(
        store.payout(claimed.payout_id).await.unwrap(),
        Some(requeued)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// The same for a change that moves neither money nor counters (the gateway accepted
/// the attempt): one conditional `UpdateItem`, whose resend is refused and recognised
/// by this change's id on the refused item.
#[tokio::test]
async fn a_lost_response_to_a_single_update_is_recognised_as_our_own() {
    let store = store_with_scout().await;
    let claimed = apply(&store, &new_pending(&store).await, Transition::Claim)
        .await
        .unwrap();
    let lose = LoseResponses::new("UpdateItem", 1);
    let flaky = Store::new(lose.wrap(store.client()), store.table());
    let accepted = apply(&flaky, &claimed, Transition::Accept).await.unwrap();
    assert_eq!(lose.remaining(), 0, "the acceptance's response was lost");
    assert_eq!(accepted.status, PayoutStatus::Processing);
    assert_eq!(
        store.payout(claimed.payout_id).await.unwrap(),
        Some(accepted)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Every status change of the lifecycle, read back from the table's stream and put on
/// a bus through the real publisher: each yields exactly its event, with its detail;
/// the changes that keep the status (reclaim, accept, track) yield none.
#[tokio::test]
async fn every_transition_publishes_exactly_its_event() {
    use devkit::testing::publish_table_stream;
    use service::events::{PayoutEvent, PayoutEventType};

    let store = store_with_scout().await;
    let mut cases = Vec::new();
    for (transition, from, _) in TRANSITIONS {
        for status in *from {
            let before = payout_in(&store, *status).await;
            let before = store.payout(before.payout_id).await.unwrap().unwrap();
            apply(&store, &before, *transition).await.unwrap();
            let after = store.payout(before.payout_id).await.unwrap().unwrap();
            cases.push((*transition, before, after));
        }
    }

    let delivered: Vec<(String, PayoutEvent)> =
        publish_table_stream(&store, &serde_json::json!({"source": ["payouts"]}))
            .await
            .into_iter()
            .map(|envelope| {
                assert_eq!(envelope["source"], "payouts");
                let detail_type = envelope["detail-type"].as_str().unwrap().to_owned();
                (
                    detail_type,
                    serde_json::from_value(envelope["detail"].clone()).unwrap(),
                )
            })
            .collect();

    let ids: std::collections::HashSet<&str> = delivered
        .iter()
        .map(|(_, event)| event.event_id.as_str())
        .collect();
    assert_eq!(
        ids.len(),
        delivered.len(),
        "every change has an id of its own"
    );
    for (transition, before, after) in &cases {
        let caused: Vec<&(String, PayoutEvent)> = delivered
            .iter()
            .filter(|(_, event)| {
                event.payout_id == before.payout_id && event.version > before.version
            })
            .collect();
        let expected = PayoutEventType::for_change(Some(before.status), after.status);
        let Some(expected) = expected else {
            assert!(
                caused.is_empty(),
                "{transition:?} from {}: {caused:?}",
                before.status
            );
            continue;
        };
        let [(detail_type, event)] = caused.as_slice() else {
            panic!("{transition:?} from {}: {caused:?}", before.status);
        };
        assert_eq!(detail_type, expected.detail_type());
        assert_eq!(event.event_type, expected);
        assert_eq!(
            event.event_id,
            format!(
                "{}:{}:{}",
                after.payout_id,
                after.version,
                expected.detail_type()
            )
        );
        assert_eq!(event.status_from, Some(before.status));
        assert_eq!(event.status_to, after.status);
        assert_eq!(event.version, after.version);
        assert_eq!(event.attempt, after.attempt);
        assert_eq!(event.amount_paise, after.amount_paise);
        assert_eq!(event.user_id, after.user_id);
        assert_eq!(event.scout_id.as_deref(), Some("s-1"));
        assert_eq!(event.currency, "INR");
        assert_eq!(event.reference, after.payment_reference);
        assert_eq!(event.occurred_at, after.updated_at);
        // Codes only: `declined` is one, a sentence from the bank is not.
        let reason = match (expected, before.status) {
            (PayoutEventType::Failed, _) => Some("declined"),
            (PayoutEventType::Reversed, _) => Some("bank_returned"),
            (PayoutEventType::Requeued, PayoutStatus::Processing) => Some("gateway_unavailable"),
            (PayoutEventType::Requeued, _) => Some("admin_retry"),
            _ => None,
        };
        assert_eq!(
            event.reason.as_deref(),
            reason,
            "{transition:?} from {}",
            before.status
        );
    }
    // And each payout's history starts with its request.
    for (_, before, _) in &cases {
        let first = delivered
            .iter()
            .find(|(_, event)| event.payout_id == before.payout_id)
            .unwrap();
        assert_eq!(first.1.event_type, PayoutEventType::Requested);
        assert_eq!(first.1.status_from, None);
        assert_eq!(first.1.version, 1);
    }
    assert_books_balance(&store, &["s-1"], &[]).await;
}
