//! `POST /scouts/{scout_id}/earnings`: the marketplace credits a scout's earnings
//! outside an order (a bonus, an opening balance) or takes some back (a chargeback).
//! Each entry is stored under the request's `Idempotency-Key` in the same transaction
//! as the balance it moves, so a replay is one entry and one change, however often it
//! is sent.

use serde_json::{Map, Value};
use tracing::info;

use super::{by, invalid, paise};
use crate::scout::check_idempotency_key;
use domain::actor::ServiceCaller;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
use domain::scout::{EarningsDirection, EarningsEntry};
use domain::time::Timestamp;
use store::{EarningsRefused, Store};

/// The fields of the body.
pub const FIELDS: [&str; 3] = ["direction", "amount_paise", "reason"];

/// A reason code: what a person reading the scout's history is told.
pub const MAX_REASON_LEN: usize = 64;

/// The largest single entry, ₹10 crore (10^10 paise): far above any bonus or opening balance, and
/// far enough below `u64::MAX` that no run of entries can overflow a balance.
pub const MAX_ENTRY_PAISE: Paise = Paise(10_000_000_000);

/// What the marketplace asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarningsRequest {
    pub direction: EarningsDirection,
    pub amount: Paise,
    pub reason: String,
}

impl EarningsRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        domain::body::only_fields(body, &FIELDS)?;
        let direction = match body.get("direction").and_then(Value::as_str) {
            Some("credit") => EarningsDirection::Credit,
            Some("debit") => EarningsDirection::Debit,
            _ => return Err(invalid("direction", "direction must be credit or debit")),
        };
        let amount = paise(body, "amount_paise")?
            .filter(|amount| *amount > Paise::ZERO)
            .ok_or_else(|| {
                invalid(
                    "amount_paise",
                    "amount_paise must be a positive whole number of paise",
                )
            })?;
        if amount > MAX_ENTRY_PAISE {
            return Err(Error::OutOfRange {
                field: "amount_paise",
                message: format!(
                    "amount_paise may be at most {} paise in one entry",
                    MAX_ENTRY_PAISE.get()
                ),
            });
        }
        let reason = match body.get("reason") {
            Some(Value::String(reason)) if is_reason_code(reason) => reason.clone(),
            _ => {
                return Err(invalid(
                    "reason",
                    format!(
                        "reason must be a code of 1 to {MAX_REASON_LEN} lowercase letters, \
                         digits, `_` or `-` (bonus, chargeback, opening_balance, …)"
                    ),
                ))
            }
        };
        Ok(EarningsRequest {
            direction,
            amount,
            reason,
        })
    }
}

fn is_reason_code(reason: &str) -> bool {
    !reason.is_empty()
        && reason.len() <= MAX_REASON_LEN
        && reason.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// Whether an entry was written now or found from an earlier request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    Created(EarningsEntry),
    Replayed(EarningsEntry),
}

impl Recorded {
    pub fn entry(&self) -> &EarningsEntry {
        match self {
            Recorded::Created(entry) | Recorded::Replayed(entry) => entry,
        }
    }
}

/// Records the entry and moves the balance. The same key for the same scout answers
/// with the first entry; with another direction, amount or reason it is refused
/// (`422 idempotency_key_reused`). A debit larger than what is available is refused
/// (`422 insufficient_earnings`): reserved and paid money is not the marketplace's to
/// take back here.
pub async fn record_earnings(
    store: &Store,
    caller: &ServiceCaller,
    scout_id: &str,
    idempotency_key: Option<&str>,
    request: EarningsRequest,
) -> Result<Recorded> {
    let key = idempotency_key.ok_or_else(|| {
        Error::BadRequest(
            "an Idempotency-Key header is required: a credit sent twice must not be paid twice"
                .to_owned(),
        )
    })?;
    check_idempotency_key(key)?;
    if let Some(entry) = store.earnings_entry(scout_id, key).await? {
        return replay(entry, &request);
    }
    let entry = EarningsEntry {
        scout_id: scout_id.to_owned(),
        idempotency_key: key.to_owned(),
        direction: request.direction,
        amount_paise: request.amount,
        reason: request.reason.clone(),
        client_id: by(caller).to_owned(),
        created_at: Timestamp::now(),
    };
    match store.record_earnings(&entry).await {
        Ok(()) => {
            info!(
                event = "scout_earnings_recorded",
                scout_id,
                direction = entry.direction.as_str(),
                amount_paise = entry.amount_paise.get(),
                reason = %entry.reason,
                client_id = by(caller),
                "scout earnings recorded"
            );
            Ok(Recorded::Created(entry))
        }
        // A request beside this one, or a first try that landed after all.
        Err(EarningsRefused::KeyTaken) => {
            let entry = store.earnings_entry(scout_id, key).await?.ok_or_else(|| {
                Error::Conflict(Conflict::Contended("Idempotency-Key is in use".to_owned()))
            })?;
            replay(entry, &request)
        }
        Err(EarningsRefused::ScoutBalance) => {
            let scout = store.existing_scout(scout_id).await?;
            if request.direction == EarningsDirection::Debit
                && scout.earnings_paise < request.amount
            {
                return Err(Error::InsufficientEarnings {
                    available: scout.earnings_paise,
                    requested: request.amount,
                });
            }
            // The balance moved between the refusal and this read: nothing was
            // written, and the same request may be sent again.
            Err(Error::Conflict(Conflict::Contended(format!(
                "scout {scout_id}'s balance is changing; try again"
            ))))
        }
        Err(EarningsRefused::Failed(error)) => Err(error),
    }
}

fn replay(entry: EarningsEntry, request: &EarningsRequest) -> Result<Recorded> {
    if entry.same_request(request.direction, request.amount, &request.reason) {
        Ok(Recorded::Replayed(entry))
    } else {
        Err(Error::IdempotencyKeyReused)
    }
}
