//! `PUT /orders/{order_id}`: the marketplace creates an order or reports what became of
//! it. Its status only moves forward ([`OrderStatus::may_become`]); reaching
//! `completed` is the same completion as `PATCH /orders/{id}/complete` (one seller
//! payout, the bounty credited once); a completed or cancelled order no longer changes.

use serde_json::{Map, Value};
use tracing::info;

use super::{by, invalid, paise, payable, record_id, user_id, Upserted, RACE_RETRIES};
use crate::config::PayoutLimits;
use crate::order::{complete, CompletedOrder};
use domain::actor::ServiceCaller;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
use domain::order::{Currency, Order, OrderStatus};
use domain::payout::Payout;
use domain::time::Timestamp;
use store::Store;

/// The fields of the body.
pub const FIELDS: [&str; 7] = [
    "buyer_id",
    "seller_id",
    "item_price_paise",
    "currency",
    "status",
    "scout_id",
    "scout_bounty_paise",
];

/// What the marketplace says an order is. A `PUT` says all of it: a scout or bounty
/// left out means none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderReport {
    pub buyer_id: u64,
    pub seller_id: u64,
    /// What the seller is paid on completion, platform fee already deducted.
    pub item_price_paise: Paise,
    pub currency: Currency,
    pub status: OrderStatus,
    pub scout_id: Option<String>,
    /// Credited to the scout on completion; never more than the price.
    pub scout_bounty_paise: Option<Paise>,
    /// When the marketplace said it (an event's `time`; `None` for a request, which
    /// is in order by being answered): a report older than the latest one applied is
    /// superseded.
    pub as_of: Option<Timestamp>,
}

impl OrderReport {
    pub fn parse(body: &Map<String, Value>, limits: PayoutLimits) -> Result<Self> {
        domain::body::only_fields(body, &FIELDS)?;
        let buyer_id = user_id(body, "buyer_id")?;
        let seller_id = user_id(body, "seller_id")?;
        let price = paise(body, "item_price_paise")?
            .ok_or_else(|| invalid("item_price_paise", "item_price_paise is required"))?;
        let item_price_paise = payable(price, "item_price_paise", limits)?;
        let currency = match body.get("currency") {
            None | Some(Value::Null) => Currency::Inr,
            Some(Value::String(code)) if code == Currency::Inr.as_str() => Currency::Inr,
            Some(_) => {
                return Err(invalid(
                    "currency",
                    "currency must be INR: the gateway pays out rupees only",
                ))
            }
        };
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .and_then(OrderStatus::parse)
            .ok_or_else(|| {
                invalid(
                    "status",
                    format!(
                        "status must be one of {}",
                        OrderStatus::ALL.map(OrderStatus::as_str).join(", ")
                    ),
                )
            })?;
        let scout_id = record_id(body, "scout_id")?;
        // Zero is no bounty, as a marketplace that always sends the field writes it.
        let scout_bounty_paise = paise(body, "scout_bounty_paise")?.filter(|b| *b > Paise::ZERO);
        if let Some(bounty) = scout_bounty_paise {
            if scout_id.is_none() {
                return Err(invalid(
                    "scout_bounty_paise",
                    "scout_bounty_paise needs the scout_id it is credited to",
                ));
            }
            if bounty > item_price_paise {
                return Err(Error::OutOfRange {
                    field: "scout_bounty_paise",
                    message: format!(
                        "scout_bounty_paise ({}) may not be more than item_price_paise ({})",
                        bounty.get(),
                        item_price_paise.get()
                    ),
                });
            }
        }
        Ok(OrderReport {
            buyer_id,
            seller_id,
            item_price_paise,
            currency,
            status,
            scout_id,
            scout_bounty_paise,
            as_of: None,
        })
    }

    /// Whether a report of `as_of` comes after everything applied to `order` so far.
    ///
    /// A completion or a cancellation of an order still open is never older: it moves
    /// the order forward whatever its time says (a publisher's clock behind), so no
    /// money the marketplace meant to move is dropped for a timestamp.
    fn is_older_than(&self, order: &Order) -> bool {
        if self.status.is_final() && !order.status.is_final() {
            return false;
        }
        matches!((self.as_of, order.reported_at), (Some(as_of), Some(seen)) if as_of < seen)
    }

    /// Whether this report's time is later than the latest applied to `order`: then
    /// it is written even when it changes nothing else, so an older report arriving
    /// after it is still known to be older.
    fn advances(&self, order: &Order) -> bool {
        match (self.as_of, order.reported_at) {
            (Some(as_of), Some(seen)) => as_of > seen,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whether this report may be applied to `order` at all: an open order's status
    /// only moves forward, and a completed or cancelled one takes only itself again.
    pub(crate) fn check_against(&self, order: &Order) -> Result<()> {
        if order.status.is_final() {
            let field = self
                .differs_from(order)
                .or((self.status != order.status).then_some("status"));
            return match field {
                None => Ok(()),
                Some(field) => Err(Error::OrderClosed {
                    order_id: order.order_id.clone(),
                    status: order.status,
                    field,
                }),
            };
        }
        if !order.status.may_become(self.status) {
            return Err(Error::OrderStatusBackwards {
                order_id: order.order_id.clone(),
                from: order.status,
                to: self.status,
            });
        }
        Ok(())
    }

    /// The first field in which the stored order says something else, if any.
    pub(crate) fn differs_from(&self, order: &Order) -> Option<&'static str> {
        [
            ("buyer_id", self.buyer_id != order.buyer_id),
            ("seller_id", self.seller_id != order.seller_id),
            (
                "item_price_paise",
                self.item_price_paise != order.item_price_paise,
            ),
            ("currency", self.currency != order.currency),
            ("scout_id", self.scout_id != order.scout_id),
            (
                "scout_bounty_paise",
                self.scout_bounty_paise != order.scout_bounty_paise.filter(|b| *b > Paise::ZERO),
            ),
        ]
        .into_iter()
        .find(|(_, differs)| *differs)
        .map(|(field, _)| field)
    }

    /// The order as this report makes it, in `status`, one revision on from `order`.
    fn applied_to(&self, order_id: &str, previous: Option<&Order>, status: OrderStatus) -> Order {
        let now = Timestamp::now();
        Order {
            order_id: order_id.to_owned(),
            buyer_id: self.buyer_id,
            seller_id: self.seller_id,
            item_price_paise: self.item_price_paise,
            currency: self.currency,
            status,
            scout_id: self.scout_id.clone(),
            scout_bounty_paise: self.scout_bounty_paise,
            payout_id: None,
            completed_at: None,
            revision: previous.map_or(0, |order| order.revision) + 1,
            updated_at: Some(now),
            // Never earlier than what was applied before (a completion whose time is
            // behind is applied all the same, `is_older_than`).
            reported_at: self.as_of.max(previous.and_then(|order| order.reported_at)),
        }
    }
}

/// The order after the write, and its seller payout once it is completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedOrder {
    pub order: Order,
    pub payout: Option<Payout>,
    pub upserted: Upserted,
}

/// Creates the order or applies the report to it. A completion is the one completion
/// (`crate::order`), after the report's fields are stored, and only of those fields: a
/// request cut short between the two, or refused there (`409`: the order changed, or
/// was cancelled, meanwhile), leaves an open order with the new fields, and sending it
/// again completes it.
pub async fn put_order(
    store: &Store,
    limits: PayoutLimits,
    caller: &ServiceCaller,
    order_id: &str,
    report: OrderReport,
) -> Result<ReportedOrder> {
    let mut scout_known = report.scout_id.is_none();
    for _ in 0..RACE_RETRIES {
        let stored = store.order(order_id).await?;
        if let Some(order) = &stored {
            if report.is_older_than(order) {
                return Ok(ReportedOrder {
                    order: order.clone(),
                    payout: None,
                    upserted: Upserted::Superseded,
                });
            }
            report.check_against(order)?;
            if order.status.is_final() {
                return settled(store, order).await;
            }
        }
        // Scouts are never deleted: once found, it stays found.
        if let (false, Some(scout_id)) = (scout_known, &report.scout_id) {
            if store.scout(scout_id).await?.is_none() {
                return Err(Error::UnknownScout {
                    scout_id: scout_id.clone(),
                });
            }
            scout_known = true;
        }
        // Fields first, in the status the order may hold while open: completion is
        // its own transaction, made below on the order as written here.
        let open_status = match (report.status, &stored) {
            (OrderStatus::Completed, Some(order)) => order.status,
            (OrderStatus::Completed, None) => OrderStatus::Placed,
            (status, _) => status,
        };
        let same = stored.as_ref().is_some_and(|order| {
            report.differs_from(order).is_none() && order.status == open_status
        });
        let written = match &stored {
            Some(order) if same && !report.advances(order) => None,
            Some(order) => {
                let changed = report.applied_to(order_id, Some(order), open_status);
                if !store
                    .replace_order(&changed, order.revision, order.status)
                    .await?
                {
                    continue;
                }
                // Only the report's time moved: the order says what it said.
                let how = if same {
                    Upserted::Unchanged
                } else {
                    Upserted::Updated
                };
                Some((changed, how))
            }
            None => {
                let created = report.applied_to(order_id, None, open_status);
                if !store.insert_order(&created).await? {
                    continue;
                }
                Some((created, Upserted::Created))
            }
        };
        let upserted = written
            .as_ref()
            .map_or(Upserted::Unchanged, |(_, how)| *how);
        if let Some((order, how)) = &written {
            info!(
                event = "order_reported",
                order_id,
                status = %order.status,
                revision = order.revision,
                created = *how == Upserted::Created,
                client_id = by(caller),
                "order written by the marketplace"
            );
        }
        if report.status != OrderStatus::Completed {
            let order = match written {
                Some((order, _)) => order,
                None => stored.ok_or_else(|| {
                    Error::Invariant("an unchanged order that does not exist".to_owned())
                })?,
            };
            return Ok(ReportedOrder {
                order,
                payout: None,
                upserted,
            });
        }
        // Completion settles the order it reads, in the same transaction it is
        // conditioned on: only if that is still what this report says. A change that
        // landed between the write above and the completion wins, and this report is
        // refused rather than completing fields it never sent.
        let CompletedOrder { order, payout, .. } = complete(store, limits, order_id, |order| {
            match report.differs_from(order) {
                None => Ok(()),
                Some(field) => Err(Error::Conflict(Conflict::Stale(format!(
                    "order {order_id}'s {field} changed while it was being completed; send \
                     the order as it is now"
                )))),
            }
        })
        .await?;
        let upserted = match upserted {
            Upserted::Created => Upserted::Created,
            _ => Upserted::Updated,
        };
        return Ok(ReportedOrder {
            order,
            payout,
            upserted,
        });
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "order {order_id} is changing too fast; try again"
    ))))
}

/// A report on a completed or cancelled order that says what it is: a replay.
async fn settled(store: &Store, order: &Order) -> Result<ReportedOrder> {
    let payout = match order.payout_id {
        None => None,
        Some(payout_id) => Some(store.existing_payout(payout_id).await?),
    };
    Ok(ReportedOrder {
        order: order.clone(),
        payout,
        upserted: Upserted::Unchanged,
    })
}
