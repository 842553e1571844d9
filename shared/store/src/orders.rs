//! Orders: read one, add one (a fixture or an import; completing one is a payout write).

use domain::error::Result;
use domain::order::Order;

use crate::{keys, Store};

impl Store {
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>> {
        self.get(&keys::order_pk(order_id), keys::ORDER_SK).await
    }

    /// Adds an order unless one with this id exists; `false` when it did.
    pub async fn insert_order(&self, order: &Order) -> Result<bool> {
        self.insert(&keys::order_pk(&order.order_id), keys::ORDER_SK, order)
            .await
    }
}
