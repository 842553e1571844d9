//! The seven endpoints through `App::handle`, as API Gateway invokes them, against
//! DynamoDB Local: happy paths, every documented error with the data left untouched,
//! and the auth matrix on every route.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::fixture::Fixture;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, Snapshot};
use devkit::token::mint;
use domain::actor::Role;
use domain::money::Paise;
use serde_json::Value;
use service::config::Config;
use service::order::Order;
use store::Store;

const SCOUT_OWNER: u64 = 7;
const SELLER: u64 = 8;
const BUYER: u64 = 9;
const ADMIN: u64 = 1;
const STRANGER: u64 = 99;

fn token(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::User, 600).unwrap()
}

fn admin() -> String {
    mint(DEV_JWT_SECRET, ADMIN, Role::Admin, 600).unwrap()
}

/// scouts s-1 (user 7, ₹500.00) and s-3 (user 12, nothing); orders o-1 (placed, bounty
/// to s-1), o-2 (delivered), o-4 (cancelled).
async fn world() -> (Api, Store) {
    let store = fresh_store().await;
    let fixture: Fixture = serde_json::from_value(serde_json::json!({
        "scouts": [
            {"scout_id": "s-1", "user_id": SCOUT_OWNER, "earnings_paise": 50000},
            {"scout_id": "s-3", "user_id": 12, "earnings_paise": 0}
        ],
        "orders": [
            {"order_id": "o-1", "buyer_id": BUYER, "seller_id": SELLER, "item_price_paise": 120000,
             "status": "placed", "scout_id": "s-1", "scout_bounty_paise": 6000},
            {"order_id": "o-2", "buyer_id": BUYER, "seller_id": SELLER, "item_price_paise": 45000,
             "status": "delivered"},
            {"order_id": "o-4", "buyer_id": BUYER, "seller_id": SELLER, "item_price_paise": 30000,
             "status": "cancelled"}
        ]
    }))
    .unwrap();
    let limits = devkit::testing::local_config(&[]).unwrap().limits;
    fixture
        .load(&store, &devkit::testing::vault().await, limits)
        .await
        .unwrap();
    (Api::new(store.clone()), store)
}

async fn snapshot(store: &Store) -> Snapshot {
    Snapshot::take(
        store,
        &["s-1", "s-3"],
        &["o-1", "o-2", "o-4"],
        &[SCOUT_OWNER, SELLER, 12],
    )
    .await
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.code(), code, "{:?}", reply.body);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(reply.headers["content-type"], "application/json");
}

async fn request_payout(api: &Api, token: &str, body: &str) -> Reply {
    api.post("/scouts/s-1/request-payout", token, Some(body))
        .await
}

#[tokio::test]
async fn request_payout_creates_and_replays() {
    let (api, store) = world().await;
    let created = request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 1000}"#).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let payout = &created.body;
    assert_eq!(payout["status"], "pending");
    assert_eq!(payout["payout_type"], "scout_bounty");
    assert_eq!(payout["amount_paise"], 1000);
    assert_eq!(payout["user_id"], SCOUT_OWNER);
    assert_eq!(payout["scout_id"], "s-1");
    assert_eq!(payout["completed_at"], Value::Null);
    assert_eq!(payout["payment_reference"], Value::Null);
    assert!(payout["created_at"].as_str().unwrap().ends_with('Z'));
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise(49_000), Paise(1_000))
    );

    // Idempotency-Key: the same key returns the first payout, flagged as a replay.
    let keyed = |body: &'static str| Call {
        method: "POST",
        path: "/scouts/s-1/request-payout",
        body: Some(body),
        headers: vec![("Idempotency-Key", "req-0001")],
        ..Call::default()
    };
    let owner = token(SCOUT_OWNER);
    let admin = admin();
    let first = api
        .call(Call {
            token: Some(&admin),
            ..keyed(r#"{"amount_paise": 500}"#)
        })
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = api
        .call(Call {
            token: Some(&admin),
            ..keyed(r#"{"amount_paise": 500}"#)
        })
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let before = snapshot(&store).await;
    let other = api
        .call(Call {
            token: Some(&admin),
            ..keyed(r#"{"amount_paise": 600}"#)
        })
        .await;
    assert_error(&other, 422, "idempotency_key_reused");
    assert_eq!(snapshot(&store).await, before);
    // The same key from another user is that user's own first request.
    let owners = api
        .call(Call {
            token: Some(&owner),
            ..keyed(r#"{"amount_paise": 500}"#)
        })
        .await;
    assert_eq!(owners.status, 201);
    assert_ne!(owners.body["payout_id"], first.body["payout_id"]);

    // Everything, by an omitted amount; then nothing is left.
    let all = request_payout(&api, &token(SCOUT_OWNER), "").await;
    assert_eq!(
        (all.status, all.body["amount_paise"].as_u64()),
        (201, Some(48_000))
    );
    let empty = request_payout(&api, &token(SCOUT_OWNER), "{}").await;
    assert_error(&empty, 400, "no_earnings");

    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn request_payout_refuses_bad_input_and_leaves_everything_as_it_was() {
    let (api, store) = world().await;
    let before = snapshot(&store).await;
    let owner = token(SCOUT_OWNER);
    for (body, status, code) in [
        (r#"{"amount_paise": 10.5}"#, 400, "bad_request"),
        (r#"{"amount_paise": 1000.0}"#, 400, "bad_request"),
        (r#"{"amount_paise": 1e3}"#, 400, "bad_request"),
        (r#"{"amount_paise": "1000"}"#, 400, "bad_request"),
        (r#"{"amount_paise": -5}"#, 400, "bad_request"),
        (r#"{"amount_paise": 0}"#, 400, "bad_request"),
        (
            r#"{"amount_paise": 18446744073709551616}"#,
            400,
            "bad_request",
        ),
        (r#"{"amount_paise": true}"#, 400, "bad_request"),
        (r#"{"amount_paise": 1000"#, 400, "bad_request"),
        (r#"[1000]"#, 400, "bad_request"),
        (r#""1000""#, 400, "bad_request"),
        (
            r#"{"amount_paise": 1000, "to": "elsewhere"}"#,
            400,
            "bad_request",
        ),
        (r#"{"amount_paise": 99}"#, 422, "amount_out_of_range"),
        (r#"{"amount_paise": 10000001}"#, 422, "amount_out_of_range"),
        (r#"{"amount_paise": 50001}"#, 422, "insufficient_earnings"),
    ] {
        let reply = request_payout(&api, &owner, body).await;
        assert_error(&reply, status, code);
    }
    let stranger = request_payout(&api, &token(STRANGER), r#"{"amount_paise": 1000}"#).await;
    assert_error(&stranger, 403, "forbidden");
    let missing = api
        .post("/scouts/s-404/request-payout", &admin(), Some("{}"))
        .await;
    assert_error(&missing, 404, "not_found");
    for key in ["", "ключ"] {
        let reply = api
            .call(Call {
                method: "POST",
                path: "/scouts/s-1/request-payout",
                token: Some(&owner),
                body: Some(r#"{"amount_paise": 1000}"#),
                headers: vec![("Idempotency-Key", key)],
                ..Call::default()
            })
            .await;
        assert_eq!(reply.status, 400, "{key:?}: {:?}", reply.body);
    }
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn complete_order_pays_the_seller_once() {
    let (api, store) = world().await;
    let done = api.patch("/orders/o-1/complete", &token(BUYER)).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["order"]["status"], "completed");
    assert_eq!(done.body["order"]["order_id"], "o-1");
    let payout = &done.body["payout"];
    assert_eq!(payout["payout_type"], "seller_payout");
    assert_eq!(payout["user_id"], SELLER);
    assert_eq!(payout["amount_paise"], 120_000);
    assert_eq!(payout["order_id"], "o-1");
    assert_eq!(
        payout["payout_id"],
        Order::seller_payout_id("o-1").to_string()
    );
    assert_eq!(done.body["order"]["payout_id"], payout["payout_id"]);
    assert_eq!(done.body["no_payout_reason"], Value::Null);

    let again = api.patch("/orders/o-1/complete", &admin()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["payout"], done.body["payout"]);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.earnings_paise, Paise(56_000), "bounty credited once");

    let before = snapshot(&store).await;
    assert_error(
        &api.patch("/orders/o-4/complete", &token(BUYER)).await,
        409,
        "conflict",
    );
    assert_error(
        &api.patch("/orders/o-2/complete", &token(SELLER)).await,
        403,
        "forbidden",
    );
    assert_error(
        &api.patch("/orders/o-404/complete", &token(BUYER)).await,
        404,
        "not_found",
    );
    assert_eq!(snapshot(&store).await, before);
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

/// A free order completes with no payout and says why; a price no payout may carry
/// is a 422 that leaves the order open and everything else as it was.
#[tokio::test]
async fn complete_order_without_a_payable_price() {
    let (api, store) = world().await;
    for (order_id, price) in [("o-free", 0), ("o-huge", 10_000_001)] {
        let order: Order = serde_json::from_value(serde_json::json!({
            "order_id": order_id, "buyer_id": BUYER, "seller_id": SELLER,
            "item_price_paise": price, "status": "placed"
        }))
        .unwrap();
        assert!(store.insert_order(&order).await.unwrap());
    }

    let free = api.patch("/orders/o-free/complete", &token(BUYER)).await;
    assert_eq!(free.status, 200, "{:?}", free.body);
    assert_eq!(free.body["order"]["status"], "completed");
    assert_eq!(free.body["order"]["payout_id"], Value::Null);
    assert_eq!(free.body["payout"], Value::Null);
    assert_eq!(free.body["no_payout_reason"], "item_price_is_zero");

    let before = Snapshot::take(&store, &["s-1"], &["o-huge"], &[SELLER]).await;
    assert_error(
        &api.patch("/orders/o-huge/complete", &token(BUYER)).await,
        422,
        "amount_out_of_range",
    );
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &["o-huge"], &[SELLER]).await,
        before
    );
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn my_payouts_shows_only_mine_with_totals() {
    let (api, store) = world().await;
    for amount in [1000, 2000, 3000] {
        let body = format!(r#"{{"amount_paise": {amount}}}"#);
        assert_eq!(
            request_payout(&api, &token(SCOUT_OWNER), &body)
                .await
                .status,
            201
        );
    }
    api.patch("/orders/o-1/complete", &token(BUYER)).await;
    let mine = api
        .get("/payouts/my-payouts", "", &token(SCOUT_OWNER))
        .await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    let payouts = mine.body["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 3);
    let amounts: Vec<u64> = payouts
        .iter()
        .map(|p| p["amount_paise"].as_u64().unwrap())
        .collect();
    assert_eq!(amounts, [3000, 2000, 1000], "newest first");
    assert_eq!(mine.body["total"], 3);
    assert_eq!(mine.body["pending_paise"], 6000);
    assert_eq!(mine.body["total_paid_paise"], 0);
    assert_eq!(mine.body["next_cursor"], Value::Null);

    let seller = api
        .get("/payouts/my-payouts", "limit=1", &token(SELLER))
        .await;
    assert_eq!(seller.body["payouts"].as_array().unwrap().len(), 1);
    assert_eq!(seller.body["payouts"][0]["user_id"], SELLER);

    let nobody = api.get("/payouts/my-payouts", "", &token(STRANGER)).await;
    assert_eq!(
        (nobody.status, nobody.body["total"].as_u64()),
        (200, Some(0))
    );

    let before = snapshot(&store).await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "limit=1&limit=2",
        "cursor=forged.cursor",
    ] {
        let reply = api
            .get("/payouts/my-payouts", query, &token(SCOUT_OWNER))
            .await;
        assert_error(&reply, 400, "bad_request");
    }
    // A cursor is the listing's own: another user's is refused.
    let page = api
        .get("/payouts/my-payouts", "limit=1", &token(SCOUT_OWNER))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let stolen = api
        .get(
            "/payouts/my-payouts",
            &format!("cursor={cursor}"),
            &token(SELLER),
        )
        .await;
    assert_error(&stolen, 400, "bad_request");
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn the_admin_list_filters_and_refuses_the_rest() {
    let (api, store) = world().await;
    assert_eq!(
        request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 1000}"#)
            .await
            .status,
        201
    );
    let done = api.patch("/orders/o-2/complete", &token(BUYER)).await;
    let seller_payout = done.body["payout"]["payout_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(&format!("/payouts/{seller_payout}/cancel"), &admin(), None)
        .await;

    let all = api.get("/payouts", "", &admin()).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.body["payouts"].as_array().unwrap().len(), 2);
    assert_eq!(
        (all.body["page"].as_u64(), all.body["limit"].as_u64()),
        (Some(1), Some(50))
    );
    let cancelled = api
        .get("/payouts", "status=cancelled&page=1&limit=10", &admin())
        .await;
    let list = cancelled.body["payouts"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["payout_id"], seller_payout.as_str());

    let before = snapshot(&store).await;
    assert_error(
        &api.get("/payouts", "", &token(SCOUT_OWNER)).await,
        403,
        "forbidden",
    );
    for query in [
        "status=PENDING",
        "status=paid",
        "page=0",
        "page=x",
        "limit=500",
        "page=2&cursor=abc",
    ] {
        assert_error(
            &api.get("/payouts", query, &admin()).await,
            400,
            "bad_request",
        );
    }
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn process_retry_and_cancel_answer_with_the_payout_after_the_action() {
    let (api, store) = world().await;
    let created = request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 1000}"#).await;
    let id = created.body["payout_id"].as_str().unwrap().to_owned();

    let before = snapshot(&store).await;
    assert_error(
        &api.post(&format!("/payouts/{id}/retry"), &admin(), None)
            .await,
        409,
        "invalid_status",
    );
    assert_error(
        &api.post(&format!("/payouts/process/{id}"), &token(SCOUT_OWNER), None)
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &api.post(&format!("/payouts/{id}/cancel"), &token(SCOUT_OWNER), None)
            .await,
        403,
        "forbidden",
    );
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/payouts/process/{unknown}"),
        format!("/payouts/{unknown}/retry"),
        format!("/payouts/{unknown}/cancel"),
        "/payouts/not-a-uuid/cancel".to_owned(),
    ] {
        assert_error(&api.post(&path, &admin(), None).await, 404, "not_found");
    }
    assert_eq!(snapshot(&store).await, before);

    let paid = api
        .post(&format!("/payouts/process/{id}"), &admin(), None)
        .await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(paid.body["status"], "completed");
    assert!(paid.body["payment_reference"]
        .as_str()
        .unwrap()
        .starts_with("PAY-"));
    assert!(paid.body["completed_at"].is_string());
    assert_error(
        &api.post(&format!("/payouts/{id}/cancel"), &admin(), None)
            .await,
        409,
        "invalid_status",
    );
    assert_error(
        &api.post(&format!("/payouts/process/{id}"), &admin(), None)
            .await,
        409,
        "invalid_status",
    );

    // A declining gateway fails the next one; retry pays it as attempt 2.
    let (declining, declining_gateway) = devkit::testing::local_parts(&[
        ("GATEWAY_SIM_SUCCESS_RATE", "0"),
        ("GATEWAY_SIM_LATENCY_MS", "0"),
    ])
    .unwrap();
    let declining = Api::with_config(
        Config {
            table_name: store.table().to_owned(),
            ..declining
        },
        &declining_gateway,
        store.clone(),
    );
    let second = request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 2000}"#).await;
    let second_id = second.body["payout_id"].as_str().unwrap().to_owned();
    let failed = declining
        .post(&format!("/payouts/process/{second_id}"), &admin(), None)
        .await;
    assert_eq!(
        (failed.status, failed.body["status"].as_str()),
        (200, Some("failed"))
    );
    assert!(failed.body["failure_reason"].is_string());
    let retried = api
        .post(&format!("/payouts/{second_id}/retry"), &admin(), None)
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(
        (
            retried.body["status"].as_str(),
            retried.body["attempt"].as_u64()
        ),
        (Some("completed"), Some(2))
    );

    let third = request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 3000}"#).await;
    let third_id = third.body["payout_id"].as_str().unwrap().to_owned();
    let cancelled = api
        .post(&format!("/payouts/{third_id}/cancel"), &admin(), None)
        .await;
    assert_eq!(
        (cancelled.status, cancelled.body["status"].as_str()),
        (200, Some("cancelled"))
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise, scout.paid_paise),
        (Paise(47_000), Paise::ZERO, Paise(3_000))
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Tokens that must all be refused with 401.
fn bad_tokens() -> Vec<(&'static str, Option<String>)> {
    use base64::Engine;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let far = 4_102_444_800u64;
    let claims = format!(r#"{{"sub":"1","role":"admin","exp":{far}}}"#);
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &serde_json::json!({"sub": "1", "role": "admin", "exp": far}),
        &jsonwebtoken::EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let valid = admin();
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    vec![
        ("no header", None),
        ("empty bearer", Some(String::new())),
        ("not a jwt", Some("hello".to_owned())),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&claims)
            )),
        ),
        ("HS512", Some(hs512)),
        (
            "RS256 header",
            Some(format!(
                "{}.{}.{signature}",
                b64(r#"{"alg":"RS256","typ":"JWT"}"#),
                b64(&claims)
            )),
        ),
        (
            "forged claims",
            Some(format!(
                "{head}.{}.{signature}",
                b64(&claims.replace("\"1\"", "\"2\""))
            )),
        ),
        (
            "other secret",
            Some(devkit::token::mint("another-secret", ADMIN, Role::Admin, 600).unwrap()),
        ),
        ("expired", Some(expired_admin())),
        (
            "no exp",
            Some(signed(&serde_json::json!({"sub": "1", "role": "admin"}))),
        ),
        (
            "sub not digits",
            Some(signed(
                &serde_json::json!({"sub": "admin", "role": "admin", "exp": far}),
            )),
        ),
        (
            "unknown role",
            Some(signed(
                &serde_json::json!({"sub": "1", "role": "root", "exp": far}),
            )),
        ),
    ]
}

fn signed(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn expired_admin() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    signed(&serde_json::json!({"sub": "1", "role": "admin", "exp": now - 5}))
}

#[tokio::test]
async fn every_route_refuses_every_bad_token_and_changes_nothing() {
    let (api, store) = world().await;
    let created = request_payout(&api, &token(SCOUT_OWNER), r#"{"amount_paise": 1000}"#).await;
    let id = created.body["payout_id"].as_str().unwrap().to_owned();
    let routes = [
        ("POST", "/scouts/s-1/request-payout".to_owned()),
        ("PATCH", "/orders/o-1/complete".to_owned()),
        ("GET", "/payouts/my-payouts".to_owned()),
        ("GET", "/payouts".to_owned()),
        ("POST", format!("/payouts/process/{id}")),
        ("POST", format!("/payouts/{id}/retry")),
        ("POST", format!("/payouts/{id}/cancel")),
    ];
    let before = snapshot(&store).await;
    for (name, bad) in bad_tokens() {
        for (method, path) in &routes {
            let authorization = bad.as_ref().map(|token| format!("Bearer {token}"));
            let mut headers = Vec::new();
            if let Some(value) = authorization.as_deref() {
                headers.push(("Authorization", value));
            }
            let reply = api
                .call(Call {
                    method,
                    path,
                    headers,
                    body: Some("{}"),
                    ..Call::default()
                })
                .await;
            assert_error(&reply, 401, "unauthorized");
            assert_eq!(
                reply.headers["www-authenticate"], "Bearer",
                "{name} {method} {path}"
            );
        }
    }
    // A scheme other than Bearer is refused the same way.
    let basic = api
        .call(Call {
            method: "GET",
            path: "/payouts/my-payouts",
            headers: vec![("Authorization", "Basic dXNlcjpwYXNz")],
            ..Call::default()
        })
        .await;
    assert_error(&basic, 401, "unauthorized");

    // Signed in, but not allowed: users on admin routes, strangers on others' records.
    let user = token(STRANGER);
    for (method, path) in &routes {
        let reply = api
            .call(Call {
                method,
                path,
                token: Some(&user),
                body: Some("{}"),
                ..Call::default()
            })
            .await;
        if path.as_str() == "/payouts/my-payouts" {
            assert_eq!(reply.status, 200);
        } else {
            assert_error(&reply, 403, "forbidden");
        }
    }
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn a_numeric_sub_and_a_missing_role_are_accepted_as_a_plain_user() {
    let (api, _) = world().await;
    let far = 4_102_444_800u64;
    let numeric = signed(&serde_json::json!({"sub": SCOUT_OWNER, "exp": far}));
    let reply = api.get("/payouts/my-payouts", "", &numeric).await;
    assert_eq!(reply.status, 200);
    let as_admin = api.get("/payouts", "", &numeric).await;
    assert_eq!(as_admin.status, 403);
}

#[tokio::test]
async fn the_wrong_method_is_405_and_names_the_right_one() {
    let (api, _) = world().await;
    let request = lambda_http::request::from_str(
        &serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/payouts", "rawQueryString": "",
            "headers": {"authorization": format!("Bearer {}", admin())},
            "requestContext": {"http": {"method": "DELETE", "path": "/payouts", "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "t"}, "accountId": "1", "apiId": "a",
                "domainName": "d", "domainPrefix": "d", "requestId": "r", "routeKey": "$default",
                "stage": "$default", "time": "t", "timeEpoch": 0},
            "isBase64Encoded": false
        })
        .to_string(),
    )
    .unwrap();
    let reply = api.send(api::Endpoint::ListPayouts, request).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "GET");
}

#[tokio::test]
async fn paging_through_120_payouts_by_cursor_and_by_page_sees_each_once_newest_first() {
    let (api, store) = world().await;
    store
        .insert_scout(&service::scout::Scout::with_earnings(
            "s-big",
            42,
            Paise(10_000_000),
        ))
        .await
        .unwrap();
    let owner = token(42);
    let mut created = Vec::new();
    for index in 0..120u64 {
        let body = format!(r#"{{"amount_paise": {}}}"#, 100 + index);
        let reply = api
            .post("/scouts/s-big/request-payout", &owner, Some(&body))
            .await;
        assert_eq!(reply.status, 201);
        created.push(reply.body["payout_id"].as_str().unwrap().to_owned());
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut by_cursor = Vec::new();
    let mut query = "limit=25".to_owned();
    loop {
        let page = api.get("/payouts/my-payouts", &query, &owner).await;
        assert_eq!(page.status, 200);
        by_cursor.extend(
            page.body["payouts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["payout_id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=25&cursor={cursor}"),
            None => break,
        }
        assert_eq!(page.body["total"], 120);
    }
    assert_eq!(by_cursor, newest_first);

    let mut by_page = Vec::new();
    for page in 1..=5 {
        let reply = api
            .get(
                "/payouts",
                &format!("status=pending&page={page}&limit=25"),
                &admin(),
            )
            .await;
        assert_eq!(reply.status, 200);
        by_page.extend(
            reply.body["payouts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["payout_id"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(by_page, newest_first);
    let past_the_end = api
        .get("/payouts", "status=pending&page=6&limit=25", &admin())
        .await;
    assert_eq!(past_the_end.body["payouts"], serde_json::json!([]));

    let mine = api.get("/payouts/my-payouts", "limit=100", &owner).await;
    let listed: u64 = mine.body["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount_paise"].as_u64().unwrap())
        .sum();
    let rest = api
        .get(
            "/payouts/my-payouts",
            &format!(
                "limit=100&cursor={}",
                mine.body["next_cursor"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    let listed_rest: u64 = rest.body["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount_paise"].as_u64().unwrap())
        .sum();
    assert_eq!(
        mine.body["pending_paise"].as_u64(),
        Some(listed + listed_rest)
    );
    assert_books_balance(&store, &["s-big"], &[]).await;
}

#[tokio::test]
async fn concurrent_requests_over_the_api_never_overdraw() {
    let (api, store) = world().await;
    let api = std::sync::Arc::new(api);
    let owner = token(SCOUT_OWNER);
    let calls = (0..60).map(|_| {
        let (api, owner) = (api.clone(), owner.clone());
        tokio::spawn(async move { request_payout(&api, &owner, r#"{"amount_paise": 1000}"#).await })
    });
    let mut statuses = std::collections::BTreeMap::new();
    for call in calls {
        let reply = call.await.unwrap();
        *statuses.entry(reply.status).or_insert(0) += 1;
        if reply.status != 201 {
            assert!(
                matches!(reply.code(), "insufficient_earnings" | "conflict"),
                "{:?}",
                reply.body
            );
        }
    }
    assert_eq!(statuses.get(&201), Some(&50), "{statuses:?}");
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise::ZERO, Paise(50_000))
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400_and_changes_nothing() {
    use base64::Engine;
    let (api, store) = world().await;
    let before = snapshot(&store).await;
    // API Gateway base64-encodes a body it cannot pass as text.
    let body = base64::engine::general_purpose::STANDARD.encode([0x6d, 0xff, 0x15, 0x04, 0xfe]);
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "POST /scouts/{scout_id}/request-payout",
        "rawPath": "/scouts/s-1/request-payout", "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {}", token(SCOUT_OWNER)),
                    "content-type": "application/json"},
        "pathParameters": {"scout_id": "s-1"},
        "requestContext": {"http": {"method": "POST", "path": "/scouts/s-1/request-payout",
            "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
            "requestId": "r", "routeKey": "POST /scouts/{scout_id}/request-payout",
            "stage": "$default", "time": "t", "timeEpoch": 0},
        "body": body,
        "isBase64Encoded": true
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let reply = api.send(api::Endpoint::RequestScoutPayout, request).await;
    assert_error(&reply, 400, "bad_request");
    assert_eq!(snapshot(&store).await, before);
}
