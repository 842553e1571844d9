//! Marketplace events seen: one receipt per event id and source, so an event
//! EventBridge delivers twice is applied once.

use serde::{Deserialize, Serialize};

use domain::error::Result;
use domain::time::Timestamp;

use crate::{keys, Store};

/// How long a receipt is kept: past EventBridge's retries (24 hours) and Lambda's.
pub const INGEST_RECEIPT_DAYS: u64 = 7;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReceipt {
    pub source: String,
    pub event_id: String,
    pub detail_type: String,
    /// What was done with it (`created`, `updated`, `unchanged`, `superseded`).
    pub handled: String,
    pub received_at: Timestamp,
    /// Epoch seconds: DynamoDB's TTL deletes the receipt after it.
    pub expires_at: i64,
}

impl Store {
    pub async fn ingest_receipt(
        &self,
        source: &str,
        event_id: &str,
    ) -> Result<Option<IngestReceipt>> {
        self.get(&keys::ingest_pk(source, event_id), keys::INGEST_SK)
            .await
    }

    /// `false` when a receipt for the event was already there (a delivery beside this
    /// one applied it too, which the upserts make harmless).
    pub async fn save_ingest_receipt(&self, receipt: &IngestReceipt) -> Result<bool> {
        self.insert(
            &keys::ingest_pk(&receipt.source, &receipt.event_id),
            keys::INGEST_SK,
            receipt,
        )
        .await
    }
}
