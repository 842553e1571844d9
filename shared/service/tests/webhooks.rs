//! `POST /webhooks/razorpayx` through the same `App::handle` the Lambda runs, on
//! DynamoDB Local: signatures (cross-checked with Razorpay's own Python SDK), event
//! ids, every pair of events in both orders, reversals and what an admin does next.
//! The books are checked after every change.

use std::process::Command;
use std::time::Duration;

use api::auth::DEV_JWT_SECRET;
use devkit::admin::{cancel_payout, retry_payout};
use devkit::api::{Api, Call, Reply};
use devkit::invariants::assert_balances;
use devkit::razorpayx::{assert_paid_once, FakeConfig, FakeRazorpayX};
use devkit::testing::fresh_store;
use devkit::token::mint;
use domain::actor::{Actor, Role};
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use gateway::razorpayx_webhook::signature;
use gateway::RazorpayX;
use serde_json::{json, Value};
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{
    PayoutLimits, ProcessorConfig, RazorpayXConfig, WebhookSecrets, DEV_RAZORPAYX_KEY_SECRET,
};
use service::process::Processor;
use service::scout::Scout;
use store::{Lease, StatusChange, Store};
use uuid::Uuid;

/// Holds on a change of account are tested in accounts.rs; here they would only wait.
const NO_HOLD: u64 = 0;

const OWNER: u64 = 7;
const SECRET: &str = "current-webhook-secret-0001";
const PREVIOUS: &str = "previous-webhook-secret-0001";
const AMOUNT: u64 = 25_000;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};

fn api(store: &Store, previous: Option<&str>) -> Api {
    let mut api = Api::new(store.clone());
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| match name {
            "STAGE" => Some("local".to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(SECRET.to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET_PREVIOUS" => previous.map(str::to_owned),
            _ => None,
        })
        .unwrap(),
    );
    api
}

async fn store_with_scout() -> Store {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    store
}

async fn requested(store: &Store) -> Payout {
    devkit::testing::requested(store, LIMITS, OWNER, "s-1", AMOUNT).await
}

/// A payout a processor claimed and sent, that has not written what RazorpayX said
/// yet: only the attempt's key ties a webhook to it.
async fn sent(store: &Store) -> Payout {
    let pending = requested(store).await;
    devkit::testing::mark_sent(store, &pending).await
}

fn event_name(status: &str) -> &'static str {
    match status {
        "queued" => "payout.queued",
        "processing" => "payout.initiated",
        "processed" => "payout.processed",
        "failed" => "payout.failed",
        "rejected" => "payout.rejected",
        "reversed" => "payout.reversed",
        _ => "payout.updated",
    }
}

/// The payout entity RazorpayX would send for our payout's current attempt.
fn entity(payout: &Payout, gateway_id: &str, status: &str) -> Value {
    let details = match status {
        "reversed" => {
            json!({"reason": "beneficiary_bank_rejected", "description": "The beneficiary's account is closed", "source": "beneficiary_bank"})
        }
        "failed" => {
            json!({"reason": "bank_window_closed", "description": "The bank's window is closed", "source": "beneficiary_bank"})
        }
        "rejected" => {
            json!({"reason": "insufficient_balance", "description": "Not enough balance", "source": "business"})
        }
        _ => json!({"reason": null, "description": null, "source": null}),
    };
    json!({
        "id": gateway_id,
        "entity": "payout",
        "fund_account_id": "fa_00000000000001",
        "amount": payout.amount_paise.get(),
        "currency": "INR",
        "notes": {"idempotency_key": payout.idempotency_key().as_str(), "attempt": payout.attempt.to_string()},
        "fees": 590,
        "tax": 90,
        "status": status,
        "utr": if ["processed", "reversed"].contains(&status) { json!("UTR0000000001") } else { Value::Null },
        "mode": "IMPS",
        "purpose": "payout",
        "reference_id": payout.payout_id.to_string(),
        "narration": "Payout",
        "batch_id": null,
        "status_details": details,
        "created_at": 1_795_485_600
    })
}

fn envelope(event: &str, entity: Value) -> String {
    json!({
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": event,
        "contains": ["payout"],
        "payload": {"payout": {"entity": entity}},
        "created_at": 1_795_485_600
    })
    .to_string()
}

async fn deliver(api: &Api, body: &str, event_id: &str, signature: Option<&str>) -> Reply {
    let mut headers = vec![("x-razorpay-event-id", event_id)];
    if let Some(signature) = signature {
        headers.push(("x-razorpay-signature", signature));
    }
    api.call(Call {
        method: "POST",
        path: "/webhooks/razorpayx",
        body: Some(body),
        headers,
        ..Call::default()
    })
    .await
}

/// Signs with the current secret and delivers under a fresh event id.
async fn report(api: &Api, payout: &Payout, gateway_id: &str, status: &str) -> Reply {
    let body = envelope(event_name(status), entity(payout, gateway_id, status));
    let event_id = format!("evt_{}", Uuid::new_v4().simple());
    deliver(
        api,
        &body,
        &event_id,
        Some(&signature(body.as_bytes(), SECRET)),
    )
    .await
}

async fn stored(store: &Store, payout: &Payout) -> Payout {
    store.payout(payout.payout_id).await.unwrap().unwrap()
}

async fn books(store: &Store) {
    assert_balances(store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn only_a_signature_made_with_our_secret_is_accepted() {
    let store = store_with_scout().await;
    let payout = sent(&store).await;
    let body = envelope("payout.processed", entity(&payout, "pout_1", "processed"));
    let without_previous = api(&store, None);
    let forged = "a".repeat(64);
    let wrong_secret = signature(body.as_bytes(), "someone-elses-secret-01");
    let previous = signature(body.as_bytes(), PREVIOUS);
    let mut tampered = body.clone();
    tampered.push(' ');
    let cases: [(&str, &str, Option<&str>); 5] = [
        ("missing", &body, None),
        ("forged", &body, Some(&forged)),
        ("wrong secret", &body, Some(&wrong_secret)),
        (
            "previous secret, no rotation configured",
            &body,
            Some(&previous),
        ),
        (
            "body changed after signing",
            &tampered,
            Some(&signature(body.as_bytes(), SECRET)),
        ),
    ];
    for (case, body, signature) in cases {
        let reply = deliver(&without_previous, body, "evt_refused00001", signature).await;
        assert_eq!(reply.status, 401, "{case}: {:?}", reply.body);
        assert_eq!(reply.code(), "invalid_signature", "{case}");
        assert!(
            reply.headers.get("www-authenticate").is_none(),
            "{case}: not a bearer challenge"
        );
        assert_eq!(stored(&store, &payout).await, payout, "{case}: untouched");
        assert_eq!(
            store
                .webhook_receipt("razorpayx", "evt_refused00001")
                .await
                .unwrap(),
            None,
            "{case}: nothing remembered"
        );
    }

    // During a rotation the previous secret is accepted too.
    let rotating = api(&store, Some(PREVIOUS));
    let reply = deliver(&rotating, &body, "evt_rotation0001", Some(&previous)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["handled"], "applied");
    assert_eq!(
        stored(&store, &payout).await.status,
        PayoutStatus::Completed
    );
    books(&store).await;
}

/// Razorpay's official Python SDK (`Utility.verify_webhook_signature`) accepts our
/// signatures and refuses a wrong one: the scheme is RazorpayX's, not our idea of it.
#[test]
fn razorpays_python_sdk_agrees_with_our_signatures() {
    let python = std::env::var("RAZORPAY_SDK_PYTHON").unwrap_or_else(|_| {
        devkit::paths::local_dir()
            .join("venv/bin/python")
            .display()
            .to_string()
    });
    let body = envelope(
        "payout.reversed",
        json!({"id": "pout_1", "status": "reversed", "reference_id": "x", "notes": {"emoji": "₹ ✓"}}),
    );
    let script = r#"
import sys, razorpay
body, good, bad, secret = sys.argv[1:5]
client = razorpay.Client(auth=("rzp_test_key", "unused"))
client.utility.verify_webhook_signature(body, good, secret)
try:
    client.utility.verify_webhook_signature(body, bad, secret)
except razorpay.errors.SignatureVerificationError:
    print("verified")
"#;
    let output = Command::new(&python)
        .args(["-c", script, &body])
        .arg(signature(body.as_bytes(), SECRET))
        .arg(signature(body.as_bytes(), PREVIOUS))
        .arg(SECRET)
        .output()
        .unwrap_or_else(|err| {
            panic!("{python} (with the razorpay package; `cargo xtask test` installs it): {err}")
        });
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "verified",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    let body = envelope("payout.processed", entity(&payout, "pout_1", "processed"));
    let signed = signature(body.as_bytes(), SECRET);
    let first = deliver(&api, &body, "evt_twice0000001", Some(&signed)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["handled"], "applied");
    let completed = stored(&store, &payout).await;
    assert_eq!(completed.status, PayoutStatus::Completed);
    assert_eq!(
        completed.payment_reference.as_deref(),
        Some("UTR0000000001")
    );

    let again = deliver(&api, &body, "evt_twice0000001", Some(&signed)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["handled"], "duplicate");
    assert_eq!(stored(&store, &payout).await, completed);

    // The same news under another event id (RazorpayX's `payout.updated`) finds the
    // payout already there.
    let updated = envelope("payout.updated", entity(&payout, "pout_1", "processed"));
    let reply = deliver(
        &api,
        &updated,
        "evt_updated00001",
        Some(&signature(updated.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.body["handled"], "ignored");
    assert_eq!(stored(&store, &payout).await, completed);
    let receipt = store
        .webhook_receipt("razorpayx", "evt_twice0000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.handled, "applied");
    assert!(receipt.expires_at >= Timestamp::now().plus_secs(7 * 86_400).unix_millis() / 1000);
    books(&store).await;
}

/// Where a payout ends after a set of events, whatever their order: the furthest one
/// wins (status, gateway status).
fn expected(events: &[&str]) -> (PayoutStatus, &'static str) {
    let rank = |status: &str| match status {
        "queued" => 1,
        "processing" => 2,
        "processed" | "failed" | "rejected" => 3,
        "reversed" => 4,
        _ => 0,
    };
    let furthest = events.iter().max_by_key(|status| rank(status)).unwrap();
    match *furthest {
        "queued" => (PayoutStatus::Processing, "queued"),
        "processing" => (PayoutStatus::Processing, "processing"),
        "processed" => (PayoutStatus::Completed, "processed"),
        "failed" => (PayoutStatus::Failed, "failed"),
        "rejected" => (PayoutStatus::Failed, "rejected"),
        "reversed" => (PayoutStatus::Reversed, "reversed"),
        other => panic!("no expectation for {other}"),
    }
}

#[tokio::test]
async fn every_pair_of_events_ends_the_same_in_either_order() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    // The histories a RazorpayX payout can have; every ordered pair within one.
    let histories: [&[&str]; 3] = [
        &["queued", "processing", "processed", "reversed"],
        &["queued", "processing", "failed"],
        &["queued", "rejected"],
    ];
    for history in histories {
        for first in history {
            for second in history.iter().filter(|second| *second != first) {
                let payout = sent(&store).await;
                for status in [first, second] {
                    let reply = report(&api, &payout, "pout_pair", status).await;
                    assert_eq!(reply.status, 200, "{first} then {second}: {:?}", reply.body);
                }
                let now = stored(&store, &payout).await;
                let (status, gateway_status) = expected(&[first, second]);
                assert_eq!(now.status, status, "{first} then {second}");
                assert_eq!(
                    now.gateway_status.as_deref(),
                    Some(gateway_status),
                    "{first} then {second}"
                );
                assert_eq!(now.gateway_payout_id.as_deref(), Some("pout_pair"));
                assert_eq!(now.attempt, 1, "{first} then {second}: no new attempt");
                if status == PayoutStatus::Completed {
                    assert_eq!(now.payment_reference.as_deref(), Some("UTR0000000001"));
                }
                if matches!(status, PayoutStatus::Failed | PayoutStatus::Reversed) {
                    assert!(
                        now.failure_reason.is_some(),
                        "{first} then {second}: a reason"
                    );
                    assert!(now.gateway_status_details.is_some());
                }
                books(&store).await;
            }
        }
    }
}

#[tokio::test]
async fn a_report_about_another_attempt_or_payout_changes_nothing() {
    let store = store_with_scout().await;
    let api = api(&store, None);

    // Accepted as pout_A: a report about pout_B under our reference is someone else's.
    let payout = sent(&store).await;
    let mut accepted = payout.clone();
    accepted.gateway_payout_id = Some("pout_A".to_owned());
    accepted.gateway_status = Some("processing".to_owned());
    accepted.lease_expires_at = Some(Timestamp::now().plus_secs(60));
    let accepted = store
        .change_status(
            &payout,
            StatusChange {
                transition: Transition::Accept,
                next: accepted,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    let reply = report(&api, &accepted, "pout_B", "processing").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["handled"], "ignored");
    assert_eq!(stored(&store, &payout).await, accepted);
    // Saying that other payout *paid* is money our books do not know about: flagged
    // for a person (an error log line and an alarm), still nothing changed.
    let reply = report(&api, &accepted, "pout_B", "processed").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["handled"], "contradicts");
    assert_eq!(stored(&store, &payout).await, accepted);
    // Our id and key, another amount: not the payout we asked for.
    let mut other_amount = accepted.clone();
    other_amount.amount_paise = Paise(AMOUNT + 1);
    let reply = report(&api, &other_amount, "pout_A", "processed").await;
    assert_eq!(reply.body["handled"], "contradicts");
    assert_eq!(stored(&store, &payout).await, accepted);

    // Not accepted yet, and the key is an earlier attempt's.
    let other = sent(&store).await;
    let mut earlier = other.clone();
    earlier.attempt = 2;
    let body = envelope("payout.processed", {
        let mut entity = entity(&other, "pout_C", "processed");
        entity["notes"]["idempotency_key"] = json!(earlier.idempotency_key().as_str());
        entity
    });
    let reply = deliver(
        &api,
        &body,
        "evt_otherattempt",
        Some(&signature(body.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.body["handled"], "contradicts");
    assert_eq!(stored(&store, &other).await, other);

    // A reference we never made: 200, so RazorpayX does not retry it for a day.
    let mut stranger = other.clone();
    stranger.payout_id = Uuid::new_v4();
    let reply = report(&api, &stranger, "pout_D", "processed").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["handled"], "unknown_payout");
    let not_ours = envelope(
        "payout.processed",
        json!({"id": "pout_E", "status": "processed", "reference_id": "invoice-42", "notes": []}),
    );
    let reply = deliver(
        &api,
        &not_ours,
        "evt_notours00001",
        Some(&signature(not_ours.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["handled"], "unknown_payout");

    // Events about other things are acknowledged and left alone.
    let downtime = r#"{"entity":"event","event":"payout.downtime.started","payload":{"payout.downtime":{"entity":{"id":"down_1"}}}}"#;
    let reply = deliver(
        &api,
        downtime,
        "evt_downtime0001",
        Some(&signature(downtime.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["handled"], "not_about_payouts");
    books(&store).await;
}

#[tokio::test]
async fn bad_deliveries_get_a_clear_4xx_and_change_nothing() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;

    let not_json = "payout.processed, honest";
    let reply = deliver(
        &api,
        not_json,
        "evt_notjson00001",
        Some(&signature(not_json.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.code(), "bad_request");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));

    let no_entity = r#"{"entity":"event","event":"payout.processed","payload":{"payout":{"entity":{"status":"processed"}}}}"#;
    let reply = deliver(
        &api,
        no_entity,
        "evt_noentity0001",
        Some(&signature(no_entity.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);

    let body = envelope("payout.processed", entity(&payout, "pout_1", "processed"));
    let signed = signature(body.as_bytes(), SECRET);
    for event_id in ["", "evt with spaces", &"e".repeat(129)] {
        let reply = deliver(&api, &body, event_id, Some(&signed)).await;
        assert_eq!(reply.status, 400, "event id {event_id:?}: {:?}", reply.body);
    }

    let huge = format!("{{\"padding\":\"{}\"}}", "x".repeat(1024 * 1024));
    let reply = deliver(
        &api,
        &huge,
        "evt_huge00000001",
        Some(&signature(huge.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(reply.code(), "payload_too_large");

    let reply = api
        .call(Call {
            method: "GET",
            path: "/webhooks/razorpayx",
            ..Call::default()
        })
        .await;
    assert_eq!(reply.status, 404, "no such route: {:?}", reply.body);

    assert_eq!(stored(&store, &payout).await, payout);
    for event_id in ["evt_notjson00001", "evt_noentity0001", "evt_huge00000001"] {
        assert_eq!(
            store.webhook_receipt("razorpayx", event_id).await.unwrap(),
            None
        );
    }
    books(&store).await;
}

/// API Gateway hands a body it did not take for text over base64-encoded: the
/// signature is over the decoded bytes.
#[tokio::test]
async fn a_base64_encoded_body_is_verified_as_the_bytes_it_encodes() {
    use base64::Engine;
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    let body = envelope(
        "payout.initiated",
        entity(&payout, "pout_b64", "processing"),
    );
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/razorpayx",
        "rawPath": "/webhooks/razorpayx",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "x-razorpay-event-id": "evt_base64000001",
            "x-razorpay-signature": signature(body.as_bytes(), SECRET),
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "local",
            "domainPrefix": "local", "requestId": "r", "routeKey": "POST /webhooks/razorpayx",
            "stage": "$default", "time": "24/Nov/2026:02:00:00 +0000", "timeEpoch": 1795485600000u64,
            "http": {"method": "POST", "path": "/webhooks/razorpayx", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "Razorpay-Webhook/v1"}
        },
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "isBase64Encoded": true
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let reply = api.send(api::Endpoint::RazorpayXWebhook, request).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        stored(&store, &payout).await.gateway_status.as_deref(),
        Some("processing")
    );
}

#[tokio::test]
async fn a_reversal_moves_the_money_back_and_an_admin_cancels_it() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    report(&api, &payout, "pout_r", "processed").await;
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.paid_paise, Paise(AMOUNT));
    assert_eq!(
        store.summary(OWNER).await.unwrap().total_paid_paise,
        Paise(AMOUNT)
    );

    let reply = report(&api, &payout, "pout_r", "reversed").await;
    assert_eq!(reply.body["handled"], "applied");
    let reversed = stored(&store, &payout).await;
    assert_eq!(reversed.status, PayoutStatus::Reversed);
    assert!(reversed
        .failure_reason
        .as_deref()
        .unwrap()
        .contains("account is closed"));
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.paid_paise, Paise(0));
    assert_eq!(scout.reserved_paise, Paise(AMOUNT));
    let summary = store.summary(OWNER).await.unwrap();
    assert_eq!(summary.total_paid_paise, Paise(0));
    assert_eq!(summary.pending_paise, Paise(0));
    books(&store).await;

    // Listed under its own status.
    let admin = mint(DEV_JWT_SECRET, 1, Role::Admin, 600).unwrap();
    let list = api.get("/payouts", "status=reversed", &admin).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["payouts"][0]["status"], "reversed");
    assert_eq!(
        list.body["payouts"][0]["gateway_status_details"]["reason"],
        "beneficiary_bank_rejected"
    );

    // A processed event arriving after the reversal changes nothing.
    report(&api, &payout, "pout_r", "processed").await;
    assert_eq!(stored(&store, &payout).await, reversed);

    let earnings_before = scout.earnings_paise;
    let gateway = devkit::testing::gateway(&store, 1.0);
    let cancelled = cancel_payout(
        &store,
        &gateway,
        devkit::testing::processor_config(10),
        &Actor::admin(1),
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.reserved_paise, Paise(0));
    assert_eq!(scout.earnings_paise, Paise(earnings_before.get() + AMOUNT));
    books(&store).await;
}

/// The user's account saved, the local RazorpayX started with `config`, and our
/// RazorpayX client pointed at it.
async fn with_razorpayx(store: &Store, config: FakeConfig) -> (FakeRazorpayX, RazorpayX) {
    save_payout_account(
        store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        NewPayoutAccount {
            name: "Asha Rao".to_owned(),
            destination: Destination::Vpa {
                address: "asha@okhdfc".to_owned(),
            },
            email: None,
        },
        NO_HOLD,
    )
    .await
    .unwrap();
    let fake = FakeRazorpayX::start(0, config).await.unwrap();
    let gateway = RazorpayX::new(
        &RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, 2_000)
            .with_vault(devkit::testing::vault().await),
    )
    .unwrap();
    (fake, gateway)
}

/// The processor as the RazorpayX tests run it; `poll_secs` says when accepted payouts
/// are asked about again.
fn razorpayx_processing(poll_secs: u64) -> ProcessorConfig {
    ProcessorConfig {
        batch_size: 10,
        concurrency: 10,
        lease_secs: 300,
        poll_secs,
        drain: None,
        validate_accounts: false,
    }
}

/// The whole round with the local RazorpayX: paid, reversed by the bank days later,
/// retried by an admin under a new key, paid once more — and RazorpayX holds exactly
/// one processed payout for it.
#[tokio::test]
async fn a_reversed_payout_retried_by_an_admin_is_paid_once_more_under_a_new_key() {
    let store = store_with_scout().await;
    let (fake, gateway) = with_razorpayx(
        &store,
        FakeConfig {
            settle_after: Duration::from_millis(200),
            ..FakeConfig::default()
        },
    )
    .await;
    let config = razorpayx_processing(0);
    let api = api(&store, None);
    let payout = requested(&store).await;

    let settle = || async {
        for _ in 0..30 {
            let now = stored(&store, &payout).await;
            if !now.status.is_in_flight() {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Processor::new(&store, &gateway, config)
                .run()
                .await
                .unwrap();
        }
        stored(&store, &payout).await
    };
    let first = settle().await;
    assert_eq!(first.status, PayoutStatus::Completed);
    let first_key = first.idempotency_key();

    // The bank returns it: RazorpayX marks it reversed and says so.
    let gateway_id = first.gateway_payout_id.clone().unwrap();
    let control = reqwest::Client::new()
        .post(format!(
            "{}/_fake/payouts/{gateway_id}/status",
            fake.base_url()
        ))
        .json(&json!({"status": "reversed", "reason": "beneficiary_bank_rejected"}))
        .send()
        .await
        .unwrap();
    assert!(control.status().is_success());
    let entity = fake
        .payouts()
        .into_iter()
        .find(|item| item["id"] == json!(gateway_id))
        .unwrap();
    let body = envelope("payout.reversed", entity);
    let reply = deliver(
        &api,
        &body,
        "evt_reversal0001",
        Some(&signature(body.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.body["handled"], "applied", "{:?}", reply.body);
    assert_eq!(stored(&store, &payout).await.status, PayoutStatus::Reversed);
    books(&store).await;

    let retried = retry_payout(&store, &gateway, config, &Actor::admin(1), payout.payout_id)
        .await
        .unwrap();
    assert_eq!(retried.attempt, 2);
    assert_ne!(retried.idempotency_key(), first_key);
    assert_eq!(
        retried.payment_reference, None,
        "the new attempt has paid nothing yet"
    );
    let second = settle().await;
    assert_eq!(second.status, PayoutStatus::Completed);
    assert_ne!(second.payment_reference, first.payment_reference);

    let at_gateway: Vec<Value> = fake
        .payouts()
        .into_iter()
        .filter(|item| item["reference_id"] == json!(payout.payout_id.to_string()))
        .collect();
    let statuses: Vec<&str> = at_gateway
        .iter()
        .map(|item| item["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["reversed", "processed"]);
    assert_paid_once(&fake, &[second]);
    books(&store).await;
}

/// The local RazorpayX tells us itself: it posts signed webhooks over HTTP to the
/// webhook function, some twice and some late, and the payouts it settles complete
/// (and one it reverses is reversed) with no poll at all.
#[tokio::test]
async fn the_local_razorpayx_settles_our_payouts_by_webhook_alone() {
    let store = store_with_scout().await;
    let api = std::sync::Arc::new(api(&store, None));
    let (addr, server) = devkit::api::serve_http(api).await.unwrap();
    let (fake, gateway) = with_razorpayx(
        &store,
        FakeConfig {
            settle_after: Duration::from_millis(300),
            seed: 11,
            webhooks: devkit::razorpayx::WebhookConfig {
                url: Some(format!("http://{addr}/webhooks/razorpayx")),
                secret: SECRET.to_owned(),
                duplicate: 0.5,
                late: 0.5,
                late_by: Duration::from_millis(400),
                retry_base: Duration::from_millis(20),
                ..Default::default()
            },
            ..FakeConfig::default()
        },
    )
    .await;
    // No poll within the test: only a webhook can finish these payouts.
    let config = razorpayx_processing(3_600);
    let mut payouts = Vec::new();
    for _ in 0..5 {
        payouts.push(requested(&store).await);
    }
    let summary = Processor::new(&store, &gateway, config)
        .run()
        .await
        .unwrap();
    assert_eq!(summary.found, 5);

    let mut settled = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        settled.clear();
        for payout in &payouts {
            settled.push(stored(&store, payout).await);
        }
        if settled.iter().all(|p| p.status == PayoutStatus::Completed) {
            break;
        }
    }
    fake.wait_for_webhooks_idle(Duration::from_secs(10))
        .await
        .unwrap();
    for payout in &settled {
        assert_eq!(payout.status, PayoutStatus::Completed, "{payout:?}");
        assert_eq!(payout.gateway_status.as_deref(), Some("processed"));
    }
    let deliveries = fake.webhook_deliveries();
    assert!(
        deliveries.iter().all(|d| d["delivered"] == json!(true)),
        "{deliveries:?}"
    );
    // Seed 11 delivers some twice and holds some back.
    assert!(
        deliveries.iter().any(|d| d["copy"] == json!(2)),
        "{deliveries:?}"
    );
    assert!(
        deliveries
            .iter()
            .any(|d| d["held_back_ms"].as_u64().unwrap_or_default() > 0),
        "{deliveries:?}"
    );
    assert_paid_once(&fake, &settled);
    books(&store).await;

    // Reversed at the bank: the webhook alone brings it back to the books.
    let reversed = &settled[0];
    let gateway_id = reversed.gateway_payout_id.clone().unwrap();
    reqwest::Client::new()
        .post(format!(
            "{}/_fake/payouts/{gateway_id}/status",
            fake.base_url()
        ))
        .json(&json!({"status": "reversed", "reason": "bank_account_closed"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    fake.wait_for_webhooks_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let now = stored(&store, reversed).await;
    assert_eq!(now.status, PayoutStatus::Reversed);
    assert_eq!(
        now.gateway_status_details.and_then(|d| d.reason).as_deref(),
        Some("bank_account_closed")
    );
    books(&store).await;
    server.abort();
}

#[tokio::test]
async fn a_payment_of_a_failed_payout_is_flagged_and_changes_nothing() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    report(&api, &payout, "pout_f", "failed").await;
    let failed = stored(&store, &payout).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    let reply = report(&api, &payout, "pout_f", "processed").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["handled"], "contradicts");
    assert_eq!(stored(&store, &payout).await, failed);
    books(&store).await;
}

/// The event id is not under the signature: an old signed body replayed under a new
/// id must not make the real event with that id look like a redelivery.
#[tokio::test]
async fn an_event_id_reused_with_another_body_is_still_acted_on() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let first = sent(&store).await;
    let second = sent(&store).await;
    let old = envelope("payout.initiated", entity(&first, "pout_1", "processing"));
    let reply = deliver(
        &api,
        &old,
        "evt_future000001",
        Some(&signature(old.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.body["handled"], "applied");
    let real = envelope("payout.processed", entity(&second, "pout_2", "processed"));
    let reply = deliver(
        &api,
        &real,
        "evt_future000001",
        Some(&signature(real.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.body["handled"], "applied", "{:?}", reply.body);
    assert_eq!(
        stored(&store, &second).await.status,
        PayoutStatus::Completed
    );
    books(&store).await;
}

/// Balances that refuse a report the status allows mean the books were already wrong:
/// acknowledged as `needs_attention` (an error answer would only have RazorpayX retry
/// it for a day and then switch the webhook off), and nothing is written.
#[tokio::test]
async fn a_report_the_balances_refuse_is_acknowledged_for_a_person() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    report(&api, &payout, "pout_b", "processed").await;
    let completed = stored(&store, &payout).await;
    // Someone edited the scout by hand: its paid balance no longer covers the payout.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("SCOUT#s-1".to_owned()))
        .key("sk", AttributeValue::S("SCOUT".to_owned()))
        .update_expression("SET paid_paise = :zero")
        .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
        .send()
        .await
        .unwrap();
    let body = envelope("payout.reversed", entity(&payout, "pout_b", "reversed"));
    let signed = signature(body.as_bytes(), SECRET);
    let reply = deliver(&api, &body, "evt_refusedbooks", Some(&signed)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["handled"], "needs_attention");
    assert_eq!(stored(&store, &payout).await, completed);
    // Not remembered: once someone fixes the books, a replay of the event applies.
    assert_eq!(
        store
            .webhook_receipt("razorpayx", "evt_refusedbooks")
            .await
            .unwrap(),
        None
    );
}

/// Went back to the queue with its outcome unknown; at RazorpayX it was processed and
/// then reversed. The reversal arrives first: the payout is reversed, and the late
/// `processed` finds it past that.
#[tokio::test]
async fn a_reversal_of_a_requeued_attempt_is_final_even_before_its_payment_is_heard_of() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let processing = sent(&store).await;
    let mut next = processing.clone();
    next.lease_expires_at = None;
    next.last_error = Some("timed out".to_owned());
    let requeued = store
        .change_status(
            &processing,
            StatusChange {
                transition: Transition::Requeue,
                next,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(requeued.status, PayoutStatus::Pending);
    let reply = report(&api, &requeued, "pout_q", "reversed").await;
    assert_eq!(reply.body["handled"], "applied");
    let reply = report(&api, &requeued, "pout_q", "processed").await;
    assert_eq!(reply.body["handled"], "ignored");
    let now = stored(&store, &requeued).await;
    assert_eq!(now.status, PayoutStatus::Reversed);
    assert_eq!(store.summary(OWNER).await.unwrap().pending_paise, Paise(0));
    books(&store).await;

    // Declined while requeued: failed, and a later `processed` is news we do not hold.
    let declined = sent(&store).await;
    let reply = report(&api, &declined, "pout_d", "failed").await;
    assert_eq!(reply.body["handled"], "applied");
    assert_eq!(stored(&store, &declined).await.status, PayoutStatus::Failed);
    books(&store).await;
}

/// Late reports of a payment that was reversed afterwards are noise, not an alarm:
/// after the reversal was cancelled, and after it was retried under a new key.
#[tokio::test]
async fn late_news_of_a_reversed_payment_raises_no_alarm() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let gateway = devkit::testing::gateway(&store, 1.0);
    let admin = Actor::admin(1);
    let config = devkit::testing::processor_config(10);

    let cancelled = sent(&store).await;
    report(&api, &cancelled, "pout_c", "processed").await;
    report(&api, &cancelled, "pout_c", "reversed").await;
    cancel_payout(&store, &gateway, config, &admin, cancelled.payout_id)
        .await
        .unwrap();
    let reply = report(&api, &cancelled, "pout_c", "processed").await;
    assert_eq!(reply.body["handled"], "ignored", "{:?}", reply.body);

    let retried = sent(&store).await;
    report(&api, &retried, "pout_r1", "processed").await;
    report(&api, &retried, "pout_r1", "reversed").await;
    let second = retry_payout(&store, &gateway, config, &admin, retried.payout_id)
        .await
        .unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(second.earlier_attempts.len(), 1);
    let reply = report(&api, &retried, "pout_r1", "processed").await;
    assert_eq!(reply.body["handled"], "ignored", "{:?}", reply.body);
    assert_eq!(stored(&store, &retried).await, second);
    books(&store).await;
}

/// A status RazorpayX adds later is the earliest: a known one replaces it.
#[tokio::test]
async fn an_unknown_gateway_status_never_blocks_a_known_one() {
    let store = store_with_scout().await;
    let api = api(&store, None);
    let payout = sent(&store).await;
    report(&api, &payout, "pout_u", "on_hold_for_review").await;
    assert_eq!(
        stored(&store, &payout).await.gateway_status.as_deref(),
        Some("on_hold_for_review")
    );
    let reply = report(&api, &payout, "pout_u", "processed").await;
    assert_eq!(reply.body["handled"], "applied");
    assert_eq!(
        stored(&store, &payout).await.status,
        PayoutStatus::Completed
    );
    books(&store).await;
}

/// The webhook reads its secrets from Secrets Manager (moto here) per delivery, within
/// a cache TTL (zero here): a rotation is taken up without a restart, the previous
/// secret is dropped when the operator clears it, and a secret that cannot be read
/// fails the delivery closed (503: RazorpayX delivers it again) with nothing recorded.
#[tokio::test]
async fn webhook_secrets_come_from_secrets_manager_and_rotate_without_a_restart() {
    let store = store_with_scout().await;
    let payout = sent(&store).await;
    let clients = devkit::moto::Clients::new(&devkit::testing::moto_endpoint()).await;
    let name = format!("payouts/test/razorpayx-webhook-{}", Uuid::new_v4().simple());
    let put = |current: &'static str, previous: Option<&'static str>| {
        let clients = &clients;
        let name = name.clone();
        async move {
            clients
                .put_secret(&name, &WebhookSecrets::secret_string(current, previous))
                .await
                .unwrap();
        }
    };
    put(PREVIOUS, None).await;
    let mut api = Api::new(store.clone());
    api.app.webhook_secrets = Some(WebhookSecrets::from_source(
        platform::secrets::Secret::managed_with_client(
            clients.secretsmanager.clone(),
            name.clone(),
            std::time::Duration::ZERO,
        ),
        false,
    ));
    let body = envelope("payout.queued", entity(&payout, "pout_rotation", "queued"));
    let send = |secret: &'static str| {
        let api = &api;
        let body = body.clone();
        async move {
            let event_id = format!("evt_{}", Uuid::new_v4().simple());
            deliver(
                api,
                &body,
                &event_id,
                Some(&signature(body.as_bytes(), secret)),
            )
            .await
        }
    };
    assert_eq!(send(PREVIOUS).await.status, 200);
    assert_eq!(send(SECRET).await.status, 401);

    // Rotation under way: both verify, with no new App.
    put(SECRET, Some(PREVIOUS)).await;
    assert_eq!(send(SECRET).await.status, 200);
    assert_eq!(send(PREVIOUS).await.status, 200);
    // The operator clears the previous secret: it verifies nothing any more.
    put(SECRET, None).await;
    assert_eq!(send(PREVIOUS).await.status, 401);
    assert_eq!(send(SECRET).await.status, 200);
    let before = stored(&store, &payout).await;

    // Unreadable: refused as unavailable, and nothing about the payout changes.
    clients
        .secretsmanager
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let body = envelope(
        "payout.processed",
        entity(&payout, "pout_rotation", "processed"),
    );
    let reply = deliver(
        &api,
        &body,
        "evt_unreadable_secret",
        Some(&signature(body.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.code(), "service_unavailable");
    assert_eq!(stored(&store, &payout).await, before);
}
