//! Payout schedule items: one per scout that has one, beside the scout's item, and the
//! sparse `by_due` index that lists the schedules whose next due date has come.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{keys, s, to_item, with_key, written, Item, Store};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The attribute a schedule item keeps its next due date in (also the start of `due_sk`).
const NEXT_DUE_AT: &str = "next_due_at";

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
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| Error::store(aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
        Ok(())
    }

    /// Moves a schedule from the period due at `from` to the one due at `to`, only while
    /// it is still due at `from`: of two sweeps (or a sweep and the owner's change) only
    /// one moves it. `false` when it had moved already.
    pub async fn advance_schedule(
        &self,
        scout_id: &str,
        from: Timestamp,
        to: Timestamp,
        swept_at: Timestamp,
    ) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::scout_pk(scout_id)))
            .key(keys::SK, s(keys::SCHEDULE_SK))
            .update_expression("SET #due = :to, #due_sk = :to_sk, #swept = :swept")
            .condition_expression("#due = :from")
            .expression_attribute_names("#due", NEXT_DUE_AT)
            .expression_attribute_names("#due_sk", keys::DUE_SK)
            .expression_attribute_names("#swept", "last_swept_at")
            .expression_attribute_values(":from", s(from.to_string()))
            .expression_attribute_values(":to", s(to.to_string()))
            .expression_attribute_values(":to_sk", s(keys::due_sk(to, scout_id)))
            .expression_attribute_values(":swept", s(swept_at.to_string()))
            .send()
            .await;
        written(result)
    }

    /// Scouts whose schedule fell due at or before `now`, from the `by_due` index
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
            .map_err(|err| Error::store(aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
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
}
