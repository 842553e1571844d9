//! The deployed webhook, runtime and all, at every log level the template allows:
//! nothing it writes holds a webhook's body, nor the bank details a gateway's words
//! may quote back (a VPA, an IFSC, an account number, an email).

use std::path::Path;

use devkit::function_run::{api_event, run, status_of};
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus};
use gateway::razorpayx_webhook::signature;
use serde_json::{json, Value};
use service::config::DEV_RAZORPAYX_WEBHOOK_SECRET;
use service::scout::Scout;
use store::Store;

const OWNER: u64 = 7;

use devkit::function_run::LOG_LEVELS as LEVELS;

/// A payout a processor claimed and sent, waiting for RazorpayX's word.
async fn sent(store: &Store) -> Payout {
    devkit::testing::sent_payout(store, "s-1", OWNER, Paise(25_000)).await
}

/// A signed `payout.failed` delivery about `payout_id`, whose words quote `quoted`.
fn failed_delivery(payout: &Payout, reference: &str, quoted: &str, marker: &str) -> String {
    signed(failed_body(payout, reference, quoted, marker))
}

fn failed_body(payout: &Payout, reference: &str, quoted: &str, marker: &str) -> Value {
    json!({
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": "payout.failed",
        "contains": ["payout"],
        "payload": {"payout": {"entity": {
            "id": format!("pout_{}", &marker[..14]),
            "entity": "payout",
            "fund_account_id": "fa_00000000000001",
            "amount": payout.amount_paise.get(),
            "currency": "INR",
            "notes": {"idempotency_key": payout.idempotency_key().as_str(), "attempt": "1", "marker": marker},
            "status": "failed",
            "utr": null,
            "mode": "UPI",
            "purpose": "payout",
            "reference_id": reference,
            "narration": "Payout",
            "status_details": {
                "reason": "invalid_beneficiary_details",
                "description": quoted,
                "source": "beneficiary_bank"
            },
            "created_at": 1_795_485_600
        }}},
        "created_at": 1_795_485_600
    })
}

/// `body` as RazorpayX delivers it: signed, under a fresh event id.
fn signed(body: Value) -> String {
    let body = body.to_string();
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let signed = signature(body.as_bytes(), DEV_RAZORPAYX_WEBHOOK_SECRET);
    api_event(
        "POST",
        "/webhooks/razorpayx",
        &[
            ("x-razorpay-event-id", event_id.as_str()),
            ("x-razorpay-signature", signed.as_str()),
        ],
        &body,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_logs_neither_its_body_nor_the_bank_details_it_quotes_at_any_level() {
    let store = devkit::testing::fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    let plant = uuid::Uuid::new_v4().simple().to_string();
    let digits: String = plant
        .bytes()
        .map(|byte| char::from(b'0' + byte % 10))
        .take(13)
        .collect();
    let account_number = format!("9{digits}");
    let ifsc = format!("PLNT0{}", plant[..6].to_ascii_uppercase());
    let email = format!("asha.{plant}@example.com");
    let vpa = format!("asha{}@okhdfc", &plant[..10]);
    let marker = format!("wbody{plant}");
    // What a bank's refusal, passed on by the gateway, looks like.
    let quoted = format!(
        "VPA {vpa} is not valid; account {account_number} at {ifsc} (contact {email}) was not credited"
    );
    let planted = [
        ("the webhook body", marker.as_str()),
        ("the account number", account_number.as_str()),
        ("the IFSC", ifsc.as_str()),
        ("the email", email.as_str()),
        ("the VPA", vpa.as_str()),
    ];

    for (variable, level) in LEVELS {
        let payout = sent(&store).await;
        let stranger = uuid::Uuid::new_v4().to_string();
        let events = vec![
            failed_delivery(&payout, &payout.payout_id.to_string(), &quoted, &marker),
            // One about a payout that is not ours, which is logged as such.
            failed_delivery(&payout, &stranger, &quoted, &marker),
            // One RazorpayX got wrong, whose value the parser's complaint would quote.
            signed({
                let mut body = failed_body(&payout, &stranger, &quoted, &marker);
                body["payload"]["payout"]["entity"]["amount"] = json!(vpa);
                body
            }),
        ];
        let binary = Path::new(env!("CARGO_BIN_EXE_razorpayx-webhook"));
        let table = store.table().to_owned();
        let ran = tokio::task::spawn_blocking(move || {
            let env = [("PAYOUTS_TABLE", table.as_str()), (variable, level)];
            run(binary, "razorpayx-webhook", &env, events)
        })
        .await
        .unwrap()
        .unwrap();
        let statuses: Vec<_> = ran.answers.iter().map(|answer| status_of(answer)).collect();
        assert_eq!(
            statuses,
            [Some(200), Some(200), Some(400)],
            "{variable}={level}: {:?}\n{}",
            ran.answers,
            ran.output
        );
        let failed = store.payout(payout.payout_id).await.unwrap().unwrap();
        assert_eq!(failed.status, PayoutStatus::Failed, "{variable}={level}");
        if !["ERROR", "FATAL"].contains(&level) {
            assert!(
                ran.output.contains("payout_failed"),
                "{variable}={level}: the logs were not captured:\n{}",
                ran.output
            );
        }
        for (what, value) in planted {
            if let Some(line) = ran.output.lines().find(|line| line.contains(value)) {
                panic!("{variable}={level}: a log line holds {what}: {line}");
            }
        }
    }
}
