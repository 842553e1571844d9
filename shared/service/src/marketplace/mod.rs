//! The marketplace's door (docs/MARKETPLACE.md): its backend tells the
//! service about its scouts, its orders and the earnings it credits or takes back, as
//! itself ([`ServiceCaller`]), never as a user. The HTTP routes, the EventBridge
//! ingester and `cargo xtask import` all come through here, so a scout or an order is
//! checked and written one way whichever door it came in by.
//!
//! Every write is idempotent: a `PUT` that says what is already stored changes nothing,
//! and an earnings entry is stored under its `Idempotency-Key`, so a replay finds it.

pub mod earnings;
pub mod import;
pub mod ingest;
pub mod orders;
pub mod scouts;

use serde_json::{Map, Value};

use crate::config::PayoutLimits;
use domain::actor::ServiceCaller;
use domain::error::{Error, Result};
use domain::money::Paise;

/// What an idempotent write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// The record did not exist; it does now (`201`).
    Created,
    /// It existed and is changed (`200`).
    Updated,
    /// It already said this: nothing was written (`200`).
    Unchanged,
    /// A marketplace event older than the latest one applied to the record: nothing
    /// was written (events only; a request is in order by being answered).
    Superseded,
}

/// How often a write re-reads a record that changed under it before giving up with a
/// `409` the caller may send again.
const RACE_RETRIES: usize = 5;

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidField {
        field,
        message: message.into(),
    }
}

/// A user id: a whole JSON number, as a token's `sub` carries it.
fn user_id(body: &Map<String, Value>, field: &'static str) -> Result<u64> {
    match body.get(field) {
        Some(value @ Value::Number(number)) if value.is_u64() => number
            .as_u64()
            .ok_or_else(|| invalid(field, format!("{field} must be a user id"))),
        None | Some(Value::Null) => Err(invalid(field, format!("{field} is required"))),
        Some(_) => Err(invalid(
            field,
            format!("{field} must be a user id (a whole number)"),
        )),
    }
}

/// A whole number of paise (zero included), or `None` when absent or null.
fn paise(body: &Map<String, Value>, field: &'static str) -> Result<Option<Paise>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        // A float such as 100.0 is not an amount of paise, nor is a negative number.
        Some(value @ Value::Number(number)) if value.is_u64() => Ok(number.as_u64().map(Paise)),
        Some(_) => Err(invalid(
            field,
            format!("{field} must be a whole, non-negative number of paise"),
        )),
    }
}

/// An amount a payout could carry: within the payout limits, since anything owed
/// outside them could never be paid.
fn payable(amount: Paise, field: &'static str, limits: PayoutLimits) -> Result<Paise> {
    if amount < limits.min || amount > limits.max {
        return Err(Error::OutOfRange {
            field,
            message: format!(
                "{field} must be from {} to {} paise (the payout limits), not {}",
                limits.min.get(),
                limits.max.get(),
                amount.get()
            ),
        });
    }
    Ok(amount)
}

/// A record id in a body (an order's scout): what a path could name.
fn record_id(body: &Map<String, Value>, field: &'static str) -> Result<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if domain::body::is_addressable_id(id) => Ok(Some(id.clone())),
        Some(_) => Err(invalid(
            field,
            format!("{field} must be 1-128 visible ASCII characters"),
        )),
    }
}

/// A record that names itself (an import row, an event's detail): its id, taken out,
/// and the rest, the body a `PUT` of it takes.
pub fn record_id_of(
    mut record: Map<String, Value>,
    field: &'static str,
) -> Result<(String, Map<String, Value>)> {
    let id = match record.remove(field) {
        Some(Value::String(id)) if domain::body::is_addressable_id(&id) => id,
        _ => {
            return Err(invalid(
                field,
                format!("{field} is required: 1-128 visible ASCII characters"),
            ))
        }
    };
    Ok((id, record))
}

/// The caller as records name it: who changed or credited what.
fn by(caller: &ServiceCaller) -> &str {
    &caller.client_id
}
