//! Who did what to the money, through `App::handle` against DynamoDB
//! Local: every admin process, retry, cancel and bulk action leaves a history entry on
//! the payout with the admin's id and the time, in the same write as the change (a
//! lost race leaves none); admins see it, users do not, and no event carries it; an
//! admin's look at a user's payout account is recorded. And the HTTP hygiene around it:
//! `Cache-Control: no-store` on JSON answers, HSTS on the dashboard, 413 for bodies over
//! 64 KiB before they are parsed, unknown keys never echoed in full.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::fixture::Fixture;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, publish_table_stream, Snapshot};
use devkit::token::mint;
use domain::actor::Role;
use domain::payout::{Acting, AdminAction, HistoryEntry, PayoutStatus, Transition, HISTORY_LIMIT};
use domain::time::Timestamp;
use serde_json::{json, Value};
use service::config::Config;
use store::{Lease, StatusChange, Store};
use uuid::Uuid;

const SCOUT_OWNER: u64 = 7;
const ADMIN: u64 = 1;
const OTHER_ADMIN: u64 = 2;

fn token(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::User, 600).unwrap()
}

fn admin(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::Admin, 600).unwrap()
}

/// Scout s-1 (user 7, ₹5,000.00), and an API whose gateway pays everything.
async fn world() -> (Api, Store) {
    let store = fresh_store().await;
    let fixture: Fixture = serde_json::from_value(json!({
        "scouts": [{"scout_id": "s-1", "user_id": SCOUT_OWNER, "earnings_paise": 500_000}],
        "orders": []
    }))
    .unwrap();
    let limits = devkit::testing::local_config(&[]).unwrap().limits;
    fixture
        .load(&store, &devkit::testing::vault().await, limits)
        .await
        .unwrap();
    (Api::new(store.clone()), store)
}

/// The API over `store` with a gateway that declines everything.
fn declining(store: &Store) -> Api {
    let (config, gateway) = devkit::testing::local_parts(&[
        ("GATEWAY_SIM_SUCCESS_RATE", "0"),
        ("GATEWAY_SIM_LATENCY_MS", "0"),
    ])
    .unwrap();
    Api::with_config(
        Config {
            table_name: store.table().to_owned(),
            ..config
        },
        &gateway,
        store.clone(),
    )
}

async fn pending(api: &Api, amount: u64) -> String {
    let body = format!(r#"{{"amount_paise": {amount}}}"#);
    let reply = api
        .post(
            "/scouts/s-1/request-payout",
            &token(SCOUT_OWNER),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["payout_id"].as_str().unwrap().to_owned()
}

async fn snapshot(store: &Store) -> Snapshot {
    Snapshot::take(store, &["s-1"], &[], &[SCOUT_OWNER]).await
}

async fn stored_history(store: &Store, id: &str) -> Vec<HistoryEntry> {
    store
        .payout(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .history
}

/// (action, actor, from, to) of each entry, and every entry's time within `window`.
fn steps(
    history: &[HistoryEntry],
    window: (Timestamp, Timestamp),
) -> Vec<(AdminAction, u64, &str, &str)> {
    history
        .iter()
        .map(|entry| {
            assert!(
                window.0 <= entry.at && entry.at <= window.1,
                "{entry:?} outside {window:?}"
            );
            (
                entry.action,
                entry.actor_user_id,
                entry.from_status.as_str(),
                entry.to_status.as_str(),
            )
        })
        .collect()
}

/// The history of `id` in the admin list, as JSON.
async fn listed_history(api: &Api, id: &str) -> Value {
    let list = api.get("/payouts", "limit=100", &admin(ADMIN)).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    list.body["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|payout| payout["payout_id"] == id)
        .map(|payout| payout["history"].clone())
        .unwrap_or_else(|| panic!("{id} is not in the admin list"))
}

fn no_store(reply: &Reply) {
    assert_eq!(
        reply
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{} {:?}",
        reply.status,
        reply.body
    );
}

#[tokio::test]
async fn process_retry_and_cancel_record_the_admin_and_the_time_and_the_admin_list_shows_it() {
    let (api, store) = world().await;
    let paid = pending(&api, 10_000).await;
    let declined = pending(&api, 20_000).await;
    let withdrawn = pending(&api, 30_000).await;
    let fresh = pending(&api, 40_000).await;

    let before = Timestamp::now();
    let processed = api
        .post(&format!("/payouts/process/{paid}"), &admin(ADMIN), None)
        .await;
    assert_eq!(processed.status, 200, "{:?}", processed.body);
    assert_eq!(processed.body["status"], "completed");
    // The single-payout answer to the admin carries the history.
    assert_eq!(processed.body["history"][1]["actor_user_id"], ADMIN);
    assert_eq!(processed.body["history"][1]["action"], "process");

    let declines = declining(&store);
    let failed = declines
        .post(&format!("/payouts/process/{declined}"), &admin(ADMIN), None)
        .await;
    assert_eq!(failed.body["status"], "failed", "{:?}", failed.body);
    let retried = declines
        .post(
            &format!("/payouts/{declined}/retry"),
            &admin(OTHER_ADMIN),
            None,
        )
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body["status"], "failed");
    let cancelled = api
        .post(
            &format!("/payouts/{withdrawn}/cancel"),
            &admin(OTHER_ADMIN),
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    let after = Timestamp::now();
    let window = (before, after);

    use AdminAction::{Cancel, Process, Retry};
    assert_eq!(
        steps(&stored_history(&store, &paid).await, window),
        [
            (Process, ADMIN, "pending", "processing"),
            (Process, ADMIN, "processing", "completed"),
        ]
    );
    assert_eq!(
        steps(&stored_history(&store, &declined).await, window),
        [
            (Process, ADMIN, "pending", "processing"),
            (Process, ADMIN, "processing", "failed"),
            (Retry, OTHER_ADMIN, "failed", "pending"),
            (Retry, OTHER_ADMIN, "pending", "processing"),
            (Retry, OTHER_ADMIN, "processing", "failed"),
        ]
    );
    assert_eq!(
        steps(&stored_history(&store, &withdrawn).await, window),
        [(Cancel, OTHER_ADMIN, "pending", "cancelled")]
    );
    assert!(stored_history(&store, &fresh).await.is_empty());

    // The admin list shows each history as stored, an empty one as [].
    let stored = stored_history(&store, &declined).await;
    let listed = listed_history(&api, &declined).await;
    assert_eq!(listed, serde_json::to_value(&stored).unwrap());
    assert_eq!(listed[2]["actor_user_id"], OTHER_ADMIN);
    assert_eq!(listed[2]["bulk_request_id"], Value::Null);
    assert!(listed[2]["at"].is_string());
    assert_eq!(listed_history(&api, &fresh).await, json!([]));
    let by_status = api.get("/payouts", "status=cancelled", &admin(ADMIN)).await;
    assert_eq!(
        by_status.body["payouts"][0]["history"][0]["action"],
        "cancel"
    );

    // A user's own views never show admins' ids.
    let mine = api
        .get("/payouts/my-payouts", "", &token(SCOUT_OWNER))
        .await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    for payout in mine.body["payouts"].as_array().unwrap() {
        assert!(payout.get("history").is_none(), "{payout}");
    }
    assert!(!mine.text.contains("actor_user_id"));

    // The stream's payout events are what they were: one per status change, and none
    // carries the history or who acted (the scout's opening balance, credited through
    // the marketplace's import, is an event of its own).
    let events = publish_table_stream(
        &store,
        &json!({"source": ["payouts"], "detail-type": [{"prefix": "payout."}]}),
    )
    .await;
    let published = |id: &str| -> Vec<String> {
        let mut mine: Vec<(u64, String)> = events
            .iter()
            .filter(|event| event["detail"]["payout_id"] == id)
            .map(|event| {
                (
                    event["detail"]["version"].as_u64().unwrap(),
                    event["detail-type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        mine.sort();
        mine.into_iter().map(|(_, kind)| kind).collect()
    };
    assert_eq!(
        published(&paid),
        ["payout.requested", "payout.processing", "payout.completed"]
    );
    assert_eq!(
        published(&declined),
        [
            "payout.requested",
            "payout.processing",
            "payout.failed",
            "payout.requeued",
            "payout.processing",
            "payout.failed"
        ]
    );
    assert_eq!(
        published(&withdrawn),
        ["payout.requested", "payout.cancelled"]
    );
    assert_eq!(published(&fresh), ["payout.requested"]);
    assert_eq!(events.len(), 12, "{events:#?}");
    for event in &events {
        let text = event.to_string();
        assert!(!text.contains("history"), "{text}");
        assert!(!text.contains("actor_user_id"), "{text}");
    }
    assert_books_balance(&store, &["s-1"], &[SCOUT_OWNER]).await;
}

#[tokio::test]
async fn a_bulk_action_records_its_requester_key_and_run_on_each_payout_and_on_its_record() {
    let (api, store) = world().await;
    let first = pending(&api, 1_000).await;
    let second = pending(&api, 2_000).await;
    let body = json!({"action": "cancel", "payout_ids": [first, second]}).to_string();
    let call = || Call {
        method: "POST",
        path: "/payouts/bulk",
        token: None,
        body: Some(&body),
        headers: vec![("Idempotency-Key", "audit-bulk-1")],
        ..Call::default()
    };
    let token = admin(OTHER_ADMIN);
    let before = Timestamp::now();
    let reply = api
        .call(Call {
            token: Some(&token),
            ..call()
        })
        .await;
    let after = Timestamp::now();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    no_store(&reply);

    let record = store
        .bulk_request(OTHER_ADMIN, "audit-bulk-1")
        .await
        .unwrap()
        .expect("the keyed request's record");
    assert_eq!(record.admin_id, OTHER_ADMIN);
    assert_eq!(record.action.as_deref(), Some("cancel"));
    assert_eq!(record.payout_count, Some(2));
    let run = record.request_id.expect("the run's id on the record");

    for (index, id) in [&first, &second].into_iter().enumerate() {
        let history = stored_history(&store, id).await;
        assert_eq!(
            steps(&history, (before, after)),
            [(AdminAction::Cancel, OTHER_ADMIN, "pending", "cancelled")]
        );
        assert_eq!(history[0].bulk_request_id, Some(run));
        assert_eq!(
            history[0].bulk_idempotency_key.as_deref(),
            Some("audit-bulk-1")
        );
        // The bulk answer shows it too, and so does the admin list.
        let shown = &reply.body["results"][index]["payout"]["history"];
        assert_eq!(shown, &serde_json::to_value(&history).unwrap());
        assert_eq!(
            listed_history(&api, id).await[0]["bulk_request_id"],
            run.to_string()
        );
    }

    // A replay does nothing, and so records nothing.
    let replay = api
        .call(Call {
            token: Some(&token),
            ..call()
        })
        .await;
    assert_eq!(replay.status, 200, "{:?}", replay.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(stored_history(&store, &first).await.len(), 1);
    assert_eq!(
        replay.body["results"][0]["payout"]["history"],
        reply.body["results"][0]["payout"]["history"]
    );
}

#[tokio::test]
async fn a_refused_or_lost_change_leaves_no_history_entry_and_the_data_untouched() {
    let (api, store) = world().await;
    let paid = pending(&api, 10_000).await;
    let processed = api
        .post(&format!("/payouts/process/{paid}"), &admin(ADMIN), None)
        .await;
    assert_eq!(
        processed.body["status"], "completed",
        "{:?}",
        processed.body
    );

    // Refused on what was read: 409, nothing written.
    let before = snapshot(&store).await;
    let refused = api
        .post(
            &format!("/payouts/{paid}/cancel"),
            &admin(OTHER_ADMIN),
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.code(), "invalid_status");
    no_store(&refused);
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(stored_history(&store, &paid).await.len(), 2);

    // Lost at the write: the admin's copy was read before the processor claimed the
    // payout. The conditional write refuses it, and its entry goes with it.
    let raced = pending(&api, 20_000).await;
    let stale = store.payout(raced.parse().unwrap()).await.unwrap().unwrap();
    let summary = service::process::Processor::new(
        &store,
        &devkit::testing::gateway(&store, 1.0),
        devkit::testing::processor_config(10),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(summary.completed, 1);
    let before = snapshot(&store).await;
    let mut next = stale.clone();
    next.cancelled_at = Some(Timestamp::now());
    next.updated_at = Timestamp::now();
    let lost = store
        .change_status_as(
            &stale,
            StatusChange {
                transition: Transition::Cancel,
                next,
                lease: Lease::NotHeld,
                gateway_status_not_in: None,
            },
            Some(&Acting {
                action: AdminAction::Cancel,
                actor_user_id: OTHER_ADMIN,
                bulk: None,
            }),
        )
        .await;
    assert!(
        matches!(lost, Err(ref err) if err.http_status() == 409),
        "{lost:?}"
    );
    assert_eq!(snapshot(&store).await, before);
    // The processor's own run acts for nobody: it wrote no entry either.
    assert!(stored_history(&store, &raced).await.is_empty());
    assert_books_balance(&store, &["s-1"], &[SCOUT_OWNER]).await;
}

#[tokio::test]
async fn a_full_history_refuses_process_and_retry_but_never_a_cancel() {
    let (api, store) = world().await;
    let id = pending(&api, 10_000).await;
    let payout_id: Uuid = id.parse().unwrap();
    // Fill the history with admin process attempts that the gateway never saw
    // (claim, then back to pending), as a stuck gateway would leave them.
    let acting = Acting {
        action: AdminAction::Process,
        actor_user_id: ADMIN,
        bulk: None,
    };
    for _ in 0..HISTORY_LIMIT / 2 {
        let current = store.payout(payout_id).await.unwrap().unwrap();
        let mut next = current.clone();
        next.updated_at = Timestamp::now();
        let token = Uuid::new_v4().to_string();
        let claimed = store
            .change_status_as(
                &current,
                StatusChange {
                    transition: Transition::Claim,
                    next,
                    lease: Lease::Acquire(&token),
                    gateway_status_not_in: None,
                },
                Some(&acting),
            )
            .await
            .unwrap();
        let mut back = claimed.clone();
        back.updated_at = Timestamp::now();
        store
            .change_status_as(
                &claimed,
                StatusChange {
                    transition: Transition::Requeue,
                    next: back,
                    lease: Lease::Release(&token),
                    gateway_status_not_in: None,
                },
                Some(&acting),
            )
            .await
            .unwrap();
    }
    assert_eq!(stored_history(&store, &id).await.len(), HISTORY_LIMIT);

    let before = snapshot(&store).await;
    let refused = api
        .post(&format!("/payouts/process/{id}"), &admin(ADMIN), None)
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.code(), "conflict");
    assert_eq!(snapshot(&store).await, before);

    let cancelled = api
        .post(&format!("/payouts/{id}/cancel"), &admin(ADMIN), None)
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let history = stored_history(&store, &id).await;
    assert_eq!(history.len(), HISTORY_LIMIT + 1);
    assert_eq!(
        history.last().map(|entry| (entry.action, entry.to_status)),
        Some((AdminAction::Cancel, PayoutStatus::Cancelled))
    );
    assert_books_balance(&store, &["s-1"], &[SCOUT_OWNER]).await;
}

#[tokio::test]
async fn an_admins_look_at_a_users_payout_account_is_recorded_and_the_users_own_is_not() {
    let (api, store) = world().await;
    let saved = api
        .call(Call {
            method: "PUT",
            path: "/me/payout-account",
            token: Some(&token(SCOUT_OWNER)),
            body: Some(r#"{"type": "vpa", "name": "Asha Rao", "address": "asha@okaxis"}"#),
            ..Call::default()
        })
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    no_store(&saved);
    let own = api.get("/me/payout-account", "", &token(SCOUT_OWNER)).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    no_store(&own);
    assert!(store
        .account_reads(SCOUT_OWNER, 10)
        .await
        .unwrap()
        .is_empty());

    let before = Timestamp::now();
    let looked = api
        .get(
            &format!("/users/{SCOUT_OWNER}/payout-account"),
            "",
            &admin(OTHER_ADMIN),
        )
        .await;
    let after = Timestamp::now();
    assert_eq!(looked.status, 200, "{:?}", looked.body);
    assert_eq!(looked.body["user_id"], SCOUT_OWNER);
    no_store(&looked);
    let reads = store.account_reads(SCOUT_OWNER, 10).await.unwrap();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].actor_user_id, OTHER_ADMIN);
    assert_eq!(reads[0].user_id, SCOUT_OWNER);
    assert!(before <= reads[0].at && reads[0].at <= after);
    assert!(reads[0].expires_at > after.unix_millis() / 1000 + 365 * 86_400);

    // A user who may not look records nothing.
    let forbidden = api
        .get(
            &format!("/users/{SCOUT_OWNER}/payout-account"),
            "",
            &token(99),
        )
        .await;
    assert_eq!(forbidden.status, 403, "{:?}", forbidden.body);
    no_store(&forbidden);
    assert_eq!(store.account_reads(SCOUT_OWNER, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn json_answers_are_not_stored_and_the_dashboard_pins_https() {
    let (api, _store) = world().await;
    let id = pending(&api, 1_000).await;
    for reply in [
        api.get("/payouts", "", &admin(ADMIN)).await,
        api.get("/payouts/my-payouts", "", &token(SCOUT_OWNER))
            .await,
        api.get("/payouts/stats", "", &admin(ADMIN)).await,
        api.post(&format!("/payouts/process/{id}"), &admin(ADMIN), None)
            .await,
        api.get("/payouts", "", "not-a-token").await,
    ] {
        no_store(&reply);
    }
    let page = api
        .call(Call {
            method: "GET",
            path: "/admin",
            ..Call::default()
        })
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413_before_it_is_read() {
    let (api, store) = world().await;
    let before = snapshot(&store).await;
    // Valid JSON asking for a real payout, padded past the limit: refused all the same.
    let padding = "x".repeat(65 * 1024);
    let body = json!({"amount_paise": 1_000, "note": padding}).to_string();
    assert!(body.len() > 64 * 1024);
    let reply = api
        .post(
            "/scouts/s-1/request-payout",
            &token(SCOUT_OWNER),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.code(), "payload_too_large");
    no_store(&reply);
    assert!(reply.text.len() < 300, "{}", reply.text);
    let bulk =
        json!({"action": "cancel", "payout_ids": [Uuid::new_v4()], "pad": padding}).to_string();
    let refused = api.post("/payouts/bulk", &admin(ADMIN), Some(&bulk)).await;
    assert_eq!(refused.status, 413, "{}", refused.text);
    assert_eq!(snapshot(&store).await, before);

    // Just under the limit is read (and refused for what it says).
    let near = json!({"amount_paise": 1_000, "note": "x".repeat(60 * 1024)}).to_string();
    let read = api
        .post(
            "/scouts/s-1/request-payout",
            &token(SCOUT_OWNER),
            Some(&near),
        )
        .await;
    assert_eq!(read.status, 400, "{}", read.text);
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn an_unknown_key_is_named_short_never_echoed_in_full() {
    let (api, store) = world().await;
    let before = snapshot(&store).await;
    let long = format!("k{}", "e".repeat(5_000));
    let body = json!({ "amount_paise": 1_000, long.clone(): 1 }).to_string();
    let reply = api
        .post(
            "/scouts/s-1/request-payout",
            &token(SCOUT_OWNER),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.code(), "bad_request");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(!message.contains(&long));
    assert!(
        message.contains(&format!("`{}…`", &long[..64])),
        "{message}"
    );
    assert!(reply.text.len() < 300, "{}", reply.text);

    // Many unknown keys: a few named, the rest counted.
    let many: serde_json::Map<String, Value> = (0..50)
        .map(|index| (format!("key{index:02}"), json!(index)))
        .collect();
    let bulk = api
        .post(
            "/payouts/bulk",
            &admin(ADMIN),
            Some(&Value::Object(many).to_string()),
        )
        .await;
    assert_eq!(bulk.status, 400, "{}", bulk.text);
    let message = bulk.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("and 47 more"), "{message}");
    assert!(!message.contains("key49"), "{message}");
    assert_eq!(snapshot(&store).await, before);
}
