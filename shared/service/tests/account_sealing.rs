//! Bank details as secrets: an account number or VPA is stored sealed
//! with a KMS data key (moto's KMS here), opened only to register the fund account at
//! RazorpayX (the local one), and not kept once RazorpayX holds it.

use std::time::Duration;

use api::auth::DEV_JWT_SECRET;
use aws_sdk_dynamodb::types::AttributeValue;
use devkit::api::Api;
use devkit::razorpayx::{FakeConfig, FakeRazorpayX};
use devkit::testing::{fresh_store, stored_item, vault};
use domain::actor::{Actor, Role};
use domain::money::Paise;
use domain::payout::PayoutStatus;
use gateway::RazorpayX;
use platform::vault::VaultError;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{PayoutLimits, ProcessorConfig, RazorpayXConfig, DEV_RAZORPAYX_KEY_SECRET};
use service::process::Processor;
use service::scout::Scout;
use store::Store;

const OWNER: u64 = 7;
const NUMBER: &str = "765432123456789";
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};

fn bank(number: &str) -> NewPayoutAccount {
    devkit::testing::asha_bank_account(number)
}

/// Every attribute of an item, as text, for "does it hold this anywhere".
fn item_text(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    format!("{item:?}")
}

async fn account_item(
    store: &Store,
    user_id: u64,
) -> std::collections::HashMap<String, AttributeValue> {
    stored_item(store, &format!("ACCOUNT#{user_id}"), "ACCOUNT")
        .await
        .expect("the account is stored")
}

async fn request(store: &Store, amount: u64) -> domain::payout::Payout {
    devkit::testing::requested(store, LIMITS, OWNER, "s-1", amount).await
}

async fn razorpayx() -> (FakeRazorpayX, RazorpayX) {
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::ZERO,
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let gateway = RazorpayX::new(
        &RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, 2_000)
            .with_vault(vault().await),
    )
    .unwrap();
    (fake, gateway)
}

/// Processor runs until the payout has settled (RazorpayX accepts it in one, and says
/// it is processed when asked again after `poll_secs`).
async fn pay(
    store: &Store,
    gateway: &RazorpayX,
    payout: &domain::payout::Payout,
) -> domain::payout::Payout {
    for _ in 0..5 {
        Processor::new(store, gateway, config())
            .run()
            .await
            .unwrap();
        let now = store.payout(payout.payout_id).await.unwrap().unwrap();
        if now.status != PayoutStatus::Processing {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    store.payout(payout.payout_id).await.unwrap().unwrap()
}

/// A table where the owner's scout has earnings and the owner has saved `NUMBER`.
async fn with_earnings_and_account() -> (Store, platform::vault::Vault) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(100_000)))
        .await
        .unwrap();
    let vault = vault().await;
    save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 0)
        .await
        .unwrap();
    (store, vault)
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        batch_size: 10,
        concurrency: 10,
        lease_secs: 300,
        poll_secs: 1,
        drain: None,
        validate_accounts: false,
    }
}

#[tokio::test]
async fn a_saved_account_holds_its_number_and_vpa_sealed_never_in_plain_text() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    let token = devkit::token::mint(DEV_JWT_SECRET, OWNER, Role::User, 600).unwrap();
    for (body, secret, masked) in [
        (
            serde_json::json!({"type": "bank_account", "name": "Asha Rao",
                "ifsc": "HDFC0000053", "account_number": NUMBER}),
            NUMBER,
            "XXXXXXXXXXX6789",
        ),
        (
            serde_json::json!({"type": "vpa", "name": "Asha Rao", "address": "asha.rao@okhdfc"}),
            "asha.rao@okhdfc",
            "as***@okhdfc",
        ),
    ] {
        let saved = api
            .call(devkit::api::Call {
                method: "PUT",
                path: "/me/payout-account",
                query: "",
                token: Some(&token),
                body: Some(&body.to_string()),
                headers: Vec::new(),
            })
            .await;
        assert_eq!(saved.status, 200, "{:?}", saved.body);
        assert!(!saved.body.to_string().contains(secret), "{:?}", saved.body);

        let item = account_item(&store, OWNER).await;
        let text = item_text(&item);
        assert!(!text.contains(secret), "stored in plain text: {text}");
        assert!(!item.contains_key("account_number") && !item.contains_key("address"));
        assert_eq!(
            item.get("destination_masked"),
            Some(&AttributeValue::S(masked.to_owned()))
        );
        assert!(item.contains_key("destination_sealed"), "{text}");
        assert!(item.contains_key("destination_fingerprint"), "{text}");
        // Its revision record holds the masked form alone.
        let account = store.payout_account(OWNER).await.unwrap().unwrap();
        let record = stored_item(
            &store,
            &format!("ACCOUNT#{OWNER}"),
            &format!("REV#{:020}", account.revision),
        )
        .await
        .unwrap();
        assert!(!item_text(&record).contains(secret));
        // Only the vault, under this user, gets it back.
        let opened = vault()
            .await
            .open(OWNER, &account.destination)
            .await
            .unwrap();
        assert!(format!("{:?}", serde_json::to_string(&opened).unwrap()).contains(secret));
    }
}

#[tokio::test]
async fn a_seal_does_not_open_under_another_user_or_once_changed() {
    let vault = vault().await;
    let destination = Destination::BankAccount {
        ifsc: "HDFC0000053".to_owned(),
        account_number: NUMBER.to_owned(),
    };
    let sealed = vault.seal(OWNER, &destination).await.unwrap();
    assert_eq!(vault.open(OWNER, &sealed).await.unwrap(), destination);
    // Copied onto another user's account: KMS refuses the data key under that context.
    assert!(vault.open(OWNER + 1, &sealed).await.is_err());
    // The ciphertext changed: the cipher's tag fails.
    let mut tampered = sealed.clone();
    if let Some(sealed) = tampered.sealed.as_mut() {
        let mut data = sealed.data.clone().into_bytes();
        data[2] = if data[2] == b'A' { b'B' } else { b'A' };
        sealed.data = String::from_utf8(data).unwrap();
    }
    assert!(matches!(
        vault.open(OWNER, &tampered).await,
        Err(VaultError::Unreadable(_))
    ));
    // The same destination seals differently each time (a data key per seal), with
    // the same fingerprint; another's fingerprint differs.
    let again = vault.seal(OWNER, &destination).await.unwrap();
    assert_ne!(again.sealed, sealed.sealed);
    assert!(again.same_as(&sealed));
    let other = vault
        .seal(
            OWNER,
            &Destination::BankAccount {
                ifsc: "HDFC0000053".to_owned(),
                account_number: "112233445566".to_owned(),
            },
        )
        .await
        .unwrap();
    assert!(!other.same_as(&sealed));
    // Debug shows neither the number nor the sealed parts.
    let debug = format!("{sealed:?}");
    assert!(!debug.contains(NUMBER), "{debug}");
}

#[tokio::test]
async fn the_sealed_number_is_dropped_once_razorpayx_holds_the_fund_account() {
    let (store, vault) = with_earnings_and_account().await;
    let (fake, gateway) = razorpayx().await;
    let first = request(&store, 1_000).await;
    let paid = pay(&store, &gateway, &first).await;
    assert_eq!(paid.status, PayoutStatus::Completed, "{paid:?}");

    // RazorpayX was given the number, opened from the seal.
    let fund_accounts = fake.fund_accounts();
    assert_eq!(fund_accounts.len(), 1);
    assert_eq!(fund_accounts[0]["bank_account"]["account_number"], NUMBER);
    // And we no longer keep it, sealed or not.
    let item = account_item(&store, OWNER).await;
    assert!(!item.contains_key("destination_sealed"), "{item:?}");
    assert!(item.contains_key("gateway_fund_account_id"));
    assert_eq!(
        item.get("destination_masked"),
        Some(&AttributeValue::S("XXXXXXXXXXX6789".to_owned()))
    );

    // Later payouts go to the fund account without it.
    let second = request(&store, 2_000).await;
    let paid = pay(&store, &gateway, &second).await;
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(fake.fund_accounts().len(), 1, "no second fund account");

    // Saving the same destination again is no change: no hold, the fund account kept,
    // nothing sealed kept (RazorpayX has it).
    let before = store.payout_account(OWNER).await.unwrap().unwrap();
    let same = save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 3_600)
        .await
        .unwrap();
    assert_eq!(same.hold_until, None);
    assert_eq!(same.gateway_fund_account_id, before.gateway_fund_account_id);
    assert!(!account_item(&store, OWNER)
        .await
        .contains_key("destination_sealed"));

    // Another destination is a change: held, sealed, registered afresh when it is paid.
    let changed = save_payout_account(
        &store,
        &vault,
        &Actor::user(OWNER),
        bank("112233445566"),
        3_600,
    )
    .await
    .unwrap();
    assert!(changed.hold_until.is_some());
    assert_eq!(changed.gateway_fund_account_id, None);
    assert!(account_item(&store, OWNER)
        .await
        .contains_key("destination_sealed"));
}

#[tokio::test]
async fn an_account_whose_seal_does_not_open_fails_its_payouts_and_waits_for_a_save() {
    let (store, vault) = with_earnings_and_account().await;
    // Another user's seal put on this account (a table write by someone who may).
    let foreign = vault
        .seal(
            OWNER + 1,
            &Destination::BankAccount {
                ifsc: "HDFC0000053".to_owned(),
                account_number: "999988887777".to_owned(),
            },
        )
        .await
        .unwrap();
    let mut item = account_item(&store, OWNER).await;
    let foreign_item =
        serde_dynamo::to_item::<_, std::collections::HashMap<String, AttributeValue>>(&foreign)
            .unwrap();
    item.insert(
        "destination_sealed".to_owned(),
        foreign_item["destination_sealed"].clone(),
    );
    devkit::testing::put_item(&store, item).await;

    let (fake, gateway) = razorpayx().await;
    let payout = request(&store, 1_000).await;
    Processor::new(&store, &gateway, config())
        .run()
        .await
        .unwrap();
    let failed = store.payout(payout.payout_id).await.unwrap().unwrap();
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payout_account_invalid")
    );
    assert!(fake.fund_accounts().is_empty(), "nothing registered");
    assert!(fake.payouts().is_empty(), "nothing paid");

    // The user saves again: the payout goes back to the queue and is paid there.
    save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 0)
        .await
        .unwrap();
    let paid = pay(&store, &gateway, &payout).await;
    assert_eq!(paid.status, PayoutStatus::Completed, "{paid:?}");
    assert_eq!(
        fake.fund_accounts()[0]["bank_account"]["account_number"],
        NUMBER
    );
}

#[tokio::test]
async fn an_account_saved_in_plain_text_in_its_own_place_is_paid_then_sealed_in_place() {
    let (store, vault) = with_earnings_and_account().await;
    devkit::testing::plain_account_in_place(&store, OWNER, NUMBER).await;
    let plain = store.payout_account(OWNER).await.unwrap().unwrap();
    assert!(plain.destination.legacy().is_some());

    // Paid from the plain destination, as before.
    let (fake, gateway) = razorpayx().await;
    let payout = request(&store, 1_000).await;
    let paid = pay(&store, &gateway, &payout).await;
    assert_eq!(paid.status, PayoutStatus::Completed, "{paid:?}");
    assert_eq!(
        fake.fund_accounts()[0]["bank_account"]["account_number"],
        NUMBER
    );

    // The migration seals it where it is: the same revision, no number left, nothing
    // sealed either now that RazorpayX holds it; run again, it finds nothing.
    let migrated = service::account::migrate_legacy_accounts(&store, &vault)
        .await
        .unwrap();
    assert_eq!(migrated.sealed_in_place, 1);
    let item = account_item(&store, OWNER).await;
    assert!(!item_text(&item).contains(NUMBER), "{item:?}");
    assert!(!item.contains_key("destination_sealed"));
    let sealed = store.payout_account(OWNER).await.unwrap().unwrap();
    assert_eq!(sealed.revision, plain.revision);
    assert_eq!(sealed.masked(), plain.masked());
    let again = service::account::migrate_legacy_accounts(&store, &vault)
        .await
        .unwrap();
    assert_eq!(again.sealed_in_place, 0);

    // A save of the same destination is no change.
    let same = save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 3_600)
        .await
        .unwrap();
    assert_eq!(same.hold_until, None);
    assert_eq!(same.gateway_fund_account_id, sealed.gateway_fund_account_id);
}

#[tokio::test]
async fn a_save_over_a_plain_account_seals_it_first_and_the_same_destination_is_no_change() {
    let store = fresh_store().await;
    let vault = vault().await;
    save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 0)
        .await
        .unwrap();
    devkit::testing::plain_account_in_place(&store, OWNER, NUMBER).await;
    let same = save_payout_account(&store, &vault, &Actor::user(OWNER), bank(NUMBER), 3_600)
        .await
        .unwrap();
    assert_eq!(same.hold_until, None, "the same destination is no change");
    assert!(!item_text(&account_item(&store, OWNER).await).contains(NUMBER));
    let other = save_payout_account(
        &store,
        &vault,
        &Actor::user(OWNER),
        bank("112233445566"),
        3_600,
    )
    .await
    .unwrap();
    assert!(
        other.hold_until.is_some(),
        "another destination is a change"
    );
}

#[tokio::test]
async fn a_seal_under_a_key_other_than_ours_is_a_fault_of_ours_and_the_payouts_wait() {
    let (store, _ours) = with_earnings_and_account().await;
    // The paying functions were given another key (a misconfigured stage).
    let clients = devkit::moto::Clients::new(&devkit::testing::moto_endpoint()).await;
    let other_key = clients
        .kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let keys = devkit::testing::account_keys().await;
    let wrong =
        platform::vault::Vault::with_client(clients.kms.clone(), other_key, &keys.mac_key_id);
    let fake = FakeRazorpayX::start(0, FakeConfig::default())
        .await
        .unwrap();
    let gateway = RazorpayX::new(
        &RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, 2_000).with_vault(wrong),
    )
    .unwrap();
    let payout = request(&store, 1_000).await;
    let run = Processor::new(&store, &gateway, config()).run().await;
    assert!(
        matches!(run, Err(domain::Error::Config(_))),
        "a configuration fault, not the user's: {run:?}"
    );
    let waiting = store.payout(payout.payout_id).await.unwrap().unwrap();
    assert_eq!(waiting.status, PayoutStatus::Pending, "{waiting:?}");
    assert!(fake.contacts().is_empty(), "no contact left behind");
    assert!(fake.fund_accounts().is_empty());
}
