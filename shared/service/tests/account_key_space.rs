//! Payout accounts have a key space of their own (`ACCOUNT#<user_id>`) that only the
//! account and gateway functions may write: the IAM policies in template.yaml say so
//! (checked here, statement by statement), the store keeps accounts there, and
//! accounts kept under the user's partition before are read until the migration moves
//! them, with every write but a save's waiting for it (DynamoDB Local).

use std::collections::BTreeSet;

use devkit::testing::{fresh_store, legacy_account, stored_item as item};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::PayoutStatus;
use serde_yaml::Value;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Scout};

/// The functions that may write payout accounts: the account API (save, an admin's end
/// of a hold) and the gateway's (the fund account's ids and its check: the processor,
/// an admin's process / retry / bulk, RazorpayX's webhook).
const ACCOUNT_WRITERS: [&str; 7] = [
    "PutPayoutAccountFunction",
    "EndPayoutAccountHoldFunction",
    "ProcessPendingFunction",
    "ProcessPayoutFunction",
    "RetryPayoutFunction",
    "BulkPayoutsFunction",
    "RazorpayXWebhookFunction",
];

const WRITES: [&str; 4] = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
];

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The leading keys a statement's condition limits it to, with the operator (`None`:
/// not limited).
fn leading_keys(statement: &Value) -> Option<(String, Vec<String>)> {
    let condition = statement.get("Condition")?.as_mapping()?;
    condition.iter().find_map(|(operator, tests)| {
        let keys = tests.get("dynamodb:LeadingKeys")?;
        Some((operator.as_str()?.to_owned(), strings(keys)))
    })
}

/// Who may use the payout account keys, and for what: sealing on a save, opening to
/// register a fund account; nobody else, and nothing else.
#[test]
fn only_the_save_seals_and_only_the_paying_functions_open_payout_destinations() {
    let template: Value =
        serde_yaml::from_str(&std::fs::read_to_string(devkit::paths::template()).unwrap()).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut uses = std::collections::BTreeMap::new();
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for statement in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|policy| policy.get("Statement")?.as_sequence())
            .flatten()
        {
            for action in strings(&statement["Action"]) {
                if !action.starts_with("kms:") && action != "*" {
                    continue;
                }
                // `!GetAtt Key.Arn`: one key, named.
                let key = match &statement["Resource"] {
                    Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
                        .value
                        .as_str()
                        .and_then(|target| target.strip_suffix(".Arn"))
                        .unwrap_or("(not one key)")
                        .to_owned(),
                    _ => "(not one key)".to_owned(),
                };
                let purpose = statement["Condition"]["StringEquals"]
                    ["kms:EncryptionContext:purpose"]
                    .as_str()
                    .map(str::to_owned);
                uses.entry(name.as_str().unwrap().to_owned())
                    .or_insert_with(BTreeSet::new)
                    .insert((action, key, purpose));
            }
        }
    }
    let seal = |action: &str, key: &str, purpose: bool| {
        (
            action.to_owned(),
            key.to_owned(),
            purpose.then(|| "payout-destination".to_owned()),
        )
    };
    let open = BTreeSet::from([seal("kms:Decrypt", "PayoutAccountKey", true)]);
    let expected = std::collections::BTreeMap::from([
        (
            "PutPayoutAccountFunction".to_owned(),
            BTreeSet::from([
                seal("kms:GenerateDataKey", "PayoutAccountKey", true),
                seal("kms:GenerateMac", "PayoutAccountMacKey", false),
            ]),
        ),
        ("ProcessPendingFunction".to_owned(), open.clone()),
        ("ProcessPayoutFunction".to_owned(), open.clone()),
        ("RetryPayoutFunction".to_owned(), open.clone()),
        ("BulkPayoutsFunction".to_owned(), open),
    ]);
    assert_eq!(uses, expected);
}

#[test]
fn only_the_account_and_gateway_functions_may_write_payout_accounts() {
    let template: Value =
        serde_yaml::from_str(&std::fs::read_to_string(devkit::paths::template()).unwrap()).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut writers = BTreeSet::new();
    let mut checked = 0;
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        checked += 1;
        let statements: Vec<&Value> = resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|policy| policy.get("Statement")?.as_sequence())
            .flatten()
            .collect();
        let denies_accounts = statements.iter().any(|statement| {
            statement["Effect"] == "Deny"
                && WRITES
                    .iter()
                    .all(|write| strings(&statement["Action"]).iter().any(|a| a == write))
                && leading_keys(statement).is_some_and(|(operator, keys)| {
                    operator == "ForAnyValue:StringLike" && keys == ["ACCOUNT#*"]
                })
        });
        // Could any Allow reach an account item with a write?
        let may_write_accounts = statements.iter().any(|statement| {
            statement["Effect"] == "Allow"
                && strings(&statement["Action"])
                    .iter()
                    .any(|action| WRITES.contains(&action.as_str()) || action == "dynamodb:*")
                && match leading_keys(statement) {
                    None => true,
                    Some((_, keys)) => keys
                        .iter()
                        .any(|key| key == "*" || key.starts_with("ACCOUNT#")),
                }
        });
        if may_write_accounts && !denies_accounts {
            writers.insert(name.to_owned());
        }
    }
    assert!(checked >= 20, "read {checked} functions");
    let allowed: BTreeSet<String> = ACCOUNT_WRITERS.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(
        writers, allowed,
        "the functions whose IAM lets them write ACCOUNT# items"
    );
}

fn account(number: &str) -> NewPayoutAccount {
    devkit::testing::asha_bank_account(number)
}

#[tokio::test]
async fn accounts_live_in_their_own_key_space() {
    let store = fresh_store().await;
    let saved = save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &Actor::user(7),
        account("765432123456789"),
        0,
    )
    .await
    .unwrap();
    assert!(item(&store, "ACCOUNT#7", "ACCOUNT").await.is_some());
    assert!(
        item(&store, "ACCOUNT#7", &format!("REV#{:020}", saved.revision))
            .await
            .is_some()
    );
    assert!(item(&store, "USER#7", "PAYOUT_ACCOUNT").await.is_none());
    assert_eq!(store.payout_account(7).await.unwrap(), Some(saved));
}

#[tokio::test]
async fn a_legacy_account_is_read_waits_for_its_move_and_is_moved_by_a_save_or_the_migration() {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", 7, Paise(100_000)))
        .await
        .unwrap();
    let legacy = legacy_account(&store, 7, account("765432123456789")).await;
    // Read where it is, with its history and its email.
    assert_eq!(store.payout_account(7).await.unwrap(), Some(legacy.clone()));
    assert_eq!(
        store.payout_account_revisions(7, 20).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.payout_account_email(7).await.unwrap().as_deref(),
        Some("asha@example.com")
    );

    // Its payouts wait: a claim is conditioned on the account in its own place.
    let payout = request_payout(
        &store,
        service::config::PayoutLimits {
            min: Paise(100),
            max: Paise(10_000_000),
        },
        &Actor::user(7),
        PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(10_000)),
            idempotency_key: None,
        },
    )
    .await
    .unwrap()
    .payout()
    .clone();
    let gateway = devkit::testing::gateway(&store, 1.0);
    let processor = Processor::new(&store, &gateway, devkit::testing::processor_config(10));
    let summary = processor.run().await.unwrap();
    assert_eq!(summary.found, 0, "passed over until it moves: {summary:?}");
    let waiting = store.payout(payout.payout_id).await.unwrap().unwrap();
    assert_eq!(waiting.status, PayoutStatus::Pending);
    assert_eq!(waiting.attempt_sent_at, None, "never claimed");

    // The migration moves it, and its revision record, once.
    let moved = service::account::migrate_legacy_accounts(&store, &devkit::testing::vault().await)
        .await
        .unwrap();
    assert_eq!((moved.accounts, moved.revisions), (1, 1));
    assert!(item(&store, "USER#7", "PAYOUT_ACCOUNT").await.is_none());
    // Sealed on the way: the same account, its number no longer in plain text.
    let migrated = store.payout_account(7).await.unwrap().unwrap();
    assert_eq!(migrated.revision, legacy.revision);
    assert_eq!(migrated.masked(), legacy.masked());
    assert!(migrated.destination.legacy().is_none());
    let stored = item(&store, "ACCOUNT#7", "ACCOUNT").await.unwrap();
    assert!(
        !format!("{stored:?}").contains("765432123456789"),
        "{stored:?}"
    );
    assert_eq!(
        devkit::testing::vault()
            .await
            .open(7, &migrated.destination)
            .await
            .unwrap(),
        Destination::BankAccount {
            ifsc: "HDFC0000053".to_owned(),
            account_number: "765432123456789".to_owned()
        }
    );
    assert_eq!(
        store.payout_account_revisions(7, 20).await.unwrap().len(),
        1
    );
    let again = service::account::migrate_legacy_accounts(&store, &devkit::testing::vault().await)
        .await
        .unwrap();
    assert_eq!((again.accounts, again.revisions), (0, 0));
    processor.run().await.unwrap();
    assert_eq!(
        store
            .payout(payout.payout_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        PayoutStatus::Completed
    );

    // A save moves a legacy account too, as a change of the one it read (a hold, the
    // history kept).
    let legacy_8 = legacy_account(&store, 8, account("765432123456789")).await;
    let saved = save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &Actor::user(8),
        account("112233445566"),
        3_600,
    )
    .await
    .unwrap();
    assert_eq!(saved.revision, legacy_8.revision + 1);
    assert!(saved.hold_until.is_some(), "a change of the legacy account");
    assert!(item(&store, "USER#8", "PAYOUT_ACCOUNT").await.is_none());
    let history = store.payout_account_revisions(8, 20).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![saved.revision, legacy_8.revision]
    );
    let moved = service::account::migrate_legacy_accounts(&store, &devkit::testing::vault().await)
        .await
        .unwrap();
    assert_eq!((moved.accounts, moved.revisions), (0, 1));
    assert_eq!(
        store.payout_account_revisions(8, 20).await.unwrap(),
        history
    );
}
