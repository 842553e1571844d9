//! A marketplace that already has history, brought in record by record (`cargo xtask
//! import`, and the demo fixture): each scout and order through the same use cases as
//! `PUT /scouts/{id}` and `PUT /orders/{id}`, each opening balance as a credit under a
//! key of its own, so an import run twice, or resumed after a failure, changes nothing
//! the second time. A dry run reads and checks everything and writes nothing.

use serde_json::{Map, Value};

use super::earnings::{record_earnings, EarningsRequest};
use super::orders::{put_order, OrderReport};
use super::scouts::{put_scout, ScoutProfile};
use super::{record_id_of, Upserted};
use crate::config::PayoutLimits;
use domain::actor::ServiceCaller;
use domain::error::{Error, Result};
use domain::order::OrderStatus;
use domain::scout::EarningsDirection;
use store::Store;

/// The key an imported scout's opening balance is credited under: one per scout, so
/// the same balance imported again is a replay, and another one is refused
/// (`idempotency_key_reused`) rather than credited on top.
pub const OPENING_BALANCE_KEY: &str = "import-opening-balance";
/// The reason code of that credit.
pub const OPENING_BALANCE_REASON: &str = "opening_balance";

/// What importing one record did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    Created,
    Updated,
    Unchanged,
    /// Not written: why, in the service's words (`code: message`).
    Refused(String),
}

impl From<Upserted> for Imported {
    fn from(upserted: Upserted) -> Self {
        match upserted {
            Upserted::Created => Imported::Created,
            Upserted::Updated => Imported::Updated,
            // An import states no time: nothing it writes is ever older.
            Upserted::Unchanged | Upserted::Superseded => Imported::Unchanged,
        }
    }
}

/// The record's refusal, when the service refused it for what it says (a `4xx`):
/// the import goes on with the next one. Anything else (DynamoDB unreachable) stops it.
fn refused_or_failed(result: Result<Imported>) -> Result<Imported> {
    match result {
        Err(error) if (400..500).contains(&error.http_status()) => Ok(Imported::Refused(format!(
            "{}: {}",
            error.code(),
            error.public_message()
        ))),
        other => other,
    }
}

pub struct Importer<'a> {
    pub store: &'a Store,
    pub limits: PayoutLimits,
    pub caller: ServiceCaller,
    /// Read and check, write nothing.
    pub dry_run: bool,
    /// The scouts a dry run has seen so far, which its orders may name.
    pub planned_scouts: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Complete orders the file says are completed (a seller payout each, the bounty
    /// credited). Off by default: an order completed before the import was settled by
    /// the system it came from, and its scout's bounty belongs in the scout's
    /// opening balance; completing it here would pay its seller a second time.
    pub complete_orders: bool,
}

impl Importer<'_> {
    /// A scout row: `scout_id`, `user_id`, `display_name?`, `active?` (default true),
    /// `opening_balance_paise?` (credited once, under [`OPENING_BALANCE_KEY`]).
    pub async fn scout(&self, row: Map<String, Value>) -> Result<Imported> {
        refused_or_failed(self.scout_row(row).await)
    }

    async fn scout_row(&self, mut row: Map<String, Value>) -> Result<Imported> {
        let opening = match row.remove("opening_balance_paise") {
            // Nothing held is no opening balance.
            None | Some(Value::Null) => None,
            Some(Value::Number(zero)) if zero.as_u64() == Some(0) => None,
            Some(value) => {
                let mut body = Map::new();
                body.insert("direction".to_owned(), Value::from("credit"));
                body.insert("amount_paise".to_owned(), value);
                body.insert("reason".to_owned(), Value::from(OPENING_BALANCE_REASON));
                Some(EarningsRequest::parse(&body).map_err(|error| match error {
                    Error::InvalidField { message, .. } => Error::InvalidField {
                        field: "opening_balance_paise",
                        message: message.replace("amount_paise", "opening_balance_paise"),
                    },
                    other => other,
                })?)
            }
        };
        let (scout_id, mut body) = record_id_of(row, "scout_id")?;
        let stored = self.store.scout(&scout_id).await?;
        // Left out, `active` is what the scout is: a new scout is active, and one the
        // marketplace deactivated since an earlier import stays deactivated.
        body.entry("active").or_insert(Value::Bool(
            stored.as_ref().is_none_or(|scout| scout.active),
        ));
        let profile = ScoutProfile::parse(&body)?;
        // Another opening balance than the one credited before is refused before
        // anything of the row is written.
        if let Some(credit) = &opening {
            if let Some(entry) = self
                .store
                .earnings_entry(&scout_id, OPENING_BALANCE_KEY)
                .await?
            {
                if !entry.same_request(EarningsDirection::Credit, credit.amount, &credit.reason) {
                    return Err(Error::IdempotencyKeyReused);
                }
            }
        }
        if self.dry_run {
            let would = self
                .scout_would(&scout_id, &profile, opening.as_ref())
                .await?;
            if let Ok(mut planned) = self.planned_scouts.lock() {
                planned.insert(scout_id);
            }
            return Ok(would);
        }
        let (_, upserted) = put_scout(self.store, &self.caller, &scout_id, profile).await?;
        let mut imported = Imported::from(upserted);
        if let Some(credit) = opening {
            let recorded = record_earnings(
                self.store,
                &self.caller,
                &scout_id,
                Some(OPENING_BALANCE_KEY),
                credit,
            )
            .await?;
            if imported == Imported::Unchanged
                && matches!(recorded, super::earnings::Recorded::Created(_))
            {
                imported = Imported::Updated;
            }
        }
        Ok(imported)
    }

    async fn scout_would(
        &self,
        scout_id: &str,
        profile: &ScoutProfile,
        opening: Option<&EarningsRequest>,
    ) -> Result<Imported> {
        let Some(stored) = self.store.scout(scout_id).await? else {
            return Ok(Imported::Created);
        };
        if stored.user_id != profile.user_id {
            return Err(Error::ScoutOwnerFixed {
                scout_id: scout_id.to_owned(),
                owner: stored.user_id,
            });
        }
        let credited = match opening {
            None => false,
            Some(credit) => match self
                .store
                .earnings_entry(scout_id, OPENING_BALANCE_KEY)
                .await?
            {
                None => true,
                Some(entry)
                    if entry.same_request(
                        EarningsDirection::Credit,
                        credit.amount,
                        &credit.reason,
                    ) =>
                {
                    false
                }
                Some(_) => return Err(Error::IdempotencyKeyReused),
            },
        };
        Ok(if profile.is_what(&stored) && !credited {
            Imported::Unchanged
        } else {
            Imported::Updated
        })
    }

    /// An order row: `order_id` and the fields of `PUT /orders/{id}`.
    pub async fn order(&self, row: Map<String, Value>) -> Result<Imported> {
        refused_or_failed(self.order_row(row).await)
    }

    async fn order_row(&self, row: Map<String, Value>) -> Result<Imported> {
        let (order_id, body) = record_id_of(row, "order_id")?;
        let report = OrderReport::parse(&body, self.limits)?;
        let stored = self.store.order(&order_id).await?;
        let completes = report.status == OrderStatus::Completed
            && stored
                .as_ref()
                .is_none_or(|order| order.status != OrderStatus::Completed);
        if completes && !self.complete_orders {
            return Err(Error::InvalidField {
                field: "status",
                message: "completed before the import: settled by the system it came from \
                          (bring its scout's bounty in as opening_balance_paise), or import \
                          with --complete-orders to have this service pay its seller now"
                    .to_owned(),
            });
        }
        if self.dry_run {
            return self.order_would(stored.as_ref(), &report).await;
        }
        let reported = put_order(self.store, self.limits, &self.caller, &order_id, report).await?;
        Ok(reported.upserted.into())
    }

    async fn order_would(
        &self,
        stored: Option<&domain::order::Order>,
        report: &OrderReport,
    ) -> Result<Imported> {
        if let Some(order) = stored {
            report.check_against(order)?;
        }
        if let Some(scout_id) = &report.scout_id {
            let planned = self
                .planned_scouts
                .lock()
                .is_ok_and(|planned| planned.contains(scout_id));
            if !planned && self.store.scout(scout_id).await?.is_none() {
                return Err(Error::UnknownScout {
                    scout_id: scout_id.clone(),
                });
            }
        }
        Ok(match stored {
            None => Imported::Created,
            Some(order)
                if report.differs_from(order).is_none() && order.status == report.status =>
            {
                Imported::Unchanged
            }
            Some(_) => Imported::Updated,
        })
    }
}
