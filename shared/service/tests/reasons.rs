//! What a payout says about why it failed, came back or waits: a code and a sentence
//! of ours in every view, users' and admins' alike, never the gateway's or the
//! infrastructure's own words, which can quote a person's VPA, IFSC or account number
//! back. Nor do those words reach a log line. On DynamoDB Local, through `App::handle`.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::testing::fresh_store;
use devkit::token::mint;
use domain::actor::Role;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition};
use gateway::razorpayx_webhook::signature;
use serde_json::{json, Value};
use service::config::WebhookSecrets;
use service::scout::Scout;
use store::{Lease, StatusChange, Store};
use uuid::Uuid;

const OWNER: u64 = 7;
const SECRET: &str = "current-webhook-secret-0001";
const VPA: &str = "asha.rao@okhdfc";
const IFSC: &str = "HDFC0000053";
const ACCOUNT_NUMBER: &str = "765432123456789";
const EMAIL: &str = "asha@example.com";
const PLANTED: [&str; 4] = [VPA, IFSC, ACCOUNT_NUMBER, EMAIL];

fn api(store: &Store) -> Api {
    let mut api = Api::new(store.clone());
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| match name {
            "STAGE" => Some("local".to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(SECRET.to_owned()),
            _ => None,
        })
        .unwrap(),
    );
    api
}

/// A payout a processor claimed and sent, waiting for RazorpayX's word.
async fn sent(store: &Store) -> Payout {
    devkit::testing::sent_payout(store, "s-1", OWNER, Paise(25_000)).await
}

/// RazorpayX reporting the attempt `status` (failed, reversed), in a bank's words that
/// quote the user's details back.
async fn report(api: &Api, payout: &Payout, status: &str, reason: &str) -> Reply {
    let quoted = format!(
        "VPA {VPA} is not valid; account {ACCOUNT_NUMBER} at {IFSC} (contact {EMAIL}) was not credited"
    );
    let entity = json!({
        "id": format!("pout_{}", &payout.payout_id.simple().to_string()[..14]),
        "entity": "payout",
        "fund_account_id": "fa_00000000000001",
        "amount": payout.amount_paise.get(),
        "currency": "INR",
        "notes": {"idempotency_key": payout.idempotency_key().as_str(), "attempt": "1"},
        "status": status,
        "utr": if status == "reversed" { json!("UTR0000000001") } else { Value::Null },
        "mode": "UPI",
        "purpose": "payout",
        "reference_id": payout.payout_id.to_string(),
        "narration": "Payout",
        "status_details": {"reason": reason, "description": quoted, "source": "beneficiary_bank"},
        "created_at": 1_795_485_600
    });
    let body = json!({
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": format!("payout.{status}"),
        "contains": ["payout"],
        "payload": {"payout": {"entity": entity}},
        "created_at": 1_795_485_600
    })
    .to_string();
    let event_id = format!("evt_{}", Uuid::new_v4().simple());
    let signed = signature(body.as_bytes(), SECRET);
    api.call(Call {
        method: "POST",
        path: "/webhooks/razorpayx",
        body: Some(&body),
        headers: vec![
            ("x-razorpay-event-id", event_id.as_str()),
            ("x-razorpay-signature", signed.as_str()),
        ],
        ..Call::default()
    })
    .await
}

/// The payout with `id` in a list answer.
fn listed<'a>(reply: &'a Reply, id: &Payout) -> &'a Value {
    reply.body["payouts"]
        .as_array()
        .and_then(|payouts| {
            payouts
                .iter()
                .find(|payout| payout["payout_id"] == id.payout_id.to_string())
        })
        .unwrap_or_else(|| panic!("{} is not listed: {:?}", id.payout_id, reply.body))
}

fn assert_nothing_quoted(what: &str, text: &str) {
    for planted in
        PLANTED
            .iter()
            .chain(&["Transactions from this IP", "not valid", "was not credited"])
    {
        assert!(!text.contains(planted), "{what} holds `{planted}`: {text}");
    }
}

#[tokio::test]
async fn views_show_our_codes_and_sentences_and_logs_quote_no_bank_details() {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    let api = api(&store);
    let (logs, _guard) = devkit::testing::CapturedLogs::start("trace");

    // Declined by the bank, in words quoting the user's details.
    let declined = sent(&store).await;
    let reply = report(&api, &declined, "failed", "invalid_beneficiary_details").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // Paid, then sent back.
    let returned = sent(&store).await;
    report(&api, &returned, "processed", "").await;
    let reply = report(&api, &returned, "reversed", "beneficiary_bank_rejected").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // Back in the queue because the gateway refused our own call, in its words.
    let refused = sent(&store).await;
    let mut next = refused.clone();
    next.lease_expires_at = None;
    next.last_error = Some(format!(
        "RazorpayX refused the call (403): Transactions from this IP are not allowed (VPA {VPA})"
    ));
    let refused = store
        .change_status(
            &refused,
            StatusChange {
                transition: Transition::Requeue,
                next,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();

    // What is stored keeps the gateway's words for the record...
    let stored = store.payout(declined.payout_id).await.unwrap().unwrap();
    assert_eq!(stored.status, PayoutStatus::Failed);
    assert!(stored.failure_reason.unwrap().contains(VPA));
    assert_eq!(
        store
            .payout(returned.payout_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        PayoutStatus::Reversed
    );

    // ...but no view shows them: the user's list and the admin's.
    let user = mint(DEV_JWT_SECRET, OWNER, Role::User, 600).unwrap();
    let admin = mint(DEV_JWT_SECRET, 1, Role::Admin, 600).unwrap();
    let mine = api.get("/payouts/my-payouts", "", &user).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    let all = api.get("/payouts", "", &admin).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    for (who, reply) in [("the user's list", &mine), ("the admin's list", &all)] {
        assert_nothing_quoted(who, &reply.body.to_string());
        let failed = listed(reply, &declined);
        let text = failed["failure_reason"].as_str().unwrap();
        assert!(text.starts_with("gateway_declined: "), "{who}: {text}");
        assert_eq!(
            failed["gateway_status_details"],
            json!({"reason": "invalid_beneficiary_details", "source": "beneficiary_bank"}),
            "{who}: the gateway's codes, not its words"
        );
        let reversed = listed(reply, &returned);
        let text = reversed["failure_reason"].as_str().unwrap();
        assert!(text.starts_with("bank_returned: "), "{who}: {text}");
        let requeued = listed(reply, &refused);
        let text = requeued["last_error"].as_str().unwrap();
        assert!(text.starts_with("gateway_configuration: "), "{who}: {text}");
        assert_eq!(requeued["failure_reason"], Value::Null);
    }

    let text = logs.text();
    assert!(text.contains("payout_failed"), "the failure was logged");
    assert!(text.contains("payout_reversed"), "the reversal was logged");
    for line in text.lines() {
        for planted in PLANTED {
            assert!(
                !line.contains(planted),
                "a log line holds `{planted}`: {line}"
            );
        }
    }
}
