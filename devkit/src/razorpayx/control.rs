//! The control API under `/_fake/` (no auth, loopback only): what the RazorpayX Test
//! Mode dashboard lets a person do, for tests and `cargo xtask dev`. Lists payouts,
//! validations, webhook deliveries and the account statement, forces a payout's status
//! (with its webhook dropped, or processed for another amount, if asked), pays a payout
//! a second time, books many payouts at once as made earlier (a day's statement, for the
//! reconciliation's benchmark), forgets a payout (with its statement lines), writes a
//! statement line no payout implies or leaves one out, and sets the faults and the
//! balance: each way the gateway can come to disagree with our books, for the
//! reconciliation to find.
//!
//! - `GET /_fake/payouts`, `GET /_fake/validations`, `GET /_fake/webhooks`: lists.
//! - `POST /_fake/payouts/{id}/status` `{"status", "reason"?, "amount"?,
//!   "fund_account_id"?, "drop_webhook"?}`, `…/{id}/duplicate` `{"drop_webhook"?}`,
//!   `…/{id}/forget`, `POST /_fake/payouts/bulk` `{"payouts": […]}`.
//! - `GET /_fake/transactions`: every statement line, oldest first, as `{"entity":
//!   "collection", "count", "items"}`.
//! - `POST /_fake/transactions` `{"payout_id": "pout_…", "debit": N}` or `{…, "credit":
//!   N}` (N ≥ 1), with `"entity": "payout"` (default) or `"reversal"` and `"created_at"`
//!   (unix s, default now, never later): a line the payouts do not imply, which moves
//!   the balance; the payout need not exist. Answers the line.
//! - `POST /_fake/transactions/{id}/forget`: the line leaves the statement, the balance
//!   keeps its movement. Answers the line.
//! - `POST /_fake/faults`, `POST /_fake/validation_faults`: replace the faults (`{}`
//!   clears them; a bad value is a 400 that changes nothing). `POST /_fake/faults` takes
//!   the rates 0–1 and `"rate_limit_tps": N` (N > 0, `null` or absent: no limit): every
//!   `/v1/…` call with the right keys, all routes together, spends from one token bucket
//!   of `max(1, N)` calls refilled at N a second, and one that finds it empty is a 429
//!   in RazorpayX's error shape before anything is done; `/_fake/…` never counts.
//!   Setting the faults refills the bucket and zeroes its counts.
//! - `GET /_fake/rate`: `{"rate_limit_tps": N or null, "admitted", "refused"}`, the
//!   `/v1/…` calls with the right keys let through and refused (429 for the rate) since
//!   the start or the last `POST /_fake/faults`.
//! - `POST /_fake/balance` `{"amount"}` (a `bank_transfer` line for the difference).

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::clock::unix_now;
use super::config::{Faults, ValidationFaults};
use super::errors::{bad_request, collection, lock, poisoned, Reply};
use super::fake::Shared;
use super::ledger::{utr, FakePayout, FakeTransaction, FakeValidation, Fate};
use super::payouts::settle_due;
use super::statement::{payout_source, reversal_source};

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
    collection(items)
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
    let Some(index) = fake
        .ledger
        .payouts
        .iter()
        .position(|payout| payout.id == id)
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let current = fake.ledger.payouts[index].status.clone();
    let allowed = match change.status.as_str() {
        "processed" => current == "processing",
        "failed" => ["queued", "processing"].contains(&current.as_str()),
        "reversed" => ["processing", "processed"].contains(&current.as_str()),
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
            format!("a {current} payout cannot become {}", change.status),
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
    // Out of the books while it changes, so that its money can move with it.
    let mut payout = fake.ledger.payouts[index].clone();
    payout.settle_at_ms = None;
    if change.status == "processed" {
        payout.utr = Some(utr(&mut fake.rng));
        if let Some(other) = change.fund_account_id {
            payout.fund_account_id = other;
        }
        let before = payout.amount;
        if let Some(amount) = change.amount {
            payout.amount = amount;
        }
        payout.set_status(&change.status, change.reason.as_deref());
        if payout.debited && payout.amount != before {
            // The business account pays what was processed: a line for the difference,
            // so that the payout's lines net to its new amount.
            let source = payout_source(&payout);
            let at = unix_now();
            if payout.amount > before {
                fake.debit(payout.amount - before, source, at);
            } else {
                fake.credit(before - payout.amount, source, at);
            }
        }
    } else {
        fake.give_back(&mut payout);
        payout.set_status(&change.status, change.reason.as_deref());
    }
    let view = control_view(&payout);
    let entity = payout.public();
    fake.ledger.payouts[index] = payout;
    if change.drop_webhook {
        fake.emit_or_drop(entity, true);
    } else {
        fake.emit(entity);
    }
    fake.persist();
    Ok(Json(view).into_response())
}

/// The payout vanishes from RazorpayX's records, as if it had been made in another
/// account or mode: with every statement line about it (its debit, its reversal), its
/// money, if taken, goes back to the balance with no line, and no webhook says so.
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
        fake.ledger.balance = fake.ledger.balance.saturating_add(forgotten.amount);
    }
    fake.ledger
        .transactions
        .retain(|line| !line.concerns_payout(&forgotten.id));
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
    second.debited = true;
    second.utr = Some(utr(&mut fake.rng));
    second.set_status("processed", None);
    fake.debit(second.amount, payout_source(&second), second.created_at);
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
/// processed one takes its amount from the balance (down to zero at most), with its
/// debit line on the statement dated its `created_at`; a failed or reversed one has no
/// line. The books and the statement stay in order of creation time, as the lists read
/// them. Answers each booked payout as
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
    // The day's lines are written apart and merged once: inserting each in the past of
    // a long statement would move it all every time.
    let statement = std::mem::take(&mut fake.ledger.transactions);
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
            fake.debit(payout.amount, payout_source(&payout), payout.created_at);
        }
        views.push(control_view(&payout));
        made.push(payout);
    }
    fake.ledger.payouts.extend(made);
    // Stable: payouts made in the same second keep the order they were made in.
    fake.ledger.payouts.sort_by_key(|payout| payout.created_at);
    let booked_lines = std::mem::replace(&mut fake.ledger.transactions, statement);
    fake.ledger.transactions.extend(booked_lines);
    // Stable as well: in a second, the lines already there come first, as appending
    // each would have placed them.
    fake.ledger.transactions.sort_by_key(|line| line.created_at);
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
    fake.rate.reset();
    fake.persist();
    Ok(Json(json!(faults)).into_response())
}

/// The request rate enforced (`null`: none) and the `/v1/…` calls with the right keys
/// admitted and refused since the start or the last `POST /_fake/faults`.
pub(super) async fn control_rate(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    Ok(Json(json!({
        "rate_limit_tps": fake.ledger.faults.rate_limit_tps,
        "admitted": fake.rate.admitted,
        "refused": fake.rate.refused,
    }))
    .into_response())
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
        fake.set_balance(balance.amount);
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
    collection(items)
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
    collection(items)
}

/// Every statement line, oldest first.
pub(super) async fn control_transactions(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake
        .ledger
        .transactions
        .iter()
        .map(FakeTransaction::public)
        .collect();
    collection(items)
}

/// A statement line the payouts do not imply.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraLine {
    /// The payout it is about; RazorpayX need not know it.
    payout_id: String,
    #[serde(default)]
    debit: Option<u64>,
    #[serde(default)]
    credit: Option<u64>,
    /// The source's entity: `payout` (the default) or `reversal`.
    #[serde(default)]
    entity: Option<String>,
    /// Unix seconds, now or earlier; now by default.
    #[serde(default)]
    created_at: Option<i64>,
}

/// Writes a line no payout implies: a bank's second debit of a payout, a credit with
/// no reversal behind it, a debit for a payout RazorpayX has no record of. Its source
/// is the payout as it is now (or a reversal of it, for `amount` only) when the fake
/// knows it, else `{"id": payout_id, "entity": "payout", "amount"}` (or `{"id":
/// "rvrsl_…", "entity": "reversal", "payout_id", "amount", "fees": 0, "tax": 0, "utr":
/// null, "created_at"}`). The line moves the balance like any other (a debit down to
/// zero at most). Answers the line.
pub(super) async fn control_add_transaction(State(shared): State<Shared>, body: Bytes) -> Reply {
    let line: ExtraLine = serde_json::from_slice(&body).map_err(|err| {
        bad_request(
            None,
            format!(
                "expected {{\"payout_id\", \"debit\" or \"credit\", \"entity\", \
                 \"created_at\"}}: {err}"
            ),
        )
    })?;
    if !line.payout_id.starts_with("pout_") {
        return Err(bad_request(
            Some("payout_id"),
            "payout_id must be a payout id (pout_…)",
        ));
    }
    let (amount, is_debit) = match (line.debit, line.credit) {
        (Some(amount), None) => (amount, true),
        (None, Some(amount)) => (amount, false),
        _ => return Err(bad_request(None, "give exactly one of debit and credit")),
    };
    if amount == 0 {
        return Err(bad_request(
            Some(if is_debit { "debit" } else { "credit" }),
            "the amount must be at least 1 paisa",
        ));
    }
    let reversal = match line.entity.as_deref() {
        None | Some("payout") => false,
        Some("reversal") => true,
        Some(_) => {
            return Err(bad_request(
                Some("entity"),
                "entity must be payout or reversal",
            ))
        }
    };
    let now = unix_now();
    let at = line.created_at.unwrap_or(now);
    if at > now {
        return Err(bad_request(
            Some("created_at"),
            "a statement line is dated now or in the past, not the future",
        ));
    }
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let known = fake
        .ledger
        .payouts
        .iter()
        .find(|payout| payout.id == line.payout_id)
        .cloned();
    let source = match (known, reversal) {
        (Some(payout), false) => payout_source(&payout),
        (None, false) => json!({"id": line.payout_id, "entity": "payout", "amount": amount}),
        (Some(payout), true) => {
            let mut source = reversal_source(fake.statement_id("rvrsl"), &payout, at);
            source["amount"] = json!(amount);
            source
        }
        (None, true) => json!({
            "id": fake.statement_id("rvrsl"),
            "entity": "reversal",
            "payout_id": line.payout_id,
            "amount": amount,
            "fees": 0,
            "tax": 0,
            "utr": null,
            "created_at": at,
        }),
    };
    let written = if is_debit {
        fake.debit(amount, source, at)
    } else {
        fake.credit(amount, source, at)
    };
    fake.persist();
    Ok(Json(written.map(|line| line.public())).into_response())
}

/// Removes a line from the statement and from nowhere else: the balance keeps its
/// movement, the statement omits it. Answers the removed line.
pub(super) async fn control_forget_transaction(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let mut fake = lock(&shared)?;
    let Some(index) = fake
        .ledger
        .transactions
        .iter()
        .position(|line| line.id == id)
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let forgotten = fake.ledger.transactions.remove(index);
    fake.persist();
    Ok(Json(forgotten.public()).into_response())
}
