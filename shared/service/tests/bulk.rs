//! `POST /payouts/bulk` through `App::handle`, as API Gateway invokes it, against
//! DynamoDB Local: each id on its own with mixed outcomes in one answer, bad input
//! refused before anything is done, the admin-only rule, and `Idempotency-Key`
//! replays, reuse and runs still in progress.

use api::auth::DEV_JWT_SECRET;
use api::Endpoint;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use devkit::api::{Api, Call, Reply};
use devkit::fixture::Fixture;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, Snapshot};
use devkit::token::mint;
use domain::actor::Role;
use domain::money::Paise;
use domain::payout::PayoutStatus;
use domain::time::Timestamp;
use gateway::Gateway;
use serde_json::{json, Value};
use service::bulk::{BulkAction, BulkCommand};
use service::config::Config;
use store::{BulkRequestRecord, BulkRequestState, Store};
use uuid::Uuid;

const SCOUT_OWNER: u64 = 7;
const OTHER_OWNER: u64 = 11;
const ADMIN: u64 = 1;
const OTHER_ADMIN: u64 = 2;

fn token(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::User, 600).unwrap()
}

fn admin_token(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::Admin, 600).unwrap()
}

fn admin() -> String {
    admin_token(ADMIN)
}

/// Scouts s-1 (user 7, ₹500.00) and s-2 (user 11, ₹1,200.00), and the API over them.
async fn world() -> (Api, Store) {
    let store = fresh_store().await;
    let fixture: Fixture = serde_json::from_value(json!({
        "scouts": [
            {"scout_id": "s-1", "user_id": SCOUT_OWNER, "earnings_paise": 50000},
            {"scout_id": "s-2", "user_id": OTHER_OWNER, "earnings_paise": 120000}
        ],
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

async fn snapshot(store: &Store) -> Snapshot {
    Snapshot::take(store, &["s-1", "s-2"], &[], &[SCOUT_OWNER, OTHER_OWNER]).await
}

/// A pending payout of `amount` paise from s-1.
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

async fn bulk(api: &Api, token: &str, body: &str, key: Option<&str>) -> Reply {
    api.call(Call {
        method: "POST",
        path: "/payouts/bulk",
        token: Some(token),
        body: Some(body),
        headers: key
            .map(|key| ("Idempotency-Key", key))
            .into_iter()
            .collect(),
        ..Call::default()
    })
    .await
}

fn command(action: &str, ids: &[&str]) -> String {
    json!({"action": action, "payout_ids": ids}).to_string()
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.code(), code, "{:?}", reply.body);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(reply.headers["content-type"], "application/json");
}

fn outcomes(reply: &Reply) -> Vec<(String, String)> {
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            (
                result["payout_id"].as_str().unwrap().to_owned(),
                result["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn status_of(store: &Store, id: &str) -> PayoutStatus {
    store
        .payout(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .status
}

fn transfer_calls(api: &Api) -> std::collections::HashMap<domain::payout::IdempotencyKey, u32> {
    match api.app.gateway().unwrap() {
        Gateway::Simulated(gateway) => gateway.transfer_calls(),
        other => panic!("the tests run the simulated gateway, not {other:?}"),
    }
}

#[tokio::test]
async fn one_call_answers_each_id_in_order_whatever_the_others_do() {
    let (api, store) = world().await;
    let first = pending(&api, 1000).await;
    let paid = pending(&api, 2000).await;
    let last = pending(&api, 3000).await;
    let processed = api
        .post(&format!("/payouts/process/{paid}"), &admin(), None)
        .await;
    assert_eq!(
        processed.body["status"], "completed",
        "{:?}",
        processed.body
    );
    let unknown = Uuid::new_v4().to_string();

    let reply = bulk(
        &api,
        &admin(),
        &command("cancel", &[&first, &paid, &unknown, &last]),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert!(reply.headers.get("idempotent-replayed").is_none());
    assert_eq!(reply.body["action"], "cancel");
    assert_eq!(
        outcomes(&reply),
        [
            (first.clone(), "done".to_owned()),
            (paid.clone(), "conflict".to_owned()),
            (unknown.clone(), "not_found".to_owned()),
            (last.clone(), "done".to_owned()),
        ]
    );
    assert_eq!(
        reply.body["counts"],
        json!({"done": 2, "conflict": 1, "not_found": 1, "error": 0, "not_attempted": 0})
    );
    let results = &reply.body["results"];
    // Done: the payout after the action, no error.
    assert_eq!(results[0]["payout"]["status"], "cancelled");
    assert!(results[0]["payout"]["cancelled_at"].is_string());
    assert_eq!(results[0]["error"], Value::Null);
    // Conflict: why, as the single route says it, and the payout as it stands.
    assert_eq!(results[1]["error"]["code"], "invalid_status");
    assert!(results[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("it is completed"));
    assert_eq!(results[1]["payout"]["status"], "completed");
    assert_eq!(
        results[1]["payout"]["payment_reference"],
        processed.body["payment_reference"]
    );
    // Not found: nothing to show.
    assert_eq!(results[2]["error"]["code"], "not_found");
    assert_eq!(results[2]["payout"], Value::Null);
    assert_eq!(results[3]["payout"]["amount_paise"], 3000);

    assert_eq!(status_of(&store, &first).await, PayoutStatus::Cancelled);
    assert_eq!(status_of(&store, &paid).await, PayoutStatus::Completed);
    assert_eq!(status_of(&store, &last).await, PayoutStatus::Cancelled);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise, scout.paid_paise),
        (Paise(48_000), Paise::ZERO, Paise(2_000))
    );
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn retry_sends_failed_payouts_round_again_and_pays_them() {
    let (api, store) = world().await;
    let declining = declining(&store);
    let failed: Vec<String> = {
        let mut ids = Vec::new();
        for amount in [1000, 2000] {
            let id = pending(&api, amount).await;
            let reply = declining
                .post(&format!("/payouts/process/{id}"), &admin(), None)
                .await;
            assert_eq!(reply.body["status"], "failed", "{:?}", reply.body);
            ids.push(id);
        }
        ids
    };
    let still_pending = pending(&api, 3000).await;

    let reply = bulk(
        &api,
        &admin(),
        &command("retry", &[&failed[0], &still_pending, &failed[1]]),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        outcomes(&reply),
        [
            (failed[0].clone(), "done".to_owned()),
            (still_pending.clone(), "conflict".to_owned()),
            (failed[1].clone(), "done".to_owned()),
        ]
    );
    for index in [0, 2] {
        let payout = &reply.body["results"][index]["payout"];
        assert_eq!(payout["status"], "completed", "{payout:?}");
        assert_eq!(payout["attempt"], 2);
        assert!(payout["payment_reference"]
            .as_str()
            .unwrap()
            .starts_with("PAY-"));
    }
    assert_eq!(reply.body["results"][1]["error"]["code"], "invalid_status");
    assert_eq!(reply.body["results"][1]["payout"]["status"], "pending");
    for id in &failed {
        assert_eq!(status_of(&store, id).await, PayoutStatus::Completed);
    }
    assert_eq!(
        status_of(&store, &still_pending).await,
        PayoutStatus::Pending
    );
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn bad_input_is_refused_whole_before_any_payout_is_touched() {
    let (api, store) = world().await;
    let a = pending(&api, 1000).await;
    let b = pending(&api, 2000).await;
    let before = snapshot(&store).await;

    let many: Vec<String> = std::iter::once(a.clone())
        .chain((0..100).map(|_| Uuid::new_v4().to_string()))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let upper_a = a.to_uppercase();
    let refusals: Vec<(String, Option<String>)> = vec![
        // Valid ids first, so that acting before the whole list is checked would show.
        (
            command("cancel", &[&a, &b, &a]),
            Some(format!(
                "payout_ids[2] repeats payout_ids[0] ({a}); name each payout once"
            )),
        ),
        (
            command("cancel", &[&a, &b, &upper_a]),
            Some(format!(
                "payout_ids[2] repeats payout_ids[0] ({a}); name each payout once"
            )),
        ),
        (
            command("cancel", &[&a, &b, &Uuid::new_v4().to_string(), "PAY-123"]),
            Some("payout_ids[3] is not a payout id".to_owned()),
        ),
        (
            json!({"action": "cancel", "payout_ids": [a, 7]}).to_string(),
            Some("payout_ids[1] is not a payout id".to_owned()),
        ),
        (command("cancel", &[]), None),
        (command("cancel", &many), None),
        (command("pay", &[&a]), None),
        (command("CANCEL", &[&a]), None),
        (json!({"payout_ids": [a]}).to_string(), None),
        (json!({"action": "cancel"}).to_string(), None),
        (
            json!({"action": "cancel", "payout_ids": a}).to_string(),
            None,
        ),
        (
            json!({"action": "cancel", "payout_ids": [a], "reason": "tidy"}).to_string(),
            Some("unknown field `reason`; allowed: action, payout_ids".to_owned()),
        ),
        (
            json!([{"action": "cancel", "payout_ids": [a]}]).to_string(),
            None,
        ),
        (r#"{"action": "cancel", "payout_ids": ["#.to_owned(), None),
        (String::new(), None),
    ];
    for (body, message) in &refusals {
        for key in [None, Some("bad-input-key")] {
            let reply = bulk(&api, &admin(), body, key).await;
            assert_error(&reply, 400, "bad_request");
            if let Some(message) = message {
                assert_eq!(reply.body["error"]["message"], message.as_str(), "{body}");
            }
        }
    }
    let long_key = "k".repeat(256);
    for key in ["", long_key.as_str(), "ключ"] {
        let reply = bulk(&api, &admin(), &command("cancel", &[&a, &b]), Some(key)).await;
        assert_error(&reply, 400, "bad_request");
    }
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(
        store.bulk_request(ADMIN, "bad-input-key").await.unwrap(),
        None
    );

    // A hundred is the most, not too many.
    let hundred = bulk(&api, &admin(), &command("cancel", &many[..100]), None).await;
    assert_eq!(hundred.status, 200, "{:?}", hundred.body);
    assert_eq!(
        hundred.body["counts"],
        json!({"done": 1, "conflict": 0, "not_found": 99, "error": 0, "not_attempted": 0})
    );
    assert_eq!(hundred.body["results"][0]["payout_id"], a.as_str());
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn only_an_admin_may_and_a_refusal_changes_nothing() {
    let (api, store) = world().await;
    let a = pending(&api, 1000).await;
    let body = command("cancel", &[&a]);
    let before = snapshot(&store).await;

    let anonymous = api
        .call(Call {
            method: "POST",
            path: "/payouts/bulk",
            body: Some(&body),
            ..Call::default()
        })
        .await;
    assert_error(&anonymous, 401, "unauthorized");
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    assert_error(
        &bulk(&api, "not.a.token", &body, None).await,
        401,
        "unauthorized",
    );
    // Not even the payout's own user, and not with a bad body either: who comes first.
    for user in [SCOUT_OWNER, OTHER_OWNER] {
        assert_error(
            &bulk(&api, &token(user), &body, None).await,
            403,
            "forbidden",
        );
        assert_error(
            &bulk(&api, &token(user), "{not json", Some("k-1")).await,
            403,
            "forbidden",
        );
    }
    // The function itself, reached with another method (API Gateway would not route it).
    let sample =
        std::fs::read_to_string(devkit::paths::workspace_root().join("events/bulk-payouts.json"))
            .unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    event["requestContext"]["http"]["method"] = json!("GET");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let wrong_method = api.send(Endpoint::BulkPayouts, request).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.headers["allow"], "POST");
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(store.bulk_request(SCOUT_OWNER, "k-1").await.unwrap(), None);
}

#[tokio::test]
async fn an_idempotency_key_gives_the_first_answer_again_and_acts_once() {
    let (api, store) = world().await;
    let a = pending(&api, 1000).await;
    let b = pending(&api, 2000).await;
    let body = command("process", &[&a, &b]);

    let first = bulk(&api, &admin(), &body, Some("bulk-0001")).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        outcomes(&first),
        [
            (a.clone(), "done".to_owned()),
            (b.clone(), "done".to_owned())
        ]
    );
    assert_eq!(first.body["results"][0]["payout"]["status"], "completed");
    let record = store
        .bulk_request(ADMIN, "bulk-0001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state, BulkRequestState::Done);
    let now = Timestamp::now().unix_millis() / 1000;
    assert!((now + 86_000..=now + 86_400).contains(&record.expires_at));
    let calls = transfer_calls(&api);
    assert_eq!(calls.values().sum::<u32>(), 2);
    let stored = snapshot(&store).await;

    let again = bulk(&api, &admin(), &body, Some("bulk-0001")).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(transfer_calls(&api), calls, "nothing was sent again");
    assert_eq!(snapshot(&store).await, stored);

    // The same key for another request: the ids, their order or the action differ.
    for other in [
        command("process", &[&a]),
        command("process", &[&b, &a]),
        command("cancel", &[&a, &b]),
    ] {
        assert_error(
            &bulk(&api, &admin(), &other, Some("bulk-0001")).await,
            422,
            "idempotency_key_reused",
        );
    }
    assert_eq!(snapshot(&store).await, stored);
    assert_eq!(
        store.bulk_request(ADMIN, "bulk-0001").await.unwrap(),
        Some(record)
    );

    // A key is its admin's: another admin's same key is a request of its own, which
    // finds both payouts already paid.
    let others = bulk(&api, &admin_token(OTHER_ADMIN), &body, Some("bulk-0001")).await;
    assert_eq!(others.status, 200, "{:?}", others.body);
    assert!(others.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        others.body["counts"],
        json!({"done": 0, "conflict": 2, "not_found": 0, "error": 0, "not_attempted": 0})
    );
    assert_eq!(transfer_calls(&api), calls);
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn a_key_still_in_progress_is_409_and_one_abandoned_past_its_lease_runs_again() {
    let (api, store) = world().await;
    let a = pending(&api, 1000).await;
    let b = pending(&api, 2000).await;
    let ids: Vec<Uuid> = [&a, &b].iter().map(|id| id.parse().unwrap()).collect();
    let fingerprint = BulkCommand {
        action: BulkAction::Cancel,
        payout_ids: ids,
    }
    .fingerprint();
    let body = command("cancel", &[&a, &b]);
    let lease_secs = api.app.config.processor.lease_secs;
    let record = |key: &str, started_at: Timestamp| BulkRequestRecord {
        admin_id: ADMIN,
        key: key.to_owned(),
        fingerprint: fingerprint.clone(),
        state: BulkRequestState::InProgress,
        started_at,
        answer: None,
        expires_at: started_at.plus_secs(86_400).unix_millis() / 1000,
        request_id: None,
        action: None,
        payout_count: None,
    };
    let now_secs = Timestamp::now().unix_millis() / 1000;

    // Another request with this key began a moment ago and has not answered yet.
    let running = record("still-running", Timestamp::now().minus_secs(5));
    assert!(store.start_bulk_request(&running, now_secs).await.unwrap());
    let before = snapshot(&store).await;
    let busy = bulk(&api, &admin(), &body, Some("still-running")).await;
    assert_error(&busy, 409, "conflict");
    assert_eq!(
        busy.body["error"]["message"],
        "a request with this Idempotency-Key is still in progress"
    );
    // Asking for something else with it is still the wrong request, not a busy one.
    assert_error(
        &bulk(
            &api,
            &admin(),
            &command("cancel", &[&a]),
            Some("still-running"),
        )
        .await,
        422,
        "idempotency_key_reused",
    );
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(
        store.bulk_request(ADMIN, "still-running").await.unwrap(),
        Some(running)
    );

    // One that began longer than a lease ago died before answering: it runs again.
    let abandoned = record("abandoned", Timestamp::now().minus_secs(lease_secs + 5));
    assert!(store
        .start_bulk_request(&abandoned, now_secs)
        .await
        .unwrap());
    let taken = bulk(&api, &admin(), &body, Some("abandoned")).await;
    assert_eq!(taken.status, 200, "{:?}", taken.body);
    assert!(taken.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        taken.body["counts"],
        json!({"done": 2, "conflict": 0, "not_found": 0, "error": 0, "not_attempted": 0})
    );
    let kept = store
        .bulk_request(ADMIN, "abandoned")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.state, BulkRequestState::Done);
    assert!(kept.started_at > abandoned.started_at);
    let replayed = bulk(&api, &admin(), &body, Some("abandoned")).await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.body, taken.body);

    // An expired record (TTL deletes late) is no record: the key is free again.
    let expired = BulkRequestRecord {
        state: BulkRequestState::Done,
        answer: Some("{}".to_owned()),
        expires_at: now_secs - 60,
        ..record("expired", Timestamp::now().minus_secs(90_000))
    };
    assert!(store
        .start_bulk_request(&expired, now_secs - 120)
        .await
        .unwrap());
    let fresh = bulk(&api, &admin(), &command("cancel", &[&a]), Some("expired")).await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    assert_eq!(
        outcomes(&fresh),
        [(a.clone(), "conflict".to_owned())],
        "cancelled by the run above"
    );
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

/// Fails every DynamoDB request that names `needle`, as an unreachable table would.
#[derive(Debug)]
struct FailRequestsNaming(String);

impl Intercept for FailRequestsNaming {
    fn name(&self) -> &'static str {
        "FailRequestsNaming"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        if String::from_utf8_lossy(body).contains(&self.0) {
            return Err("injected: the table cannot be reached".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_storage_failure_on_one_id_is_that_ids_error_alone() {
    let (api, store) = world().await;
    let a = pending(&api, 1000).await;
    let broken = pending(&api, 2000).await;
    let c = pending(&api, 3000).await;
    let faulty = Store::new(
        devkit::faults::with_interceptor(store.client(), FailRequestsNaming(broken.clone())),
        store.table(),
    );
    let faulty_api = Api::new(faulty);

    let reply = bulk(
        &faulty_api,
        &admin(),
        &command("cancel", &[&a, &broken, &c]),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        outcomes(&reply),
        [
            (a.clone(), "done".to_owned()),
            (broken.clone(), "error".to_owned()),
            (c.clone(), "done".to_owned()),
        ]
    );
    assert_eq!(
        reply.body["results"][1]["error"],
        json!({"code": "internal_error", "message": "internal error"}),
        "no internal detail leaves the service"
    );
    assert_eq!(reply.body["results"][1]["payout"], Value::Null);
    assert_eq!(
        reply.body["counts"],
        json!({"done": 2, "conflict": 0, "not_found": 0, "error": 1, "not_attempted": 0})
    );
    assert_eq!(status_of(&store, &broken).await, PayoutStatus::Pending);
    assert_eq!(status_of(&store, &a).await, PayoutStatus::Cancelled);
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn ids_are_not_started_when_the_invocation_is_about_to_end() {
    let (api, store) = world().await;
    let first = pending(&api, 1000).await;
    let second = pending(&api, 2000).await;
    let before = snapshot(&store).await;
    let command = BulkCommand::parse(
        json!({"action": "process", "payout_ids": [first, second]})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    // Less than the margin left: nothing is started, so nothing is left half-done.
    let deadline = std::time::Instant::now() + service::bulk::START_MARGIN / 2;
    let done = service::bulk::bulk_payouts(
        &store,
        api.app.gateway().unwrap(),
        api.app.config.processor,
        &domain::actor::Actor::admin(ADMIN),
        command,
        None,
        Some(deadline),
    )
    .await
    .unwrap();
    let answer = done.answer();
    assert!(answer.results.iter().all(|result| result.outcome
        == service::bulk::Outcome::NotAttempted
        && result.error.as_ref().unwrap().code == "not_attempted"));
    assert_eq!(answer.counts().not_attempted, 2);
    assert_eq!(snapshot(&store).await, before, "nothing was touched");
}
