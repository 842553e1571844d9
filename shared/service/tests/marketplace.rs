//! The marketplace's door through `App::handle`, as API Gateway invokes it, against
//! DynamoDB Local: `PUT /scouts/{id}`, `PUT /orders/{id}` and `POST
//! /scouts/{id}/earnings` — each happy path, each refusal with the data left as it was,
//! idempotent repeats, forward-only statuses, who may call them, and the books after a
//! mix of credits, debits, completions and payouts.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, Snapshot};
use devkit::token::{mint, mint_service};
use domain::actor::Role;
use domain::money::Paise;
use domain::order::OrderStatus;
use serde_json::{json, Value};
use store::Store;

const SCOUT_OWNER: u64 = 7;
const SELLER: u64 = 8;
const BUYER: u64 = 9;
const ADMIN: u64 = 1;

fn service() -> String {
    mint_service(DEV_JWT_SECRET, "marketplace-test", 600).unwrap()
}

fn user(id: u64) -> String {
    mint(DEV_JWT_SECRET, id, Role::User, 600).unwrap()
}

fn admin() -> String {
    mint(DEV_JWT_SECRET, ADMIN, Role::Admin, 600).unwrap()
}

async fn world() -> (Api, Store) {
    let store = fresh_store().await;
    (Api::new(store.clone()), store)
}

fn assert_error(reply: &Reply, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.code(), code, "{:?}", reply.body);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    if let Some(field) = field {
        assert_eq!(reply.body["error"]["field"], field, "{:?}", reply.body);
    }
}

async fn put_scout(api: &Api, scout_id: &str, body: Value) -> Reply {
    api.put(
        &format!("/scouts/{scout_id}"),
        &service(),
        &body.to_string(),
    )
    .await
}

async fn put_order(api: &Api, order_id: &str, body: Value) -> Reply {
    api.put(
        &format!("/orders/{order_id}"),
        &service(),
        &body.to_string(),
    )
    .await
}

async fn earnings(api: &Api, scout_id: &str, key: Option<&str>, body: Value) -> Reply {
    let path = format!("/scouts/{scout_id}/earnings");
    let body = body.to_string();
    let token = service();
    api.call(Call {
        method: "POST",
        path: &path,
        token: Some(&token),
        body: Some(&body),
        headers: key
            .map(|key| ("Idempotency-Key", key))
            .into_iter()
            .collect(),
        ..Call::default()
    })
    .await
}

fn order_body(status: &str) -> Value {
    json!({
        "buyer_id": BUYER, "seller_id": SELLER, "item_price_paise": 120_000,
        "currency": "INR", "status": status, "scout_id": "s-1", "scout_bounty_paise": 6_000
    })
}

async fn with_scout(api: &Api) {
    let created = put_scout(api, "s-1", json!({"user_id": SCOUT_OWNER, "active": true})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
}

#[tokio::test]
async fn a_scout_is_created_then_changed_and_a_repeat_changes_nothing() {
    let (api, store) = world().await;
    let body = json!({"user_id": SCOUT_OWNER, "display_name": "Asha", "active": true});
    let created = put_scout(&api, "s-1", body.clone()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body,
        json!({
            "scout_id": "s-1", "user_id": SCOUT_OWNER, "display_name": "Asha", "active": true,
            "earnings_paise": 0, "reserved_paise": 0, "paid_paise": 0, "credited_paise": 0
        })
    );
    let stored = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(stored.display_name.as_deref(), Some("Asha"));
    assert!(stored.active);

    let again = put_scout(&api, "s-1", body).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body, created.body);
    assert_eq!(store.scout("s-1").await.unwrap().unwrap(), stored);

    // A PUT says everything: the name left out is removed.
    let changed = put_scout(
        &api,
        "s-1",
        json!({"user_id": SCOUT_OWNER, "active": false}),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["display_name"], Value::Null);
    assert_eq!(changed.body["active"], false);
    let stored = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!((stored.display_name, stored.active), (None, false));
}

#[tokio::test]
async fn a_scout_refused_is_left_as_it_was() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let before = store.scout("s-1").await.unwrap();

    let owner = put_scout(&api, "s-1", json!({"user_id": 99, "active": true})).await;
    assert_error(&owner, 409, "owner_fixed", Some("user_id"));
    let refusals = [
        (
            json!({"user_id": SCOUT_OWNER, "nickname": "x"}),
            "bad_request",
            None,
        ),
        (json!({}), "invalid_field", Some("user_id")),
        (json!({"user_id": "7"}), "invalid_field", Some("user_id")),
        (json!({"user_id": -7}), "invalid_field", Some("user_id")),
        (json!({"user_id": 7.5}), "invalid_field", Some("user_id")),
        (
            json!({"user_id": 7, "display_name": ""}),
            "invalid_field",
            Some("display_name"),
        ),
        (
            json!({"user_id": 7, "display_name": "x".repeat(101)}),
            "invalid_field",
            Some("display_name"),
        ),
        (
            json!({"user_id": 7, "display_name": "a\u{7}b"}),
            "invalid_field",
            Some("display_name"),
        ),
        (
            json!({"user_id": 7, "active": "yes"}),
            "invalid_field",
            Some("active"),
        ),
    ];
    for (body, code, field) in refusals {
        for scout in ["s-1", "s-new"] {
            let reply = put_scout(&api, scout, body.clone()).await;
            assert_error(&reply, 400, code, field);
        }
    }
    let not_json = api.put("/scouts/s-new", &service(), "{").await;
    assert_error(&not_json, 400, "bad_request", None);
    assert_eq!(store.scout("s-1").await.unwrap(), before);
    assert_eq!(store.scout("s-new").await.unwrap(), None);
}

#[tokio::test]
async fn a_deactivated_scout_requests_nothing_and_keeps_what_it_has() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let credit = json!({"direction": "credit", "amount_paise": 50_000, "reason": "bonus"});
    assert_eq!(earnings(&api, "s-1", Some("k-1"), credit).await.status, 201);
    let off = put_scout(
        &api,
        "s-1",
        json!({"user_id": SCOUT_OWNER, "active": false}),
    )
    .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    let before = Snapshot::take(&store, &["s-1"], &[], &[SCOUT_OWNER]).await;

    // A stated amount (no read first: the write's condition refuses it) and
    // everything available (read first): both refused, nothing reserved.
    for body in [r#"{"amount_paise": 1000}"#, "{}"] {
        let refused = api
            .post("/scouts/s-1/request-payout", &user(SCOUT_OWNER), Some(body))
            .await;
        assert_error(&refused, 409, "scout_inactive", None);
        let by_admin = api
            .post("/scouts/s-1/request-payout", &admin(), Some(body))
            .await;
        assert_error(&by_admin, 409, "scout_inactive", None);
    }
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &[], &[SCOUT_OWNER]).await,
        before
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.earnings_paise, Paise(50_000));

    let on = put_scout(&api, "s-1", json!({"user_id": SCOUT_OWNER, "active": true})).await;
    assert_eq!(on.body["active"], true);
    let requested = api
        .post(
            "/scouts/s-1/request-payout",
            &user(SCOUT_OWNER),
            Some(r#"{"amount_paise": 1000}"#),
        )
        .await;
    assert_eq!(requested.status, 201, "{:?}", requested.body);
    assert_books_balance(&store, &["s-1"], &[SCOUT_OWNER]).await;
}

#[tokio::test]
async fn an_order_moves_forward_to_completion_once() {
    let (api, store) = world().await;
    with_scout(&api).await;

    let created = put_order(&api, "o-1", order_body("placed")).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["order"]["status"], "placed");
    assert_eq!(created.body["order"]["currency"], "INR");
    assert_eq!(created.body["payout"], Value::Null);
    let stored = store.order("o-1").await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);

    let again = put_order(&api, "o-1", order_body("placed")).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        store.order("o-1").await.unwrap().unwrap(),
        stored,
        "a repeat writes nothing"
    );

    // Steps may be skipped forward; a new price is taken while the order is open.
    let delivered = put_order(
        &api,
        "o-1",
        json!({"buyer_id": BUYER, "seller_id": SELLER, "item_price_paise": 100_000,
               "status": "delivered", "scout_id": "s-1", "scout_bounty_paise": 5_000}),
    )
    .await;
    assert_eq!(delivered.status, 200, "{:?}", delivered.body);
    assert_eq!(delivered.body["order"]["status"], "delivered");
    let stored = store.order("o-1").await.unwrap().unwrap();
    assert_eq!(
        (stored.revision, stored.item_price_paise),
        (2, Paise(100_000))
    );

    for back in ["placed", "shipped"] {
        let mut body = order_body(back);
        body["item_price_paise"] = json!(100_000);
        body["scout_bounty_paise"] = json!(5_000);
        let refused = put_order(&api, "o-1", body).await;
        assert_error(&refused, 409, "status_backwards", Some("status"));
    }
    assert_eq!(store.order("o-1").await.unwrap().unwrap(), stored);

    let completed_body = json!({"buyer_id": BUYER, "seller_id": SELLER,
        "item_price_paise": 100_000, "status": "completed", "scout_id": "s-1",
        "scout_bounty_paise": 5_000});
    let completed = put_order(&api, "o-1", completed_body.clone()).await;
    assert_eq!(completed.status, 200, "{:?}", completed.body);
    assert_eq!(completed.body["order"]["status"], "completed");
    let payout = &completed.body["payout"];
    assert_eq!(payout["amount_paise"], 100_000);
    assert_eq!(payout["user_id"], SELLER);
    assert_eq!(payout["order_id"], "o-1");
    assert_eq!(
        payout["payout_id"],
        domain::order::Order::seller_payout_id("o-1").to_string()
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.earnings_paise,
        Paise(5_000),
        "the bounty, credited once"
    );

    // Completing again, by either door, is the same completion.
    let replay = put_order(&api, "o-1", completed_body.clone()).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body["payout"]["payout_id"], payout["payout_id"]);
    let patched = api.patch("/orders/o-1/complete", &user(BUYER)).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["payout"]["payout_id"], payout["payout_id"]);
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(5_000)
    );
    assert_eq!(store.summary(SELLER).await.unwrap().total, 1);

    // Settled: nothing about it changes any more.
    let before = Snapshot::take(&store, &["s-1"], &["o-1"], &[SELLER, SCOUT_OWNER]).await;
    let changes = [
        ("item_price_paise", json!(90_000)),
        ("scout_bounty_paise", json!(9_000)),
        ("seller_id", json!(12)),
        ("status", json!("cancelled")),
        ("status", json!("delivered")),
    ];
    for (field, value) in changes {
        let mut body = completed_body.clone();
        body[field] = value;
        let refused = put_order(&api, "o-1", body).await;
        assert_error(&refused, 409, "order_closed", Some(field));
    }
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &["o-1"], &[SELLER, SCOUT_OWNER]).await,
        before
    );
    assert_books_balance(&store, &["s-1"], &[SELLER, BUYER]).await;
}

#[tokio::test]
async fn an_order_first_seen_completed_is_created_and_completed() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let done = put_order(&api, "o-late", order_body("completed")).await;
    assert_eq!(done.status, 201, "{:?}", done.body);
    assert_eq!(done.body["order"]["status"], "completed");
    assert_eq!(done.body["payout"]["amount_paise"], 120_000);
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().credited_paise,
        Paise(6_000)
    );
    let again = put_order(&api, "o-late", order_body("completed")).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["payout"]["payout_id"],
        done.body["payout"]["payout_id"]
    );
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn a_cancelled_order_pays_nobody_and_stays_cancelled() {
    let (api, store) = world().await;
    with_scout(&api).await;
    assert_eq!(
        put_order(&api, "o-2", order_body("shipped")).await.status,
        201
    );
    let cancelled = put_order(&api, "o-2", order_body("cancelled")).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["order"]["status"], "cancelled");
    let before = Snapshot::take(&store, &["s-1"], &["o-2"], &[SELLER]).await;

    let completed = put_order(&api, "o-2", order_body("completed")).await;
    assert_error(&completed, 409, "order_closed", Some("status"));
    let patched = api.patch("/orders/o-2/complete", &user(BUYER)).await;
    assert_error(&patched, 409, "conflict", None);
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &["o-2"], &[SELLER]).await,
        before
    );
    assert_eq!(store.summary(SELLER).await.unwrap().total, 0);
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().credited_paise,
        Paise::ZERO
    );
}

#[tokio::test]
async fn an_order_refused_is_not_stored() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let with = |field: &str, value: Value| {
        let mut body = order_body("placed");
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = order_body("placed");
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let refusals = [
        (with("discount", json!(1)), 400, "bad_request", None),
        (
            with("item_price_paise", json!(-100)),
            400,
            "invalid_field",
            Some("item_price_paise"),
        ),
        (
            with("item_price_paise", json!(99.5)),
            400,
            "invalid_field",
            Some("item_price_paise"),
        ),
        (
            with("item_price_paise", json!("100")),
            400,
            "invalid_field",
            Some("item_price_paise"),
        ),
        (
            without("item_price_paise"),
            400,
            "invalid_field",
            Some("item_price_paise"),
        ),
        (
            with("item_price_paise", json!(0)),
            422,
            "out_of_range",
            Some("item_price_paise"),
        ),
        (
            with("item_price_paise", json!(u64::MAX)),
            422,
            "out_of_range",
            Some("item_price_paise"),
        ),
        (
            with("scout_bounty_paise", json!(120_001)),
            422,
            "out_of_range",
            Some("scout_bounty_paise"),
        ),
        (
            with("scout_id", json!("s-unknown")),
            422,
            "unknown_scout",
            Some("scout_id"),
        ),
        (
            without("scout_id"),
            400,
            "invalid_field",
            Some("scout_bounty_paise"),
        ),
        (
            with("currency", json!("USD")),
            400,
            "invalid_field",
            Some("currency"),
        ),
        (
            with("status", json!("returned")),
            400,
            "invalid_field",
            Some("status"),
        ),
        (without("status"), 400, "invalid_field", Some("status")),
        (
            with("buyer_id", json!("nine")),
            400,
            "invalid_field",
            Some("buyer_id"),
        ),
        (
            without("seller_id"),
            400,
            "invalid_field",
            Some("seller_id"),
        ),
    ];
    for (body, status, code, field) in refusals {
        let reply = put_order(&api, "o-bad", body.clone()).await;
        assert_error(&reply, status, code, field);
        assert_eq!(store.order("o-bad").await.unwrap(), None, "{body}");
    }
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.credited_paise, Paise::ZERO);
}

#[tokio::test]
async fn earnings_are_credited_and_debited_once_per_key() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let credit = json!({"direction": "credit", "amount_paise": 30_000, "reason": "bonus"});
    let first = earnings(&api, "s-1", Some("bonus-2026-12"), credit.clone()).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["amount_paise"], 30_000);
    assert_eq!(first.body["direction"], "credit");
    assert_eq!(first.body["reason"], "bonus");
    let replay = earnings(&api, "s-1", Some("bonus-2026-12"), credit.clone()).await;
    assert_eq!(replay.status, 200, "{:?}", replay.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, first.body);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.credited_paise),
        (Paise(30_000), Paise(30_000))
    );

    let before = store.scout("s-1").await.unwrap();
    let other = json!({"direction": "credit", "amount_paise": 30_001, "reason": "bonus"});
    let reused = earnings(&api, "s-1", Some("bonus-2026-12"), other).await;
    assert_error(&reused, 422, "idempotency_key_reused", None);
    let keyless = earnings(&api, "s-1", None, credit.clone()).await;
    assert_error(&keyless, 400, "bad_request", None);
    let too_much = json!({"direction": "debit", "amount_paise": 30_001, "reason": "chargeback"});
    let overdrawn = earnings(&api, "s-1", Some("cb-1"), too_much).await;
    assert_error(&overdrawn, 422, "insufficient_earnings", None);
    let refusals = [
        (
            json!({"direction": "refund", "amount_paise": 1, "reason": "x"}),
            "direction",
        ),
        (
            json!({"direction": "credit", "amount_paise": 0, "reason": "x"}),
            "amount_paise",
        ),
        (
            json!({"direction": "credit", "amount_paise": -5, "reason": "x"}),
            "amount_paise",
        ),
        (
            json!({"direction": "credit", "amount_paise": 1, "reason": "Big Bonus"}),
            "reason",
        ),
        (json!({"direction": "credit", "amount_paise": 1}), "reason"),
    ];
    for (body, field) in refusals {
        let reply = earnings(&api, "s-1", Some("k-bad"), body).await;
        assert_error(&reply, 400, "invalid_field", Some(field));
    }
    let absurd = json!({"direction": "credit", "amount_paise": 10_000_000_001_u64, "reason": "x"});
    let reply = earnings(&api, "s-1", Some("k-bad"), absurd).await;
    assert_error(&reply, 422, "out_of_range", Some("amount_paise"));
    let missing = earnings(&api, "s-none", Some("k-1"), credit).await;
    assert_error(&missing, 404, "not_found", None);
    assert_eq!(store.scout("s-1").await.unwrap(), before);
    assert_eq!(store.earnings_entry("s-1", "k-bad").await.unwrap(), None);
    assert_eq!(store.earnings_entry("s-1", "cb-1").await.unwrap(), None);

    // A debit up to what is available, and no further.
    let debit = json!({"direction": "debit", "amount_paise": 30_000, "reason": "chargeback"});
    let taken = earnings(&api, "s-1", Some("cb-2"), debit.clone()).await;
    assert_eq!(taken.status, 201, "{:?}", taken.body);
    let replayed = earnings(&api, "s-1", Some("cb-2"), debit).await;
    assert_eq!(
        replayed.status, 200,
        "a replay of a debit that emptied the balance"
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.credited_paise),
        (Paise::ZERO, Paise::ZERO)
    );
    assert_books_balance(&store, &["s-1"], &[]).await;
}

/// Bonuses, chargebacks, completed orders' bounties and payouts, mixed, some sent
/// twice at once: every balance still adds up and matches the payouts.
#[tokio::test]
async fn the_books_balance_after_credits_debits_completions_and_payouts() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let credit = json!({"direction": "credit", "amount_paise": 40_000, "reason": "bonus"});
    let (a, b) = tokio::join!(
        earnings(&api, "s-1", Some("c-1"), credit.clone()),
        earnings(&api, "s-1", Some("c-1"), credit.clone()),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{:?} {:?}", a.body, b.body);
    for index in 0..3 {
        let order_id = format!("o-{index}");
        assert_eq!(
            put_order(&api, &order_id, order_body("placed"))
                .await
                .status,
            201
        );
        let (path, buyer) = (format!("/orders/{order_id}/complete"), user(BUYER));
        let (by_put, by_patch) = tokio::join!(
            put_order(&api, &order_id, order_body("completed")),
            api.patch(&path, &buyer),
        );
        assert_eq!(by_put.status, 200, "{:?}", by_put.body);
        assert_eq!(by_patch.status, 200, "{:?}", by_patch.body);
        assert_eq!(
            by_put.body["payout"]["payout_id"],
            by_patch.body["payout"]["payout_id"]
        );
    }
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.earnings_paise, Paise(40_000 + 3 * 6_000));

    let requested = api
        .post(
            "/scouts/s-1/request-payout",
            &user(SCOUT_OWNER),
            Some(r#"{"amount_paise": 20000}"#),
        )
        .await;
    assert_eq!(requested.status, 201, "{:?}", requested.body);
    let payout_id = requested.body["payout_id"].as_str().unwrap().to_owned();
    let paid = api
        .post(&format!("/payouts/process/{payout_id}"), &admin(), None)
        .await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    // The rest is available to take back; what is reserved or paid is not.
    let debit = json!({"direction": "debit", "amount_paise": 38_001, "reason": "chargeback"});
    let over = earnings(&api, "s-1", Some("d-1"), debit).await;
    assert_error(&over, 422, "insufficient_earnings", None);
    let debit = json!({"direction": "debit", "amount_paise": 38_000, "reason": "chargeback"});
    assert_eq!(earnings(&api, "s-1", Some("d-2"), debit).await.status, 201);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.earnings_paise, Paise::ZERO);
    assert_eq!(scout.credited_paise, Paise(20_000));
    assert_eq!(scout.paid_paise, Paise(20_000));
    assert_eq!(store.summary(SELLER).await.unwrap().total, 3);
    assert_books_balance(&store, &["s-1"], &[SELLER, SCOUT_OWNER]).await;
}

/// A completion that read the order before the marketplace changed it is refused,
/// so it never settles the old price or bounty.
#[tokio::test]
async fn a_completion_of_a_changed_order_is_refused() {
    let (api, store) = world().await;
    with_scout(&api).await;
    assert_eq!(
        put_order(&api, "o-1", order_body("placed")).await.status,
        201
    );
    let read = store.order("o-1").await.unwrap().unwrap();
    let mut changed = order_body("placed");
    changed["scout_bounty_paise"] = json!(1_000);
    assert_eq!(put_order(&api, "o-1", changed).await.status, 200);
    let stale = store::OrderCompletion {
        order_id: "o-1",
        read_revision: read.revision,
        read_status: read.status,
        payout: None,
        bounty: read.bounty(),
        now: domain::time::Timestamp::now(),
    };
    assert!(matches!(
        store.complete_order(stale).await,
        Err(store::CreateRefused::OrderNotOpen)
    ));
    let order = store.order("o-1").await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Placed);
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().credited_paise,
        Paise::ZERO
    );
}

#[tokio::test]
async fn only_the_marketplace_calls_its_routes_and_it_calls_nothing_else() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let scout_body =
        json!({"user_id": SCOUT_OWNER, "display_name": "Mallory", "active": true}).to_string();
    let order = order_body("completed").to_string();
    let credit = json!({"direction": "credit", "amount_paise": 1, "reason": "bonus"}).to_string();
    let before = Snapshot::take(&store, &["s-1"], &["o-1"], &[SELLER, SCOUT_OWNER]).await;
    for token in [user(SCOUT_OWNER), user(SELLER), admin()] {
        for (method, path, body) in [
            ("PUT", "/scouts/s-1", &scout_body),
            ("PUT", "/orders/o-1", &order),
            ("POST", "/scouts/s-1/earnings", &credit),
        ] {
            let reply = api
                .call(Call {
                    method,
                    path,
                    token: Some(&token),
                    body: Some(body),
                    headers: vec![("Idempotency-Key", "k-1")],
                    ..Call::default()
                })
                .await;
            assert_error(&reply, 403, "forbidden", None);
            let anonymous = api
                .call(Call {
                    method,
                    path,
                    body: Some(body),
                    ..Call::default()
                })
                .await;
            assert_error(&anonymous, 401, "unauthorized", None);
        }
    }
    let service = service();
    for (method, path) in [
        ("POST", "/scouts/s-1/request-payout"),
        ("GET", "/payouts/my-payouts"),
        ("GET", "/payouts"),
        ("PATCH", "/orders/o-1/complete"),
        ("GET", "/payouts/stats"),
    ] {
        let reply = api
            .call(Call {
                method,
                path,
                token: Some(&service),
                body: Some("{}"),
                ..Call::default()
            })
            .await;
        assert_error(&reply, 403, "forbidden", None);
    }
    assert_eq!(
        Snapshot::take(&store, &["s-1"], &["o-1"], &[SELLER, SCOUT_OWNER]).await,
        before
    );
}

/// The money the marketplace moves is on the events stream once each: a completion as
/// `order.completed` (with its payout's `payout.requested`), a credit and a debit as
/// `scout.credited` and `scout.debited`; a replay, a repeated PUT and a profile change
/// add nothing.
#[tokio::test]
async fn completions_credits_and_debits_are_published_once() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let credit = json!({"direction": "credit", "amount_paise": 10_000, "reason": "bonus"});
    let debit = json!({"direction": "debit", "amount_paise": 4_000, "reason": "chargeback"});
    assert!(put_order(&api, "o-1", order_body("placed")).await.status < 300);
    assert!(put_order(&api, "o-1", order_body("shipped")).await.status < 300);
    for _ in 0..2 {
        assert!(
            earnings(&api, "s-1", Some("c-1"), credit.clone())
                .await
                .status
                < 300
        );
        assert!(
            earnings(&api, "s-1", Some("d-1"), debit.clone())
                .await
                .status
                < 300
        );
        assert!(put_order(&api, "o-1", order_body("completed")).await.status < 300);
        let renamed = json!({"user_id": SCOUT_OWNER, "display_name": "A", "active": true});
        assert!(put_scout(&api, "s-1", renamed).await.status < 300);
    }
    let published = devkit::testing::publish_table_stream(
        &store,
        &json!({"source": ["payouts"], "detail-type": [{"anything-but": ["payout.processing"]}]}),
    )
    .await;
    let mut types: Vec<&str> = published
        .iter()
        .map(|event| event["detail-type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "order.completed",
            "payout.requested",
            "scout.credited",
            "scout.debited"
        ]
    );
    let detail = |kind: &str| {
        published
            .iter()
            .find(|event| event["detail-type"] == kind)
            .map(|event| event["detail"].clone())
            .unwrap()
    };
    let completed = detail("order.completed");
    assert_eq!(completed["order_id"], "o-1");
    assert_eq!(completed["seller_id"], SELLER);
    assert_eq!(completed["item_price_paise"], 120_000);
    assert_eq!(completed["scout_id"], "s-1");
    assert_eq!(completed["scout_bounty_paise"], 6_000);
    assert_eq!(
        completed["payout_id"],
        domain::order::Order::seller_payout_id("o-1").to_string()
    );
    let credited = detail("scout.credited");
    assert_eq!(
        (
            credited["scout_id"].as_str(),
            credited["amount_paise"].as_u64()
        ),
        (Some("s-1"), Some(10_000))
    );
    assert_eq!(credited["reason"], "bonus");
    assert_eq!(detail("scout.debited")["amount_paise"], 4_000);
}

/// A completing PUT racing another report of the same order: whichever wins, the
/// order is completed on exactly what the completing PUT sent, or that PUT is refused;
/// the scout is credited the completed order's bounty, once.
#[tokio::test]
async fn a_completion_racing_another_report_settles_only_what_it_sent() {
    let (api, store) = world().await;
    with_scout(&api).await;
    let mut completions = 0;
    let mut credited = 0;
    for index in 0..12 {
        let order_id = format!("o-race-{index}");
        assert_eq!(
            put_order(&api, &order_id, order_body("placed"))
                .await
                .status,
            201
        );
        let mut completing = order_body("completed");
        completing["scout_bounty_paise"] = json!(5_000);
        let mut other = order_body("shipped");
        other["scout_bounty_paise"] = json!(7_000);
        let (done, moved) = tokio::join!(
            put_order(&api, &order_id, completing.clone()),
            put_order(&api, &order_id, other),
        );
        let stored = store.order(&order_id).await.unwrap().unwrap();
        match done.status {
            200 => {
                assert_eq!(done.body["order"]["scout_bounty_paise"], 5_000);
                assert_eq!(stored.status, OrderStatus::Completed);
                assert_eq!(stored.scout_bounty_paise, Some(Paise(5_000)));
                assert!(
                    moved.status == 409 || moved.status == 200,
                    "{:?}",
                    moved.body
                );
                completions += 1;
                credited += 5_000;
            }
            409 => {
                assert_ne!(stored.status, OrderStatus::Completed, "{:?}", done.body);
                // Sent again, it completes on what it says.
                let again = put_order(&api, &order_id, completing).await;
                assert_eq!(again.status, 200, "{:?}", again.body);
                assert_eq!(again.body["order"]["scout_bounty_paise"], 5_000);
                completions += 1;
                credited += 5_000;
            }
            other => panic!("{other}: {:?}", done.body),
        }
    }
    assert_eq!(completions, 12);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.credited_paise, Paise(credited));
    assert_eq!(store.summary(SELLER).await.unwrap().total, 12);
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}
