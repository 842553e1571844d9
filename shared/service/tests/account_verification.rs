//! A destination is verified before money goes to it (`PAYOUT_ACCOUNT_VALIDATION`):
//! the processor, the RazorpayX client over HTTP against the local RazorpayX (devkit),
//! its signed webhooks through `POST /webhooks/razorpayx`, and DynamoDB Local. After
//! each test the books balance and every completed payout was paid once.

use std::time::Duration;

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call};
use devkit::invariants::assert_balances;
use devkit::razorpayx::{
    assert_paid_once, FakeConfig, FakeRazorpayX, ValidationFaults, WebhookConfig, WebhookSink,
};
use devkit::testing::fresh_store;
use devkit::token::mint;
use domain::actor::{Actor, Role};
use domain::error::Error;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;
use gateway::RazorpayX;
use service::account::{
    save_payout_account, Destination, NewPayoutAccount, PayoutAccount, PayoutHold, Verification,
    VerificationFailure, VerificationStatus,
};
use service::config::{
    PayoutLimits, ProcessorConfig, RazorpayXConfig, WebhookSecrets, DEV_RAZORPAYX_KEY_SECRET,
    DEV_RAZORPAYX_WEBHOOK_SECRET,
};
use service::listing::my_payouts;
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::Store;

const NO_HOLD: u64 = 0;
const OWNER: u64 = 7;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const CLIENT_TIMEOUT_MS: u64 = 700;
const OPENING_BALANCE: u64 = 10_000_000;

struct World {
    store: Store,
    fake: FakeRazorpayX,
    sink: WebhookSink,
    gateway: RazorpayX,
}

fn validating() -> ProcessorConfig {
    ProcessorConfig {
        batch_size: 10,
        concurrency: 10,
        lease_secs: 300,
        poll_secs: 1,
        drain: None,
        validate_accounts: true,
    }
}

fn bank_account(name: &str, number: &str) -> NewPayoutAccount {
    NewPayoutAccount {
        name: name.to_owned(),
        destination: Destination::BankAccount {
            ifsc: "HDFC0000053".to_owned(),
            account_number: number.to_owned(),
        },
        email: Some("asha@example.com".to_owned()),
    }
}

/// Scout s-1 of user 7 with ₹1,000.00 and a bank account saved; a local RazorpayX that
/// settles payouts and validations 200 ms after it takes them, its webhooks caught by
/// a sink (the tests deliver them to the API themselves).
async fn world(faults: ValidationFaults) -> World {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(100_000)))
        .await
        .unwrap();
    save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("Asha Rao", "765432123456789"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let sink = WebhookSink::start().await.unwrap();
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::from_millis(200),
            hang: Duration::from_millis(CLIENT_TIMEOUT_MS * 2),
            opening_balance: OPENING_BALANCE,
            webhooks: WebhookConfig {
                url: Some(sink.url.clone()),
                secret: DEV_RAZORPAYX_WEBHOOK_SECRET.to_owned(),
                retry_base: Duration::from_millis(20),
                ..WebhookConfig::default()
            },
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    fake.set_validation_faults(faults).unwrap();
    let gateway = RazorpayX::new(
        &RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, CLIENT_TIMEOUT_MS)
            .with_vault(devkit::testing::vault().await),
    )
    .unwrap();
    World {
        store,
        fake,
        sink,
        gateway,
    }
}

impl World {
    async fn request(&self, amount: u64) -> Payout {
        devkit::testing::requested(&self.store, LIMITS, OWNER, "s-1", amount).await
    }

    async fn run(&self) {
        Processor::new(&self.store, &self.gateway, validating())
            .run()
            .await
            .unwrap();
    }

    async fn stored(&self, payout: &Payout) -> Payout {
        self.store.payout(payout.payout_id).await.unwrap().unwrap()
    }

    async fn account(&self) -> PayoutAccount {
        self.store.payout_account(OWNER).await.unwrap().unwrap()
    }

    async fn verification(&self) -> Verification {
        self.account()
            .await
            .verification
            .expect("the processor started a check")
    }

    /// Runs the processor until the account's check has its answer (the fake settles it
    /// 200 ms after it is taken), at most a few seconds.
    async fn run_until_checked(&self) -> Verification {
        for _ in 0..20 {
            self.run().await;
            let verification = self.verification().await;
            if verification.status != VerificationStatus::Pending {
                return verification;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("the check never got its answer");
    }

    /// Runs the processor until the payout has settled.
    async fn run_until_settled(&self, payout: &Payout) -> Payout {
        for _ in 0..30 {
            self.run().await;
            let now = self.stored(payout).await;
            if matches!(
                now.status,
                PayoutStatus::Completed | PayoutStatus::Failed | PayoutStatus::Reversed
            ) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("payout {} never settled", payout.payout_id);
    }

    async fn books(&self, payouts: &[Payout]) {
        assert_balances(&self.store, &["s-1"], &[OWNER]).await;
        let stored: Vec<Payout> =
            futures::future::join_all(payouts.iter().map(|payout| self.stored(payout))).await;
        assert_paid_once(&self.fake, &stored);
    }
}

#[tokio::test]
async fn a_new_account_is_verified_once_before_any_payout_goes_to_it() {
    let world = world(ValidationFaults::default()).await;
    let first = world.request(20_000).await;
    let second = world.request(30_000).await;

    world.run().await;
    // Nothing is paid while the check is under way; both payouts wait, unclaimed.
    for payout in [&first, &second] {
        let stored = world.stored(payout).await;
        assert_eq!(stored.status, PayoutStatus::Pending);
        assert_eq!(stored.attempt_sent_at, None, "never claimed");
    }
    assert!(world.fake.payouts().is_empty());
    let started = world.verification().await;
    assert_eq!(started.status, VerificationStatus::Pending);
    assert!(started.validation_id.is_some());
    assert_eq!(world.fake.validations().len(), 1);
    // The user and an admin see why.
    let mine = my_payouts(&world.store, &Actor::user(OWNER), true, 20, None)
        .await
        .unwrap();
    assert_eq!(mine.hold, Some(PayoutHold::Unverified));

    let checked = world.run_until_checked().await;
    assert_eq!(checked.status, VerificationStatus::Verified);
    assert_eq!(checked.registered_name.as_deref(), Some("ASHA RAO"));
    assert_eq!(checked.name_matches, Some(true));
    for payout in [&first, &second] {
        assert_eq!(
            world.run_until_settled(payout).await.status,
            PayoutStatus::Completed
        );
    }
    // Once per destination, never per payout.
    assert_eq!(world.fake.validations().len(), 1);
    world.books(&[first, second]).await;
}

#[tokio::test]
async fn an_invalid_account_fails_its_payouts_until_another_is_saved() {
    let world = world(ValidationFaults {
        invalid_account: 1.0,
        ..ValidationFaults::default()
    })
    .await;
    let payout = world.request(20_000).await;
    let checked = world.run_until_checked().await;
    assert_eq!(checked.status, VerificationStatus::Failed);
    assert_eq!(checked.failure, Some(VerificationFailure::AccountInvalid));

    let failed = world.run_until_settled(&payout).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payout_account_invalid")
    );
    assert!(world.fake.payouts().is_empty(), "no money went out");

    // A new account sends it round again, and is checked afresh.
    world
        .fake
        .set_validation_faults(ValidationFaults::default())
        .unwrap();
    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("Asha Rao", "112233445566"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let requeued = world.stored(&payout).await;
    assert_eq!(requeued.status, PayoutStatus::Pending);
    assert_eq!(world.account().await.verification, None);
    assert_eq!(
        world.run_until_checked().await.status,
        VerificationStatus::Verified
    );
    let paid = world.run_until_settled(&payout).await;
    assert_eq!(paid.status, PayoutStatus::Completed);
    assert_eq!(world.fake.validations().len(), 2, "one per destination");
    assert_eq!(paid.destination.as_deref(), Some("XXXXXXXX5566"));
    world.books(&[payout]).await;
}

#[tokio::test]
async fn an_account_held_under_another_name_is_not_paid() {
    let world = world(ValidationFaults {
        name_mismatch: 1.0,
        ..ValidationFaults::default()
    })
    .await;
    let payout = world.request(20_000).await;
    let checked = world.run_until_checked().await;
    assert_eq!(checked.status, VerificationStatus::Failed);
    assert_eq!(checked.failure, Some(VerificationFailure::NameMismatch));
    assert_eq!(checked.name_matches, Some(false));
    assert!(checked
        .registered_name
        .is_some_and(|name| name != "ASHA RAO"));
    let failed = world.run_until_settled(&payout).await;
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payout_account_invalid")
    );
    assert!(world.fake.payouts().is_empty());
    world.books(&[payout]).await;
}

#[tokio::test]
async fn the_signed_webhook_answers_the_check_and_a_repeat_changes_nothing() {
    let world = world(ValidationFaults::default()).await;
    let payout = world.request(20_000).await;
    world.run().await;
    let started = world.verification().await;
    let id = started.validation_id.clone().unwrap();
    world
        .fake
        .wait_for_webhooks_idle(Duration::from_secs(10))
        .await
        .unwrap();
    // Wait for the settled validation's webhook.
    let mut delivery = None;
    for _ in 0..50 {
        delivery = world.sink.received().into_iter().find(|delivery| {
            serde_json::from_slice::<serde_json::Value>(&delivery.body).unwrap()["payload"]
                ["fund_account.validation"]["entity"]["id"]
                == id.as_str()
        });
        if delivery.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivery = delivery.expect("the fake sent the validation's webhook");
    let mut api = Api::new(world.store.clone());
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| match name {
            "STAGE" => Some("local".to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(DEV_RAZORPAYX_WEBHOOK_SECRET.to_owned()),
            _ => None,
        })
        .unwrap(),
    );
    let body = String::from_utf8(delivery.body.clone()).unwrap();
    let deliver = |signature: String| {
        let api = &api;
        let body = body.clone();
        let event_id = delivery.event_id.clone();
        async move {
            api.call(Call {
                method: "POST",
                path: "/webhooks/razorpayx",
                body: Some(&body),
                headers: vec![
                    ("x-razorpay-event-id", &event_id),
                    ("x-razorpay-signature", &signature),
                ],
                ..Call::default()
            })
            .await
        }
    };
    // A forged signature is refused and changes nothing.
    let forged = deliver("a".repeat(64)).await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    assert_eq!(world.verification().await, started);

    let applied = deliver(delivery.signature.clone()).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["handled"], "verification_applied");
    let verified = world.verification().await;
    assert_eq!(verified.status, VerificationStatus::Verified);
    let again = deliver(delivery.signature.clone()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["handled"], "verification_ignored");
    assert_eq!(world.verification().await, verified);

    // The owner sees it on their account; the payout goes on the next run.
    let mut api = Api::new(world.store.clone());
    api.app.config.processor.validate_accounts = true;
    let token = mint(DEV_JWT_SECRET, OWNER, Role::User, 600).unwrap();
    let account = api
        .call(Call {
            method: "GET",
            path: "/me/payout-account",
            token: Some(&token),
            ..Call::default()
        })
        .await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert_eq!(account.body["verification"]["status"], "verified");
    assert_eq!(account.body["verification"]["registered_name"], "ASHA RAO");
    assert_eq!(account.body["verification"]["name_matches"], true);
    assert_eq!(
        world.run_until_settled(&payout).await.status,
        PayoutStatus::Completed
    );
    world.books(&[payout]).await;
}

#[tokio::test]
async fn two_processors_at_once_start_one_check() {
    let world = world(ValidationFaults::default()).await;
    let payouts = [world.request(20_000).await, world.request(30_000).await];
    let one = Processor::new(&world.store, &world.gateway, validating());
    let other = Processor::new(&world.store, &world.gateway, validating());
    let (a, b) = tokio::join!(one.run(), other.run());
    a.unwrap();
    b.unwrap();
    assert_eq!(world.fake.validations().len(), 1, "one penny, not two");
    for payout in &payouts {
        assert_eq!(world.stored(payout).await.status, PayoutStatus::Pending);
    }
    world.run_until_checked().await;
    for payout in &payouts {
        world.run_until_settled(payout).await;
    }
    assert_eq!(world.fake.validations().len(), 1);
    world.books(&payouts).await;
}

#[tokio::test]
async fn a_start_whose_answer_was_lost_is_found_again_not_paid_twice() {
    let world = world(ValidationFaults {
        timeout: 1.0,
        ..ValidationFaults::default()
    })
    .await;
    let payout = world.request(20_000).await;
    world.run().await;
    // RazorpayX made the validation; its answer never came back.
    let unanswered = world.verification().await;
    assert_eq!(unanswered.validation_id, None);
    assert_eq!(world.fake.validations().len(), 1);
    // Within the start's lease, nobody starts it again.
    world.run().await;
    assert_eq!(world.fake.validations().len(), 1);
    assert_eq!(world.verification().await.step, unanswered.step);

    // Past it (its start moved back in time), the next run finds the first one.
    world
        .fake
        .set_validation_faults(ValidationFaults::default())
        .unwrap();
    let long_ago = Verification {
        started_at: Timestamp::now().minus_secs(3_600),
        step: unanswered.step + 1,
        ..unanswered.clone()
    };
    assert!(world
        .store
        .put_verification(
            OWNER,
            world.account().await.revision,
            Some(unanswered.step),
            &long_ago
        )
        .await
        .unwrap());
    let checked = world.run_until_checked().await;
    assert_eq!(checked.status, VerificationStatus::Verified);
    assert_eq!(
        world.fake.validations().len(),
        1,
        "found, not started again"
    );
    assert_eq!(
        world.run_until_settled(&payout).await.status,
        PayoutStatus::Completed
    );
    world.books(&[payout]).await;
}

#[tokio::test]
async fn an_admins_process_now_waits_for_the_check() {
    let world = world(ValidationFaults::default()).await;
    let payout = world.request(20_000).await;
    let processor = Processor::new(&world.store, &world.gateway, validating());
    let err = processor.process_one(payout.payout_id).await.unwrap_err();
    assert!(
        matches!(err, Error::PayoutAccountUnverified { user_id: OWNER }),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 409);
    assert_eq!(err.code(), "payout_account_unverified");
    let stored = world.stored(&payout).await;
    assert_eq!(stored, payout, "untouched");
    world.books(&[payout]).await;
}

#[tokio::test]
async fn a_save_of_the_same_account_keeps_its_check_and_a_new_name_starts_another() {
    let world = world(ValidationFaults::default()).await;
    world.request(20_000).await;
    world.run_until_checked().await;
    let verified = world.verification().await;
    // The same name and destination (a new email): the same fund account, still verified.
    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        NewPayoutAccount {
            email: Some("asha.rao@example.com".to_owned()),
            ..bank_account("Asha Rao", "765432123456789")
        },
        NO_HOLD,
    )
    .await
    .unwrap();
    assert_eq!(world.account().await.verification, Some(verified));
    // Another name is another fund account: checked again.
    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("Asha K Rao", "765432123456789"),
        NO_HOLD,
    )
    .await
    .unwrap();
    assert_eq!(world.account().await.verification, None);
}

/// A check that takes long (a slow bank) holds its user's payouts only: the run passes
/// them over and pays the next user's, even with room for one payout a batch.
#[tokio::test]
async fn payouts_waiting_for_a_check_do_not_hold_up_other_users() {
    let world = world(ValidationFaults::default()).await;
    const OTHER: u64 = 8;
    world
        .store
        .insert_scout(&Scout::with_earnings("s-2", OTHER, Paise(100_000)))
        .await
        .unwrap();
    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OTHER),
        bank_account("Ravi Shankar", "998877665544"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let request = |user: u64, scout: &str| {
        let store = world.store.clone();
        let scout = scout.to_owned();
        async move {
            request_payout(
                &store,
                LIMITS,
                &Actor::user(user),
                PayoutRequest {
                    scout_id: scout,
                    amount: Some(Paise(10_000)),
                    idempotency_key: None,
                },
            )
            .await
            .unwrap()
            .payout()
            .clone()
        }
    };
    // The other user is verified and paid once.
    let first = request(OTHER, "s-2").await;
    world.run_until_settled(&first).await;
    // The owner's check hangs (its answer never comes back); their payout is the
    // oldest in the queue, the other user's next.
    world
        .fake
        .set_validation_faults(ValidationFaults {
            timeout: 1.0,
            ..ValidationFaults::default()
        })
        .unwrap();
    let waiting = world.request(20_000).await;
    let next = request(OTHER, "s-2").await;
    let one_at_a_time = ProcessorConfig {
        batch_size: 1,
        concurrency: 1,
        ..validating()
    };
    let summary = Processor::new(&world.store, &world.gateway, one_at_a_time)
        .run()
        .await
        .unwrap();
    assert_eq!(summary.found, 1, "{summary:?}");
    assert_ne!(world.stored(&next).await.status, PayoutStatus::Pending);
    assert_eq!(world.stored(&waiting).await.status, PayoutStatus::Pending);
    world.run_until_settled(&next).await;
    assert_balances(&world.store, &["s-1", "s-2"], &[OWNER, OTHER]).await;
}

/// A check that never gets its answer is given up: after the last start, or once it
/// has waited longer than the bank may take, the payouts fail and the user is told.
#[tokio::test]
async fn a_check_without_an_answer_is_given_up_and_its_payouts_fail() {
    let world = world(ValidationFaults {
        timeout: 1.0,
        ..ValidationFaults::default()
    })
    .await;
    let payout = world.request(20_000).await;
    world.run().await;
    let unanswered = world.verification().await;
    assert_eq!(unanswered.starts, 1);
    // Its starts used up (each lost), the last one long ago.
    let spent = Verification {
        started_at: Timestamp::now().minus_secs(3_600),
        starts: service::account::MAX_VERIFICATION_STARTS,
        step: unanswered.step + 1,
        ..unanswered.clone()
    };
    let revision = world.account().await.revision;
    assert!(world
        .store
        .put_verification(OWNER, revision, Some(unanswered.step), &spent)
        .await
        .unwrap());
    let before = world.fake.validations().len();
    let failed = world.run_until_settled(&payout).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payout_account_invalid")
    );
    let gave_up = world.verification().await;
    assert_eq!(gave_up.status, VerificationStatus::Failed);
    assert_eq!(gave_up.failure, Some(VerificationFailure::GaveUp));
    assert_eq!(world.fake.validations().len(), before, "no fourth penny");
    world.books(&[payout]).await;
}
