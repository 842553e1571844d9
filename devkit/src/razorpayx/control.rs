//! The control API under `/_fake/` (no auth, loopback only): what the RazorpayX Test
//! Mode dashboard lets a person do, for tests and `cargo xtask dev`. Lists payouts,
//! validations and webhook deliveries, forces a payout's status (with its webhook
//! dropped, or processed for another amount, if asked), pays a payout a second time,
//! books many payouts at once as made earlier (a day's statement, for the
//! reconciliation's benchmark), and sets the faults and the balance: each way the
//! gateway can come to disagree with our books, for the reconciliation to find.

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

/// The most payouts one bulk booking takes: a larger day is booked in several requests,
/// each well inside the server's 2 MiB body limit (5,000 of the bench's are about 1.1 MB).
const BULK_MAX: usize = 5_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBooking {
    payouts: Vec<BookedPayout>,
}

/// A payout as RazorpayX made it earlier, already in its final status.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookedPayout {
    #[serde(default)]
    reference_id: Option<String>,
    /// Shown in `notes` (as `idempotency_key`, which is what the reconciliation reads),
    /// and kept as the payout's `X-Payout-Idempotency`.
    idempotency_key: String,
    amount: u64,
    fund_account_id: String,
    /// `processed`, `failed` or `reversed`.
    status: String,
    #[serde(default)]
    reason: Option<String>,
    /// Unix seconds: when RazorpayX made it.
    created_at: i64,
}

/// Books payouts as made at their own `created_at`, each already in its final status,
/// with no webhook (they happened before anyone listened): a day's worth of payouts in
/// a few requests, where one `POST /v1/payouts` each would take the day to settle. A
/// processed one takes its amount from the balance (down to zero at most). The books
/// stay in order of creation time, as the list reads them. Answers each booked payout as
/// `GET /_fake/payouts` shows it, in the order asked.
pub(super) async fn control_bulk(State(shared): State<Shared>, body: Bytes) -> Reply {
    let booking: BulkBooking = serde_json::from_slice(&body).map_err(|err| {
        bad_request(
            None,
            format!(
                "expected {{\"payouts\": [{{\"reference_id\", \"idempotency_key\", \"amount\", \
                 \"fund_account_id\", \"status\", \"reason\", \"created_at\"}}]}}: {err}"
            ),
        )
    })?;
    if booking.payouts.len() > BULK_MAX {
        return Err(bad_request(
            Some("payouts"),
            format!("at most {BULK_MAX} payouts a request"),
        ));
    }
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let mut keys: std::collections::HashSet<&str> = fake
        .ledger
        .payouts
        .iter()
        .map(|payout| payout.idempotency_key.as_str())
        .collect();
    for booked in &booking.payouts {
        if !["processed", "failed", "reversed"].contains(&booked.status.as_str()) {
            return Err(bad_request(
                Some("status"),
                "a booked payout is processed, failed or reversed",
            ));
        }
        if booked
            .reference_id
            .as_deref()
            .is_some_and(|reference| reference.len() > 40)
        {
            return Err(bad_request(
                Some("reference_id"),
                "The reference id may not be greater than 40 characters.",
            ));
        }
        if booked.created_at > unix_now() {
            return Err(bad_request(
                Some("created_at"),
                "a booked payout was made in the past, not the future",
            ));
        }
        if booked.amount < 100 {
            return Err(bad_request(
                Some("amount"),
                "The amount must be an integer of at least 100 paise.",
            ));
        }
        if !keys.insert(booked.idempotency_key.as_str()) {
            return Err(bad_request(
                Some("idempotency_key"),
                format!(
                    "idempotency key {} is taken: one payout per key",
                    booked.idempotency_key
                ),
            ));
        }
    }
    let mut vpa = std::collections::HashMap::new();
    for booked in &booking.payouts {
        let known = fake
            .ledger
            .fund_accounts
            .iter()
            .find(|account| account.id == booked.fund_account_id)
            .ok_or_else(|| {
                bad_request(Some("fund_account_id"), "The id provided does not exist")
            })?;
        vpa.insert(booked.fund_account_id.as_str(), known.account_type == "vpa");
    }
    let mut views = Vec::with_capacity(booking.payouts.len());
    let mut made = Vec::with_capacity(booking.payouts.len());
    for booked in &booking.payouts {
        let notes = json!({"idempotency_key": booked.idempotency_key});
        let mode = if vpa.get(booked.fund_account_id.as_str()) == Some(&true) {
            "UPI"
        } else {
            "IMPS"
        };
        let mut request_body = json!({
            "account_number": fake.config.account_number,
            "fund_account_id": booked.fund_account_id,
            "amount": booked.amount,
            "currency": "INR",
            "mode": mode,
            "purpose": "payout",
            "notes": notes,
        });
        if let (Some(reference), Some(body)) = (&booked.reference_id, request_body.as_object_mut())
        {
            body.insert("reference_id".to_owned(), json!(reference));
        }
        let processed = booked.status == "processed";
        let mut payout = FakePayout {
            id: fake.next_id("pout"),
            entity: "payout".to_owned(),
            fund_account_id: booked.fund_account_id.clone(),
            amount: booked.amount,
            currency: "INR".to_owned(),
            notes,
            fees: 0,
            tax: 0,
            status: String::new(),
            utr: processed.then(|| utr(&mut fake.rng)),
            mode: mode.to_owned(),
            purpose: "payout".to_owned(),
            reference_id: booked.reference_id.clone(),
            narration: None,
            batch_id: None,
            status_details: None,
            created_at: booked.created_at,
            idempotency_key: booked.idempotency_key.clone(),
            request_body,
            settle_at_ms: None,
            fate: Fate::Processed,
            debited: processed,
        };
        payout.set_status(&booked.status, booked.reason.as_deref());
        if processed {
            fake.ledger.balance = fake.ledger.balance.saturating_sub(payout.amount);
        }
        views.push(control_view(&payout));
        made.push(payout);
    }
    fake.ledger.payouts.extend(made);
    // Stable: payouts made in the same second keep the order they were made in.
    fake.ledger.payouts.sort_by_key(|payout| payout.created_at);
    fake.persist();
    Ok(Json(json!({"entity": "collection", "count": views.len(), "items": views})).into_response())
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
