//! Test support: every test gets its own table on the real DynamoDB Local that
//! `cargo xtask test` started (docs/DEVELOPMENT.md, Tests), and its own event bus on the moto it
//! started. Tests never run against AWS.

use aws_sdk_dynamodb::Client;
use gateway::SimulatedGateway;
use service::config::{
    Config, GatewayConfig, ProcessorConfig, SimulatedGatewayConfig, LOCAL_STAGE,
};
use store::Store;

use crate::moto::{verify_sender, Capture, Clients, LocalBus, SentEmail};
use crate::paths;
use crate::table::TableDefinition;

/// A payout of `amount` paise requested for `user`'s scout `scout_id`, then claimed and
/// sent by a processor that has not yet written what the gateway said.
pub async fn sent_payout(
    store: &Store,
    scout_id: &str,
    user: u64,
    amount: domain::money::Paise,
) -> domain::payout::Payout {
    let limits = local_config(&[])
        .expect("the local configuration is valid")
        .limits;
    let request = service::scout::PayoutRequest {
        scout_id: scout_id.to_owned(),
        amount: Some(amount),
        idempotency_key: None,
    };
    let pending =
        service::scout::request_payout(store, limits, &domain::actor::Actor::user(user), request)
            .await
            .expect("the payout is requested")
            .payout()
            .clone();
    mark_sent(store, &pending).await
}

/// `pending` as a processor leaves it once it has claimed it and sent its attempt,
/// before it writes what the gateway said: only the attempt's key ties a gateway's
/// report to it.
pub async fn mark_sent(store: &Store, pending: &domain::payout::Payout) -> domain::payout::Payout {
    let now = domain::time::Timestamp::now();
    let mut next = pending.clone();
    next.attempt_sent_at = Some(now);
    next.first_sent_at = Some(now);
    next.processed_at = Some(now);
    next.lease_expires_at = Some(now.plus_secs(300));
    store
        .change_status(
            pending,
            store::StatusChange {
                transition: domain::payout::Transition::Claim,
                next,
                lease: store::Lease::Acquire("a-processor"),
                gateway_status_not_in: None,
            },
        )
        .await
        .expect("the payout is claimed")
}

/// The endpoint the tests use, which must be a local one.
pub fn endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    assert!(
        is_loopback(&endpoint),
        "tests need DynamoDB Local: run them with `cargo xtask test`, or start one and set \
         AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:<port> (got `{endpoint}`)"
    );
    endpoint
}

/// The moto the tests use for EventBridge, SES v2, SQS and KMS, which must be a local one.
pub fn moto_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_EVENTBRIDGE").unwrap_or_default();
    assert!(
        is_loopback(&endpoint),
        "tests need moto for EventBridge and SES: run them with `cargo xtask test`, or start \
         `.local/venv/bin/moto_server -p <port>` and set AWS_ENDPOINT_URL_EVENTBRIDGE, \
         AWS_ENDPOINT_URL_SESV2, AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_KMS to \
         http://127.0.0.1:<port> \
         (got `{endpoint}`)"
    );
    endpoint
}

/// Whether `endpoint` is a server on this machine (DynamoDB Local, moto), never AWS.
pub fn is_loopback(endpoint: &str) -> bool {
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| endpoint.starts_with(prefix))
}

/// A directory path under the system temp dir, `prefix-<uuid>`, that no other test or
/// run shares, so that tests running at once never read each other's files. Nothing is
/// created; the test removes what it writes there.
pub fn scratch_dir(prefix: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
}

/// A bus of the test's own on moto, `payouts-test-<uuid>`, with one rule whose matches
/// the test reads back from `capture`.
pub struct TestBus {
    pub clients: Clients,
    pub name: String,
    pub capture: Capture,
}

/// A new bus with a rule of `pattern` (EventBridge's event pattern JSON) on it.
pub async fn fresh_bus(pattern: &serde_json::Value) -> TestBus {
    let clients = Clients::new(&moto_endpoint()).await;
    let name = format!("payouts-test-{}", uuid::Uuid::new_v4().simple());
    let bus = LocalBus::ensure(&clients, &name)
        .await
        .expect("creating a test bus on moto");
    let capture = bus
        .capture("capture", pattern)
        .await
        .expect("a capture rule and queue on the test bus");
    TestBus {
        clients,
        name,
        capture,
    }
}

/// A sender address of the test's own, verified on moto with `configuration_set`, so
/// the test can tell its emails from the others' in [`sent_emails`].
pub async fn fresh_sender(configuration_set: &str) -> (aws_sdk_sesv2::Client, String) {
    let clients = Clients::new(&moto_endpoint()).await;
    let from = format!("payouts-{}@example.com", uuid::Uuid::new_v4().simple());
    verify_sender(&clients.sesv2, &from, configuration_set)
        .await
        .expect("verifying a test sender on moto");
    (clients.sesv2, from)
}

/// The emails moto accepted from `from`, oldest first.
pub async fn sent_emails(from: &str) -> Vec<SentEmail> {
    crate::moto::sent_emails(&moto_endpoint())
        .await
        .expect("reading the emails moto accepted")
        .into_iter()
        .filter(|email| email.from == from)
        .collect()
}

/// A client for the DynamoDB Local the tests were pointed at.
pub async fn client() -> Client {
    crate::dynamodb_local::client(&endpoint()).await
}

/// A store on a new, empty table created from `template.yaml`.
pub async fn fresh_store() -> Store {
    let client = client().await;
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    TableDefinition::from_template(&paths::template())
        .expect("template.yaml defines the table")
        .create(&client, &name)
        .await
        .expect("creating a test table on DynamoDB Local");
    Store::new(client, name)
}

/// Asha Rao's bank account `number` at HDFC0000053, with her email: the account most
/// tests save.
pub fn asha_bank_account(number: &str) -> service::account::NewPayoutAccount {
    service::account::NewPayoutAccount {
        name: "Asha Rao".to_owned(),
        destination: service::account::Destination::BankAccount {
            ifsc: "HDFC0000053".to_owned(),
            account_number: number.to_owned(),
        },
        email: Some("asha@example.com".to_owned()),
    }
}

/// Writes `item` as it is, unconditionally: a test's hand on the table.
pub async fn put_item(
    store: &Store,
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("DynamoDB Local answers");
}

/// Puts `number` in plain text in place of the stored account's sealed destination, as
/// the version between the move of accounts and their sealing (2026-12-05) stored it,
/// or as someone writing the table directly would.
pub async fn plain_account_in_place(store: &Store, user_id: u64, number: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut item = stored_item(store, &format!("ACCOUNT#{user_id}"), "ACCOUNT")
        .await
        .expect("the account is stored");
    for sealed in [
        "destination_masked",
        "destination_fingerprint",
        "destination_sealed",
    ] {
        item.remove(sealed);
    }
    item.insert(
        "account_number".to_owned(),
        AttributeValue::S(number.to_owned()),
    );
    put_item(store, item).await;
}

/// A payout of `amount` paise that `user` requests from scout `scout_id`, which must
/// have the earnings.
pub async fn requested(
    store: &Store,
    limits: service::config::PayoutLimits,
    user: u64,
    scout_id: &str,
    amount: u64,
) -> domain::payout::Payout {
    service::scout::request_payout(
        store,
        limits,
        &domain::actor::Actor::user(user),
        service::scout::PayoutRequest {
            scout_id: scout_id.to_owned(),
            amount: Some(domain::money::Paise(amount)),
            idempotency_key: None,
        },
    )
    .await
    .expect("the payout is requested")
    .payout()
    .clone()
}

/// The KMS keys every test in this process seals payout destinations with, made on
/// the tests' moto at first use.
static ACCOUNT_KEYS: tokio::sync::OnceCell<crate::moto::AccountKeys> =
    tokio::sync::OnceCell::const_new();

/// A vault on the tests' moto KMS. Its client is the calling test's own (an SDK client
/// belongs to the runtime it was made in); the keys are shared.
pub async fn vault() -> platform::vault::Vault {
    let clients = Clients::new(&moto_endpoint()).await;
    account_keys().await.vault(&clients)
}

/// The keys of [`vault`], made on the tests' moto if they are not there yet (by alias,
/// which is how a configuration without their ids names them: see `api::Api::new`).
pub async fn account_keys() -> &'static crate::moto::AccountKeys {
    ACCOUNT_KEYS
        .get_or_init(|| async {
            Clients::new(&moto_endpoint())
                .await
                .account_keys()
                .await
                .expect("creating the payout account keys on moto")
        })
        .await
}

/// The simulated gateway on the test's table: instant, seeded, and paying everything
/// unless a test asks for failures.
pub fn gateway(store: &Store, success_rate: f64) -> SimulatedGateway {
    SimulatedGateway::new(
        store.clone(),
        SimulatedGatewayConfig {
            success_rate,
            latency_ms: 0,
            seed: Some(7),
        },
    )
}

/// The configuration the dev tooling runs with (`STAGE=local`, nothing else set in the
/// environment is read), with `overrides`.
pub fn local_config(overrides: &[(&str, &str)]) -> domain::Result<Config> {
    Config::from_lookup(local_lookup(overrides))
}

/// [`local_config`] and the gateway's part, from the same `overrides`: what a function
/// that pays builds.
pub fn local_parts(overrides: &[(&str, &str)]) -> domain::Result<(Config, GatewayConfig)> {
    let config = local_config(overrides)?;
    let gateway = config.gateway_from_lookup(local_lookup(overrides))?;
    Ok((config, gateway))
}

fn local_lookup<'a>(overrides: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        overrides
            .iter()
            .chain([("STAGE", LOCAL_STAGE)].iter())
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

pub fn processor_config(batch_size: usize) -> ProcessorConfig {
    ProcessorConfig {
        batch_size,
        concurrency: batch_size,
        lease_secs: 300,
        poll_secs: 60,
        drain: None,
        validate_accounts: false,
    }
}

/// Everything a request could change for these scouts, orders and users, so a test can
/// prove an error left the data exactly as it was.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    scouts: Vec<Option<service::scout::Scout>>,
    orders: Vec<Option<service::order::Order>>,
    users: Vec<(store::PayoutSummary, Vec<domain::payout::Payout>)>,
}

impl Snapshot {
    pub async fn take(store: &Store, scouts: &[&str], orders: &[&str], users: &[u64]) -> Self {
        let mut snapshot = Snapshot {
            scouts: Vec::new(),
            orders: Vec::new(),
            users: Vec::new(),
        };
        for scout in scouts {
            snapshot
                .scouts
                .push(store.scout(scout).await.expect("reading a scout"));
        }
        for order in orders {
            snapshot
                .orders
                .push(store.order(order).await.expect("reading an order"));
        }
        for user in users {
            let summary = store.summary(*user).await.expect("reading a summary");
            let payouts = crate::invariants::user_payouts(store, *user).await;
            snapshot.users.push((summary, payouts));
        }
        snapshot
    }
}

/// Every event the table's stream makes, published by the real publisher (in batches
/// of 100, each of which must go out whole) to a bus of the caller's own whose one
/// rule has `pattern`: what that rule delivered, as EventBridge envelopes.
pub async fn publish_table_stream(
    store: &Store,
    pattern: &serde_json::Value,
) -> Vec<serde_json::Value> {
    use crate::streams::{MappingFilter, StartAt, StreamReader};
    use service::events::bus::EventBridgeBus;
    use service::events::publish::{Publisher, RetryPolicy};

    let bus = fresh_bus(pattern).await;
    let publisher = Publisher::new(
        EventBridgeBus::new(bus.clients.eventbridge.clone(), &bus.name),
        RetryPolicy::default(),
    );
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .expect("opening the table's stream")
        .filtered(MappingFilter::from_template().expect("the template's stream filter"));
    loop {
        let batch = reader
            .next_batch(100)
            .await
            .expect("reading the table's stream");
        if batch.records.is_empty() {
            break;
        }
        let report = publisher.publish(&batch).await;
        assert_eq!(report.retry_from, None, "{report:?}");
    }
    bus.capture
        .drain()
        .await
        .expect("reading what the rule delivered")
}

/// One item as stored, by its key (strongly consistent).
pub async fn stored_item(
    store: &Store,
    pk: &str,
    sk: &str,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(sk.to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("DynamoDB Local answers")
        .item
}

/// Saves `account` as the user's first, then puts it where versions before 2026-12-05
/// kept accounts, as they kept it: under the user's own partition (`USER#`,
/// `PAYOUT_ACCOUNT`), its number or VPA in plain text, with its revision record.
pub async fn legacy_account(
    store: &Store,
    user_id: u64,
    account: service::account::NewPayoutAccount,
) -> service::account::PayoutAccount {
    use aws_sdk_dynamodb::types::AttributeValue;
    use service::account::Destination;
    let plain = account.destination.clone();
    service::account::save_payout_account(
        store,
        &vault().await,
        &domain::actor::Actor::user(user_id),
        account,
        0,
    )
    .await
    .expect("the account saves");
    let saved = store
        .payout_account(user_id)
        .await
        .expect("DynamoDB Local answers")
        .expect("just saved");
    for (from_sk, to_sk) in [
        ("ACCOUNT".to_owned(), "PAYOUT_ACCOUNT".to_owned()),
        (
            format!("REV#{:020}", saved.revision),
            format!("PAYOUT_ACCOUNT#REV#{:020}", saved.revision),
        ),
    ] {
        let from_pk = format!("ACCOUNT#{user_id}");
        let mut moved = stored_item(store, &from_pk, &from_sk)
            .await
            .expect("the save wrote it");
        moved.insert(
            "pk".to_owned(),
            AttributeValue::S(format!("USER#{user_id}")),
        );
        if from_sk == "ACCOUNT" {
            for sealed in [
                "destination_masked",
                "destination_fingerprint",
                "destination_sealed",
            ] {
                moved.remove(sealed);
            }
            match &plain {
                Destination::BankAccount { account_number, .. } => {
                    moved.insert(
                        "account_number".to_owned(),
                        AttributeValue::S(account_number.clone()),
                    );
                }
                Destination::Vpa { address } => {
                    moved.insert("address".to_owned(), AttributeValue::S(address.clone()));
                }
            }
        }
        moved.insert("sk".to_owned(), AttributeValue::S(to_sk));
        put_item(store, moved).await;
        store
            .client()
            .delete_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(from_pk))
            .key("sk", AttributeValue::S(from_sk))
            .send()
            .await
            .expect("DynamoDB Local answers");
    }
    store
        .payout_account(user_id)
        .await
        .expect("DynamoDB Local answers")
        .expect("kept at the old place")
}

/// Every log line the functions' JSON subscriber writes while a test holds the guard
/// [`CapturedLogs::start`] returns, as text: tests hold what a deployed function would
/// log, at the level `level` names (`platform::telemetry::filter`).
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut captured) = self.0.lock() {
            captured.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Captures from now until the guard is dropped (on this thread).
    pub fn start(level: &str) -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .with_env_filter(platform::telemetry::filter(level))
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|captured| String::from_utf8_lossy(&captured).into_owned())
            .unwrap_or_default()
    }
}
