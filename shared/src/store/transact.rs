//! TransactWriteItems with the two failure modes callers care about told apart:
//! a condition that did not hold (which item), and contention, which is retried.

use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::Store;
use crate::error::{Error, Result};

/// Contention between transactions on the same items is normal under load (100 requests
/// on one scout); a handful of jittered retries turn it into serial execution.
const CONFLICT_RETRIES: u32 = 8;

#[derive(Debug)]
pub(crate) enum TransactFailure {
    /// The conditions of these items (by position) did not hold; nothing was written.
    ConditionFailed(Vec<usize>),
    Other(Error),
}

impl From<Error> for TransactFailure {
    fn from(error: Error) -> Self {
        TransactFailure::Other(error)
    }
}

impl Store {
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
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| reason.code().unwrap_or("None"))
                        .collect();
                    let failed: Vec<usize> = codes
                        .iter()
                        .enumerate()
                        .filter(|(_, code)| **code == "ConditionalCheckFailed")
                        .map(|(index, _)| index)
                        .collect();
                    if !failed.is_empty() {
                        return Err(TransactFailure::ConditionFailed(failed));
                    }
                    codes.contains(&"TransactionConflict")
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !retry_contention {
                return Err(TransactFailure::Other(Error::store(DisplayErrorContext(
                    err,
                ))));
            }
            if attempt >= CONFLICT_RETRIES {
                return Err(TransactFailure::Other(Error::Conflict(
                    "another request is changing the same records; try again".to_owned(),
                )));
            }
            attempt += 1;
            let jitter_ms = rand::random_range(5..=20u64) * u64::from(attempt);
            tokio::time::sleep(Duration::from_millis(jitter_ms)).await;
        }
    }
}
