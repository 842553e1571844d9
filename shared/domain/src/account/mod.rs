//! Where a user is paid: one payout account per user, a bank account (IFSC + account
//! number) or a UPI address, validated as RazorpayX validates fund accounts
//! (https://razorpay.com/docs/api/x/fund-accounts/) so that a bad account is refused when
//! it is saved, not when money is on its way.
//!
//! The account number and VPA are stored sealed (by `platform::vault`), only until the
//! gateway holds a fund account for them, and never shown: every response, log line
//! and error carries the masked form only, and `Debug` masks too, so a stray `{:?}`
//! cannot leak one.
//!
//! Its rooms: `destination` (a destination in full, stored and masked), `verification`
//! (the gateway's check and the processor's gate), `input` (a new account from a
//! request) and `view` (what its owner and an admin see); the account itself and its
//! history are here.

mod destination;
mod input;
mod verification;
mod view;

pub use destination::*;
pub use input::*;
pub use verification::*;
pub use view::*;

use serde::{Deserialize, Serialize};

pub use crate::payout::{PAYOUT_ACCOUNT_INVALID, PAYOUT_ACCOUNT_MISSING};
use crate::time::Timestamp;

/// The gateway's records of where a user is paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeneficiaryIds {
    pub contact_id: String,
    pub fund_account_id: String,
}

/// A user's payout account as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAccount {
    pub user_id: u64,
    /// The beneficiary's name as the bank knows it.
    pub name: String,
    #[serde(flatten)]
    pub destination: StoredDestination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Goes up by one with every save; the gateway ids below belong to this revision.
    pub revision: u64,
    /// The gateway's contact and fund account for this revision, created on the first
    /// payout after it was saved, then reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_fund_account_id: Option<String>,
    pub updated_at: Timestamp,
    /// Until when the processor sends none of the user's payouts: set by a save that
    /// changed the destination or the email of an account the user had already saved
    /// (`PAYOUT_ACCOUNT_HOLD_SECS`), cleared early by an admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<Timestamp>,
    /// The user id of whoever saved this revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<u64>,
    /// The admin who ended this revision's hold early, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ended_by: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ended_at: Option<Timestamp>,
    /// Whether the gateway has confirmed that this revision's destination exists and is
    /// the saved name's (`PAYOUT_ACCOUNT_VALIDATION`); absent until the processor first
    /// asks, and whenever validation is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

impl PayoutAccount {
    /// The hold in force at `now`, if any.
    pub fn hold_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.hold_until.filter(|until| *until > now)
    }

    /// This revision's check, when it is of `fund_account_id`.
    pub fn verification_of(&self, fund_account_id: &str) -> Option<&Verification> {
        self.verification
            .as_ref()
            .filter(|verification| verification.fund_account_id == fund_account_id)
    }

    /// Once the gateway holds a fund account for this destination, nothing reads the
    /// full number again: it is not kept.
    pub fn without_raw_once_registered(mut self) -> Self {
        if self.gateway_fund_account_id.is_some() {
            self.destination.sealed = None;
        }
        self
    }
}

/// What the history keeps of a saved revision: enough to tell the user (and support)
/// what was saved when, by whom, never the number itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRevision {
    pub user_id: u64,
    pub revision: u64,
    pub saved_at: Timestamp,
    pub saved_by: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifsc: Option<String>,
    /// The masked account number or VPA.
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The destination or the email differs from the revision before.
    pub changed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<Timestamp>,
    /// The admin who ended the hold early, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ended_by: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ended_at: Option<Timestamp>,
}

impl AccountRevision {
    pub fn of(account: &PayoutAccount, changed: bool) -> Self {
        let masked = account.masked();
        AccountRevision {
            user_id: account.user_id,
            revision: account.revision,
            saved_at: account.updated_at,
            saved_by: account.saved_by,
            kind: masked.kind.to_owned(),
            name: masked.name,
            ifsc: masked.ifsc,
            destination: masked.account_number.or(masked.address).unwrap_or_default(),
            email: account.email.as_deref().map(mask_email),
            changed,
            hold_until: account.hold_until,
            hold_ended_by: None,
            hold_ended_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, Result};
    use serde_json::{json, Value};

    fn parse(value: Value) -> Result<NewPayoutAccount> {
        parse_new_account(value.as_object().expect("an object"))
    }

    fn field_of(value: Value) -> &'static str {
        match parse(value) {
            Err(Error::InvalidPayoutAccount { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn masks_keep_only_what_identifies_the_account_to_its_owner() {
        assert_eq!(mask_account_number("765432123456789"), "XXXXXXXXXXX6789");
        assert_eq!(mask_account_number("1234"), "1234");
        assert_eq!(mask_vpa("asha@okhdfc"), "as***@okhdfc");
        let destination = Destination::BankAccount {
            ifsc: "HDFC0000053".to_owned(),
            account_number: "765432123456789".to_owned(),
        };
        let debug = format!("{destination:?}");
        assert!(!debug.contains("765432123456789"), "{debug}");
        assert!(debug.contains("XXXXXXXXXXX6789"), "{debug}");
    }

    #[test]
    fn valid_accounts_parse() {
        let bank = parse(
            json!({"type": "bank_account", "name": "Asha Rao", "ifsc": "HDFC0000053",
            "account_number": "765432123456789", "email": "asha@example.com"}),
        )
        .unwrap();
        assert_eq!(bank.destination.kind(), DestinationKind::BankAccount);
        let vpa =
            parse(json!({"type": "vpa", "name": "Asha Rao", "address": "asha@okhdfc"})).unwrap();
        assert_eq!(vpa.email, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let bank = |field: &str, value: Value| {
            let mut body = json!({"type": "bank_account", "name": "Asha Rao",
                "ifsc": "HDFC0000053", "account_number": "765432123456789"});
            body[field] = value;
            body
        };
        let vpa = |field: &str, value: Value| {
            let mut body = json!({"type": "vpa", "name": "Asha Rao", "address": "asha@okhdfc"});
            body[field] = value;
            body
        };
        for (body, field) in [
            (bank("type", json!("wallet")), "type"),
            (bank("type", json!(7)), "type"),
            (bank("name", json!("As")), "name"),
            (bank("name", json!("A".repeat(51))), "name"),
            (bank("name", json!("Asha <script>")), "name"),
            (bank("name", json!("Asha Rao-")), "name"),
            (bank("name", json!("Mrs.")), "name"),
            (bank("name", json!("Dr Smt")), "name"),
            (bank("ifsc", json!("HDFC000053")), "ifsc"),
            (bank("ifsc", json!("hdfc0000053")), "ifsc"),
            (bank("ifsc", json!("HDFC1000053")), "ifsc"),
            (bank("account_number", json!("1234")), "account_number"),
            (
                bank("account_number", json!("1".repeat(36))),
                "account_number",
            ),
            (bank("account_number", json!("7654-3212")), "account_number"),
            (
                bank("account_number", json!(765432123456789u64)),
                "account_number",
            ),
            (bank("email", json!("not-an-email")), "email"),
            (bank("address", json!("asha@okhdfc")), "address"),
            (vpa("address", json!("ashaokhdfc")), "address"),
            (vpa("address", json!("a@b@c")), "address"),
            (vpa("address", json!("as ha@ok")), "address"),
            (vpa("address", json!("@okhdfc")), "address"),
            (vpa("ifsc", json!("HDFC0000053")), "ifsc"),
            (vpa("nickname", json!("x")), "body"),
        ] {
            assert_eq!(field_of(body.clone()), field, "{body}");
        }
        let missing = json!({"type": "bank_account", "name": "Asha Rao", "ifsc": "HDFC0000053"});
        assert_eq!(field_of(missing), "account_number");
    }

    #[test]
    fn a_refused_account_number_is_not_echoed() {
        let body = json!({"type": "bank_account", "name": "Asha Rao", "ifsc": "HDFC0000053",
            "account_number": "7654321234567890123456789012345678901"});
        let err = parse(body).unwrap_err();
        assert!(!err.to_string().contains("76543212345678"), "{err}");
    }
}
