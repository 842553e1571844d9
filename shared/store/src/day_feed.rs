//! The `by_day` index ([`keys::DayFeed`]): which items of a feed have a time in a window,
//! read over every UTC day the window touches and every shard of each, then the items
//! themselves by key. The daily reconciliation reads both sides this way, with no Scan.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::expr::Expr;
use crate::keys::{self, DayFeed};
use crate::{key, s, Item, Store};
use domain::error::Result;
use domain::payout::Payout;
use domain::time::Timestamp;

/// Partitions queried at once.
const QUERIES_IN_PARALLEL: usize = 4;

impl Store {
    /// The table keys (`pk`, `sk`) of `feed`'s items with a time in `[from, to)`.
    pub(crate) async fn day_feed_keys(
        &self,
        feed: DayFeed,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Item>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let mut partitions = Vec::new();
        let mut day = from.as_utc().date_naive();
        let last = Timestamp::from_millis(to.unix_millis() - 1)
            .as_utc()
            .date_naive();
        while day <= last {
            let text = day.format("%Y-%m-%d").to_string();
            partitions.extend((0..feed.shards()).map(|shard| feed.pk(&text, shard)));
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        let found: Vec<Vec<Item>> = futures::stream::iter(partitions)
            .map(|partition| self.day_partition_keys(partition, from, to))
            .buffer_unordered(QUERIES_IN_PARALLEL)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn day_partition_keys(
        &self,
        partition: String,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut expr = Expr::default();
            let pk = expr.name(keys::DAY_PK);
            let sk = expr.name(keys::DAY_SK);
            let partition_value = expr.value(s(partition.as_str()));
            // `<time>#<id>` sorts by time: from `from` itself up to, not including, `to`.
            let from_value = expr.value(s(from.to_string()));
            let to_value = expr.value(s(to.to_string()));
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::INDEX_BY_DAY)
                .key_condition_expression(format!(
                    "{pk} = {partition_value} AND {sk} BETWEEN {from_value} AND {to_value}"
                ))
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values(Some(expr.values))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| crate::sdk_error(&err))?;
            for item in output.items.unwrap_or_default() {
                if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                    (item.get(keys::PK), item.get(keys::SK))
                {
                    found.push(key(pk.clone(), sk));
                }
            }
            match output.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// Payouts whose current attempt was first sent in `[from, to)` (the index is read
    /// eventually consistent, the payouts themselves strongly).
    pub async fn payouts_first_sent(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Payout>> {
        let found = self.day_feed_keys(DayFeed::Sent, from, to).await?;
        self.get_many_as(found).await
    }

    /// The payouts of these ids that exist, in no set order.
    pub async fn payouts_by_id(&self, ids: &[Uuid]) -> Result<Vec<Payout>> {
        let wanted = ids
            .iter()
            .map(|id| key(keys::payout_pk(*id), keys::PAYOUT_SK))
            .collect();
        self.get_many_as(wanted).await
    }
}
