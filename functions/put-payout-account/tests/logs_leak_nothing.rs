//! The deployed function, runtime and all, at every log level the template allows:
//! nothing it writes holds the caller's token or the bank details it was sent.

use std::path::Path;

use api::auth::Role;
use api::auth::DEV_JWT_SECRET;
use devkit::function_run::{api_event, run, status_of};

use devkit::function_run::LOG_LEVELS as LEVELS;

#[tokio::test(flavor = "multi_thread")]
async fn saving_an_account_logs_no_token_and_no_bank_details_at_any_level() {
    let store = devkit::testing::fresh_store().await;
    devkit::testing::account_keys().await;
    let plant = uuid::Uuid::new_v4().simple().to_string();
    let digits: String = plant
        .bytes()
        .map(|byte| char::from(b'0' + byte % 10))
        .take(15)
        .collect();
    let account_number = format!("9{digits}");
    let ifsc = format!("PLNT0{}", plant[..6].to_ascii_uppercase());
    let email = format!("asha.{plant}@example.com");
    let vpa = format!("asha{}@okhdfc", &plant[..10]);
    let token = devkit::token::mint(DEV_JWT_SECRET, 7, Role::User, 600).unwrap();
    let signature = token.rsplit('.').next().unwrap_or_default().to_owned();
    let authorization = format!("Bearer {token}");
    let bank = serde_json::json!({
        "type": "bank_account", "name": "Asha Rao", "ifsc": ifsc,
        "account_number": account_number, "email": email,
    })
    .to_string();
    let upi = serde_json::json!({
        "type": "vpa", "name": "Asha Rao", "address": vpa, "email": email,
    })
    .to_string();
    let headers = [("authorization", authorization.as_str())];
    let planted = [
        ("the token", token.as_str()),
        ("the token's signature", signature.as_str()),
        ("the account number", account_number.as_str()),
        ("the IFSC", ifsc.as_str()),
        ("the email", email.as_str()),
        ("the VPA", vpa.as_str()),
    ];

    for (variable, level) in LEVELS {
        let events = vec![
            api_event("PUT", "/me/payout-account", &headers, &bank),
            api_event("PUT", "/me/payout-account", &headers, &upi),
        ];
        let binary = Path::new(env!("CARGO_BIN_EXE_put-payout-account"));
        let table = store.table().to_owned();
        let ran = tokio::task::spawn_blocking(move || {
            let env = [
                ("PAYOUTS_TABLE", table.as_str()),
                (variable, level),
                (
                    "PAYOUT_ACCOUNT_KEY_ID",
                    devkit::moto::LOCAL_ACCOUNT_KEY_ALIAS,
                ),
                (
                    "PAYOUT_ACCOUNT_MAC_KEY_ID",
                    devkit::moto::LOCAL_ACCOUNT_MAC_KEY_ALIAS,
                ),
            ];
            run(binary, "put-payout-account", &env, events)
        })
        .await
        .unwrap()
        .unwrap();
        for answer in &ran.answers {
            assert_eq!(
                status_of(answer),
                Some(200),
                "{variable}={level}: {answer}\n{}",
                ran.output
            );
        }
        if ["TRACE", "DEBUG", "INFO", "trace"].contains(&level) || variable == "RUST_LOG" {
            assert!(
                ran.output.contains("payout_account_saved"),
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
    let saved = store.payout_account(7).await.unwrap().unwrap();
    assert_eq!(
        saved.revision,
        2 * LEVELS.len() as u64,
        "every save went through"
    );
}
