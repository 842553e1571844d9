//! Reading payouts by index: a page at a time, skipping ahead, and the expired leases;
//! from the legacy single-partition indexes until the table has moved to the sharded
//! ones ([`crate::layout`]), then from those ([`super::merged`]).

use aws_sdk_dynamodb::types::AttributeValue;
use futures::FutureExt;

use crate::keys;
use crate::{from_item, s, Item, PageKey, Store};
use domain::error::Result;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;

use super::merged::{Shards, Walk};
use super::{PayoutIndex, PayoutPage};
use crate::expr::Expr;

/// What one query of a payout index asks for.
#[derive(Default)]
struct Query<'a> {
    newest_first: bool,
    limit: usize,
    start: Option<PageKey>,
    projection: Option<&'a str>,
    filter: Option<(String, Expr)>,
    /// Only payouts created in `[from, to)`.
    created: Option<(Timestamp, Timestamp)>,
}

/// The key DynamoDB would hand back after `item` on `index`: table key plus index key.
fn page_key(index: &PayoutIndex, item: &Item) -> PageKey {
    let (_, index_pk, _) = index.name_and_key();
    [keys::PK, keys::SK, index_pk, keys::CREATED_SK]
        .into_iter()
        .filter_map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some((name.to_owned(), value.clone())),
            _ => None,
        })
        .collect()
}

impl Store {
    /// One page of an index, in creation order (`newest_first` reverses it).
    pub async fn query_payouts(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<PayoutPage> {
        self.query_page(index, newest_first, limit, start, None)
            .await
    }

    /// One page of the payouts an index holds that were created in `[from, to)`,
    /// oldest first.
    pub async fn query_payouts_created(
        &self,
        index: &PayoutIndex,
        (from, to): (Timestamp, Timestamp),
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<PayoutPage> {
        self.query_page(index, false, limit, start, Some((from, to)))
            .await
    }

    async fn query_page(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        limit: usize,
        start: Option<PageKey>,
        created: Option<(Timestamp, Timestamp)>,
    ) -> Result<PayoutPage> {
        if let Some(shards) = self.sharded_read(index).await? {
            let after = start
                .as_ref()
                .and_then(|start| start.get(keys::CREATED_SK))
                .map(String::as_str);
            let walk = Walk {
                newest_first,
                after,
                created,
            };
            // Boxed: the merged read's future is deep, and callers' futures hold this one.
            return Box::pin(self.merged_page(index, &shards, walk, limit)).await;
        }
        // One extra item tells whether another page exists, so `next` is `None` exactly
        // at the end instead of pointing at an empty page. A query that stops short at
        // DynamoDB's 1 MB per call says where it stopped, and the page ends there.
        let (mut items, stopped_at) = self
            .query_with(
                index,
                Query {
                    newest_first,
                    limit: limit + 1,
                    start,
                    created,
                    ..Query::default()
                },
            )
            .await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| page_key(index, last))
        } else {
            stopped_at
        };
        Ok(PayoutPage {
            payouts: items.into_iter().map(from_item).collect::<Result<_>>()?,
            next,
        })
    }

    /// Where page `skip / limit + 1` starts: walks the index reading keys only, so the
    /// `page` parameter costs keys, not items. `None` means past the end.
    pub async fn skip_payouts(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        mut skip: usize,
    ) -> Result<Option<Option<PageKey>>> {
        if let Some(shards) = self.sharded_read(index).await? {
            return Box::pin(self.merged_skip(index, &shards, newest_first, skip)).await;
        }
        let mut start = None;
        while skip > 0 {
            let (items, next) = self
                .query_with(
                    index,
                    Query {
                        newest_first,
                        limit: skip,
                        start,
                        projection: Some("pk"),
                        ..Query::default()
                    },
                )
                .await?;
            skip -= items.len().min(skip);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(None),
            }
        }
        Ok(Some(start))
    }

    /// Processing payouts whose lease ran out before `now` (stuck, or accepted by the
    /// gateway and due for another look), the longest overdue first: a payout the
    /// gateway keeps queued for days must not starve newer ones, so every due payout
    /// is read and the earliest due are taken. Reads every processing payout's item;
    /// see docs/DATA_MODEL.md.
    pub async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Payout>> {
        let processing = PayoutIndex::Status(PayoutStatus::Processing);
        if let Some(shards) = self.sharded_read(&processing).await? {
            let mut due: Vec<Payout> = self
                .merged_all(&processing, &shards)
                .boxed()
                .await?
                .into_iter()
                .filter(|payout| payout.lease_expires_at.is_some_and(|expiry| expiry < now))
                .collect();
            due.sort_by_key(|payout| payout.lease_expires_at);
            due.truncate(limit);
            return Ok(due);
        }
        let mut due: Vec<Payout> = Vec::new();
        let mut start = None;
        loop {
            let mut expr = Expr::default();
            let expiry = expr.name("lease_expires_at");
            let now_value = expr.value(s(now.to_string()));
            let (items, next) = self
                .query_with(
                    &PayoutIndex::Status(PayoutStatus::Processing),
                    Query {
                        limit: 100,
                        start,
                        filter: Some((format!("{expiry} < {now_value}"), expr)),
                        ..Query::default()
                    },
                )
                .await?;
            for item in items {
                due.push(from_item(item)?);
            }
            match next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        due.sort_by_key(|payout| payout.lease_expires_at);
        due.truncate(limit);
        Ok(due)
    }

    /// The sharded index to read for `index`, once the table has moved to them.
    async fn sharded_read(&self, index: &PayoutIndex) -> Result<Option<Shards>> {
        match index.shards() {
            Some(shards) if self.reads_sharded().await? => Ok(Some(shards)),
            _ => Ok(None),
        }
    }

    async fn query_with(
        &self,
        index: &PayoutIndex,
        query: Query<'_>,
    ) -> Result<(Vec<Item>, Option<PageKey>)> {
        let Query {
            newest_first,
            limit,
            start,
            projection,
            filter,
            created,
        } = query;
        let (index_name, key_attribute, key_value) = index.name_and_key();
        let (filter_expression, mut expr) = match filter {
            Some((expression, expr)) => (Some(expression), expr),
            None => (None, Expr::default()),
        };
        let key_name = expr.name(key_attribute);
        let key_placeholder = expr.value(s(key_value));
        let mut key_condition = format!("{key_name} = {key_placeholder}");
        if let Some((from, to)) = created {
            // A creation key is `<created_at>#<payout_id>` with a fixed-width time:
            // `<from>` sorts before every key of that moment and `<to>` before every key
            // of its own, so BETWEEN takes exactly [from, to).
            let created_name = expr.name(keys::CREATED_SK);
            let from_value = expr.value(s(from.to_string()));
            let to_value = expr.value(s(to.to_string()));
            key_condition.push_str(&format!(
                " AND {created_name} BETWEEN {from_value} AND {to_value}"
            ));
        }
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index_name)
            .key_condition_expression(key_condition)
            .set_filter_expression(filter_expression)
            .set_projection_expression(projection.map(str::to_owned))
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .scan_index_forward(!newest_first)
            .limit(limit)
            .set_exclusive_start_key(crate::start_key_of(start))
            .send()
            .await
            .map_err(|err| crate::sdk_error(&err))?;
        let next = crate::page_key_of(output.last_evaluated_key);
        Ok((output.items.unwrap_or_default(), next))
    }
}
