//! The RazorpayX path end to end: the real RazorpayX client over HTTP against the
//! local RazorpayX (devkit), and DynamoDB Local. After each test the books balance and
//! every completed payout has exactly one processed payout at the gateway.

use std::time::Duration;

use devkit::admin::cancel_payout;
use devkit::invariants::assert_balances;
use devkit::razorpayx::{assert_paid_once, FakeConfig, FakeRazorpayX, Faults};
use devkit::testing::fresh_store;
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use gateway::{GatewayError, PaymentGateway, RazorpayX, TransferOutcome};
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{
    PayoutLimits, ProcessorConfig, RazorpayXConfig, RazorpayXKeys, DEV_RAZORPAYX_KEY_SECRET,
};
use service::process::{Processor, RunSummary};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{Lease, StatusChange, Store};

/// Holds on a change of account are tested in accounts.rs; here they would only wait.
const NO_HOLD: u64 = 0;

const OWNER: u64 = 7;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
/// The client gives up after this; the fake's `timeout` fault hangs longer.
const CLIENT_TIMEOUT_MS: u64 = 700;

struct World {
    store: Store,
    fake: FakeRazorpayX,
    gateway: RazorpayX,
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        batch_size: 10,
        concurrency: 10,
        lease_secs: 300,
        // Accepted payouts are due for another look a second later.
        poll_secs: 1,
        drain: None,
        validate_accounts: false,
    }
}

async fn client_for(fake: &FakeRazorpayX, key_secret: &str) -> RazorpayX {
    RazorpayX::new(
        &RazorpayXConfig::local(fake.base_url(), key_secret, CLIENT_TIMEOUT_MS)
            .with_vault(devkit::testing::vault().await),
    )
    .unwrap()
}

/// Scout s-1 of user 7 with ₹1,000.00, the user's bank account saved, and a local
/// RazorpayX that settles payouts 300 ms after it accepts them.
async fn world() -> World {
    world_settling_after(Duration::from_millis(300)).await
}

/// As [`world`], with RazorpayX settling payouts `settle_after` after it accepts them.
async fn world_settling_after(settle_after: Duration) -> World {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(100_000)))
        .await
        .unwrap();
    save_payout_account(
        &store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("765432123456789"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after,
            hang: Duration::from_millis(CLIENT_TIMEOUT_MS * 2),
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let gateway = client_for(&fake, DEV_RAZORPAYX_KEY_SECRET).await;
    World {
        store,
        fake,
        gateway,
    }
}

fn bank_account(number: &str) -> NewPayoutAccount {
    devkit::testing::asha_bank_account(number)
}

impl World {
    async fn request(&self, amount: u64) -> Payout {
        devkit::testing::requested(&self.store, LIMITS, OWNER, "s-1", amount).await
    }

    async fn run(&self) -> RunSummary {
        Processor::new(&self.store, &self.gateway, config())
            .run()
            .await
            .unwrap()
    }

    async fn stored(&self, payout: &Payout) -> Payout {
        self.store.payout(payout.payout_id).await.unwrap().unwrap()
    }

    /// Runs the processor until the payout leaves `pending`/`processing` (the fake
    /// settles asynchronously), at most a few seconds.
    async fn run_until_settled(&self, payout: &Payout) -> Payout {
        for _ in 0..20 {
            let now = self.stored(payout).await;
            if !now.status.is_in_flight() {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
            self.run().await;
        }
        self.stored(payout).await
    }

    /// What a processor does up to the gateway's answer and no further: claims the
    /// payout with where it goes (lease `token` until `lease_until`) and sends it.
    async fn claim_and_send(
        &self,
        pending: &Payout,
        token: &str,
        lease_until: Timestamp,
    ) -> Payout {
        let account = self.store.payout_account(OWNER).await.unwrap().unwrap();
        let ids = self.gateway.register_beneficiary(&account).await.unwrap();
        let mut claimed = pending.clone();
        claimed.gateway_fund_account_id = Some(ids.fund_account_id);
        claimed.gateway_mode = Some("IMPS".to_owned());
        claimed.attempt_sent_at = Some(Timestamp::now());
        claimed.lease_expires_at = Some(lease_until);
        let claimed = self
            .store
            .change_status(
                pending,
                StatusChange {
                    transition: Transition::Claim,
                    next: claimed,
                    lease: Lease::Acquire(token),
                    gateway_status_not_in: None,
                },
            )
            .await
            .unwrap();
        let sent = self
            .gateway
            .transfer(&claimed.idempotency_key(), &claimed)
            .await
            .unwrap();
        assert!(matches!(sent, TransferOutcome::Accepted { .. }), "{sent:?}");
        claimed
    }

    async fn assert_books(&self) {
        let payouts = assert_balances(&self.store, &["s-1"], &[OWNER]).await;
        assert_paid_once(&self.fake, &payouts);
    }
}

#[tokio::test]
async fn a_payout_is_accepted_then_processed_then_completed() {
    let world = world().await;
    let payout = world.request(25_000).await;

    let first = world.run().await;
    assert_eq!((first.found, first.accepted), (1, 1), "{first:?}");
    let accepted = world.stored(&payout).await;
    assert_eq!(accepted.status, PayoutStatus::Processing);
    assert_eq!(accepted.gateway_status.as_deref(), Some("processing"));
    let gateway_id = accepted.gateway_payout_id.clone().unwrap();
    assert!(gateway_id.starts_with("pout_"), "{gateway_id}");
    assert!(accepted.gateway_fund_account_id.is_some());
    assert_eq!(accepted.gateway_mode.as_deref(), Some("IMPS"));
    world.assert_books().await;

    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    let at_gateway = world.fake.payouts();
    assert_eq!(at_gateway.len(), 1);
    assert_eq!(at_gateway[0]["id"], gateway_id);
    assert_eq!(at_gateway[0]["amount"], 25_000);
    assert_eq!(at_gateway[0]["mode"], "IMPS");
    assert_eq!(at_gateway[0]["purpose"], "payout");
    assert_eq!(
        at_gateway[0]["idempotency_key"],
        payout.idempotency_key().as_str()
    );
    assert_eq!(
        done.payment_reference.as_deref(),
        at_gateway[0]["utr"].as_str()
    );
    let scout = world.store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(scout.paid_paise, Paise(25_000));
    world.assert_books().await;
}

#[tokio::test]
async fn a_5xx_creates_nothing_and_the_payout_waits_under_the_same_key() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let run = world.run().await;
    assert_eq!(run.requeued, 1, "{run:?}");
    let waiting = world.stored(&payout).await;
    assert_eq!(
        (waiting.status, waiting.attempt),
        (PayoutStatus::Pending, 1)
    );
    assert!(world.fake.payouts().is_empty());

    world.fake.set_faults(Faults::default());
    let done = world.run_until_settled(&payout).await;
    assert_eq!((done.status, done.attempt), (PayoutStatus::Completed, 1));
    world.assert_books().await;
}

/// The payout is created but the answer never comes back in time: the processor
/// asks by reference before anything else, finds it, and follows that one payout.
#[tokio::test]
async fn a_timeout_after_the_payout_was_created_is_found_by_reference() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        timeout: 1.0,
        ..Faults::default()
    });
    let run = world.run().await;
    // Found at once: still on its way, or (it settles in 300 ms) already processed.
    assert_eq!(
        (run.accepted + run.completed, run.requeued),
        (1, 0),
        "{run:?}"
    );
    world.fake.set_faults(Faults::default());
    let found = world.stored(&payout).await;
    assert_eq!(found.attempt, 1);
    assert_eq!(
        world.fake.payouts()[0]["reference_id"],
        payout.payout_id.to_string()
    );

    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    assert_eq!(world.fake.payouts().len(), 1, "created once");
    world.assert_books().await;
}

#[tokio::test]
async fn a_rate_limit_leaves_the_payout_pending_with_its_attempt() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        rate_limit: 1.0,
        ..Faults::default()
    });
    let run = world.run().await;
    assert_eq!(run.requeued, 1, "{run:?}");
    let waiting = world.stored(&payout).await;
    assert_eq!(
        (waiting.status, waiting.attempt),
        (PayoutStatus::Pending, 1)
    );
    assert!(waiting
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("rate limited")));
    assert!(world.fake.payouts().is_empty());
    world.assert_books().await;
}

#[tokio::test]
async fn a_rejection_fails_the_payout_with_the_banks_reason() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        reject: 1.0,
        ..Faults::default()
    });
    let run = world.run().await;
    assert_eq!(run.failed, 1, "{run:?}");
    let failed = world.stored(&payout).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    let reason = failed.failure_reason.clone().unwrap();
    assert!(reason.starts_with("failed: Payout failed"), "{reason}");
    let scout = world.store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.reserved_paise,
        Paise(10_000),
        "kept for a retry or cancel"
    );
    world.assert_books().await;
}

#[tokio::test]
async fn a_payout_that_fails_after_it_was_accepted_ends_failed_or_reversed() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        fail_after_accept: 1.0,
        ..Faults::default()
    });
    assert_eq!(world.run().await.accepted, 1);
    let balance_while_processing = world.fake.balance();
    let done = world.run_until_settled(&payout).await;
    // The poll finds what RazorpayX says: failed, or reversed (processed, then returned).
    let reason = done.failure_reason.as_deref().unwrap_or_default();
    match done.status {
        PayoutStatus::Failed => assert!(reason.starts_with("failed:"), "{done:?}"),
        PayoutStatus::Reversed => assert!(reason.starts_with("reversed:"), "{done:?}"),
        other => panic!("ended {other}: {done:?}"),
    }
    assert_eq!(world.fake.balance(), balance_while_processing + 10_000);
    world.assert_books().await;
}

/// The Lambda that paid died before it wrote anything: the next run takes the payout
/// over when its lease ends and finds the payout at the gateway by reference.
#[tokio::test]
async fn a_crash_between_the_gateway_call_and_our_write_is_recovered_without_a_second_payout() {
    // RazorpayX keeps the payout processing for longer than the run takes to reach it
    // (its first reads go to every shard of two statuses), so the recovery finds it
    // accepted, not settled already.
    let world = world_settling_after(Duration::from_secs(3)).await;
    let pending = world.request(10_000).await;
    // What the dead Lambda did: claim (with where to pay), send, and nothing more.
    let claimed = world
        .claim_and_send(
            &pending,
            "the-lambda-that-died",
            Timestamp::now().minus_secs(1),
        )
        .await;
    assert_eq!(claimed.status, PayoutStatus::Processing);

    let run = world.run().await;
    assert_eq!((run.recovered, run.accepted), (1, 1), "{run:?}");
    let done = world.run_until_settled(&pending).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    assert_eq!(world.fake.payouts().len(), 1);
    world.assert_books().await;
}

/// Same key, same body: the same payout. Same key, another body: refused, nothing new.
#[tokio::test]
async fn the_same_attempt_sent_twice_is_one_payout() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.run().await;
    let accepted = world.stored(&payout).await;
    let again = world
        .gateway
        .transfer(&accepted.idempotency_key(), &accepted)
        .await
        .unwrap();
    assert_eq!(
        again,
        TransferOutcome::Accepted {
            gateway_payout_id: accepted.gateway_payout_id.clone().unwrap(),
            gateway_status: "processing".to_owned(),
        }
    );
    let mut altered = accepted.clone();
    altered.amount_paise = Paise(10_001);
    // RazorpayX refuses it: a body that changed under one key is our own bug (an alarm),
    // and says nothing about the first send, so it is never a decline.
    let refused = world
        .gateway
        .transfer(&accepted.idempotency_key(), &altered)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, GatewayError::Misconfigured(why) if why.contains("Different request body")),
        "{refused:?}"
    );
    assert_eq!(world.fake.payouts().len(), 1);
    world.run_until_settled(&payout).await;
    world.assert_books().await;
}

#[tokio::test]
async fn a_low_balance_queues_the_payout_until_the_balance_is_topped_up() {
    let world = world().await;
    world.fake.set_balance(5_000);
    let payout = world.request(10_000).await;
    assert_eq!(world.run().await.accepted, 1);
    let queued = world.stored(&payout).await;
    assert_eq!(queued.gateway_status.as_deref(), Some("queued"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    world.run().await;
    assert_eq!(
        world.stored(&payout).await.status,
        PayoutStatus::Processing,
        "still queued at the gateway"
    );

    world.fake.set_balance(1_000_000);
    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    world.assert_books().await;
}

/// No account: the payout fails at once and does not block the queue; saving an
/// account sends it back to pending as a new attempt, which is then paid.
#[tokio::test]
async fn a_missing_account_fails_the_payout_until_one_is_saved() {
    let world = world().await;
    let store = &world.store;
    store
        .insert_scout(&Scout::with_earnings("s-2", 12, Paise(50_000)))
        .await
        .unwrap();
    let no_account = request_payout(
        store,
        LIMITS,
        &Actor::user(12),
        PayoutRequest {
            scout_id: "s-2".to_owned(),
            amount: Some(Paise(20_000)),
            idempotency_key: None,
        },
    )
    .await
    .unwrap()
    .payout()
    .clone();
    let other = world.request(10_000).await;

    let run = world.run().await;
    assert_eq!((run.failed, run.accepted), (1, 1), "{run:?}");
    let failed = world.stored(&no_account).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payout_account_missing")
    );

    let vpa = NewPayoutAccount {
        name: "Ravi Kumar".to_owned(),
        destination: Destination::Vpa {
            address: "ravi@okicici".to_owned(),
        },
        email: None,
    };
    save_payout_account(
        store,
        &devkit::testing::vault().await,
        &Actor::user(12),
        vpa,
        NO_HOLD,
    )
    .await
    .unwrap();
    let requeued = world.stored(&no_account).await;
    assert_eq!(
        (requeued.status, requeued.attempt),
        (PayoutStatus::Pending, 2)
    );
    assert_eq!(requeued.failure_reason, None);

    let done = world.run_until_settled(&no_account).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    assert_eq!(done.gateway_mode.as_deref(), Some("UPI"));
    world.run_until_settled(&other).await;
    let payouts = assert_balances(store, &["s-1", "s-2"], &[OWNER, 12]).await;
    assert_paid_once(&world.fake, &payouts);
}

/// A changed account is a new fund account for the next payout; a payout already
/// accepted keeps the one it was sent with.
#[tokio::test]
async fn a_changed_account_applies_to_the_next_payout_only() {
    let world = world().await;
    let first = world.request(10_000).await;
    world.run().await;
    let first_sent = world.stored(&first).await;
    let old_fund_account = first_sent.gateway_fund_account_id.clone().unwrap();

    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("99887766554433"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let second = world.request(20_000).await;
    world.run().await;
    let second_sent = world.stored(&second).await;
    let new_fund_account = second_sent.gateway_fund_account_id.clone().unwrap();
    assert_ne!(old_fund_account, new_fund_account);
    assert_eq!(
        world.stored(&first).await.gateway_fund_account_id,
        Some(old_fund_account.clone())
    );

    world.run_until_settled(&first).await;
    world.run_until_settled(&second).await;
    let at_gateway = world.fake.payouts();
    let fund_account_of = |payout: &Payout| {
        at_gateway
            .iter()
            .find(|item| item["reference_id"] == payout.payout_id.to_string())
            .map(|item| item["fund_account_id"].as_str().unwrap().to_owned())
    };
    assert_eq!(fund_account_of(&first), Some(old_fund_account));
    assert_eq!(fund_account_of(&second), Some(new_fund_account));
    world.assert_books().await;
}

/// Our own credentials refused (401) when a payout is sent: no payout is failed for
/// it, the run fails (the alarm), and the payout waits under the same key.
#[tokio::test]
async fn refused_credentials_fail_the_run_not_the_payout() {
    let world = world().await;
    // The account is registered (its fund account remembered) by a first payout.
    let first = world.request(10_000).await;
    world.run().await;
    let payout = world.request(10_000).await;
    let wrong = client_for(&world.fake, "not-the-secret-of-this-account").await;
    let err = Processor::new(&world.store, &wrong, config())
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("credentials"), "{err}");
    let waiting = world.stored(&payout).await;
    assert_eq!(
        (waiting.status, waiting.attempt),
        (PayoutStatus::Pending, 1)
    );
    assert!(waiting
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("401")));
    assert_eq!(
        world.fake.payouts().len(),
        1,
        "only the first payout reached it"
    );

    let done = world.run_until_settled(&payout).await;
    assert_eq!((done.status, done.attempt), (PayoutStatus::Completed, 1));
    world.run_until_settled(&first).await;
    world.assert_books().await;
}

/// A payout whose answer was lost went back to pending while RazorpayX holds it
/// (queued for low balance): cancel asks RazorpayX and refuses, and nothing changes.
#[tokio::test]
async fn cancel_asks_razorpayx_about_a_lost_answer() {
    let world = world().await;
    world.fake.set_balance(0);
    let pending = world.request(10_000).await;
    let claimed = world
        .claim_and_send(&pending, "a-processor", Timestamp::now().plus_secs(300))
        .await;
    // Its answer was lost: back to pending, same attempt.
    let mut requeued = claimed.clone();
    requeued.lease_expires_at = None;
    requeued.last_error = Some("RazorpayX timed out".to_owned());
    let requeued = world
        .store
        .change_status(
            &claimed,
            StatusChange {
                transition: Transition::Requeue,
                next: requeued,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();

    let err = cancel_payout(
        &world.store,
        &world.gateway,
        config(),
        &Actor::admin(1),
        pending.payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "gateway_outcome_unknown", "{err}");
    assert!(err.to_string().contains("queued"), "{err}");
    assert_eq!(world.stored(&pending).await, requeued);

    world.fake.set_balance(1_000_000);
    let done = world.run_until_settled(&pending).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    assert_eq!(
        world.fake.payouts().len(),
        1,
        "the same key found the same payout"
    );
    world.assert_books().await;
}

#[tokio::test]
async fn lookups_of_unknown_keys_say_so() {
    let world = world().await;
    let payout = world.request(10_000).await;
    let found = world
        .gateway
        .lookup(&payout.idempotency_key(), &payout)
        .await
        .unwrap();
    assert_eq!(found, None);
    let wrong = client_for(&world.fake, "not-the-secret-of-this-account").await;
    let err = wrong
        .lookup(&payout.idempotency_key(), &payout)
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Misconfigured(_)), "{err:?}");
}

/// The API keys are read from Secrets Manager (moto here) per call within a cache TTL
/// (zero here): a rotated key is used without a new client, and keys that cannot be read
/// stop the call before anything is sent, as our misconfiguration, never the payout's.
#[tokio::test]
async fn api_keys_come_from_secrets_manager_and_fail_closed_when_unreadable() {
    let world = world().await;
    let clients = devkit::moto::Clients::new(&devkit::testing::moto_endpoint()).await;
    let name = format!(
        "payouts/test/razorpayx-api-{}",
        uuid::Uuid::new_v4().simple()
    );
    clients
        .put_secret(&name, &RazorpayXKeys::dev().to_secret_string())
        .await
        .unwrap();
    let mut client_config = RazorpayXConfig::local(
        world.fake.base_url(),
        DEV_RAZORPAYX_KEY_SECRET,
        CLIENT_TIMEOUT_MS,
    )
    .with_vault(devkit::testing::vault().await);
    client_config.credentials = Some(platform::secrets::Secret::managed_with_client(
        clients.secretsmanager.clone(),
        name.clone(),
        std::time::Duration::ZERO,
    ));
    let client = RazorpayX::new(&client_config).unwrap();
    // A first payout, paid with the keys from the secret, registers the user's account
    // at RazorpayX: from then on a claim needs no gateway call before it marks an
    // attempt as sent.
    let first = world.request(5_000).await;
    Processor::new(&world.store, &client, config())
        .run()
        .await
        .unwrap();
    assert_eq!(
        world.run_until_settled(&first).await.status,
        PayoutStatus::Completed
    );
    let payout = world.request(10_000).await;
    let key = payout.idempotency_key();
    assert_eq!(client.lookup(&key, &payout).await.unwrap(), None);

    // A rotation to a key the account does not have is used at once: RazorpayX refuses it.
    let wrong = RazorpayXKeys {
        key_secret: "not-the-secret-of-this-account".to_owned(),
        ..RazorpayXKeys::dev()
    };
    clients
        .put_secret(&name, &wrong.to_secret_string())
        .await
        .unwrap();
    let err = client.lookup(&key, &payout).await.unwrap_err();
    assert!(matches!(err, GatewayError::Misconfigured(_)), "{err:?}");

    // Gone: nothing is sent, and the error is ours.
    clients
        .secretsmanager
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let err = client.transfer(&key, &payout).await.unwrap_err();
    assert!(matches!(err, GatewayError::Misconfigured(_)), "{err:?}");
    assert_eq!(
        world.fake.payouts().len(),
        1,
        "only the first payout reached RazorpayX"
    );

    // A processor run with unreadable keys stops before it claims anything: the payout
    // is left exactly as it was, not marked as sent, so a cancel needs no gateway.
    let before = world.stored(&payout).await;
    let stopped = Processor::new(&world.store, &client, config()).run().await;
    assert!(
        matches!(stopped, Err(domain::error::Error::Config(_))),
        "the run reports our misconfiguration: {stopped:?}"
    );
    let after = world.stored(&payout).await;
    assert_eq!(after, before, "nothing was written");
    assert_eq!(after.sent_at(), None);
    let cancelled = cancel_payout(
        &world.store,
        &client,
        config(),
        &Actor::admin(1),
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    assert_eq!(
        world.fake.payouts().len(),
        1,
        "only the first payout reached RazorpayX"
    );
    world.assert_books().await;

    // A function not given the secret builds no client at all.
    client_config.credentials = None;
    assert!(RazorpayX::new(&client_config).is_err());
}

/// A payout claimed at `claimed_at` whose request never reached RazorpayX (the
/// function died before sending, or its answer was lost with nothing created), back in
/// the queue under the same attempt.
async fn requeued_unsent(world: &World, claimed_at: Timestamp) -> Payout {
    requeued_unsent_to(world, claimed_at, None).await
}

/// [`requeued_unsent`], its attempt fixed on `fund_account` when given.
async fn requeued_unsent_to(
    world: &World,
    claimed_at: Timestamp,
    fund_account: Option<&str>,
) -> Payout {
    let pending = world.request(10_000).await;
    let mut claimed = pending.clone();
    if let Some(fund_account) = fund_account {
        claimed.gateway_fund_account_id = Some(fund_account.to_owned());
        claimed.gateway_mode = Some("IMPS".to_owned());
    }
    claimed.attempt_sent_at = Some(claimed_at);
    claimed.first_sent_at = Some(claimed_at);
    claimed.processed_at = Some(claimed_at);
    claimed.lease_expires_at = Some(claimed_at.plus_secs(config().lease_secs));
    let claimed = world
        .store
        .change_status(
            &pending,
            StatusChange {
                transition: Transition::Claim,
                next: claimed,
                lease: Lease::Acquire("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    let mut requeued = claimed.clone();
    requeued.lease_expires_at = None;
    requeued.last_error = Some("RazorpayX timed out".to_owned());
    world
        .store
        .change_status(
            &claimed,
            StatusChange {
                transition: Transition::Requeue,
                next: requeued,
                lease: Lease::Release("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap()
}

/// "no record" ends an attempt only once the last request under its key
/// could have left us (its latest claim plus the lease) AND RazorpayX's late window has
/// passed after that. The two add up: at the late window alone (an hour) a request sent
/// near the end of its lease may still be created.
#[tokio::test]
async fn cancel_waits_for_the_lease_and_the_late_window_together() {
    let world = world().await;
    let late_window = world.gateway.late_transfer_window_secs();
    let lease = config().lease_secs;
    // Past the late window on its own, not past lease + late window.
    let recent =
        requeued_unsent(&world, Timestamp::now().minus_secs(late_window + lease / 3)).await;
    let admin = Actor::admin(1);
    let err = cancel_payout(
        &world.store,
        &world.gateway,
        config(),
        &admin,
        recent.payout_id,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "gateway_outcome_unknown", "{err}");
    assert_eq!(world.stored(&recent).await, recent, "nothing changed");
    // Past both: RazorpayX's "no record" is final, and the cancel goes through.
    let old = requeued_unsent(
        &world,
        Timestamp::now().minus_secs(late_window + lease + 60),
    )
    .await;
    let cancelled = cancel_payout(
        &world.store,
        &world.gateway,
        config(),
        &admin,
        old.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    assert!(world.fake.payouts().is_empty());
    world.assert_books().await;
}

/// The mode follows the amount: IMPS up to its limit (configurable), NEFT
/// above it; UPI to a VPA.
#[tokio::test]
async fn a_bank_transfer_above_the_imps_limit_goes_by_neft() {
    let world = world().await;
    let mut client_config = RazorpayXConfig::local(
        world.fake.base_url(),
        DEV_RAZORPAYX_KEY_SECRET,
        CLIENT_TIMEOUT_MS,
    )
    .with_vault(devkit::testing::vault().await);
    client_config.imps_max_paise = 20_000;
    let client = RazorpayX::new(&client_config).unwrap();
    let small = world.request(20_000).await;
    let large = world.request(20_001).await;
    Processor::new(&world.store, &client, config())
        .run()
        .await
        .unwrap();
    for (payout, mode) in [(&small, "IMPS"), (&large, "NEFT")] {
        let done = world.run_until_settled(payout).await;
        assert_eq!(done.status, PayoutStatus::Completed);
        assert_eq!(done.gateway_mode.as_deref(), Some(mode));
        let sent: Vec<_> = world
            .fake
            .payouts()
            .into_iter()
            .filter(|sent| sent["reference_id"] == payout.payout_id.to_string())
            .collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["mode"], mode, "{sent:?}");
    }
    world.assert_books().await;
}

/// "no record" is read from every page RazorpayX lists under our reference,
/// not the first 100: an old attempt behind a hundred newer payouts is still found, so
/// nothing is cancelled or declined that RazorpayX holds.
#[tokio::test]
async fn a_lookup_reads_every_page_under_the_reference() {
    let world = world().await;
    let payout = world.request(10_000).await;
    let account = world.store.payout_account(OWNER).await.unwrap().unwrap();
    let ids = world.gateway.register_beneficiary(&account).await.unwrap();
    let mut attempt = payout.clone();
    attempt.gateway_fund_account_id = Some(ids.fund_account_id);
    attempt.gateway_mode = Some("IMPS".to_owned());
    // Attempt 1 first (the oldest, listed last), then 120 newer payouts under the
    // same reference.
    for number in 1..=121 {
        attempt.attempt = number;
        world
            .gateway
            .transfer(&attempt.idempotency_key(), &attempt)
            .await
            .unwrap();
    }
    assert_eq!(world.fake.payouts().len(), 121);
    attempt.attempt = 1;
    let found = world
        .gateway
        .lookup(&attempt.idempotency_key(), &attempt)
        .await
        .unwrap();
    assert!(
        found.is_some(),
        "attempt 1 is on the second page: {found:?}"
    );
    // A key RazorpayX never saw is still "none", after every page.
    attempt.attempt = 500;
    assert_eq!(
        world
            .gateway
            .lookup(&attempt.idempotency_key(), &attempt)
            .await
            .unwrap(),
        None
    );
}

/// The claim records the business account an attempt is paid from, and a
/// client configured with another one (RAZORPAYX_ACCOUNT_NUMBER changed while attempts
/// were open) still sends and looks the attempt up in the account it was sent from,
/// rather than finding "no record" in the new one.
#[tokio::test]
async fn an_attempt_keeps_the_account_it_was_claimed_under() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.run().await;
    let sent = world.stored(&payout).await;
    assert_eq!(
        sent.gateway_account_number.as_deref(),
        Some(service::config::DEV_RAZORPAYX_ACCOUNT_NUMBER)
    );
    let mut moved = RazorpayXConfig::local(
        world.fake.base_url(),
        DEV_RAZORPAYX_KEY_SECRET,
        CLIENT_TIMEOUT_MS,
    )
    .with_vault(devkit::testing::vault().await);
    moved.account_number = "7878780080316316".to_owned();
    let moved = RazorpayX::new(&moved).unwrap();
    let found = moved.lookup(&sent.idempotency_key(), &sent).await.unwrap();
    assert!(found.is_some(), "looked up where it was sent: {found:?}");
    // The same request again under its key: RazorpayX answers with the same payout.
    moved
        .transfer(&sent.idempotency_key(), &sent)
        .await
        .unwrap();
    assert_eq!(world.fake.payouts().len(), 1);
    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);

    // An attempt sent before accounts were recorded went from the configured account:
    // claimed again, it is not given one (it might not be the one it was sent from).
    let legacy = requeued_unsent(&world, Timestamp::now().minus_secs(600)).await;
    assert_eq!(legacy.gateway_account_number, None);
    world.run().await;
    assert_eq!(world.stored(&legacy).await.gateway_account_number, None);
    let done = world.run_until_settled(&legacy).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    world.assert_books().await;
}

/// An attempt RazorpayX turned away with a 429 created nothing there, so
/// it has no destination yet: the account the user saved since is the one it is paid to.
#[tokio::test]
async fn an_attempt_that_never_reached_razorpayx_goes_to_the_account_saved_since() {
    let world = world().await;
    let payout = world.request(10_000).await;
    world.fake.set_faults(Faults {
        rate_limit: 1.0,
        ..Faults::default()
    });
    world.run().await;
    let waiting = world.stored(&payout).await;
    assert_eq!(waiting.status, PayoutStatus::Pending);
    assert_eq!(
        waiting.sent_at(),
        None,
        "the 429 created nothing: {waiting:?}"
    );
    assert_eq!(waiting.gateway_fund_account_id, None);
    world.fake.set_faults(Faults::default());

    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("99887766554433"),
        NO_HOLD,
    )
    .await
    .unwrap();
    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    let account = world.store.payout_account(OWNER).await.unwrap().unwrap();
    let new_fund_account = account.gateway_fund_account_id.clone().unwrap();
    assert_eq!(
        done.gateway_fund_account_id.as_deref(),
        Some(&*new_fund_account)
    );
    assert_eq!(done.destination.as_deref(), Some("XXXXXXXXXX4433"));
    assert_eq!(done.account_revision, Some(account.revision));
    let sent = world.fake.payouts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["fund_account_id"], new_fund_account.as_str());
    world.assert_books().await;
}

/// A resend RazorpayX refused created nothing, so it does not move the
/// window in which the attempt's earlier send may still land: once that send's window
/// has passed, the attempt is settled, not left pending by its own refused resends.
#[tokio::test]
async fn a_refused_resend_does_not_stretch_the_window_of_the_send_before_it() {
    let world = world().await;
    let late_window = world.gateway.late_transfer_window_secs();
    // Sent (by a claim whose outcome was lost) half a window ago, to a fund account
    // RazorpayX does not know: every resend is refused, and creates nothing.
    let payout = requeued_unsent_to(
        &world,
        Timestamp::now().minus_secs(late_window / 2),
        Some("fa_00000000000000"),
    )
    .await;
    world.run().await;
    let after = world.stored(&payout).await;
    assert_eq!(after.status, PayoutStatus::Pending, "{after:?}");
    assert_eq!(
        after.sent_at(),
        payout.sent_at(),
        "the refused resend created nothing: the attempt's last send is still the one before"
    );
    assert!(after.last_error.is_some());
}

/// A payout RazorpayX reports `processed` in the very answer (here, the
/// lookup after a lost answer, made once the transfer had settled) keeps RazorpayX's
/// payout id, like one that went through `processing`.
#[tokio::test]
async fn a_payout_found_processed_at_once_keeps_the_razorpayx_payout_id() {
    let world = world().await;
    let payout = world.request(10_000).await;
    let lease_until = Timestamp::now().plus_secs(config().lease_secs);
    let claimed = world.claim_and_send(&payout, "lost", lease_until).await;
    // Its answer was lost: back in the queue, knowing nothing of RazorpayX's id.
    let mut requeued = claimed.clone();
    requeued.lease_expires_at = None;
    requeued.last_error = Some("RazorpayX timed out".to_owned());
    world
        .store
        .change_status(
            &claimed,
            StatusChange {
                transition: Transition::Requeue,
                next: requeued,
                lease: Lease::Release("lost"),
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    // Settled at RazorpayX before we ask again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let run = world.run().await;
    assert_eq!(run.completed, 1, "{run:?}");
    let done = world.stored(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    let created = &world.fake.payouts()[0];
    assert_eq!(
        done.gateway_payout_id.as_deref(),
        created["id"].as_str(),
        "{done:?}"
    );
    world.assert_books().await;
}

/// A resend whose earlier sends can no longer land, and of which
/// RazorpayX has no record, never reached RazorpayX: it is not sent to the account it
/// was fixed on (replaced since) but goes where the account says now.
#[tokio::test]
async fn a_resend_razorpayx_never_saw_goes_to_the_account_saved_since() {
    let world = world().await;
    let old = world.store.payout_account(OWNER).await.unwrap().unwrap();
    let old_fund_account = world
        .gateway
        .register_beneficiary(&old)
        .await
        .unwrap()
        .fund_account_id;
    let past = world.gateway.late_transfer_window_secs() + config().lease_secs + 60;
    let payout = requeued_unsent_to(
        &world,
        Timestamp::now().minus_secs(past),
        Some(&old_fund_account),
    )
    .await;
    save_payout_account(
        &world.store,
        &devkit::testing::vault().await,
        &Actor::user(OWNER),
        bank_account("99887766554433"),
        NO_HOLD,
    )
    .await
    .unwrap();
    world.run().await;
    let fresh = world.stored(&payout).await;
    assert_eq!(fresh.status, PayoutStatus::Pending, "{fresh:?}");
    assert_eq!(fresh.sent_at(), None, "{fresh:?}");
    assert_eq!(fresh.gateway_fund_account_id, None);
    assert!(
        world.fake.payouts().is_empty(),
        "nothing sent to the old account"
    );
    let done = world.run_until_settled(&payout).await;
    assert_eq!(done.status, PayoutStatus::Completed);
    assert_eq!(done.destination.as_deref(), Some("XXXXXXXXXX4433"));
    let sent = world.fake.payouts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_ne!(sent[0]["fund_account_id"], old_fund_account.as_str());
    world.assert_books().await;
}

/// A refused resend does not decline the attempt while its
/// earlier send may still land, which is until the lease and RazorpayX's late window
/// together have passed (a request under that claim may have left up to a lease
/// after it), not the late window alone.
#[tokio::test]
async fn a_refused_resend_waits_for_the_lease_and_the_late_window_together() {
    let world = world().await;
    let late_window = world.gateway.late_transfer_window_secs();
    let lease = config().lease_secs;
    let recent = requeued_unsent_to(
        &world,
        Timestamp::now().minus_secs(late_window + lease / 3),
        Some("fa_00000000000000"),
    )
    .await;
    world.run().await;
    let waiting = world.stored(&recent).await;
    assert_eq!(waiting.status, PayoutStatus::Pending, "{waiting:?}");
    assert_eq!(waiting.sent_at(), recent.sent_at());
    world.assert_books().await;
}

/// The daily reconciliation against the local RazorpayX, each way it can come to
/// disagree with our books made on purpose through its control API.
mod reconciliation {
    use super::*;
    use domain::reconciliation::{Action, FindingKind, Report};
    use service::reconciliation::{reconcile_day, Day, Run};

    const TZ: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

    impl World {
        async fn reconcile(&self) -> Run {
            let now = Timestamp::now();
            reconcile_day(
                &self.store,
                &self.gateway,
                Day::containing(now, TZ),
                now,
                None,
            )
            .await
            .unwrap()
        }

        /// `POST /_fake/{path}` with `body`, as a person at RazorpayX's dashboard.
        async fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
            let answer = reqwest::Client::new()
                .post(format!("{}/_fake/{path}", self.fake.base_url()))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{path}: {}", answer.status());
            answer.json().await.unwrap()
        }

        /// A payout accepted by RazorpayX and still on its way there.
        async fn accepted(&self, amount: u64) -> Payout {
            let payout = self.request(amount).await;
            let run = self.run().await;
            assert_eq!(run.accepted, 1, "{run:?}");
            let accepted = self.stored(&payout).await;
            assert_eq!(accepted.status, PayoutStatus::Processing);
            accepted
        }

        async fn completed(&self, amount: u64) -> Payout {
            let payout = self.request(amount).await;
            let done = self.run_until_settled(&payout).await;
            assert_eq!(done.status, PayoutStatus::Completed);
            done
        }
    }

    fn gateway_id(payout: &Payout) -> String {
        payout.gateway_payout_id.clone().unwrap()
    }

    fn only(run: &Run) -> &domain::reconciliation::Finding {
        assert_eq!(run.new_findings.len(), 1, "{:#?}", run.new_findings);
        &run.new_findings[0]
    }

    fn comparable(run: &Run) -> Report {
        let mut report = run.report.clone();
        report.runs = 0;
        report.last_run_at = report.first_run_at;
        report
    }

    #[tokio::test]
    async fn a_processed_payout_whose_webhook_and_polls_were_missed_is_completed() {
        let world = world_settling_after(Duration::from_secs(600)).await;
        let payout = world.accepted(30_000).await;
        let entity = world
            .control(
                &format!("payouts/{}/status", gateway_id(&payout)),
                serde_json::json!({"status": "processed", "drop_webhook": true}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = only(&first);
        assert_eq!(finding.kind, FindingKind::StatusMismatch);
        assert_eq!(
            finding.action,
            Action::Repaired {
                transition: "complete".to_owned()
            }
        );
        let done = world.stored(&payout).await;
        assert_eq!(done.status, PayoutStatus::Completed);
        assert_eq!(done.payment_reference.as_deref(), entity["utr"].as_str());
        assert_eq!(first.report.matched.get("completed"), Some(&1));
        world.assert_books().await;
        let deliveries = world.fake.webhook_deliveries();
        assert!(
            deliveries
                .iter()
                .all(|delivery| delivery["state"] != "delivered"),
            "no webhook told us: {deliveries:?}"
        );

        let second = world.reconcile().await;
        assert!(second.new_findings.is_empty(), "{:#?}", second.new_findings);
        assert_eq!(comparable(&second), comparable(&first));
        assert_eq!(world.stored(&payout).await, done);
    }

    #[tokio::test]
    async fn a_reversal_weeks_later_with_no_webhook_is_applied_once() {
        let world = world().await;
        let payout = world.completed(40_000).await;
        let before = world.store.summary(OWNER).await.unwrap();
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&payout)),
                serde_json::json!({"status": "reversed", "reason": "bank_account_closed", "drop_webhook": true}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = only(&first);
        assert_eq!(
            finding.action,
            Action::Repaired {
                transition: "reverse".to_owned()
            }
        );
        let reversed = world.stored(&payout).await;
        assert_eq!(reversed.status, PayoutStatus::Reversed);
        let after = world.store.summary(OWNER).await.unwrap();
        assert_eq!(
            after.total_paid_paise.get(),
            before.total_paid_paise.get() - 40_000
        );
        world.assert_books().await;

        let second = world.reconcile().await;
        assert!(second.new_findings.is_empty(), "{:#?}", second.new_findings);
        assert_eq!(comparable(&second), comparable(&first));
        assert_eq!(world.stored(&payout).await, reversed);
        assert_eq!(world.store.summary(OWNER).await.unwrap(), after);
    }

    impl World {
        /// A payout made through RazorpayX's own API by someone else with our keys, to
        /// the fund account RazorpayX registered first.
        async fn made_by_hand(&self, key: &str, amount: u64) {
            let fund_account = self.fake.fund_accounts()[0]["id"].clone();
            let made = reqwest::Client::new()
                .post(format!("{}/v1/payouts", self.fake.base_url()))
                .basic_auth(
                    service::config::DEV_RAZORPAYX_KEY_ID,
                    Some(DEV_RAZORPAYX_KEY_SECRET),
                )
                .header("X-Payout-Idempotency", key)
                .json(&serde_json::json!({
                    "account_number": service::config::DEV_RAZORPAYX_ACCOUNT_NUMBER,
                    "fund_account_id": fund_account,
                    "amount": amount,
                    "currency": "INR",
                    "mode": "IMPS",
                    "purpose": "payout",
                    "reference_id": "made-by-hand",
                }))
                .send()
                .await
                .unwrap();
            assert!(made.status().is_success(), "{}", made.status());
        }
    }

    #[tokio::test]
    async fn a_payout_made_on_the_dashboard_is_unknown_to_us() {
        let world = world().await;
        world.completed(10_000).await;
        world.made_by_hand("dashboard-1", 55_500).await;
        let run = world.reconcile().await;
        let finding = only(&run);
        assert_eq!(finding.kind, FindingKind::UnknownToUs);
        assert_eq!(finding.theirs[0].reference.as_deref(), Some("made-by-hand"));
        assert_eq!(finding.theirs[0].amount_paise, Some(55_500));
        assert_eq!(run.report.theirs.payouts, 2);
        assert_eq!(run.report.ours.payouts, 1);
    }

    #[tokio::test]
    async fn a_second_processed_payout_for_one_of_ours_is_paid_twice() {
        let world = world().await;
        let payout = world.completed(12_000).await;
        world
            .control(
                &format!("payouts/{}/duplicate", gateway_id(&payout)),
                serde_json::json!({"drop_webhook": true}),
            )
            .await;
        let run = world.reconcile().await;
        let finding = only(&run);
        assert_eq!(finding.kind, FindingKind::PaidTwice);
        assert_eq!(finding.payout_id(), Some(payout.payout_id));
        assert_eq!(finding.theirs.len(), 2);
        assert!(finding
            .theirs
            .iter()
            .all(|theirs| theirs.status == "processed"));
        assert_eq!(world.stored(&payout).await, payout);
        assert_balances(&world.store, &["s-1"], &[OWNER]).await;
    }

    #[tokio::test]
    async fn another_amount_is_left_for_a_person() {
        let world = world_settling_after(Duration::from_secs(600)).await;
        let payout = world.accepted(20_000).await;
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&payout)),
                serde_json::json!({"status": "processed", "amount": 20_500, "drop_webhook": true}),
            )
            .await;
        let run = world.reconcile().await;
        let finding = only(&run);
        assert_eq!(finding.kind, FindingKind::AmountMismatch);
        assert_eq!(finding.action, Action::LeftForPerson);
        assert_eq!(world.stored(&payout).await, payout, "not repaired");
        assert_balances(&world.store, &["s-1"], &[OWNER]).await;
    }

    #[tokio::test]
    async fn another_fund_account_is_left_for_a_person() {
        let world = world_settling_after(Duration::from_secs(600)).await;
        // A fund account of someone else's, which RazorpayX pays instead.
        save_payout_account(
            &world.store,
            &devkit::testing::vault().await,
            &Actor::user(8),
            bank_account("111122223333"),
            NO_HOLD,
        )
        .await
        .unwrap();
        let other = world
            .gateway
            .register_beneficiary(&world.store.payout_account(8).await.unwrap().unwrap())
            .await
            .unwrap();
        let second = world.accepted(21_000).await;
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&second)),
                serde_json::json!({"status": "processed", "fund_account_id": other.fund_account_id, "drop_webhook": true}),
            )
            .await;
        let run = world.reconcile().await;
        let finding = only(&run);
        assert_eq!(finding.kind, FindingKind::DestinationMismatch);
        assert_eq!(
            finding.theirs[0].fund_account_id.as_deref(),
            Some(other.fund_account_id.as_str())
        );
        assert_eq!(world.stored(&second).await, second);
        assert_balances(&world.store, &["s-1"], &[OWNER]).await;
    }

    #[tokio::test]
    async fn a_completed_payout_razorpayx_has_no_record_of_is_missing_at_the_gateway() {
        let world = world().await;
        let payout = world.completed(15_000).await;
        world
            .control(
                &format!("payouts/{}/forget", gateway_id(&payout)),
                serde_json::json!({}),
            )
            .await;
        let run = world.reconcile().await;
        let finding = only(&run);
        assert_eq!(finding.kind, FindingKind::MissingAtGateway);
        assert_eq!(finding.payout_id(), Some(payout.payout_id));
        assert_eq!(run.report.theirs.payouts, 0);
        assert_eq!(world.stored(&payout).await, payout);
    }

    #[tokio::test]
    async fn the_days_list_is_read_to_its_end_and_by_time() {
        let world = world().await;
        world.completed(100).await;
        // More than one page of RazorpayX's list (100 a page).
        for n in 0..149 {
            world.made_by_hand(&format!("by-hand-{n}"), 100).await;
        }
        let now = Timestamp::now();
        let made = world
            .gateway
            .payouts_made(now.minus_secs(3_600), now.plus_secs(60), None)
            .await
            .unwrap();
        let ids: std::collections::HashSet<&str> = made
            .iter()
            .map(|made| made.report.gateway_payout_id.as_str())
            .collect();
        assert_eq!((made.len(), ids.len()), (150, 150));
        let later = world
            .gateway
            .payouts_made(now.plus_secs(60), now.plus_secs(120), None)
            .await
            .unwrap();
        assert!(later.is_empty());
    }

    impl World {
        /// The local RazorpayX's account statement, oldest first.
        async fn statement(&self) -> Vec<serde_json::Value> {
            let answer: serde_json::Value =
                reqwest::get(format!("{}/_fake/transactions", self.fake.base_url()))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            answer["items"].as_array().cloned().unwrap_or_default()
        }

        /// The statement's lines that moved `gateway_id`'s money.
        async fn lines_of(&self, gateway_id: &str) -> Vec<serde_json::Value> {
            self.statement()
                .await
                .into_iter()
                .filter(|line| {
                    line["source"]["id"] == gateway_id || line["source"]["payout_id"] == gateway_id
                })
                .collect()
        }
    }

    impl World {
        /// A payout RazorpayX made at `created_at` (unix seconds) under `reference`, to
        /// the fund account it registered first, already `status` (failed ones for a
        /// closed account): its gateway id.
        async fn made_earlier(
            &self,
            reference: &str,
            key: &str,
            amount: u64,
            status: &str,
            created_at: i64,
        ) -> String {
            let booked = self
                .control(
                    "payouts/bulk",
                    serde_json::json!({"payouts": [{
                        "reference_id": reference,
                        "idempotency_key": key,
                        "amount": amount,
                        "fund_account_id": self.fake.fund_accounts()[0]["id"],
                        "status": status,
                        "reason": (status == "failed").then_some("bank_account_closed"),
                        "created_at": created_at,
                    }]}),
                )
                .await;
            booked["items"][0]["id"].as_str().unwrap().to_owned()
        }
    }

    /// The run's one finding, a statement mismatch left for a person.
    fn statement_mismatch(run: &Run) -> &domain::reconciliation::Finding {
        let finding = only(run);
        assert_eq!(finding.kind, FindingKind::StatementMismatch);
        assert_eq!(finding.action, Action::LeftForPerson);
        finding
    }

    fn says(finding: &domain::reconciliation::Finding, words: &str) {
        assert!(finding.detail.contains(words), "{}", finding.detail);
    }

    /// Asserts a second run finds nothing new, reports the same and leaves the payout.
    async fn again_the_same(world: &World, first: &Run, payout: &Payout) {
        let second = world.reconcile().await;
        assert!(second.new_findings.is_empty(), "{:#?}", second.new_findings);
        assert_eq!(comparable(&second), comparable(first));
        assert_eq!(&world.stored(payout).await, payout);
    }

    #[tokio::test]
    async fn a_day_whose_statement_agrees_reports_its_totals_and_nothing_else() {
        let world = world_settling_after(Duration::from_secs(600)).await;
        let paid = world.accepted(30_000).await;
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&paid)),
                serde_json::json!({"status": "processed"}),
            )
            .await;
        assert_eq!(
            world.run_until_settled(&paid).await.status,
            PayoutStatus::Completed
        );
        let sent_back = world.accepted(20_000).await;
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&sent_back)),
                serde_json::json!({"status": "failed", "reason": "bank_account_closed"}),
            )
            .await;
        assert_eq!(
            world.run_until_settled(&sent_back).await.status,
            PayoutStatus::Failed
        );
        assert_eq!(world.lines_of(&gateway_id(&paid)).await.len(), 1);
        assert_eq!(world.lines_of(&gateway_id(&sent_back)).await.len(), 2);

        let run = world.reconcile().await;
        assert!(run.new_findings.is_empty(), "{:#?}", run.new_findings);
        let totals = run.report.statement.expect("RazorpayX keeps a statement");
        assert_eq!(totals.lines, 3);
        assert_eq!(totals.debited_paise, 50_000);
        assert_eq!(totals.credited_paise, 20_000);
    }

    #[tokio::test]
    async fn a_payout_the_bank_debited_twice_is_a_statement_mismatch() {
        let world = world().await;
        let payout = world.completed(25_000).await;
        world
            .control(
                "transactions",
                serde_json::json!({"payout_id": gateway_id(&payout), "debit": 25_000}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.subject, gateway_id(&payout));
        assert_eq!(finding.payout_id(), Some(payout.payout_id));
        says(finding, "50000 paise");
        assert_eq!(first.report.findings.get("statement_mismatch"), Some(&1));
        assert_eq!(
            first.report.statement.map(|totals| totals.debited_paise),
            Some(50_000)
        );
        assert_eq!(world.stored(&payout).await, payout, "a person's to repair");
        world.assert_books().await;
        again_the_same(&world, &first, &payout).await;
    }

    #[tokio::test]
    async fn a_processed_payout_with_no_debit_on_the_statement_is_a_statement_mismatch() {
        let world = world().await;
        let payout = world.completed(18_000).await;
        let debit = world.lines_of(&gateway_id(&payout)).await.remove(0);
        world
            .control(
                &format!("transactions/{}/forget", debit["id"].as_str().unwrap()),
                serde_json::json!({}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.payout_id(), Some(payout.payout_id));
        says(finding, "no money left");
        again_the_same(&world, &first, &payout).await;
    }

    #[tokio::test]
    async fn money_for_a_payout_razorpayx_has_no_record_of_is_a_statement_mismatch() {
        let world = world().await;
        let payout = world.completed(10_000).await;
        world
            .control(
                "transactions",
                serde_json::json!({"payout_id": "pout_NoSuchPayout01", "debit": 7_700}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.subject, "pout_NoSuchPayout01");
        assert!(finding.ours.is_none() && finding.theirs.is_empty());
        says(finding, "7700");
        again_the_same(&world, &first, &payout).await;
    }

    #[tokio::test]
    async fn money_back_for_a_payout_processed_on_an_earlier_day_is_a_statement_mismatch() {
        let world = world().await;
        let payout = world.completed(10_000).await;
        let three_days_ago = Timestamp::now().minus_secs(3 * 86_400).unix_millis() / 1000;
        let earlier = world
            .made_earlier(
                "an-earlier-day",
                "earlier-1",
                9_900,
                "processed",
                three_days_ago,
            )
            .await;
        world
            .control(
                "transactions",
                serde_json::json!({"payout_id": earlier, "credit": 9_900, "entity": "reversal"}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.subject, earlier);
        assert_eq!(finding.theirs[0].status, "processed");
        says(finding, "came back");
        again_the_same(&world, &first, &payout).await;
    }

    #[tokio::test]
    async fn money_kept_for_a_payout_razorpayx_failed_is_a_statement_mismatch() {
        let world = world_settling_after(Duration::from_secs(600)).await;
        let payout = world.accepted(14_000).await;
        world
            .control(
                &format!("payouts/{}/status", gateway_id(&payout)),
                serde_json::json!({"status": "failed", "reason": "bank_account_closed"}),
            )
            .await;
        let failed = world.run_until_settled(&payout).await;
        assert_eq!(failed.status, PayoutStatus::Failed);
        // The bank never gave the money back: the statement has the debit alone.
        let lines = world.lines_of(&gateway_id(&payout)).await;
        let back = lines.iter().find(|line| line["credit"] == 14_000).unwrap();
        world
            .control(
                &format!("transactions/{}/forget", back["id"].as_str().unwrap()),
                serde_json::json!({}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.payout_id(), Some(payout.payout_id));
        assert!(
            finding.detail.contains("14000 paise net left") && finding.detail.contains("failed"),
            "{}",
            finding.detail
        );
        assert_eq!(world.stored(&payout).await, failed, "a person's to settle");
        again_the_same(&world, &first, &failed).await;
    }

    #[tokio::test]
    async fn a_second_debit_a_day_after_the_payout_was_made_is_a_statement_mismatch() {
        let world = world().await;
        let payout = world.completed(10_000).await;
        // Six hours before today began: the day before, whose lines are read again.
        let (today, _) = Day::containing(Timestamp::now(), TZ).window();
        let yesterday = today.minus_secs(6 * 3_600).unix_millis() / 1000;
        let earlier = world
            .made_earlier("yesterday", "earlier-2", 8_800, "processed", yesterday)
            .await;
        assert_eq!(
            world.lines_of(&earlier).await.len(),
            1,
            "its debit, two days ago"
        );
        world
            .control(
                "transactions",
                serde_json::json!({"payout_id": earlier, "debit": 8_800}),
            )
            .await;
        let first = world.reconcile().await;
        let finding = statement_mismatch(&first);
        assert_eq!(finding.subject, earlier);
        says(finding, "17600 paise net");
        again_the_same(&world, &first, &payout).await;
    }

    #[tokio::test]
    async fn a_debit_today_for_a_payout_queued_days_ago_agrees() {
        let world = world().await;
        let payout = world.completed(10_000).await;
        let two_days_ago = Timestamp::now().minus_secs(2 * 86_400).unix_millis() / 1000;
        let earlier = world
            .made_earlier("queued-long", "earlier-3", 6_600, "failed", two_days_ago)
            .await;
        // Debited today, when it started, and given back when it failed.
        for change in [
            serde_json::json!({"payout_id": earlier, "debit": 6_600}),
            serde_json::json!({"payout_id": earlier, "credit": 6_600, "entity": "reversal"}),
        ] {
            world.control("transactions", change).await;
        }
        let run = world.reconcile().await;
        assert!(run.new_findings.is_empty(), "{:#?}", run.new_findings);
        assert_eq!(world.stored(&payout).await, payout);
    }
}
