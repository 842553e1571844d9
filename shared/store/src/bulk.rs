//! The record a bulk request made with an `Idempotency-Key` leaves behind: what was
//! asked (a fingerprint its caller computes), whether a run is on it or its answer is
//! ready, and that answer as opaque text. Every change to it is conditional, so two
//! requests with the same key never both run unknowingly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{keys, n, s, to_item, with_key, written, Store};
use domain::error::Result;
use domain::time::Timestamp;

const STATE: &str = "state";
const STARTED_AT: &str = "started_at";
const ANSWER: &str = "answer";
const REQUEST_ID: &str = "request_id";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkRequestState {
    InProgress,
    Done,
}

impl BulkRequestState {
    fn as_str(self) -> &'static str {
        match self {
            BulkRequestState::InProgress => "in_progress",
            BulkRequestState::Done => "done",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRequestRecord {
    /// Who asked: the admin whose key this is, and whose id every payout's history
    /// entry from this request carries.
    pub admin_id: u64,
    pub key: String,
    /// The same key with another fingerprint is another request, refused.
    pub fingerprint: String,
    pub state: BulkRequestState,
    /// When the run holding the record began: a run that died is given up on from this,
    /// and only the run that began then may save its answer.
    pub started_at: Timestamp,
    /// Set once `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Epoch seconds ([`keys::EXPIRES_AT`], the table's TTL attribute).
    pub expires_at: i64,
    /// The run holding the record (a run that takes over a dead one's record puts its
    /// own): the payouts' history entries name it. `None` on records from before it.
    #[serde(default)]
    pub request_id: Option<Uuid>,
    /// `process`, `retry` or `cancel`: what was asked, in words (the fingerprint is a hash).
    #[serde(default)]
    pub action: Option<String>,
    /// How many payouts were named.
    #[serde(default)]
    pub payout_count: Option<u64>,
}

impl Store {
    pub async fn bulk_request(
        &self,
        admin_id: u64,
        key: &str,
    ) -> Result<Option<BulkRequestRecord>> {
        self.get(&keys::bulk_request_pk(admin_id, key), keys::BULK_REQUEST_SK)
            .await
    }

    /// Writes `record` unless its key holds one that has not expired by `now_secs`
    /// (DynamoDB's TTL deletes expired items late, sometimes days late); `false` when
    /// it does.
    pub async fn start_bulk_request(
        &self,
        record: &BulkRequestRecord,
        now_secs: i64,
    ) -> Result<bool> {
        let pk = keys::bulk_request_pk(record.admin_id, &record.key);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_key(to_item(record)?, &pk, keys::BULK_REQUEST_SK)))
            .condition_expression("attribute_not_exists(pk) OR #expires < :now")
            .expression_attribute_names("#expires", keys::EXPIRES_AT)
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        written(result)
    }

    /// Hands an in-progress record whose run began at `observed` to a new run that
    /// begins at `started_at` as `request_id`; `false` when it is done or another run
    /// took it first.
    pub async fn take_over_bulk_request(
        &self,
        admin_id: u64,
        key: &str,
        observed: Timestamp,
        started_at: Timestamp,
        expires_at: i64,
        request_id: Uuid,
    ) -> Result<bool> {
        self.update_bulk_request(
            admin_id,
            key,
            observed,
            &[
                (STARTED_AT, s(started_at.to_string())),
                (keys::EXPIRES_AT, n(expires_at)),
                (REQUEST_ID, s(request_id.to_string())),
            ],
        )
        .await
    }

    /// Saves the answer of the run that began at `started_at`; `false` when another
    /// run has taken the record over since.
    pub async fn finish_bulk_request(
        &self,
        admin_id: u64,
        key: &str,
        started_at: Timestamp,
        answer: &str,
        expires_at: i64,
    ) -> Result<bool> {
        self.update_bulk_request(
            admin_id,
            key,
            started_at,
            &[
                (STATE, s(BulkRequestState::Done.as_str())),
                (ANSWER, s(answer)),
                (keys::EXPIRES_AT, n(expires_at)),
            ],
        )
        .await
    }

    /// Sets `values` while the record is in progress under the run that began at
    /// `started_at`.
    async fn update_bulk_request(
        &self,
        admin_id: u64,
        key: &str,
        started_at: Timestamp,
        values: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    ) -> Result<bool> {
        let mut names = HashMap::from([
            ("#state".to_owned(), STATE.to_owned()),
            ("#started".to_owned(), STARTED_AT.to_owned()),
        ]);
        let mut attribute_values = HashMap::from([
            (
                ":in_progress".to_owned(),
                s(BulkRequestState::InProgress.as_str()),
            ),
            (":observed".to_owned(), s(started_at.to_string())),
        ]);
        let mut sets = Vec::new();
        for (index, (name, value)) in values.iter().enumerate() {
            names.insert(format!("#a{index}"), (*name).to_owned());
            attribute_values.insert(format!(":a{index}"), value.clone());
            sets.push(format!("#a{index} = :a{index}"));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::bulk_request_pk(admin_id, key)))
            .key(keys::SK, s(keys::BULK_REQUEST_SK))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("#state = :in_progress AND #started = :observed")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(attribute_values))
            .send()
            .await;
        written(result)
    }
}
