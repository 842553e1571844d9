//! The control API under `/_fake/` (no auth, loopback only): what the RazorpayX Test
//! Mode dashboard lets a person do, for tests and `cargo xtask dev`. Lists payouts,
//! validations and webhook deliveries, forces a payout's status, and sets the faults
//! and the balance.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{Faults, ValidationFaults};
use super::errors::{bad_request, lock, poisoned, Reply};
use super::fake::Shared;
use super::ledger::{utr, FakePayout, FakeValidation};
use super::payouts::settle_due;

pub(super) fn control_view(payout: &FakePayout) -> Value {
    let mut view = payout.public();
    if let Some(object) = view.as_object_mut() {
        object.insert("idempotency_key".to_owned(), json!(payout.idempotency_key));
    }
    view
}

pub(super) async fn control_payouts(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake.ledger.payouts.iter().map(control_view).collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn control_status(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Reply {
    let change: StatusChange = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("expected {{\"status\", \"reason\"}}: {err}")))?;
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let Some(payout) = fake
        .ledger
        .payouts
        .iter_mut()
        .find(|payout| payout.id == id)
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let allowed = match change.status.as_str() {
        "processed" => payout.status == "processing",
        "failed" => ["queued", "processing"].contains(&payout.status.as_str()),
        "reversed" => ["processing", "processed"].contains(&payout.status.as_str()),
        _ => {
            return Err(bad_request(
                Some("status"),
                "status must be processed, failed or reversed",
            ))
        }
    };
    if !allowed {
        return Err(bad_request(
            Some("status"),
            format!("a {} payout cannot become {}", payout.status, change.status),
        ));
    }
    payout.settle_at_ms = None;
    if change.status == "processed" {
        payout.utr = Some(utr(&mut fake.rng));
    } else if payout.debited {
        fake.ledger.balance += payout.amount;
        payout.debited = false;
    }
    payout.set_status(&change.status, change.reason.as_deref());
    let view = control_view(payout);
    let entity = payout.public();
    fake.emit(entity);
    fake.persist();
    Ok(Json(view).into_response())
}

pub(super) async fn control_faults(State(shared): State<Shared>, body: Bytes) -> Reply {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("unknown or malformed fault: {err}")))?;
    faults
        .check()
        .map_err(|message| bad_request(None, message))?;
    let mut fake = lock(&shared)?;
    fake.ledger.faults = faults;
    fake.persist();
    Ok(Json(json!(faults)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Balance {
    amount: u64,
}

pub(super) async fn control_balance(State(shared): State<Shared>, body: Bytes) -> Reply {
    let balance: Balance = serde_json::from_slice(&body).map_err(|err| {
        bad_request(
            Some("amount"),
            format!("expected {{\"amount\": paise}}: {err}"),
        )
    })?;
    {
        let mut fake = lock(&shared)?;
        fake.ledger.balance = balance.amount;
        fake.persist();
    }
    settle_due(&shared);
    Ok(Json(json!({"balance": balance.amount})).into_response())
}

pub(super) async fn control_validations(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake
        .ledger
        .validations
        .iter()
        .map(FakeValidation::public)
        .collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

pub(super) async fn control_validation_faults(State(shared): State<Shared>, body: Bytes) -> Reply {
    let faults: ValidationFaults = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("unknown or malformed fault: {err}")))?;
    faults
        .check()
        .map_err(|message| bad_request(None, message))?;
    let mut fake = lock(&shared)?;
    fake.ledger.validation_faults = faults;
    fake.persist();
    Ok(Json(json!(faults)).into_response())
}

pub(super) async fn control_webhooks(State(shared): State<Shared>) -> Reply {
    let outbox = lock(&shared)?.webhooks.clone();
    let items = outbox
        .lock()
        .map(|outbox| outbox.deliveries())
        .map_err(|_| poisoned("webhook outbox"))?;
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}
