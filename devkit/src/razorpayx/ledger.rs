//! The local RazorpayX's books: contacts, fund accounts, payouts, validations, the
//! business balance and its account statement, as they are kept in its state file, and
//! each record's public view.

use rand::rngs::StdRng;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::{Faults, ValidationFaults};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Contact {
    pub(super) id: String,
    pub(super) entity: String,
    pub(super) name: String,
    pub(super) email: Option<String>,
    pub(super) contact: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) reference_id: Option<String>,
    pub(super) batch_id: Option<String>,
    pub(super) active: bool,
    pub(super) notes: Value,
    pub(super) created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct FundAccount {
    pub(super) id: String,
    pub(super) entity: String,
    pub(super) contact_id: String,
    pub(super) account_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bank_account: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) vpa: Option<Value>,
    pub(super) batch_id: Option<String>,
    pub(super) active: bool,
    pub(super) created_at: i64,
}

/// What a payout will become when it settles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub(super) enum Fate {
    Processed,
    Failed { reason: String },
    Reversed { reason: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct FakePayout {
    pub(super) id: String,
    pub(super) entity: String,
    pub(super) fund_account_id: String,
    pub(super) amount: u64,
    pub(super) currency: String,
    pub(super) notes: Value,
    pub(super) fees: u64,
    pub(super) tax: u64,
    pub(super) status: String,
    pub(super) utr: Option<String>,
    pub(super) mode: String,
    pub(super) purpose: String,
    pub(super) reference_id: Option<String>,
    pub(super) narration: Option<String>,
    pub(super) batch_id: Option<String>,
    pub(super) status_details: Option<Value>,
    pub(super) created_at: i64,
    // The fake's own bookkeeping, never shown on the public API.
    pub(super) idempotency_key: String,
    pub(super) request_body: Value,
    pub(super) settle_at_ms: Option<i64>,
    pub(super) fate: Fate,
    pub(super) debited: bool,
}

const PRIVATE_FIELDS: [&str; 5] = [
    "idempotency_key",
    "request_body",
    "settle_at_ms",
    "fate",
    "debited",
];

impl FakePayout {
    /// The payout entity as RazorpayX returns it.
    pub(super) fn public(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            for field in PRIVATE_FIELDS {
                object.remove(field);
            }
        }
        value
    }

    pub(super) fn set_status(&mut self, status: &str, reason: Option<&str>) {
        self.status = status.to_owned();
        self.status_details = Some(status_details(status, reason));
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Ledger {
    pub(super) balance: u64,
    pub(super) contacts: Vec<Contact>,
    pub(super) fund_accounts: Vec<FundAccount>,
    pub(super) payouts: Vec<FakePayout>,
    pub(super) sequence: u64,
    pub(super) faults: Faults,
    // Defaulted: a state file written before validations existed still loads.
    #[serde(default)]
    pub(super) validations: Vec<FakeValidation>,
    #[serde(default)]
    pub(super) validation_faults: ValidationFaults,
    /// The account statement, oldest first (by `created_at`, stable); defaulted, so a
    /// state file written before the statement existed still loads (with none).
    #[serde(default)]
    pub(super) transactions: Vec<FakeTransaction>,
    /// The statement's own ids' sequence, apart from `sequence`.
    #[serde(default)]
    pub(super) statement_sequence: u64,
}

/// One line of the account statement, a `transaction` entity exactly as RazorpayX
/// shows it (https://razorpay.com/docs/api/x/transactions/): `amount` is the line's
/// money (its `debit` or its `credit`, the other 0), `balance` the business balance
/// right after it, `source` what moved the money as it was at that moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct FakeTransaction {
    pub(super) id: String,
    pub(super) entity: String,
    pub(super) account_number: String,
    pub(super) amount: u64,
    pub(super) currency: String,
    pub(super) credit: u64,
    pub(super) debit: u64,
    pub(super) balance: u64,
    pub(super) source: Value,
    pub(super) created_at: i64,
}

impl FakeTransaction {
    pub(super) fn public(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Whether the line is about payout `id`: its debit (or another line with the
    /// payout as source) or the reversal of its money.
    pub(super) fn concerns_payout(&self, id: &str) -> bool {
        self.source["id"] == id || self.source["payout_id"] == id
    }
}

/// What a validation will come to when it settles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub(super) enum ValidationFate {
    Active { registered_name: String },
    Invalid,
    Failed { reason: String },
}

/// A `fund_account.validation` entity in the shape RazorpayX documents for the
/// validation of an existing fund account (`results` {account_status,
/// registered_name}), plus the fake's own bookkeeping.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct FakeValidation {
    pub(super) id: String,
    pub(super) entity: String,
    pub(super) fund_account: Value,
    pub(super) status: String,
    pub(super) amount: Option<u64>,
    pub(super) currency: Option<String>,
    pub(super) notes: Value,
    pub(super) results: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_details: Option<Value>,
    pub(super) created_at: i64,
    pub(super) utr: Option<String>,
    // The fake's own bookkeeping, never shown on the public API.
    pub(super) complete_at_ms: Option<i64>,
    pub(super) fate: ValidationFate,
    pub(super) debited: bool,
}

const VALIDATION_PRIVATE_FIELDS: [&str; 3] = ["complete_at_ms", "fate", "debited"];

impl FakeValidation {
    pub(super) fn public(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            for field in VALIDATION_PRIVATE_FIELDS {
                object.remove(field);
            }
        }
        value
    }

    /// Settles it as its fate says; true when the penny is to go back.
    pub(super) fn settle(&mut self, rng: &mut StdRng) -> bool {
        self.complete_at_ms = None;
        match self.fate.clone() {
            ValidationFate::Active { registered_name } => {
                self.status = "completed".to_owned();
                self.results =
                    json!({"account_status": "active", "registered_name": registered_name});
                // Only a penny drop has a bank reference; a VPA's check moves no money.
                if self.amount.is_some() {
                    self.utr = Some(utr(rng));
                }
                false
            }
            ValidationFate::Invalid => {
                self.status = "completed".to_owned();
                self.results = json!({"account_status": "invalid", "registered_name": null});
                // The bank sent the penny back.
                self.debited
            }
            ValidationFate::Failed { reason } => {
                self.status = "failed".to_owned();
                self.status_details = Some(json!({
                    "reason": reason,
                    "source": "beneficiary_bank",
                    "description": "The validation could not be completed as the beneficiary bank did not respond.",
                }));
                // RazorpayX reverses its charges for a failed validation (FAQ).
                self.debited
            }
        }
    }
}

pub(super) fn status_details(status: &str, reason: Option<&str>) -> Value {
    let (reason, source, description) = match (status, reason) {
        ("processed", _) => ("payout_processed", "beneficiary_bank", "Payout is processed and the money has been credited into the beneficiary account.".to_owned()),
        ("queued", Some("low_balance")) => ("low_balance", "business", "Payout is queued as there is insufficient balance in your business account to process the payout".to_owned()),
        ("failed", Some("insufficient_funds")) => ("insufficient_funds", "business", "Payout failed as there is insufficient balance in your business account.".to_owned()),
        ("processing", _) => ("payout_bank_processing", "beneficiary_bank", "Payout is being processed by the beneficiary bank.".to_owned()),
        ("cancelled", _) => ("payout_cancelled", "business", "Payout was cancelled.".to_owned()),
        (_, Some(reason)) => (reason, "beneficiary_bank", format!("Payout {status}: {}.", reason.replace('_', " "))),
        (_, None) => ("server_error", "internal", format!("Payout {status}.")),
    };
    json!({"reason": reason, "source": source, "description": description})
}

pub(super) fn utr(rng: &mut StdRng) -> String {
    format!("{:012}", rng.random_range(0..1_000_000_000_000u64))
}
