//! `cargo xtask seed FILE`: the JSON fixture of `fixtures/demo.json`'s shape, loaded
//! through the same operations the service uses: scouts and orders through the
//! marketplace's import (`service::marketplace::import`), the rest through the routes'
//! use cases. Loading it again changes nothing: scouts and orders are added only if
//! absent, and the optional actions are idempotent.
//!
//! Beyond `scouts` and `orders`, a fixture may list `payout_requests` (made with their
//! `idempotency_key`, as an admin) and `complete_orders` (order ids), so demo data can
//! start with pending payouts for the processor to pay, and `payout_accounts` (each a
//! `user_id` with the body of `PUT /me/payout-account`), saved unless the user has one.

use std::path::Path;

use anyhow::{bail, Context, Result};
use domain::actor::Actor;
use domain::actor::ServiceCaller;
use domain::money::Paise;
use serde::{Deserialize, Serialize};
use service::account::{parse_new_account, save_payout_account};
use service::config::PayoutLimits;
use service::marketplace::import::{Imported, Importer};
use service::order::{complete_order, OrderStatus};
use service::scout::{request_payout, PayoutRequest, Requested};
use store::Store;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub scouts: Vec<ScoutFixture>,
    #[serde(default)]
    pub orders: Vec<OrderFixture>,
    #[serde(default)]
    pub payout_requests: Vec<PayoutRequestFixture>,
    #[serde(default)]
    pub complete_orders: Vec<String>,
    #[serde(default)]
    pub payout_accounts: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoutFixture {
    pub scout_id: String,
    pub user_id: u64,
    pub earnings_paise: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFixture {
    pub order_id: String,
    pub buyer_id: u64,
    pub seller_id: u64,
    pub item_price_paise: u64,
    pub status: OrderStatus,
    #[serde(default)]
    pub scout_id: Option<String>,
    #[serde(default)]
    pub scout_bounty_paise: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequestFixture {
    pub scout_id: String,
    #[serde(default)]
    pub amount_paise: Option<u64>,
    pub idempotency_key: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub scouts_added: usize,
    pub orders_added: usize,
    pub payouts_created: usize,
    pub orders_completed: usize,
    pub payout_accounts_added: usize,
}

/// Fixture actions run as this admin; their idempotency keys are scoped to it.
const SEED_ADMIN: Actor = Actor {
    user_id: 0,
    role: domain::actor::Role::Admin,
};

impl Fixture {
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let fixture: Fixture = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid fixture", path.display()))?;
        fixture.validate()?;
        Ok(fixture)
    }

    fn validate(&self) -> Result<()> {
        use api::input::is_addressable_id as addressable;
        for scout in &self.scouts {
            if !addressable(&scout.scout_id) {
                bail!(
                    "scout_id `{}` is not 1-128 visible ASCII characters",
                    scout.scout_id
                );
            }
        }
        for order in &self.orders {
            if !addressable(&order.order_id) {
                bail!(
                    "order_id `{}` is not 1-128 visible ASCII characters",
                    order.order_id
                );
            }
            if order.item_price_paise == 0 {
                bail!("order {} has item_price_paise 0", order.order_id);
            }
            if order.scout_bounty_paise.is_some() && order.scout_id.is_none() {
                bail!("order {} has a bounty but no scout_id", order.order_id);
            }
        }
        Ok(())
    }

    pub async fn load(
        &self,
        store: &Store,
        vault: &platform::vault::Vault,
        limits: PayoutLimits,
    ) -> Result<SeedReport> {
        let mut report = SeedReport::default();
        // Through the marketplace's import, as `cargo xtask import` loads a marketplace:
        // each scout by `PUT /scouts/{id}`'s use case with its earnings as an opening
        // balance, each order by `PUT /orders/{id}`'s. Only what is absent: a demo
        // order completed since is left as it is, not refused.
        let importer = Importer {
            store,
            limits,
            caller: ServiceCaller {
                client_id: FIXTURE_CLIENT.to_owned(),
            },
            dry_run: false,
            planned_scouts: Default::default(),
            complete_orders: false,
        };
        for scout in &self.scouts {
            if store.scout(&scout.scout_id).await?.is_some() {
                continue;
            }
            let row = serde_json::json!({
                "scout_id": scout.scout_id,
                "user_id": scout.user_id,
                "opening_balance_paise": scout.earnings_paise,
            });
            let outcome = importer.scout(as_row(row)).await?;
            if loaded(outcome, "scout", &scout.scout_id)? {
                report.scouts_added += 1;
            }
        }
        for order in &self.orders {
            if store.order(&order.order_id).await?.is_some() {
                continue;
            }
            let row = serde_json::json!({
                "order_id": order.order_id,
                "buyer_id": order.buyer_id,
                "seller_id": order.seller_id,
                "item_price_paise": order.item_price_paise,
                "status": order.status,
                "scout_id": order.scout_id,
                "scout_bounty_paise": order.scout_bounty_paise,
            });
            let outcome = importer.order(as_row(row)).await?;
            if loaded(outcome, "order", &order.order_id)? {
                report.orders_added += 1;
            }
        }
        for request in &self.payout_requests {
            let outcome = request_payout(
                store,
                limits,
                &SEED_ADMIN,
                PayoutRequest {
                    scout_id: request.scout_id.clone(),
                    amount: request.amount_paise.map(Paise),
                    idempotency_key: Some(request.idempotency_key.clone()),
                },
            )
            .await
            .with_context(|| format!("payout request {}", request.idempotency_key))?;
            if matches!(outcome, Requested::Created(_)) {
                report.payouts_created += 1;
            }
        }
        for entry in &self.payout_accounts {
            let mut body = entry.clone();
            let user_id = body
                .remove("user_id")
                .and_then(|id| id.as_u64())
                .context("a payout account needs a numeric user_id")?;
            let account = parse_new_account(&body)
                .with_context(|| format!("payout account of user {user_id}"))?;
            if store.payout_account(user_id).await?.is_none() {
                // Only a user's first account is saved here, which starts no hold.
                save_payout_account(store, vault, &Actor::user(user_id), account, 0).await?;
                report.payout_accounts_added += 1;
            }
        }
        for order_id in &self.complete_orders {
            let completed = complete_order(store, limits, &SEED_ADMIN, order_id)
                .await
                .with_context(|| format!("completing order {order_id}"))?;
            if completed.newly_completed {
                report.orders_completed += 1;
            }
        }
        Ok(report)
    }
}

/// Who fixture records are written as: the marketplace's backend, as the import is.
const FIXTURE_CLIENT: &str = "fixture";

fn as_row(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(row) => row,
        _ => serde_json::Map::new(),
    }
}

/// `true` when the record was added now; a fixture's refused record is an error.
fn loaded(outcome: Imported, what: &str, id: &str) -> Result<bool> {
    match outcome {
        Imported::Created => Ok(true),
        Imported::Updated | Imported::Unchanged => Ok(false),
        Imported::Refused(reason) => bail!("fixture {what} {id} was refused: {reason}"),
    }
}

/// A new, empty table named `prefix-<uuid>` at `endpoint`, created from `template.yaml`.
pub async fn empty_table(endpoint: &str, prefix: &str) -> Result<String> {
    let table = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let client = crate::dynamodb_local::client(endpoint).await;
    crate::table::TableDefinition::from_template(&crate::paths::template())?
        .create(&client, &table)
        .await?;
    Ok(table)
}

/// A new table named `prefix-<uuid>` at `endpoint`, created from `template.yaml` and
/// loaded with `fixtures/demo.json`: what the benchmarks and the dashboard run on.
pub async fn demo_table(
    endpoint: &str,
    vault: &platform::vault::Vault,
    prefix: &str,
) -> Result<String> {
    let table = empty_table(endpoint, prefix).await?;
    let client = crate::dynamodb_local::client(endpoint).await;
    let limits = crate::testing::local_config(&[])?.limits;
    Fixture::read(&crate::paths::workspace_root().join("fixtures/demo.json"))?
        .load(&Store::new(client, &table), vault, limits)
        .await?;
    Ok(table)
}
