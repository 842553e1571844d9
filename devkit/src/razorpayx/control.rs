//! The control API under `/_fake/` (no auth, loopback only): what the RazorpayX Test
//! Mode dashboard lets a person do, for tests and `cargo xtask dev`. Lists payouts,
//! validations and webhook deliveries, forces a payout's status (with its webhook
//! dropped, or processed for another amount, if asked), pays a payout a second time,
//! and sets the faults and the balance: each way the gateway can come to disagree with
//! our books, for the reconciliation to find.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::clock::unix_now;
use super::config::{Faults, ValidationFaults};
use super::errors::{bad_request, lock, poisoned, Reply};
use super::fake::Shared;
use super::ledger::{utr, FakePayout, FakeValidation, Fate};
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
    /// Processed for this amount instead of the one asked for (a bank's error).
    #[serde(default)]
    amount: Option<u64>,
    /// Processed to this fund account instead of the one asked for.
    #[serde(default)]
    fund_account_id: Option<String>,
    /// The change happens and its webhook is never sent.
    #[serde(default)]
    drop_webhook: bool,
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
    if (change.amount.is_some() || change.fund_account_id.is_some()) && change.status != "processed"
    {
        return Err(bad_request(
            Some("status"),
            "only a processed payout may be given another amount or fund account",
        ));
    }
    if let Some(other) = &change.fund_account_id {
        if !fake
            .ledger
            .fund_accounts
            .iter()
            .any(|account| &account.id == other)
        {
            return Err(bad_request(
                Some("fund_account_id"),
                "The id provided does not exist",
            ));
        }
    }
    payout.settle_at_ms = None;
    if change.status == "processed" {
        payout.utr = Some(utr(&mut fake.rng));
        if let Some(other) = change.fund_account_id {
            payout.fund_account_id = other;
        }
        if let Some(amount) = change.amount {
            // The business account pays what was processed.
            if payout.debited {
                fake.ledger.balance = (fake.ledger.balance + payout.amount).saturating_sub(amount);
            }
            payout.amount = amount;
        }
    } else if payout.debited {
        fake.ledger.balance += payout.amount;
        payout.debited = false;
    }
    payout.set_status(&change.status, change.reason.as_deref());
    let view = control_view(payout);
    let entity = payout.public();
    if change.drop_webhook {
        fake.emit_or_drop(entity, true);
    } else {
        fake.emit(entity);
    }
    fake.persist();
    Ok(Json(view).into_response())
}

/// The payout vanishes from RazorpayX's records, as if it had been made in another
/// account or mode: its money, if taken, goes back to the balance, and no webhook says so.
pub(super) async fn control_forget(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let Some(index) = fake
        .ledger
        .payouts
        .iter()
        .position(|payout| payout.id == id)
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let forgotten = fake.ledger.payouts.remove(index);
    if forgotten.debited {
        fake.ledger.balance += forgotten.amount;
    }
    fake.persist();
    Ok(Json(control_view(&forgotten)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Duplicate {
    /// The second payout's webhook is never sent.
    #[serde(default)]
    drop_webhook: bool,
}

/// A second payout, processed at once, under the same reference and to the same fund
/// account as payout `id`, for the same amount, under an idempotency key of its own: as
/// when another system with our keys paid the same payout again.
pub(super) async fn control_duplicate(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Reply {
    let options: Duplicate = if body.is_empty() {
        Duplicate::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| bad_request(None, format!("expected {{\"drop_webhook\"}}: {err}")))?
    };
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let Some(original) = fake
        .ledger
        .payouts
        .iter()
        .find(|payout| payout.id == id)
        .cloned()
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let mut second = original;
    second.id = fake.next_id("pout");
    second.idempotency_key = format!("{}-again", second.id);
    second.notes = json!({"idempotency_key": second.idempotency_key});
    if let Some(body) = second.request_body.as_object_mut() {
        body.insert("notes".to_owned(), second.notes.clone());
    }
    second.created_at = unix_now();
    second.settle_at_ms = None;
    second.fate = Fate::Processed;
    fake.ledger.balance = fake.ledger.balance.saturating_sub(second.amount);
    second.debited = true;
    second.utr = Some(utr(&mut fake.rng));
    second.set_status("processed", None);
    let view = control_view(&second);
    let entity = second.public();
    fake.ledger.payouts.push(second);
    if options.drop_webhook {
        fake.emit_or_drop(entity, true);
    } else {
        fake.emit(entity);
    }
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
