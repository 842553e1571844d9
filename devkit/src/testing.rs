//! Test support: every test gets its own table on the real DynamoDB Local that
//! `cargo xtask test` started (DESIGN §11). Tests never run against AWS.

use aws_sdk_dynamodb::Client;
use shared::config::{Config, ProcessorConfig, SimulatedGatewayConfig, LOCAL_STAGE};
use shared::gateway::SimulatedGateway;
use shared::store::Store;

use crate::paths;
use crate::table::TableDefinition;

/// The endpoint the tests use, which must be a local one.
pub fn endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| endpoint.starts_with(prefix));
    assert!(
        local,
        "tests need DynamoDB Local: run them with `cargo xtask test`, or start one and set \
         AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:<port> (got `{endpoint}`)"
    );
    endpoint
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
pub fn local_config(overrides: &[(&str, &str)]) -> shared::Result<Config> {
    Config::from_lookup(|name| {
        overrides
            .iter()
            .chain([("STAGE", LOCAL_STAGE)].iter())
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
}

pub fn processor_config(batch_size: usize) -> ProcessorConfig {
    ProcessorConfig {
        batch_size,
        concurrency: batch_size,
        lease_secs: 300,
        poll_secs: 60,
        drain: None,
    }
}

/// Everything a request could change for these scouts, orders and users, so a test can
/// prove an error left the data exactly as it was.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    scouts: Vec<Option<shared::scout::Scout>>,
    orders: Vec<Option<shared::order::Order>>,
    users: Vec<(shared::store::PayoutSummary, Vec<shared::payout::Payout>)>,
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
