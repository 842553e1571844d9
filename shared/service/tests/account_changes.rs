//! A change of payout account holds the user's payouts, is kept in the
//! account's history, and finds every payout that waited for an account, against
//! DynamoDB Local through the API and the processor.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::counting::RequestCounter;
use devkit::testing::{fresh_store, gateway, processor_config};
use devkit::token::mint;
use domain::actor::{Actor, Role};
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use serde_json::{json, Value};
use service::config::PayoutLimits;
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{AccountGuard, Lease, StatusChange, Store};

const OWNER: u64 = 7;
const OTHER: u64 = 8;
const ADMIN: u64 = 1;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};

fn token(user: u64, role: Role) -> String {
    mint(DEV_JWT_SECRET, user, role, 600).unwrap()
}

async fn put_account(api: &Api, user: u64, body: &Value) -> Reply {
    let text = body.to_string();
    api.call(Call {
        method: "PUT",
        path: "/me/payout-account",
        token: Some(&token(user, Role::User)),
        body: Some(&text),
        ..Call::default()
    })
    .await
}

fn bank(number: &str) -> Value {
    json!({"type": "bank_account", "name": "Asha Rao", "ifsc": "HDFC0000053",
           "account_number": number, "email": "asha@example.com"})
}

/// `count` payouts of 1,000 paise requested by `user` from their scout `s-<user>`.
async fn requested(store: &Store, user: u64, count: usize) -> Vec<Payout> {
    let scout = format!("s-{user}");
    if store.scout(&scout).await.unwrap().is_none() {
        store
            .insert_scout(&Scout::with_earnings(&scout, user, Paise(10_000_000)))
            .await
            .unwrap();
    }
    let mut payouts = Vec::new();
    for _ in 0..count {
        let request = PayoutRequest {
            scout_id: scout.clone(),
            amount: Some(Paise(1_000)),
            idempotency_key: None,
        };
        let made = request_payout(store, LIMITS, &Actor::user(user), request)
            .await
            .unwrap();
        payouts.push(made.payout().clone());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    payouts
}

async fn stored(store: &Store, payout: &Payout) -> Payout {
    store.payout(payout.payout_id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_changed_account_holds_the_users_payouts_and_says_until_when() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    let first = put_account(&api, OWNER, &bank("765432123456789")).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.body.get("hold_until"),
        None,
        "a first account is no change"
    );

    // More of the held user's payouts than a batch takes, oldest in the queue, then
    // another user's.
    let held = requested(&store, OWNER, 12).await;
    let others = requested(&store, OTHER, 1).await;

    let before = Timestamp::now();
    let changed = put_account(&api, OWNER, &bank("99887766554433")).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let hold_until: Timestamp =
        serde_json::from_value(changed.body["hold_until"].clone()).expect("a hold");
    assert!(
        hold_until >= before.plus_secs(86_400) && hold_until <= Timestamp::now().plus_secs(86_400)
    );

    // The history names both revisions, newest first, masked, with who and when.
    let mine = api
        .get("/me/payout-account", "", &token(OWNER, Role::User))
        .await;
    let revisions = mine.body["revisions"].as_array().unwrap().clone();
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(revisions[0]["revision"], 2);
    assert_eq!(revisions[0]["changed"], true);
    assert_eq!(revisions[0]["destination"], "XXXXXXXXXX4433");
    assert_eq!(revisions[0]["saved_by"], OWNER);
    assert_eq!(revisions[0]["hold_until"], changed.body["hold_until"]);
    assert_eq!(revisions[1]["destination"], "XXXXXXXXXXX6789");
    assert_eq!(revisions[1]["changed"], false);
    assert!(!mine.body.to_string().contains("99887766554433"));

    // The hourly run passes the held payouts over (no failure, nothing sent) and pays
    // the other user's, though the held ones fill the head of the queue.
    let gateway = gateway(&store, 1.0);
    let summary = Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(
        (summary.found, summary.completed, summary.failed),
        (1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(
        stored(&store, &others[0]).await.status,
        PayoutStatus::Completed
    );
    for payout in &held {
        let now = stored(&store, payout).await;
        assert_eq!(now, *payout, "a held payout is left exactly as it was");
    }

    // An admin's "process now" is refused with the time the hold ends; nothing changes.
    let refused = api
        .post(
            &format!("/payouts/process/{}", held[0].payout_id),
            &token(ADMIN, Role::Admin),
            None,
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "payout_account_on_hold"),
        "{:?}",
        refused.body
    );
    assert_eq!(refused.body["error"]["until"], changed.body["hold_until"]);
    assert_eq!(stored(&store, &held[0]).await, held[0]);

    // A save that changes neither destination nor email keeps the hold as it was.
    let mut renamed = bank("99887766554433");
    renamed["name"] = json!("Asha R Rao");
    let renamed = put_account(&api, OWNER, &renamed).await;
    assert_eq!(renamed.body["hold_until"], changed.body["hold_until"]);
    // A change of email alone is a change.
    let mut new_email = bank("99887766554433");
    new_email["email"] = json!("someone@example.net");
    let new_email = put_account(&api, OWNER, &new_email).await;
    let extended: Timestamp = serde_json::from_value(new_email.body["hold_until"].clone()).unwrap();
    assert!(extended > hold_until);
}

#[tokio::test]
async fn with_holds_turned_off_a_change_is_paid_at_once() {
    let store = fresh_store().await;
    // The gateway pays everything: the test is about the hold, not the gateway's luck.
    let api = Api::with_settings(store.clone(), &[("PAYOUT_ACCOUNT_HOLD_SECS", "0")]);
    put_account(&api, OWNER, &bank("765432123456789")).await;
    let payouts = requested(&store, OWNER, 1).await;
    let changed = put_account(&api, OWNER, &bank("99887766554433")).await;
    assert_eq!(changed.body.get("hold_until"), None, "{:?}", changed.body);
    let paid = api
        .post(
            &format!("/payouts/process/{}", payouts[0].payout_id),
            &token(ADMIN, Role::Admin),
            None,
        )
        .await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(paid.body["status"], "completed");
}

#[tokio::test]
async fn an_admin_ends_a_hold_and_the_payouts_go() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    put_account(&api, OWNER, &bank("765432123456789")).await;
    let payouts = requested(&store, OWNER, 1).await;
    put_account(&api, OWNER, &bank("99887766554433")).await;
    let path = format!("/users/{OWNER}/payout-account/end-hold");
    let not_admin = api.post(&path, &token(OWNER, Role::User), None).await;
    assert_eq!((not_admin.status, not_admin.code()), (403, "forbidden"));
    let held = store.payout_account(OWNER).await.unwrap().unwrap();
    assert!(held.hold_until.is_some());
    let ended = api.post(&path, &token(ADMIN, Role::Admin), None).await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(ended.body.get("hold_until"), None);
    assert_eq!(ended.body["hold_ended_by"], ADMIN);
    let again = api.post(&path, &token(ADMIN, Role::Admin), None).await;
    assert_eq!((again.status, again.code()), (409, "conflict"));
    // The revision's record says who ended its hold.
    let history = api
        .get("/me/payout-account", "", &token(OWNER, Role::User))
        .await;
    assert_eq!(history.body["revisions"][0]["hold_ended_by"], ADMIN);
    let gateway = gateway(&store, 1.0);
    Processor::new(&store, &gateway, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(
        stored(&store, &payouts[0]).await.status,
        PayoutStatus::Completed
    );
}

/// A payout failed for want of an account, as the processor fails one.
async fn failed_for_want_of_an_account(store: &Store, payout: &Payout) -> Payout {
    let mut claimed = payout.clone();
    let now = Timestamp::now();
    claimed.processed_at = Some(now);
    claimed.lease_expires_at = Some(now.plus_secs(300));
    let claimed = store
        .change_status(
            payout,
            StatusChange {
                transition: Transition::Claim,
                next: claimed,
                lease: Lease::Acquire("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    let mut failed = claimed.clone();
    failed.lease_expires_at = None;
    failed.failure_reason = Some(service::account::PAYOUT_ACCOUNT_MISSING.to_owned());
    store
        .change_status(
            &claimed,
            StatusChange {
                transition: Transition::Fail,
                next: failed,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap()
}

/// §3: the payouts that wait for an account are found by their markers, written with
/// the failure itself: every one of them, at once, in one query whatever the user's
/// history, and not through the eventually consistent user index.
#[tokio::test]
async fn a_save_requeues_every_waiting_payout_with_one_query() {
    let counter = RequestCounter::default();
    let client = counter.client(&devkit::testing::endpoint()).await;
    let base = fresh_store().await;
    let store = Store::new(client, base.table());
    let history = requested(&store, OWNER, 120).await;
    let waiting = [
        failed_for_want_of_an_account(&store, &history[3]).await,
        failed_for_want_of_an_account(&store, &history[100]).await,
    ];
    counter.reset();
    let actor = Actor::user(OWNER);
    let account = service::account::NewPayoutAccount {
        name: "Asha Rao".to_owned(),
        destination: service::account::Destination::Vpa {
            address: "asha@okhdfc".to_owned(),
        },
        email: None,
    };
    service::account::save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &actor,
        account,
        0,
    )
    .await
    .unwrap();
    let counts = counter.counts();
    assert_eq!(counts.get("Query"), Some(&1), "{counts:?}");
    for payout in &waiting {
        let now = stored(&store, payout).await;
        assert_eq!(
            (now.status, now.attempt),
            (PayoutStatus::Pending, 2),
            "{now:?}"
        );
    }
    assert!(store
        .payouts_waiting_for_account(OWNER)
        .await
        .unwrap()
        .is_empty());
    devkit::invariants::assert_books_balance(&store, &[&format!("s-{OWNER}")], &[OWNER]).await;
}

/// §3: a claim decided on one revision of the account is not written once another was
/// saved: the payout stays pending and untouched.
#[tokio::test]
async fn a_claim_is_refused_once_the_account_it_was_decided_on_is_replaced() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    put_account(&api, OWNER, &bank("765432123456789")).await;
    let payouts = requested(&store, OWNER, 1).await;
    let read = store.payout_account(OWNER).await.unwrap().unwrap();
    put_account(&api, OWNER, &bank("99887766554433")).await;
    let mut claimed = payouts[0].clone();
    claimed.attempt_sent_at = Some(Timestamp::now());
    let refused = store
        .change_status_guarded(
            &payouts[0],
            StatusChange {
                transition: Transition::Claim,
                next: claimed,
                lease: Lease::Acquire("a-processor"),
                gateway_status_not_in: None,
            },
            None,
            Some(AccountGuard {
                user_id: OWNER,
                revision: Some(read.revision),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "conflict", "{refused}");
    assert_eq!(stored(&store, &payouts[0]).await, payouts[0]);
}

/// §1: the user's and the admin's lists say why a pending payout waits, and until when.
#[tokio::test]
async fn the_lists_say_a_pending_payout_is_held_and_until_when() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    put_account(&api, OWNER, &bank("765432123456789")).await;
    let payouts = requested(&store, OWNER, 1).await;
    let changed = put_account(&api, OWNER, &bank("99887766554433")).await;
    let until = &changed.body["hold_until"];
    let hold = json!({"reason": "payout_account_changed", "until": until});

    let mine = api
        .get("/payouts/my-payouts", "", &token(OWNER, Role::User))
        .await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["hold_until"], *until);
    assert_eq!(
        mine.body["payouts"][0]["payout_id"],
        payouts[0].payout_id.to_string()
    );
    assert_eq!(mine.body["payouts"][0]["hold"], hold);

    let admin = token(ADMIN, Role::Admin);
    let pending = api.get("/payouts", "status=pending", &admin).await;
    assert_eq!(pending.status, 200, "{:?}", pending.body);
    assert_eq!(pending.body["payouts"][0]["hold"], hold);

    // Another user's payouts carry no hold.
    requested(&store, OTHER, 1).await;
    let theirs = api
        .get("/payouts/my-payouts", "", &token(OTHER, Role::User))
        .await;
    assert_eq!(theirs.body["hold_until"], Value::Null);
    assert_eq!(theirs.body["payouts"][0].get("hold"), None);
}

/// §3: payouts that failed for want of an account before markers existed are marked by
/// the one-off backfill, and the next save finds them; a marker whose payout moved on is
/// cleared by that save.
#[tokio::test]
async fn the_backfill_marks_payouts_failed_before_markers_existed() {
    let store = fresh_store().await;
    let payouts = requested(&store, OWNER, 2).await;
    let old = failed_for_want_of_an_account(&store, &payouts[0]).await;
    // As a version before markers left it: failed, unmarked.
    store
        .delete_waiting_marker(OWNER, old.payout_id)
        .await
        .unwrap();
    assert!(store
        .payouts_waiting_for_account(OWNER)
        .await
        .unwrap()
        .is_empty());
    let marked = service::account::mark_waiting_payouts(&store)
        .await
        .unwrap();
    assert_eq!(marked, 1);
    assert_eq!(
        service::account::mark_waiting_payouts(&store)
            .await
            .unwrap(),
        1,
        "marking again changes nothing"
    );
    assert_eq!(
        store.payouts_waiting_for_account(OWNER).await.unwrap(),
        vec![old.payout_id]
    );
    // A stray marker of a payout that does not wait.
    store.put_waiting_marker(&payouts[1]).await.unwrap();
    let account = service::account::NewPayoutAccount {
        name: "Asha Rao".to_owned(),
        destination: service::account::Destination::Vpa {
            address: "asha@okhdfc".to_owned(),
        },
        email: None,
    };
    service::account::save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        account,
        0,
    )
    .await
    .unwrap();
    let requeued = stored(&store, &old).await;
    assert_eq!(
        (requeued.status, requeued.attempt),
        (PayoutStatus::Pending, 2)
    );
    assert_eq!(stored(&store, &payouts[1]).await, payouts[1]);
    assert!(store
        .payouts_waiting_for_account(OWNER)
        .await
        .unwrap()
        .is_empty());
}
