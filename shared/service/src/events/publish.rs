//! `publish-events`: a batch of the table's stream in, its events on the bus.
//!
//! Exactly-once delivery is impossible, so the publisher makes a resend harmless (the
//! same change always has the same `event_id`) and never skips one:
//! - entries `PutEvents` refused are sent again, alone, a few times;
//! - if some still fail, the batch answers the first unpublished record as its
//!   `batchItemFailures`, and Lambda sends the batch again from there (the records
//!   after it that did go out go out again: same ids);
//! - a payout's (or an account's) events leave in the order of its writes: one call
//!   carries at most one event per payout or account, and nothing after a failed event
//!   is sent.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::dynamodb::Event as StreamBatch;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_json::json;
use tracing::{error, info, warn};

use super::bus::{EntryOutcome, EventBus, MAX_ENTRIES_PER_CALL};
use super::Event;
use platform::metrics::{self, Unit};

/// How often a refused entry is offered again within one invocation, and the pause
/// before the first resend (doubled each time). Throttling clears in well under a
/// second; anything longer is Lambda's to retry, from the first unpublished record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_pause: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_pause: Duration::from_millis(100),
        }
    }
}

/// What became of one stream batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    /// Events the bus accepted.
    pub published: usize,
    /// Entries sent again after the bus refused them.
    pub resent: usize,
    /// The sequence number Lambda must start again from, if the batch did not all go out.
    pub retry_from: Option<String>,
}

impl BatchReport {
    /// The answer Lambda reads (`ReportBatchItemFailures`): for a stream, the first
    /// failure is where the next try starts.
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        if let Some(sequence_number) = &self.retry_from {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
        response
    }
}

struct Pending {
    sequence_number: String,
    event: Event,
}

pub struct Publisher<B> {
    bus: B,
    retry: RetryPolicy,
}

impl<B: EventBus> Publisher<B> {
    pub fn new(bus: B, retry: RetryPolicy) -> Self {
        Publisher { bus, retry }
    }

    pub fn bus(&self) -> &B {
        &self.bus
    }

    pub async fn publish(&self, batch: &StreamBatch) -> BatchReport {
        let mut report = BatchReport {
            records: batch.records.len(),
            ..BatchReport::default()
        };
        let mut pending = Vec::new();
        // An unreadable record stops the batch there: what came before it is published,
        // it and what follows are retried (and, if it never reads, dead-lettered).
        let mut unreadable_at = None;
        for record in &batch.records {
            let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
            match Event::for_record(record) {
                Ok(Some(event)) => pending.push(Pending {
                    sequence_number,
                    event,
                }),
                Ok(None) => {}
                Err(err) => {
                    error!(event = "stream_record_unreadable", sequence_number = %sequence_number, error = %err, "a payout or payout account record could not be read; the batch stops here");
                    unreadable_at = Some(sequence_number);
                    break;
                }
            }
        }

        let mut start = 0;
        while start < pending.len() {
            let end = wave_end(&pending, start);
            let wave: Vec<&Event> = pending[start..end]
                .iter()
                .map(|pending| &pending.event)
                .collect();
            let (first_failed, resent) = self.put_with_retries(&wave).await;
            report.resent += resent;
            match first_failed {
                Some(position) => {
                    // Entries after it in this wave may have gone out; they will again.
                    report.published += position;
                    report.retry_from = Some(pending[start + position].sequence_number.clone());
                    break;
                }
                None => report.published += wave.len(),
            }
            start = end;
        }
        if report.retry_from.is_none() {
            report.retry_from = unreadable_at;
        }

        let unpublished = (pending.len() - report.published.min(pending.len())) as u64;
        metrics::emit(
            &[
                ("EventsPublished", Unit::Count, report.published as u64),
                ("EventsResent", Unit::Count, report.resent as u64),
                ("EventsNotPublished", Unit::Count, unpublished),
            ],
            &[("records", json!(report.records))],
        );
        match &report.retry_from {
            None => info!(
                event = "events_published",
                records = report.records,
                published = report.published,
                resent = report.resent,
            ),
            Some(sequence_number) => error!(
                event = "events_not_published",
                records = report.records,
                published = report.published,
                retry_from = %sequence_number,
                "Lambda will send the batch again from this record"
            ),
        }
        report
    }

    /// Puts one wave, resending only the entries the bus refused. Returns the position
    /// of the first entry still not put (if any) and how many resends there were.
    async fn put_with_retries(&self, wave: &[&Event]) -> (Option<usize>, usize) {
        let mut outstanding: Vec<usize> = (0..wave.len()).collect();
        let mut resent = 0;
        let mut pause = self.retry.first_pause;
        for attempt in 1..=self.retry.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
                resent += outstanding.len();
            }
            let events: Vec<&Event> = outstanding.iter().map(|&i| wave[i]).collect();
            match self.bus.put_events(&events).await {
                Ok(outcomes) => {
                    let mut still = Vec::new();
                    for (&position, outcome) in outstanding.iter().zip(&outcomes) {
                        if let EntryOutcome::Failed { code, message } = outcome {
                            warn!(event = "event_put_refused", event_id = %wave[position].event_id(), code = %code, message = %message, attempt);
                            still.push(position);
                        }
                    }
                    outstanding = still;
                }
                Err(err) => {
                    warn!(event = "event_put_failed", entries = events.len(), error = %err, attempt);
                }
            }
            if outstanding.is_empty() {
                return (None, resent);
            }
        }
        (outstanding.first().copied(), resent)
    }
}

/// Where the wave starting at `start` ends: at most a call's worth of entries, and no
/// payout (or account) twice, so its later event never overtakes (or goes without) an
/// earlier one that is being resent.
fn wave_end(pending: &[Pending], start: usize) -> usize {
    let mut subjects = HashSet::new();
    pending[start..]
        .iter()
        .take(MAX_ENTRIES_PER_CALL)
        .take_while(|pending| subjects.insert(pending.event.subject()))
        .count()
        + start
}
