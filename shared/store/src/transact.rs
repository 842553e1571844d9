//! TransactWriteItems with the two failure modes callers care about told apart:
//! a condition that did not hold (which item, and the item as it stood when it asked
//! for it), and contention, which is retried.
//!
//! The SDK fills each call's `ClientRequestToken` (an idempotency token in the API
//! model) once and keeps it across its own retries: when a response is lost and the
//! SDK sends the same round again, DynamoDB answers with the first round's success
//! (a test in `lifecycle.rs` loses one). A round this loop sends again after
//! `TransactionInProgress` has a new token and may be refused by its own earlier
//! write; status changes recognise that case by their change id.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{Item, Store};
use domain::error::{Conflict, Error, Result};

/// Contention between transactions on the same items is normal under load (100 requests
/// on one scout); a handful of jittered retries turn it into serial execution.
const CONFLICT_RETRIES: u32 = 8;

#[derive(Debug)]
pub(crate) enum TransactFailure {
    /// The conditions of these items did not hold; nothing was written.
    ConditionFailed(Refusal),
    /// Other transactions kept cancelling this one on the same items, through every
    /// retry; nothing was written.
    Contended,
    Other(Error),
}

impl TransactFailure {
    /// What a caller that does not try again answers for contention.
    pub(crate) fn contended() -> Error {
        Error::Conflict(Conflict::Contended(
            "another request is changing the same records; try again".to_owned(),
        ))
    }
}

/// The refused positions of a transaction, each with its stored item when the write
/// asked for it (`ReturnValuesOnConditionCheckFailure`).
#[derive(Debug)]
pub(crate) struct Refusal(Vec<(usize, Option<Item>)>);

impl Refusal {
    pub(crate) fn at(&self, position: usize) -> bool {
        self.0.iter().any(|(refused, _)| *refused == position)
    }

    pub(crate) fn stored(&self, position: usize) -> Option<&Item> {
        self.0
            .iter()
            .find(|(refused, _)| *refused == position)
            .and_then(|(_, item)| item.as_ref())
    }

    pub(crate) fn positions(&self) -> Vec<usize> {
        self.0.iter().map(|(position, _)| *position).collect()
    }
}

impl From<Error> for TransactFailure {
    fn from(error: Error) -> Self {
        TransactFailure::Other(error)
    }
}

impl Store {
    /// [`Store::transact`] where a refused condition is an answer, not an error: `true`
    /// when the transaction was written, `false` when a condition refused it.
    pub(crate) async fn transact_if(&self, items: Vec<TransactWriteItem>) -> Result<bool> {
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Contended) => Err(TransactFailure::contended()),
            Err(TransactFailure::Other(err)) => Err(err),
        }
    }

    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TransactFailure> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let retry_contention = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let reasons = cancelled.cancellation_reasons();
                    let codes: Vec<&str> = reasons
                        .iter()
                        .map(|reason| reason.code().unwrap_or("None"))
                        .collect();
                    let refused: Vec<(usize, Option<Item>)> = reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
                        .map(|(index, reason)| (index, reason.item().cloned()))
                        .collect();
                    if !refused.is_empty() {
                        return Err(TransactFailure::ConditionFailed(Refusal(refused)));
                    }
                    codes.contains(&"TransactionConflict")
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !retry_contention {
                return Err(TransactFailure::Other(super::sdk_error(&err)));
            }
            if attempt >= CONFLICT_RETRIES {
                return Err(TransactFailure::Contended);
            }
            attempt += 1;
            let jitter_ms = rand::random_range(5..=20u64) * u64::from(attempt);
            tokio::time::sleep(Duration::from_millis(jitter_ms)).await;
        }
    }
}
