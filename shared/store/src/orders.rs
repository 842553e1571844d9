//! Orders: read one, add one, and replace one the marketplace changed, only if it is
//! still the order that was read (completing one is a payout write, `payouts::create`).

use domain::error::Result;
use domain::order::{Order, OrderStatus};

use crate::expr::Expr;
use crate::{keys, n, s, to_item, with_key, Store};

impl Store {
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>> {
        self.get(&keys::order_pk(order_id), keys::ORDER_SK).await
    }

    /// Adds an order unless one with this id exists; `false` when it did.
    pub async fn insert_order(&self, order: &Order) -> Result<bool> {
        self.insert(&keys::order_pk(&order.order_id), keys::ORDER_SK, order)
            .await
    }

    /// Writes `order` over the stored one only if that one is still at `read_revision`
    /// and in `read_status`; `false` when it moved meanwhile (another change, or a
    /// completion), and nothing was written.
    pub async fn replace_order(
        &self,
        order: &Order,
        read_revision: u64,
        read_status: OrderStatus,
    ) -> Result<bool> {
        let item = with_key(
            to_item(order)?,
            &keys::order_pk(&order.order_id),
            keys::ORDER_SK,
        );
        let mut expr = Expr::default();
        let condition = revision_clause(&mut expr, read_revision, read_status);
        self.transact_if(vec![expr.put(item, &self.table, condition)?])
            .await
    }
}

/// The condition that the stored order is the one read: its revision (orders stored
/// before revisions existed have none, which reads as 0) and its status.
pub(crate) fn revision_clause(expr: &mut Expr, revision: u64, status: OrderStatus) -> String {
    let revision_name = expr.name("revision");
    let revision_value = expr.value(n(revision));
    let status_name = expr.name("status");
    let status_value = expr.value(s(status.as_str()));
    let revision_holds = if revision == 0 {
        format!("(attribute_not_exists({revision_name}) OR {revision_name} = {revision_value})")
    } else {
        format!("{revision_name} = {revision_value}")
    };
    format!("attribute_exists(pk) AND {revision_holds} AND {status_name} = {status_value}")
}
