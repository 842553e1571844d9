//! `POST /v1/contacts` and `POST /v1/fund_accounts`: who is paid and where, validated
//! as RazorpayX documents, and found again when the same one is created twice.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::clock::unix_now;
use super::errors::{authenticate, bad_request, lock, parse_body, string_field, Reply};
use super::fake::Shared;
use super::ledger::{Contact, FundAccount};

pub(super) async fn create_contact(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let body = parse_body(&body)?;
    let name = string_field(&body, "name", true)?.unwrap_or_default();
    if !(3..=50).contains(&name.chars().count()) {
        return Err(bad_request(
            Some("name"),
            "The name must be between 3 and 50 characters.",
        ));
    }
    let email = string_field(&body, "email", false)?;
    let phone = string_field(&body, "contact", false)?;
    let kind = string_field(&body, "type", false)?;
    if let Some(kind) = kind {
        if !["vendor", "customer", "employee", "self"].contains(&kind) {
            return Err(bad_request(
                Some("type"),
                "Invalid type: type must be one of vendor, customer, employee, self",
            ));
        }
    }
    let reference_id = string_field(&body, "reference_id", false)?;
    if reference_id.is_some_and(|reference| reference.len() > 40) {
        return Err(bad_request(
            Some("reference_id"),
            "The reference id may not be greater than 40 characters.",
        ));
    }
    let same = |contact: &&Contact| {
        contact.name == name
            && contact.email.as_deref() == email
            && contact.contact.as_deref() == phone
            && contact.kind.as_deref() == kind
            && contact.reference_id.as_deref() == reference_id
    };
    if let Some(existing) = fake.ledger.contacts.iter().find(same) {
        return Ok((StatusCode::OK, Json(json!(existing))).into_response());
    }
    let contact = Contact {
        id: fake.next_id("cont"),
        entity: "contact".to_owned(),
        name: name.to_owned(),
        email: email.map(str::to_owned),
        contact: phone.map(str::to_owned),
        kind: kind.map(str::to_owned),
        reference_id: reference_id.map(str::to_owned),
        batch_id: None,
        active: true,
        notes: body.get("notes").cloned().unwrap_or_else(|| json!({})),
        created_at: unix_now(),
    };
    fake.ledger.contacts.push(contact.clone());
    fake.persist();
    Ok((StatusCode::CREATED, Json(json!(contact))).into_response())
}

pub(super) async fn create_fund_account(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let body = parse_body(&body)?;
    let contact_id = string_field(&body, "contact_id", true)?.unwrap_or_default();
    if !fake.ledger.contacts.iter().any(|c| c.id == contact_id) {
        return Err(bad_request(
            Some("contact_id"),
            "The id provided does not exist",
        ));
    }
    let account_type = string_field(&body, "account_type", true)?.unwrap_or_default();
    let (bank_account, vpa) = match account_type {
        "bank_account" => {
            let Some(Value::Object(bank)) = body.get("bank_account") else {
                return Err(bad_request(
                    Some("bank_account"),
                    "The bank account field is required when account type is bank_account.",
                ));
            };
            let name = string_field(bank, "name", true)?.unwrap_or_default();
            let ifsc = string_field(bank, "ifsc", true)?.unwrap_or_default();
            let number = string_field(bank, "account_number", true)?.unwrap_or_default();
            if !(3..=120).contains(&name.chars().count()) {
                return Err(bad_request(
                    Some("name"),
                    "The name must be between 3 and 120 characters.",
                ));
            }
            if ifsc.len() != 11 {
                return Err(bad_request(Some("ifsc"), "The ifsc must be 11 characters."));
            }
            if !(5..=35).contains(&number.len())
                || !number.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(bad_request(
                    Some("account_number"),
                    "The account number must be between 5 and 35 alphanumeric characters.",
                ));
            }
            (
                Some(
                    json!({"ifsc": ifsc, "bank_name": bank_name(ifsc), "name": name,
                            "notes": [], "account_number": number}),
                ),
                None,
            )
        }
        "vpa" => {
            let Some(Value::Object(vpa)) = body.get("vpa") else {
                return Err(bad_request(
                    Some("vpa"),
                    "The vpa field is required when account type is vpa.",
                ));
            };
            let address = string_field(vpa, "address", true)?.unwrap_or_default();
            let valid = (3..=100).contains(&address.len())
                && address.matches('@').count() == 1
                && address
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@.-".contains(&b));
            if !valid {
                return Err(bad_request(Some("address"), "Invalid vpa address"));
            }
            let (username, handle) = address.split_once('@').unwrap_or((address, ""));
            (
                None,
                Some(json!({"username": username, "handle": handle, "address": address})),
            )
        }
        _ => {
            return Err(bad_request(
                Some("account_type"),
                "Invalid account type: must be bank_account or vpa",
            ))
        }
    };
    let same = |existing: &&FundAccount| {
        existing.contact_id == contact_id
            && existing.account_type == account_type
            && existing.bank_account == bank_account
            && existing.vpa.as_ref().map(|v| &v["address"]) == vpa.as_ref().map(|v| &v["address"])
    };
    if let Some(existing) = fake.ledger.fund_accounts.iter().find(same) {
        return Ok((StatusCode::OK, Json(json!(existing))).into_response());
    }
    let fund_account = FundAccount {
        id: fake.next_id("fa"),
        entity: "fund_account".to_owned(),
        contact_id: contact_id.to_owned(),
        account_type: account_type.to_owned(),
        bank_account,
        vpa,
        batch_id: None,
        active: true,
        created_at: unix_now(),
    };
    fake.ledger.fund_accounts.push(fund_account.clone());
    fake.persist();
    Ok((StatusCode::CREATED, Json(json!(fund_account))).into_response())
}

fn bank_name(ifsc: &str) -> &'static str {
    match ifsc.get(..4) {
        Some("HDFC") => "HDFC Bank",
        Some("ICIC") => "ICICI Bank",
        Some("SBIN") => "State Bank of India",
        Some("UTIB") => "Axis Bank",
        _ => "Local Test Bank",
    }
}
