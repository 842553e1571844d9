//! DynamoDB access: the single table of [`keys`], item mapping with serde_dynamo, and
//! the conditional writes that carry every status change. A lost condition comes back
//! as a typed error (`InvalidTransition`, `Conflict`, …), never as a silent overwrite.
//! There is no `Scan` here: every read is a `GetItem` or a `Query` on a key.

mod accounts;
mod audit;
mod batch;
mod bulk;
mod day_feed;
mod expr;
mod ingest;
pub mod keys;
mod layout;
mod notifications;
mod orders;
mod payouts;
mod reconciliation;
mod schedules;
mod scouts;
mod simulated_ledger;
mod stats;
mod transact;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use domain::error::{Error, Result};
use domain::money::Paise;
use domain::time::Timestamp;

pub use accounts::{AccountGuard, LegacyPage, LegacyScan, MigratedAccounts, SavedAccount};
pub use audit::{AccountRead, ACCOUNT_READ_KEPT_DAYS};
pub use bulk::{BulkRequestRecord, BulkRequestState};
pub use ingest::{IngestReceipt, INGEST_RECEIPT_DAYS};
pub use layout::{BackfillPage, ShardedSince};
pub use notifications::{EmailClaim, EmailRecord, EmailState, EMAIL_RECORD_DAYS};
pub use payouts::{CreateRefused, Lease, OrderCompletion, PayoutIndex, PayoutPage, StatusChange};
pub use reconciliation::FindingPage;
pub use schedules::{DuePage, ScheduleAdvance};
pub use scouts::{EarningsRefused, ScoutProfileUpdate};
pub use stats::{Buckets, CounterBucket, CounterItem, STATS_SHARDS};

pub type Item = HashMap<String, AttributeValue>;

/// A gateway event already acted on, remembered (until `expires_at`, DynamoDB's TTL)
/// so that a redelivery is answered without being acted on again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReceipt {
    pub gateway: String,
    pub event_id: String,
    pub event: String,
    /// SHA-256 of the body: the same id with another body is not a redelivery.
    pub body_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
    /// What was done with it (`applied`, `ignored`, `unknown_payout`…).
    pub handled: String,
    pub received_at: Timestamp,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// The `LastEvaluatedKey` of a query, handed back to continue it.
pub type PageKey = HashMap<String, String>;

/// A query's `LastEvaluatedKey` as a [`PageKey`] (every key attribute here is a string).
pub(crate) fn page_key_of(last: Option<Item>) -> Option<PageKey> {
    last.map(|last| {
        last.into_iter()
            .filter_map(|(name, value)| match value {
                AttributeValue::S(text) => Some((name, text)),
                _ => None,
            })
            .collect()
    })
}

/// A [`PageKey`] handed back, as the `ExclusiveStartKey` it was.
pub(crate) fn start_key_of(start: Option<PageKey>) -> Option<Item> {
    start.map(|start| {
        start
            .into_iter()
            .map(|(name, value)| (name, s(value)))
            .collect()
    })
}

/// A DynamoDB error as our errors, and so our logs, may carry it
/// ([`platform::aws::error_text`]).
pub(crate) fn sdk_error(err: &(dyn std::error::Error + 'static)) -> Error {
    Error::store(platform::aws::error_text(err))
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    /// Shared by clones, so that one look at the marker serves them all.
    layout: std::sync::Arc<layout::LayoutSeen>,
}

/// A user's payout totals, kept in step with every transition so my-payouts is O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutSummary {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub total_paid_paise: Paise,
    #[serde(default)]
    pub pending_paise: Paise,
}

/// What a request's `Idempotency-Key` was first used for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub user_id: u64,
    pub key: String,
    pub scout_id: String,
    /// The amount asked for; `None` when the request asked for all earnings.
    #[serde(default)]
    pub requested_paise: Option<Paise>,
    pub payout_id: uuid::Uuid,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
            layout: std::sync::Arc::default(),
        }
    }

    /// A client from the standard AWS configuration chain ([`platform::aws::sdk_config`]).
    /// Locally that chain reads `AWS_ENDPOINT_URL_DYNAMODB`; nothing here special-cases
    /// DynamoDB Local.
    pub async fn from_env(table: impl Into<String>) -> Self {
        Store::new(Client::new(&platform::aws::sdk_config().await), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub async fn summary(&self, user_id: u64) -> Result<PayoutSummary> {
        Ok(self
            .get(&keys::user_pk(user_id), keys::SUMMARY_SK)
            .await?
            .unwrap_or_default())
    }

    pub async fn idempotency_record(
        &self,
        user_id: u64,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        self.get(&keys::idempotency_pk(user_id, key), keys::IDEMPOTENCY_SK)
            .await
    }

    pub async fn webhook_receipt(
        &self,
        gateway: &str,
        event_id: &str,
    ) -> Result<Option<WebhookReceipt>> {
        self.get(
            &keys::webhook_event_pk(gateway, event_id),
            keys::WEBHOOK_EVENT_SK,
        )
        .await
    }

    /// `false` when the event was already remembered.
    pub async fn save_webhook_receipt(&self, receipt: &WebhookReceipt) -> Result<bool> {
        self.insert(
            &keys::webhook_event_pk(&receipt.gateway, &receipt.event_id),
            keys::WEBHOOK_EVENT_SK,
            receipt,
        )
        .await
    }

    /// A strongly consistent read of one item.
    pub(crate) async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_error(&err))?;
        output.item.map(from_item).transpose()
    }

    /// A strongly consistent read of some attributes of one item (a caller allowed to
    /// read no others); `None` when the item, or every one of them, is missing.
    pub(crate) async fn get_attributes<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        attributes: &[&str],
    ) -> Result<Option<T>> {
        let names: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .projection_expression(names.join(", "))
            .consistent_read(true);
        for (name, attribute) in names.iter().zip(attributes) {
            request = request.expression_attribute_names(name, *attribute);
        }
        let output = request.send().await.map_err(|err| sdk_error(&err))?;
        output
            .item
            .filter(|item| !item.is_empty())
            .map(from_item)
            .transpose()
    }

    /// Writes `item` whatever is stored under its key (settings and counters that are
    /// replaced whole, never money).
    pub(crate) async fn replace(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| sdk_error(&err))?;
        Ok(())
    }

    pub(crate) async fn insert<T: Serialize>(&self, pk: &str, sk: &str, value: &T) -> Result<bool> {
        let item = with_key(to_item(value)?, pk, sk);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(result)
    }
}

/// `true` when a conditional write was applied, `false` when its condition did not hold.
fn written<T, E>(result: std::result::Result<T, SdkError<E, HttpResponse>>) -> Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(sdk_error(&err)),
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(Error::unreadable)
}

pub(crate) fn to_attribute<T: Serialize>(value: &T) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(Error::unreadable)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(Error::unreadable)
}

pub(crate) fn with_key(mut item: Item, pk: &str, sk: &str) -> Item {
    item.insert(keys::PK.to_owned(), s(pk));
    item.insert(keys::SK.to_owned(), s(sk));
    item
}

/// The table key of an item.
fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

/// A request the SDK's builder refused (a required field left out) as our error.
fn built<T>(result: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T> {
    result.map_err(Error::store)
}

/// One update of a `TransactWriteItems`.
fn update_item(
    update: aws_sdk_dynamodb::types::Update,
) -> aws_sdk_dynamodb::types::TransactWriteItem {
    aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .update(update)
        .build()
}

#[cfg(test)]
mod tests {

    #[test]
    fn sdk_errors_never_carry_the_raw_response() {
        use aws_smithy_runtime_api::client::result::SdkError;
        let raw = r#"{"Attributes":{"account_number":{"S":"50100012345678"}}}"#.to_owned();
        let err: SdkError<std::io::Error, String> =
            SdkError::response_error(std::io::Error::other("unreadable answer"), raw);
        // What the store used to log: the Debug of the raw response, number and all.
        let before = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
        assert!(before.contains("50100012345678"), "{before}");
        let text = platform::aws::error_text(&err);
        assert!(!text.contains("50100012345678"), "{text}");
        assert!(text.contains("unreadable answer"), "{text}");
    }

    use super::*;

    #[tokio::test]
    async fn a_store_builds_its_https_client_from_them() {
        let store = Store::from_env("any-table").await;
        assert_eq!(store.table(), "any-table");
    }
}
