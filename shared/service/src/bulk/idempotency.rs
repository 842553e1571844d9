//! A keyed bulk request's record: the first request with an `Idempotency-Key` takes
//! it and runs, a repeat gets the answer the run kept (for a day), and a run that died
//! before keeping its answer is taken over once its lease is over.

use domain::error::{Conflict, Error, Result};
use domain::payout::BulkOrigin;
use domain::time::Timestamp;
use store::{BulkRequestRecord, BulkRequestState, Store};
use tracing::{error, warn};

use super::{BulkAnswer, BulkCommand};
use crate::config::ProcessorConfig;

/// How long a keyed request's answer is given again.
const ANSWER_KEPT_SECS: u64 = 86_400;

/// Rounds of losing a race for a key's record before answering that it is busy.
const CLAIM_ROUNDS: usize = 3;

const IN_PROGRESS: &str = "a request with this Idempotency-Key is still in progress";

pub(super) enum Claim {
    /// This request holds the key's record from this instant: it runs.
    Run(Timestamp),
    Replay(BulkAnswer),
}

/// Takes the key's record for this request, or finds the answer a run left in it.
pub(super) async fn claim(
    store: &Store,
    config: ProcessorConfig,
    admin_id: u64,
    key: &str,
    command: &BulkCommand,
    origin: &BulkOrigin,
) -> Result<Claim> {
    let fingerprint = &command.fingerprint();
    for _ in 0..CLAIM_ROUNDS {
        let now = Timestamp::now();
        let record = BulkRequestRecord {
            admin_id,
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            state: BulkRequestState::InProgress,
            started_at: now,
            answer: None,
            expires_at: expiry(now),
            request_id: Some(origin.request_id),
            action: Some(command.action.as_str().to_owned()),
            payout_count: u64::try_from(command.payout_ids.len()).ok(),
        };
        if store.start_bulk_request(&record, epoch_secs(now)).await? {
            return Ok(Claim::Run(now));
        }
        let Some(existing) = store.bulk_request(admin_id, key).await? else {
            // Deleted by its TTL in between: the key is free again.
            continue;
        };
        if existing.expires_at < epoch_secs(now) {
            // Expired, and the put would now take it.
            continue;
        }
        if existing.fingerprint != *fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        match existing.state {
            BulkRequestState::Done => {
                let text = existing.answer.ok_or_else(|| {
                    Error::inconsistent(format!(
                        "bulk request {key} of admin {admin_id} is done with no answer"
                    ))
                })?;
                let answer = serde_json::from_str(&text).map_err(Error::unreadable)?;
                return Ok(Claim::Replay(answer));
            }
            BulkRequestState::InProgress
                if now < existing.started_at.plus_secs(config.lease_secs) =>
            {
                return Err(Error::Conflict(Conflict::Contended(IN_PROGRESS.to_owned())));
            }
            BulkRequestState::InProgress => {
                // The run that holds it began a lease ago. The lease outlasts the
                // function's timeout (checked at start-up), so that run is over: it died
                // before saving its answer. Running again is safe because every action
                // is a conditional transition from the state it acts on: what the dead
                // run did is found done (a conflict now), what it did not is done now,
                // and a payout it left mid-attempt is held by its lease or asked of the
                // gateway by its key, never paid twice. Only one taker wins: the update
                // is conditioned on the start it observed.
                if store
                    .take_over_bulk_request(
                        admin_id,
                        key,
                        existing.started_at,
                        now,
                        expiry(now),
                        origin.request_id,
                    )
                    .await?
                {
                    return Ok(Claim::Run(now));
                }
            }
        }
    }
    Err(Error::Conflict(Conflict::Contended(IN_PROGRESS.to_owned())))
}

/// Keeps the answer for repeats. A failure to keep it is logged, not answered: every
/// action is already done and the caller should learn how each went; a repeat then
/// finds the record in progress (409) until its lease is over, then runs again safely.
pub(super) async fn save(
    store: &Store,
    admin_id: u64,
    key: &str,
    started_at: Timestamp,
    answer: &BulkAnswer,
    origin: &BulkOrigin,
) {
    // Only what the answer shows is kept: a payout's earlier attempts are not shown,
    // and they are the one part of a payout whose size has no fixed bound. Of its
    // history, this request's own entries (a few per payout): a hundred payouts' whole
    // histories could outgrow the record's item.
    let mut kept = answer.clone();
    for payout in kept
        .results
        .iter_mut()
        .filter_map(|result| result.payout.as_mut())
    {
        payout.earlier_attempts.clear();
        payout
            .history
            .retain(|entry| entry.bulk_request_id == Some(origin.request_id));
    }
    let text = match serde_json::to_string(&kept) {
        Ok(text) => text,
        Err(err) => {
            error!(event = "bulk_answer_not_kept", admin_id, error = %err, "a bulk answer could not be serialised");
            return;
        }
    };
    let now = Timestamp::now();
    match store
        .finish_bulk_request(admin_id, key, started_at, &text, expiry(now))
        .await
    {
        Ok(true) => {}
        Ok(false) => warn!(
            event = "bulk_answer_not_kept",
            admin_id, "another request took this Idempotency-Key over before this one finished"
        ),
        Err(err) => error!(
            event = "bulk_answer_not_kept",
            admin_id,
            error = %err,
            "a bulk answer could not be saved; a repeat will run again once its lease is over"
        ),
    }
}

fn epoch_secs(at: Timestamp) -> i64 {
    at.unix_millis() / 1000
}

fn expiry(from: Timestamp) -> i64 {
    epoch_secs(from.plus_secs(ANSWER_KEPT_SECS))
}
