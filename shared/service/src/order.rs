//! Marketplace orders, as far as payouts care: completing one pays its seller and
//! credits its scout's bounty, exactly once.

use serde::Serialize;
use tracing::info;

use crate::config::PayoutLimits;
use domain::actor::Actor;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
pub use domain::order::*;
use domain::payout::{Payout, PayoutType};
use domain::time::Timestamp;
use store::{CreateRefused, OrderCompletion, Store};

/// Why a completed order has no seller payout.
pub const NO_PAYOUT_ZERO_PRICE: &str = "item_price_is_zero";

/// The order after completion and its seller payout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompletedOrder {
    pub order: Order,
    /// `None` when the seller is owed nothing (a zero price): no payout is created, so
    /// nothing of 0 paise ever reaches the gateway.
    pub payout: Option<Payout>,
    /// `false` when the order had already been completed and this is its payout.
    #[serde(skip)]
    pub newly_completed: bool,
}

/// How often completion re-reads an order that changed under it.
const ORDER_RACE_RETRIES: usize = 3;

/// Completes an order (its buyer, or an admin): one transaction moves the order to
/// `completed`, creates the seller payout with an id derived from the order id, and
/// credits the order's scout bounty. Completing it again returns the same payout.
///
/// The seller payout obeys the payout limits like any other: a zero price completes
/// the order with no payout (and says so); a positive price outside the limits is
/// refused (422) and the order stays open, since completing it would leave the seller
/// owed money no payout could carry.
pub async fn complete_order(
    store: &Store,
    limits: PayoutLimits,
    actor: &Actor,
    order_id: &str,
) -> Result<CompletedOrder> {
    complete(store, limits, order_id, |order| {
        actor.require_owner(order.buyer_id, "this order")
    })
    .await
}

/// The one completion, whoever asks for it: the buyer's or an admin's `PATCH
/// /orders/{id}/complete`, or the marketplace's `PUT /orders/{id}` with status
/// `completed`. `authorize` is asked about the order as read, every time it is read.
pub(crate) async fn complete(
    store: &Store,
    limits: PayoutLimits,
    order_id: &str,
    authorize: impl Fn(&Order) -> Result<()>,
) -> Result<CompletedOrder> {
    for _ in 0..ORDER_RACE_RETRIES {
        let order = store
            .order(order_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "order",
                id: order_id.to_owned(),
            })?;
        authorize(&order)?;

        let payout_id = Order::seller_payout_id(order_id);
        match order.status {
            OrderStatus::Completed => {
                let payout = match order.payout_id {
                    None => None,
                    Some(payout_id) => Some(store.payout(payout_id).await?.ok_or_else(|| {
                        Error::inconsistent(format!(
                            "completed order {order_id} has no payout {payout_id}"
                        ))
                    })?),
                };
                return Ok(CompletedOrder {
                    order,
                    payout,
                    newly_completed: false,
                });
            }
            OrderStatus::Cancelled => {
                return Err(Error::Conflict(Conflict::Refused(format!(
                    "order {order_id} is cancelled and cannot be completed"
                ))))
            }
            OrderStatus::Placed | OrderStatus::Shipped | OrderStatus::Delivered => {}
        }

        let price = order.item_price_paise;
        if price != Paise::ZERO && (price < limits.min || price > limits.max) {
            return Err(Error::AmountOutOfRange {
                requested: price,
                min: limits.min,
                max: limits.max,
            });
        }
        let now = Timestamp::now();
        let payout = (price != Paise::ZERO).then(|| {
            let mut payout = Payout::new(
                payout_id,
                order.seller_id,
                PayoutType::SellerPayout,
                price,
                now,
            );
            payout.order_id = Some(order.order_id.clone());
            payout
        });
        let completion = OrderCompletion {
            order_id,
            read_revision: order.revision,
            read_status: order.status,
            payout: payout.as_ref(),
            bounty: order.bounty(),
            now,
        };
        match store.complete_order(completion).await {
            Ok(()) => {
                info!(
                    event = "order_completed",
                    order_id,
                    payout_id = payout.as_ref().map(|payout| payout.payout_id.to_string()),
                    no_payout_reason = payout.is_none().then_some(NO_PAYOUT_ZERO_PRICE),
                    user_id = order.seller_id,
                    amount_paise = price.get(),
                    bounty_paise = order.bounty().map_or(0, |(_, bounty)| bounty.get()),
                    "order completed"
                );
                let order = Order {
                    status: OrderStatus::Completed,
                    completed_at: Some(now),
                    updated_at: Some(now),
                    revision: order.revision + 1,
                    payout_id: payout.as_ref().map(|payout| payout.payout_id),
                    ..order
                };
                return Ok(CompletedOrder {
                    order,
                    payout,
                    newly_completed: true,
                });
            }
            // Someone else completed, cancelled or changed it meanwhile: look again.
            Err(CreateRefused::OrderNotOpen) => continue,
            Err(CreateRefused::BountyScoutMissing) => {
                return Err(Error::Conflict(Conflict::Refused(format!(
                    "order {order_id} names scout {} which does not exist",
                    order.scout_id.as_deref().unwrap_or_default()
                ))))
            }
            Err(CreateRefused::Failed(error)) => return Err(error),
            Err(other) => return Err(Error::Invariant(format!("unexpected refusal {other:?}"))),
        }
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "order {order_id} is changing too fast; try again"
    ))))
}
