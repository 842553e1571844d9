//! Payout accounts through the API (`PUT`/`GET /me/payout-account`, `GET
//! /users/{id}/payout-account`) against DynamoDB Local: validation as RazorpayX
//! validates, nothing stored on a refusal, and the full number in no response and no
//! log line.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::testing::fresh_store;
use devkit::token::mint;
use domain::actor::Role;
use serde_json::{json, Value};
use store::Store;

const NUMBER: &str = "765432123456789";

/// The tests of this file run one at a time: one of them captures the log lines with a
/// subscriber of its own, and tracing's per-callsite interest, registered by whichever
/// thread reaches a log line first, can miss that subscriber when another test reaches
/// the same line at the same moment (it did, once the save began with a KMS call).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn token(user: u64, role: Role) -> String {
    mint(DEV_JWT_SECRET, user, role, 600).unwrap()
}

async fn put(api: &Api, user: u64, body: &Value) -> Reply {
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

fn bank() -> Value {
    json!({"type": "bank_account", "name": "Asha Rao", "ifsc": "HDFC0000053",
           "account_number": NUMBER, "email": "asha@example.com"})
}

#[tokio::test]
async fn each_bad_field_is_a_400_naming_it_and_nothing_is_stored() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    let with = |field: &str, value: Value| {
        let mut body = bank();
        body[field] = value;
        body
    };
    let vpa = |address: &str| json!({"type": "vpa", "name": "Asha Rao", "address": address});
    for (body, field) in [
        (with("ifsc", json!("HDFC000053")), "ifsc"),
        (with("ifsc", json!("HDFC1000053")), "ifsc"),
        (with("account_number", json!("1234")), "account_number"),
        (
            with("account_number", json!("76543-2123")),
            "account_number",
        ),
        (with("name", json!("As")), "name"),
        (with("name", json!("Asha <b>")), "name"),
        (with("type", json!("wallet")), "type"),
        (with("email", json!("asha")), "email"),
        (vpa("asha.okhdfc"), "address"),
        (vpa("a@b@c"), "address"),
        (json!({"type": "vpa", "name": "Asha Rao"}), "address"),
    ] {
        let reply = put(&api, 7, &body).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.code(), "invalid_payout_account", "{body}");
        assert_eq!(reply.body["error"]["field"], field, "{body}");
        assert!(
            !reply.body.to_string().contains("76543"),
            "{:?}",
            reply.body
        );
        assert_eq!(store.payout_account(7).await.unwrap(), None, "{body}");
    }
    // Not JSON at all is the ordinary 400.
    let reply = api
        .call(Call {
            method: "PUT",
            path: "/me/payout-account",
            token: Some(&token(7, Role::User)),
            body: Some("{not json"),
            ..Call::default()
        })
        .await;
    assert_eq!(reply.code(), "bad_request");
    assert_eq!(store.payout_account(7).await.unwrap(), None);
}

#[tokio::test]
async fn the_account_is_only_ever_shown_masked() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    // The most an operator can ask for: everything, at TRACE.
    let (logs, _guard) = devkit::testing::CapturedLogs::start("trace");

    let me = token(7, Role::User);
    let missing = api.get("/me/payout-account", "", &me).await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "payout_account_missing")
    );

    let saved = put(&api, 7, &bank()).await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(
        saved.body,
        json!({"user_id": 7, "type": "bank_account", "name": "Asha Rao",
               "ifsc": "HDFC0000053", "account_number": "XXXXXXXXXXX6789",
               "email": "asha@example.com", "revision": 1,
               "updated_at": saved.body["updated_at"]})
    );
    let mine = api.get("/me/payout-account", "", &me).await;
    let mut shown = saved.body.clone();
    shown["revisions"] = json!([{"user_id": 7, "revision": 1,
        "saved_at": saved.body["updated_at"], "saved_by": 7, "type": "bank_account",
        "name": "Asha Rao", "ifsc": "HDFC0000053", "destination": "XXXXXXXXXXX6789",
        "email": "as***@example.com", "changed": false}]);
    assert_eq!(mine.body, shown);
    let by_admin = api
        .get("/users/7/payout-account", "", &token(1, Role::Admin))
        .await;
    assert_eq!(by_admin.body, shown);
    let stored = store.payout_account(7).await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);

    // A UPI address replaces it; shown as its first two characters and the handle.
    let vpa = json!({"type": "vpa", "name": "Asha Rao", "address": "asha@okhdfc"});
    let replaced = put(&api, 7, &vpa).await;
    assert_eq!(replaced.body["address"], "as***@okhdfc");
    assert_eq!(replaced.body.get("account_number"), None);
    assert_eq!(store.payout_account(7).await.unwrap().unwrap().revision, 2);

    let text = logs.text();
    assert!(
        text.contains("payout_account_saved"),
        "the saves were logged"
    );
    if let Some(line) = text.lines().find(|line| line.contains(NUMBER)) {
        panic!("a log line holds the account number: {line}");
    }
    assert!(!text.contains("asha@okhdfc"), "a log line holds the VPA");
}

#[tokio::test]
async fn only_an_admin_reads_another_users_account() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let store: Store = fresh_store().await;
    let api = Api::new(store.clone());
    assert_eq!(put(&api, 7, &bank()).await.status, 200);
    let stranger = api
        .get("/users/7/payout-account", "", &token(9, Role::User))
        .await;
    assert_eq!((stranger.status, stranger.code()), (403, "forbidden"));
    let own_by_path = api
        .get("/users/7/payout-account", "", &token(7, Role::User))
        .await;
    assert_eq!(own_by_path.status, 403, "the admin route is for admins");
    let admin = token(1, Role::Admin);
    let nobody = api.get("/users/8/payout-account", "", &admin).await;
    assert_eq!(
        (nobody.status, nobody.code()),
        (404, "payout_account_missing")
    );
    let bad_id = api.get("/users/x7/payout-account", "", &admin).await;
    assert_eq!((bad_id.status, bad_id.code()), (404, "not_found"));
    let anonymous = api
        .call(Call {
            method: "GET",
            path: "/me/payout-account",
            ..Call::default()
        })
        .await;
    assert_eq!(anonymous.status, 401);
}
