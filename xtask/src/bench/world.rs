//! The data the in-process benchmarks run against: a fresh table on DynamoDB Local,
//! a store whose client counts requests, and a separate uncounted client for the
//! simulated gateway's ledger (the gateway's requests are not ours).

use anyhow::Result;
use devkit::counting::RequestCounter;
use devkit::dynamodb_local;
use devkit::replay::Capture;
use devkit::table::TableDefinition;
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::Payout;
use gateway::SimulatedGateway;
use service::config::{PayoutLimits, SimulatedGatewayConfig};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::Store;

/// The template's table without its stream, for every benchmark table whose stream no
/// figure reads. DynamoDB Local writes a stream record inside each write and pays for
/// every record it already holds, any table's: transactions on a streamed table ran
/// 519 a second on a new instance and 68 a second once another table's stream held
/// 20,000 records (`boto3` against DynamoDB Local, 2026-12-07), while its reads and a
/// table without a stream kept their speed. DynamoDB writes its stream apart from the
/// write. With the stream, a part's own earlier payouts slowed its later figures
/// (payout-stats over 100 payouts took seconds a call after 11,000 others were made).
pub fn unstreamed_table() -> Result<TableDefinition> {
    let mut definition = TableDefinition::from_template(&devkit::paths::template())?;
    definition.stream_specification = None;
    Ok(definition)
}

pub const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(u64::MAX / 4),
};

pub struct World {
    pub store: Store,
    pub ledger: Store,
    pub counter: RequestCounter,
}

impl World {
    pub async fn new(endpoint: &str) -> Result<Self> {
        Self::build(endpoint, None).await
    }

    /// A world whose requests, the service's and the gateway ledger's, `capture` sees
    /// (labelled `service` and `gateway`) while it is on.
    pub async fn captured(endpoint: &str, capture: &Capture) -> Result<Self> {
        Self::build(endpoint, Some(capture)).await
    }

    async fn build(endpoint: &str, capture: Option<&Capture>) -> Result<Self> {
        let counter = RequestCounter::default();
        let mut client = counter.client(endpoint).await;
        let mut ledger_client = dynamodb_local::client(endpoint).await;
        if let Some(capture) = capture {
            client = capture.labelled("service").client(&client);
            ledger_client = capture.labelled("gateway").client(&ledger_client);
        }
        let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
        unstreamed_table()?.create(&client, &table).await?;
        let ledger = Store::new(ledger_client, &table);
        Ok(World {
            store: Store::new(client, table),
            ledger,
            counter,
        })
    }

    pub fn gateway(&self, latency_ms: u64, success_rate: f64) -> SimulatedGateway {
        SimulatedGateway::new(
            self.ledger.clone(),
            SimulatedGatewayConfig {
                success_rate,
                latency_ms,
                seed: Some(1),
            },
        )
    }

    /// A scout of `user` with more earnings than any benchmark asks for.
    pub async fn rich_scout(&self, scout_id: &str, user: u64) -> Result<()> {
        self.store
            .insert_scout(&Scout::with_earnings(scout_id, user, Paise(u64::MAX / 4)))
            .await?;
        Ok(())
    }

    /// `count` pending payouts of `scout_id`, made as its owner would, `parallel` at once.
    pub async fn pending(
        &self,
        scout_id: &str,
        user: u64,
        count: usize,
        parallel: usize,
    ) -> Result<Vec<Payout>> {
        let mut made = Vec::with_capacity(count);
        let mut remaining = count;
        while remaining > 0 {
            let wave = remaining.min(parallel);
            let tasks: Vec<_> = (0..wave)
                .map(|_| {
                    let store = self.store.clone();
                    let scout_id = scout_id.to_owned();
                    tokio::spawn(async move {
                        request_payout(
                            &store,
                            LIMITS,
                            &Actor::user(user),
                            PayoutRequest {
                                scout_id,
                                amount: Some(Paise(100)),
                                idempotency_key: None,
                            },
                        )
                        .await
                    })
                })
                .collect();
            for task in tasks {
                made.push(task.await??.payout().clone());
            }
            remaining -= wave;
        }
        Ok(made)
    }
}
