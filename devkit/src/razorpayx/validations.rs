//! `/v1/fund_accounts/validations`: a penny drop to a bank account or a check of a
//! VPA, created now and settled later as its seeded fate says, with the faults that
//! make a name mismatch, an invalid account or a failure.

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
    authenticate, bad_request, collection, lock, our_account_number, parse_body, string_field,
    Reply, RzpError,
};
use super::fake::{Fake, Shared};
use super::ledger::{FakeValidation, ValidationFate};
use super::statement::validation_source;

/// Names the `name_mismatch` fault has the bank return: nobody's saved name here.
const OTHER_NAMES: [&str; 3] = ["RAVI SHANKAR IYER", "PRIYA NAIR", "MOHAMMED IQBAL KHAN"];

pub(super) async fn create_validation(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let (reply, hang) = {
        let mut fake = lock(&shared)?;
        authenticate(&fake, &headers)?;
        let request = parse_body(&body)?;
        let validation = fake.new_validation(request)?;
        let timeout = fake.ledger.validation_faults.timeout;
        let hang = fake.roll(timeout);
        let view = validation.public();
        fake.ledger.validations.push(validation);
        fake.persist();
        // RazorpayX answers every create `created`: the result comes later.
        ((StatusCode::OK, Json(view)).into_response(), hang)
    };
    if hang {
        let wait = lock(&shared)?.config.hang;
        tokio::time::sleep(wait).await;
    }
    Ok(reply)
}

impl Fake {
    /// The by-id form of the request (`account_number`, `fund_account: {id}`, and for
    /// a bank account `amount` and `currency`); the composite form (an inline fund
    /// account) is not modelled and is refused as a missing id.
    pub(super) fn new_validation(
        &mut self,
        request: Map<String, Value>,
    ) -> Result<FakeValidation, RzpError> {
        let account_number = string_field(&request, "account_number", true)?.unwrap_or_default();
        if account_number != self.config.account_number {
            return Err(bad_request(
                Some("account_number"),
                "The account number is invalid",
            ));
        }
        let fund_account_id = match request.get("fund_account") {
            Some(Value::Object(fund_account)) => {
                string_field(fund_account, "id", true)?.unwrap_or_default()
            }
            None | Some(Value::Null) => {
                return Err(bad_request(
                    Some("fund_account"),
                    "The fund account field is required.",
                ))
            }
            Some(_) => {
                return Err(bad_request(
                    Some("fund_account"),
                    "The fund account must be an object.",
                ))
            }
        };
        let Some(fund_account) = self
            .ledger
            .fund_accounts
            .iter()
            .find(|fa| fa.id == fund_account_id)
            .cloned()
        else {
            return Err(bad_request(Some("id"), "The id provided does not exist"));
        };
        let penny_drop = fund_account.account_type == "bank_account";
        let (amount, currency) = if penny_drop {
            let amount = match request.get("amount") {
                None | Some(Value::Null) => Some(100),
                Some(Value::Number(number)) => number.as_u64().filter(|amount| *amount >= 100),
                Some(_) => None,
            }
            .ok_or_else(|| {
                bad_request(
                    Some("amount"),
                    "The amount must be an integer of at least 100 paise.",
                )
            })?;
            match string_field(&request, "currency", false)? {
                None | Some("INR") => {}
                Some(_) => return Err(bad_request(Some("currency"), "The currency must be INR.")),
            }
            (Some(amount), Some("INR".to_owned()))
        } else {
            // A VPA is checked with NPCI: no amount, no money moves (RazorpayX FAQ).
            (None, None)
        };
        let notes = request.get("notes").cloned().unwrap_or_else(|| json!({}));
        if notes.as_object().is_some_and(|notes| notes.len() > 15) {
            return Err(bad_request(Some("notes"), "Too many notes: at most 15."));
        }
        if let Some(amount) = amount {
            if amount > self.ledger.balance {
                return Err(RzpError {
                    status: StatusCode::BAD_REQUEST,
                    code: "BAD_REQUEST_ERROR",
                    description: "Your account does not have enough balance to carry out the \
                                  validation."
                        .to_owned(),
                    field: None,
                    reason: "insufficient_funds",
                });
            }
        }
        // The name the bank holds the account under is the one it was saved with (in
        // capitals, as banks return names): the bank account's, or for a VPA its
        // contact's.
        let saved_name = match &fund_account.bank_account {
            Some(bank) => bank["name"].as_str().unwrap_or_default().to_owned(),
            None => self
                .ledger
                .contacts
                .iter()
                .find(|contact| contact.id == fund_account.contact_id)
                .map(|contact| contact.name.clone())
                .unwrap_or_default(),
        };
        let faults = self.ledger.validation_faults;
        let fate = if self.roll(faults.technical_failure) {
            ValidationFate::Failed {
                reason: "beneficiary_bank_timeout".to_owned(),
            }
        } else if self.roll(faults.invalid_account) {
            ValidationFate::Invalid
        } else if self.roll(faults.name_mismatch) {
            let saved = saved_name.to_uppercase();
            let others: Vec<&str> = OTHER_NAMES
                .iter()
                .copied()
                .filter(|name| *name != saved)
                .collect();
            let registered_name = others[self.rng.random_range(0..others.len())].to_owned();
            ValidationFate::Active { registered_name }
        } else {
            ValidationFate::Active {
                registered_name: saved_name.to_uppercase(),
            }
        };
        let id = self.next_id("fav");
        if let Some(amount) = amount {
            // The penny goes out now, on the statement.
            self.debit(amount, validation_source(&id, amount), unix_now());
        }
        let delay = i64::try_from(self.config.settle_after.as_millis()).unwrap_or(i64::MAX);
        Ok(FakeValidation {
            id,
            entity: "fund_account.validation".to_owned(),
            fund_account: json!(fund_account),
            status: "created".to_owned(),
            amount,
            currency,
            notes,
            results: json!({"account_status": null, "registered_name": null}),
            status_details: None,
            created_at: unix_now(),
            utr: None,
            complete_at_ms: Some(now_ms().saturating_add(delay)),
            fate,
            debited: amount.is_some(),
        })
    }
}

/// Settles the validations whose time has come, oldest first, and sends their
/// webhooks.
pub(super) fn settle_validations(fake: &mut Fake, now: i64) -> bool {
    let mut changed = false;
    let mut validations = std::mem::take(&mut fake.ledger.validations);
    for validation in validations.iter_mut() {
        if validation.status != "created" || validation.complete_at_ms.is_none_or(|at| at > now) {
            continue;
        }
        if validation.settle(&mut fake.rng) {
            let amount = validation.amount.unwrap_or_default();
            fake.credit(
                amount,
                validation_source(&validation.id, amount),
                unix_now(),
            );
            validation.debited = false;
        }
        fake.emit_validation(validation.public());
        changed = true;
    }
    fake.ledger.validations = validations;
    changed
}

pub(super) async fn fetch_validation(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let validation = fake
        .ledger
        .validations
        .iter()
        .find(|validation| validation.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    Ok(Json(validation.public()).into_response())
}

/// `GET /v1/fund_accounts/validations?account_number=&from=&to=&count=&skip=`, newest
/// first, as RazorpayX lists them.
pub(super) async fn list_validations(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    our_account_number(&fake, &query)?;
    let number = |name: &str| -> Result<Option<i64>, RzpError> {
        query
            .get(name)
            .map(|text| {
                text.parse()
                    .map_err(|_| bad_request(Some(name), format!("The {name} must be an integer.")))
            })
            .transpose()
    };
    let count = number("count")?.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(bad_request(
            Some("count"),
            "The count must be between 1 and 100.",
        ));
    }
    let skip = usize::try_from(number("skip")?.unwrap_or(0))
        .map_err(|_| bad_request(Some("skip"), "The skip must be at least 0."))?;
    let (from, to) = (number("from")?, number("to")?);
    let items: Vec<Value> = fake
        .ledger
        .validations
        .iter()
        .rev()
        .filter(|v| from.is_none_or(|from| v.created_at >= from))
        .filter(|v| to.is_none_or(|to| v.created_at <= to))
        .skip(skip)
        .take(usize::try_from(count).unwrap_or(10))
        .map(FakeValidation::public)
        .collect();
    collection(items)
}
