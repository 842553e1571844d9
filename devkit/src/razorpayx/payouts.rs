//! `/v1/payouts`: create (with its faults), fetch, list and cancel, and the ticker's
//! settlement of payouts whose time has come; each debit and each return of a payout's
//! money is written on the statement (`statement`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use rand::RngExt;
use serde_json::{json, Map, Value};

use super::clock::{now_ms, unix_now};
use super::errors::{
    authenticate, bad_request, collection, idempotency_key, lock, open_list, parse_body,
    string_field, too_many_requests, Reply, RzpError,
};
use super::fake::{Fake, Shared};
use super::ledger::{utr, FakePayout, Fate};
use super::statement::{payout_source, reversal_source};
use super::validations::settle_validations;

const PURPOSES: [&str; 6] = [
    "refund",
    "cashback",
    "payout",
    "salary",
    "utility bill",
    "vendor bill",
];

/// Reasons a beneficiary bank gives
/// (https://razorpay.com/docs/errors/x/payout-status-details/), used by the `reject` and
/// `fail_after_accept` faults.
const FAILURE_REASONS: [&str; 4] = [
    "bank_account_closed",
    "beneficiary_bank_rejected",
    "invalid_ifsc_code",
    "bank_account_invalid",
];

pub(super) async fn create_payout(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let (reply, hang) = {
        let mut fake = lock(&shared)?;
        authenticate(&fake, &headers)?;
        let faults = fake.ledger.faults;
        if fake.roll(faults.rate_limit) {
            return Err(too_many_requests());
        }
        if fake.roll(faults.server_error) {
            return Err(RzpError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "SERVER_ERROR",
                description:
                    "The server encountered an error. The incident has been reported to admins."
                        .to_owned(),
                field: None,
                reason: "server_error",
            });
        }
        let key = idempotency_key(&headers)?;
        let request = parse_body(&body)?;
        if let Some(existing) = fake
            .ledger
            .payouts
            .iter()
            .find(|payout| payout.idempotency_key == key)
        {
            if existing.request_body != Value::Object(request.clone()) {
                return Err(bad_request(
                    None,
                    "Different request body sent for the same Idempotency Header",
                ));
            }
            return Ok((StatusCode::OK, Json(existing.public())).into_response());
        }
        let payout = fake.new_payout(key, request)?;
        let hang = fake.roll(faults.timeout);
        let view = payout.public();
        fake.emit(view.clone());
        fake.ledger.payouts.push(payout);
        fake.persist();
        ((StatusCode::OK, Json(view)).into_response(), hang)
    };
    if hang {
        // Created and recorded; the caller gives up before it hears so.
        let wait = lock(&shared)?.config.hang;
        tokio::time::sleep(wait).await;
    }
    Ok(reply)
}

impl Fake {
    pub(super) fn new_payout(
        &mut self,
        key: String,
        request: Map<String, Value>,
    ) -> Result<FakePayout, RzpError> {
        let account_number = string_field(&request, "account_number", true)?.unwrap_or_default();
        if account_number != self.config.account_number {
            return Err(bad_request(
                Some("account_number"),
                "The account number is invalid",
            ));
        }
        let fund_account_id = string_field(&request, "fund_account_id", true)?.unwrap_or_default();
        let Some(fund_account) = self
            .ledger
            .fund_accounts
            .iter()
            .find(|fa| fa.id == fund_account_id)
        else {
            return Err(bad_request(
                Some("fund_account_id"),
                "The id provided does not exist",
            ));
        };
        let amount = match request.get("amount") {
            Some(Value::Number(number)) => number.as_u64().filter(|amount| *amount >= 100),
            _ => None,
        }
        .ok_or_else(|| {
            bad_request(
                Some("amount"),
                "The amount must be an integer of at least 100 paise.",
            )
        })?;
        if string_field(&request, "currency", true)? != Some("INR") {
            return Err(bad_request(Some("currency"), "The currency must be INR."));
        }
        let mode = string_field(&request, "mode", true)?.unwrap_or_default();
        let modes: &[&str] = if fund_account.account_type == "vpa" {
            &["UPI"]
        } else {
            &["NEFT", "RTGS", "IMPS"]
        };
        if !modes.contains(&mode) {
            return Err(bad_request(
                Some("mode"),
                format!("The mode {mode} is not allowed for this fund account"),
            ));
        }
        let purpose = string_field(&request, "purpose", true)?.unwrap_or_default();
        if !PURPOSES.contains(&purpose) {
            return Err(bad_request(Some("purpose"), "Invalid purpose"));
        }
        let queue = match request.get("queue_if_low_balance") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => {
                return Err(bad_request(
                    Some("queue_if_low_balance"),
                    "The queue if low balance field must be true or false.",
                ))
            }
        };
        let reference_id = string_field(&request, "reference_id", false)?;
        if reference_id.is_some_and(|reference| reference.len() > 40) {
            return Err(bad_request(
                Some("reference_id"),
                "The reference id may not be greater than 40 characters.",
            ));
        }
        let narration = string_field(&request, "narration", false)?;
        if narration.is_some_and(|text| {
            text.len() > 30 || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        }) {
            return Err(bad_request(
                Some("narration"),
                "The narration may contain up to 30 letters, digits and spaces.",
            ));
        }
        let notes = request.get("notes").cloned().unwrap_or_else(|| json!({}));
        if notes.as_object().is_some_and(|notes| notes.len() > 15) {
            return Err(bad_request(Some("notes"), "Too many notes: at most 15."));
        }

        let faults = self.ledger.faults;
        let reject = self.roll(faults.reject);
        let fate = if self.roll(faults.fail_after_accept) {
            let reason = self.reason();
            if self.rng.random_bool(0.5) {
                Fate::Failed { reason }
            } else {
                Fate::Reversed { reason }
            }
        } else {
            Fate::Processed
        };
        let mut payout = FakePayout {
            id: self.next_id("pout"),
            entity: "payout".to_owned(),
            fund_account_id: fund_account_id.to_owned(),
            amount,
            currency: "INR".to_owned(),
            notes,
            fees: 0,
            tax: 0,
            status: String::new(),
            utr: None,
            mode: mode.to_owned(),
            purpose: purpose.to_owned(),
            reference_id: reference_id.map(str::to_owned),
            narration: narration.map(str::to_owned),
            batch_id: None,
            status_details: None,
            created_at: unix_now(),
            idempotency_key: key,
            request_body: Value::Object(request),
            settle_at_ms: None,
            fate,
            debited: false,
        };
        if reject {
            let reason = self.reason();
            payout.set_status("failed", Some(&reason));
        } else if amount > self.ledger.balance {
            if queue {
                payout.set_status("queued", Some("low_balance"));
            } else {
                payout.set_status("failed", Some("insufficient_funds"));
            }
        } else {
            self.start_processing(&mut payout);
        }
        Ok(payout)
    }

    pub(super) fn reason(&mut self) -> String {
        FAILURE_REASONS[self.rng.random_range(0..FAILURE_REASONS.len())].to_owned()
    }

    /// Takes the payout's money, with its line on the statement, and sets it
    /// processing; the caller has checked the balance covers it.
    pub(super) fn start_processing(&mut self, payout: &mut FakePayout) {
        payout.debited = true;
        payout.set_status("processing", None);
        self.debit(payout.amount, payout_source(payout), unix_now());
        let delay = i64::try_from(self.config.settle_after.as_millis()).unwrap_or(i64::MAX);
        payout.settle_at_ms = Some(now_ms().saturating_add(delay));
    }

    /// A debited payout's money comes back, with a reversal line on the statement.
    pub(super) fn give_back(&mut self, payout: &mut FakePayout) {
        if !payout.debited {
            return;
        }
        payout.debited = false;
        let at = unix_now();
        let id = self.statement_id("rvrsl");
        self.credit(payout.amount, reversal_source(id, payout, at), at);
    }
}

/// Moves payouts whose time has come: `processing` to their fate, `queued` (low
/// balance) to `processing` once the balance covers them, oldest first; then settles
/// the validations that are due.
pub(super) fn settle_due(shared: &Shared) {
    let Ok(mut guard) = shared.lock() else {
        return;
    };
    let fake = &mut *guard;
    let now = now_ms();
    let mut changed = false;
    let mut payouts = std::mem::take(&mut fake.ledger.payouts);
    for payout in payouts.iter_mut() {
        if payout.status == "queued"
            && payout.status_details.as_ref().map(|d| &d["reason"]) == Some(&json!("low_balance"))
            && payout.amount <= fake.ledger.balance
        {
            fake.start_processing(payout);
            fake.emit(payout.public());
            changed = true;
        } else if payout.status == "processing" && payout.settle_at_ms.is_some_and(|at| at <= now) {
            payout.settle_at_ms = None;
            match payout.fate.clone() {
                Fate::Processed => {
                    payout.utr = Some(utr(&mut fake.rng));
                    payout.set_status("processed", None);
                }
                Fate::Failed { reason } => {
                    fake.give_back(payout);
                    payout.set_status("failed", Some(&reason));
                }
                Fate::Reversed { reason } => {
                    fake.give_back(payout);
                    payout.set_status("reversed", Some(&reason));
                }
            }
            fake.emit(payout.public());
            changed = true;
        }
    }
    fake.ledger.payouts = payouts;
    changed |= settle_validations(fake, now);
    if changed {
        fake.persist();
    }
}

pub(super) async fn fetch_payout(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let payout = fake
        .ledger
        .payouts
        .iter()
        .find(|payout| payout.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    Ok(Json(payout.public()).into_response())
}

pub(super) async fn list_payouts(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Reply {
    let (fake, page) = open_list(&shared, &headers, &query)?;
    // Newest first, as RazorpayX lists them.
    let items: Vec<Value> = fake
        .ledger
        .payouts
        .iter()
        .rev()
        .filter(|p| {
            query
                .get("reference_id")
                .is_none_or(|r| p.reference_id.as_ref() == Some(r))
        })
        .filter(|p| query.get("status").is_none_or(|s| &p.status == s))
        .filter(|p| {
            query
                .get("fund_account_id")
                .is_none_or(|f| &p.fund_account_id == f)
        })
        .filter(|p| page.holds(p.created_at))
        .skip(page.skip)
        .take(page.count)
        .map(FakePayout::public)
        .collect();
    collection(items)
}

pub(super) async fn cancel_payout(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let payout = fake
        .ledger
        .payouts
        .iter_mut()
        .find(|payout| payout.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    if payout.status != "queued" {
        return Err(bad_request(
            None,
            format!("Payout cannot be cancelled: it is {}", payout.status),
        ));
    }
    payout.set_status("cancelled", None);
    let view = payout.public();
    fake.emit(view.clone());
    fake.persist();
    Ok(Json(view).into_response())
}
