//! Payout schedule items: one per scout that has one, beside the scout's item, and the
//! sparse `by_due` index that lists the schedules whose next due date has come.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use aws_sdk_dynamodb::types::Update;

use super::{built, key, keys, s, to_item, update_item, with_key, Item, Store};
use domain::error::Result;
use domain::time::Timestamp;

/// The attribute a schedule item keeps its next due date in (also the start of `due_sk`).
const NEXT_DUE_AT: &str = "next_due_at";
/// The period (local date) `next_due_at` opens, fixed when it was computed.
const NEXT_PERIOD: &str = "next_period";
const LAST_SWEPT_AT: &str = "last_swept_at";

/// A schedule moved from the period due at `from` to the one due at `to`.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleAdvance<'a> {
    pub scout_id: &'a str,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The period `to` opens, as the schedule's owner's time zone named it then.
    pub to_period: &'a str,
    pub swept_at: Timestamp,
}

/// One page of due schedules, oldest due first.
#[derive(Debug, Default)]
pub struct DuePage {
    pub scout_ids: Vec<String>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Item>,
}

impl Store {
    pub async fn schedule_item<T: DeserializeOwned>(&self, scout_id: &str) -> Result<Option<T>> {
        self.get(&keys::scout_pk(scout_id), keys::SCHEDULE_SK).await
    }

    /// Replaces a scout's schedule. `due` puts it on the `by_due` index at that time;
    /// `None` (manual) leaves it off, so the sweep never reads it.
    pub async fn put_schedule<T: Serialize>(
        &self,
        scout_id: &str,
        schedule: &T,
        due: Option<Timestamp>,
    ) -> Result<()> {
        let mut item = with_key(
            to_item(schedule)?,
            &keys::scout_pk(scout_id),
            keys::SCHEDULE_SK,
        );
        if let Some(due) = due {
            item.insert(keys::DUE_PK.to_owned(), s(keys::DUE));
            item.insert(keys::DUE_SK.to_owned(), s(keys::due_sk(due, scout_id)));
            item.insert(keys::DUE_SHARD_PK.to_owned(), s(due_shard_pk(scout_id)));
        }
        self.replace(item).await
    }

    /// The write that moves a schedule on, only while it is still due at `from`: of
    /// two sweeps (or a sweep and the owner's change) only one moves it.
    pub(super) fn schedule_advance(&self, advance: ScheduleAdvance<'_>) -> Result<Update> {
        built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    keys::scout_pk(advance.scout_id),
                    keys::SCHEDULE_SK,
                )))
                .update_expression(
                    "SET #due = :to, #period = :period, #due_sk = :to_sk, #swept = :swept, \
                     #due_shard = :due_shard",
                )
                .condition_expression("#due = :from")
                .expression_attribute_names("#due", NEXT_DUE_AT)
                .expression_attribute_names("#period", NEXT_PERIOD)
                .expression_attribute_names("#due_sk", keys::DUE_SK)
                .expression_attribute_names("#swept", LAST_SWEPT_AT)
                .expression_attribute_names("#due_shard", keys::DUE_SHARD_PK)
                .expression_attribute_values(":due_shard", s(due_shard_pk(advance.scout_id)))
                .expression_attribute_values(":from", s(advance.from.to_string()))
                .expression_attribute_values(":to", s(advance.to.to_string()))
                .expression_attribute_values(":period", s(advance.to_period))
                .expression_attribute_values(
                    ":to_sk",
                    s(keys::due_sk(advance.to, advance.scout_id)),
                )
                .expression_attribute_values(":swept", s(advance.swept_at.to_string()))
                .build(),
        )
    }

    /// Moves a schedule on without a payout (its period was below the minimum, or
    /// paid already). `false` when it had moved already.
    pub async fn advance_schedule(&self, advance: ScheduleAdvance<'_>) -> Result<bool> {
        let update = self.schedule_advance(advance)?;
        self.transact_if(vec![update_item(update)]).await
    }

    /// Scouts whose schedule fell due at or before `now`, oldest due first, from the
    /// `by_due_shard` index once the table has moved to it, else from `by_due`
    /// (eventually consistent: read each schedule again before acting on it).
    pub async fn due_schedules(
        &self,
        now: Timestamp,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DuePage> {
        // `#` ends the timestamp in `due_sk`; `$` sorts right after it, so every
        // schedule due at `now` itself is included and none due later.
        let upper = format!("{now}$");
        if self.reads_sharded().await? {
            let after = match start.as_ref().and_then(|start| start.get(keys::DUE_SK)) {
                Some(AttributeValue::S(after)) => Some(after.as_str()),
                _ => None,
            };
            // Boxed: the merged read's future is deep, and the sweep's holds it.
            return Box::pin(self.due_shards(&upper, after, limit)).await;
        }
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::INDEX_BY_DUE)
            .key_condition_expression("#pk = :due AND #sk < :upper")
            .expression_attribute_names("#pk", keys::DUE_PK)
            .expression_attribute_names("#sk", keys::DUE_SK)
            .expression_attribute_values(":due", s(keys::DUE))
            .expression_attribute_values(":upper", s(upper))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| super::sdk_error(&err))?;
        let scout_ids = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => keys::scout_id_of(pk).map(str::to_owned),
                _ => None,
            })
            .collect();
        Ok(DuePage {
            scout_ids,
            next: output.last_evaluated_key.filter(|key| !key.is_empty()),
        })
    }

    /// [`Store::due_schedules`] from the sharded index: each shard's first `limit` due
    /// past `after`, merged by due time. A page ends on its last `due_sk`, which is
    /// unique (it ends in the scout's id).
    async fn due_shards(&self, upper: &str, after: Option<&str>, limit: usize) -> Result<DuePage> {
        let found: Vec<Vec<String>> = futures::stream::iter(0..keys::DUE_SHARDS)
            .map(|shard| self.due_shard(shard, upper, after, limit + 1))
            .buffer_unordered(16)
            .try_collect()
            .await?;
        let mut due: Vec<String> = found.into_iter().flatten().collect();
        due.sort();
        let next = if due.len() > limit {
            due.truncate(limit);
            due.last().and_then(|last| due_page_end(last))
        } else {
            None
        };
        let scout_ids = due
            .iter()
            .filter_map(|due_sk| due_sk.split_once('#').map(|(_, scout)| scout.to_owned()))
            .collect();
        Ok(DuePage { scout_ids, next })
    }

    /// One shard's first `wanted` due keys (`due_sk`) after `after` and before `upper`.
    async fn due_shard(
        &self,
        shard: u32,
        upper: &str,
        after: Option<&str>,
        wanted: usize,
    ) -> Result<Vec<String>> {
        let mut found = Vec::new();
        if after.is_some_and(|after| after > upper) {
            return Ok(found);
        }
        let mut start: Option<Item> = None;
        let (condition, lower) = match after {
            Some(after) => ("#pk = :due AND #sk BETWEEN :lower AND :upper", after),
            None => ("#pk = :due AND #sk < :upper", ""),
        };
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::INDEX_BY_DUE_SHARD)
                .key_condition_expression(condition)
                .projection_expression("#sk")
                .expression_attribute_names("#pk", keys::DUE_SHARD_PK)
                .expression_attribute_names("#sk", keys::DUE_SK)
                .expression_attribute_values(":due", s(keys::due_shard_pk(shard)))
                .expression_attribute_values(":upper", s(upper))
                .limit(i32::try_from(wanted - found.len() + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start);
            if after.is_some() {
                query = query.expression_attribute_values(":lower", s(lower));
            }
            let output = query.send().await.map_err(|err| super::sdk_error(&err))?;
            for item in output.items.unwrap_or_default() {
                if let Some(AttributeValue::S(due_sk)) = item.get(keys::DUE_SK) {
                    // BETWEEN takes the key the page stood on too.
                    if Some(due_sk.as_str()) != after {
                        found.push(due_sk.clone());
                    }
                }
            }
            match output.last_evaluated_key {
                Some(next) if found.len() < wanted => start = Some(next),
                _ => return Ok(found),
            }
        }
    }
}

/// The schedule's partition of `by_due_shard`.
fn due_shard_pk(scout_id: &str) -> String {
    keys::due_shard_pk(keys::shard_of(scout_id, keys::DUE_SHARDS))
}

/// Where a sharded page of due schedules ends, as `by_due` would end it (its keys and
/// the table's): a sweep whose store goes back to the legacy index between two pages
/// (the marker taken away, `crate::layout`) carries on from it there, and the sharded
/// read needs only its `due_sk`.
fn due_page_end(due_sk: &str) -> Option<Item> {
    let (_, scout_id) = due_sk.split_once('#')?;
    Some(HashMap::from([
        (keys::PK.to_owned(), s(keys::scout_pk(scout_id))),
        (keys::SK.to_owned(), s(keys::SCHEDULE_SK)),
        (keys::DUE_PK.to_owned(), s(keys::DUE)),
        (keys::DUE_SK.to_owned(), s(due_sk)),
    ]))
}
