//! Where a user is paid: one payout account per user, a bank account (IFSC + account
//! number) or a UPI address, validated as RazorpayX validates fund accounts
//! (reference §1.8) so that a bad account is refused when it is saved, not when money
//! is on its way.
//!
//! The full account number and VPA are stored (the gateway needs them) but never
//! shown: every response, log line and error carries the masked form only, and
//! `Debug` masks too, so a stray `{:?}` cannot leak one.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::info;

use crate::auth::Actor;
use crate::error::{Error, Result};
use crate::gateway::BeneficiaryIds;
use crate::payout::PayoutStatus;
use crate::process::send_round_again;
use crate::store::{keys, PayoutIndex, Store};
use crate::time::Timestamp;

/// Where the money goes. Fund accounts are immutable at RazorpayX, so a change is a
/// new account (a new `revision`) and a new fund account on the next payout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Destination {
    BankAccount {
        ifsc: String,
        account_number: String,
    },
    Vpa {
        address: String,
    },
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::BankAccount { .. } => "bank_account",
            Destination::Vpa { .. } => "vpa",
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::BankAccount {
                ifsc,
                account_number,
            } => f
                .debug_struct("BankAccount")
                .field("ifsc", ifsc)
                .field("account_number", &mask_account_number(account_number))
                .finish(),
            Destination::Vpa { address } => f
                .debug_struct("Vpa")
                .field("address", &mask_vpa(address))
                .finish(),
        }
    }
}

/// A user's payout account as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAccount {
    pub user_id: u64,
    /// The beneficiary's name as the bank knows it.
    pub name: String,
    #[serde(flatten)]
    pub destination: Destination,
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
}

/// What a user may set: the account without its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayoutAccount {
    pub name: String,
    pub destination: Destination,
    pub email: Option<String>,
}

/// The account as shown: masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaskedPayoutAccount {
    pub user_id: u64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifsc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub email: Option<String>,
    pub updated_at: Timestamp,
}

impl PayoutAccount {
    pub fn masked(&self) -> MaskedPayoutAccount {
        let (ifsc, account_number, address) = match &self.destination {
            Destination::BankAccount {
                ifsc,
                account_number,
            } => (
                Some(ifsc.clone()),
                Some(mask_account_number(account_number)),
                None,
            ),
            Destination::Vpa { address } => (None, None, Some(mask_vpa(address))),
        };
        MaskedPayoutAccount {
            user_id: self.user_id,
            kind: self.destination.kind(),
            name: self.name.clone(),
            ifsc,
            account_number,
            address,
            email: self.email.clone(),
            updated_at: self.updated_at,
        }
    }
}

/// All but the last four characters become `X`, keeping the length, as banks print it.
pub fn mask_account_number(number: &str) -> String {
    let count = number.chars().count();
    number
        .chars()
        .enumerate()
        .map(|(index, ch)| if index + 4 < count { 'X' } else { ch })
        .collect()
}

/// The first two characters of the handle's user part, then `***@handle`.
pub fn mask_vpa(address: &str) -> String {
    let (user, handle) = address.split_once('@').unwrap_or((address, ""));
    let shown: String = user.chars().take(2).collect();
    format!("{shown}***@{handle}")
}

/// A refused field: `invalid_payout_account` with the field named.
fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidPayoutAccount {
        field,
        message: message.into(),
    }
}

/// Parses and validates a `PUT /me/payout-account` body. Every rule is RazorpayX's for
/// fund accounts and contacts, so a saved account is one the gateway will take.
pub fn parse_new_account(body: &Map<String, Value>) -> Result<NewPayoutAccount> {
    let text = |field: &'static str| -> Result<Option<&str>> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(invalid(field, format!("{field} must be a string"))),
        }
    };
    let required = |field: &'static str| -> Result<&str> {
        text(field)?.ok_or_else(|| invalid(field, format!("{field} is required")))
    };
    let kind = required("type")?;
    let allowed: &[&str] = match kind {
        "bank_account" => &["type", "name", "ifsc", "account_number", "email"],
        "vpa" => &["type", "name", "address", "email"],
        _ => return Err(invalid("type", "type must be `bank_account` or `vpa`")),
    };
    if let Some(unknown) = body.keys().find(|key| !allowed.contains(&key.as_str())) {
        let field = ["ifsc", "account_number", "address", "name", "email", "type"]
            .into_iter()
            .find(|field| field == unknown)
            .unwrap_or("body");
        return Err(invalid(
            field,
            format!("unknown field `{}` for a {kind}", truncate(unknown)),
        ));
    }

    let name = required("name")?;
    check_name(name)?;
    let destination = if kind == "bank_account" {
        let ifsc = required("ifsc")?;
        check_ifsc(ifsc)?;
        let account_number = required("account_number")?;
        check_account_number(account_number)?;
        Destination::BankAccount {
            ifsc: ifsc.to_owned(),
            account_number: account_number.to_owned(),
        }
    } else {
        let address = required("address")?;
        check_vpa(address)?;
        Destination::Vpa {
            address: address.to_owned(),
        }
    };
    let email = text("email")?;
    if let Some(email) = email {
        check_email(email)?;
    }
    Ok(NewPayoutAccount {
        name: name.to_owned(),
        destination,
        email: email.map(str::to_owned),
    })
}

/// 3–50 characters of letters, digits, space and `’ ' - _ / ( ) . ,`, starting with a
/// letter or digit and ending with one or `.` (RazorpayX's name rule).
fn check_name(name: &str) -> Result<()> {
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || " ’'-_/().,".contains(ch);
    let count = name.chars().count();
    if !(3..=50).contains(&count) {
        return Err(invalid("name", "name must be 3 to 50 characters"));
    }
    if !name.chars().all(allowed) {
        return Err(invalid(
            "name",
            "name may contain letters, digits, spaces and ’ ' - _ / ( ) . , only",
        ));
    }
    let ends_badly = name
        .chars()
        .last()
        .is_some_and(|last| !last.is_ascii_alphanumeric() && last != '.');
    let starts_badly = !name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    if starts_badly || ends_badly {
        return Err(invalid(
            "name",
            "name must start with a letter or digit and end with one or `.`",
        ));
    }
    Ok(())
}

/// Exactly 11 characters: four letters, a zero, six letters or digits.
fn check_ifsc(ifsc: &str) -> Result<()> {
    let bytes = ifsc.as_bytes();
    let valid = bytes.len() == 11
        && bytes[..4].iter().all(u8::is_ascii_uppercase)
        && bytes[4] == b'0'
        && bytes[5..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "ifsc",
            "ifsc must be 11 characters: 4 capital letters, 0, then 6 capital letters or digits",
        ))
    }
}

fn check_account_number(number: &str) -> Result<()> {
    if (5..=35).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        // The number itself is never echoed, not even in an error.
        Err(invalid(
            "account_number",
            "account_number must be 5 to 35 letters or digits",
        ))
    }
}

/// 3–100 characters of letters, digits, `.` and `-`, with exactly one `@` between a
/// user part and a handle.
fn check_vpa(address: &str) -> Result<()> {
    let parts: Vec<&str> = address.split('@').collect();
    let valid = (3..=100).contains(&address.len())
        && parts.len() == 2
        && parts.iter().all(|part| !part.is_empty())
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "address",
            "address must be a UPI id: 3 to 100 letters, digits, `.` or `-` with exactly one `@`",
        ))
    }
}

fn check_email(email: &str) -> Result<()> {
    // `user@domain.tld`: printable ASCII, one `@`, a dot inside the domain.
    let valid = email.len() <= 254
        && email.matches('@').count() == 1
        && email.chars().all(|ch| ch.is_ascii_graphic())
        && email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.len() >= 3 && domain[1..domain.len() - 1].contains('.')
        });
    if valid {
        Ok(())
    } else {
        Err(invalid("email", "email must be an email address"))
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The `failure_reason` of a payout that had nowhere to go.
pub const PAYOUT_ACCOUNT_MISSING: &str = "payout_account_missing";
/// The `failure_reason` of a payout whose account the gateway would not register.
pub const PAYOUT_ACCOUNT_INVALID: &str = "payout_account_invalid";

impl Store {
    pub async fn payout_account(&self, user_id: u64) -> Result<Option<PayoutAccount>> {
        self.get(&keys::user_pk(user_id), keys::PAYOUT_ACCOUNT_SK)
            .await
    }

    /// The email on a user's payout account, read alone: `notify` may read no other
    /// attribute of the account (its IAM policy allows `email` only).
    pub async fn payout_account_email(&self, user_id: u64) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct EmailOnly {
            email: Option<String>,
        }
        let found: Option<EmailOnly> = self
            .get_attributes(&keys::user_pk(user_id), keys::PAYOUT_ACCOUNT_SK, &["email"])
            .await?;
        Ok(found.and_then(|account| account.email))
    }

    /// Remembers the gateway's ids for the account's `revision`; `false` if the user
    /// saved another account since (the ids belong to the old one).
    pub async fn remember_gateway_ids(
        &self,
        user_id: u64,
        revision: u64,
        ids: &BeneficiaryIds,
    ) -> Result<bool> {
        self.set_if_number(
            &keys::user_pk(user_id),
            keys::PAYOUT_ACCOUNT_SK,
            &[
                ("gateway_contact_id", &ids.contact_id),
                ("gateway_fund_account_id", &ids.fund_account_id),
            ],
            "revision",
            revision,
        )
        .await
    }
}

/// Saves the caller's own payout account (a new revision; gateway ids start afresh).
pub async fn save_payout_account(
    store: &Store,
    actor: &Actor,
    account: NewPayoutAccount,
) -> Result<PayoutAccount> {
    let saved = store
        .save_revision(
            &keys::user_pk(actor.user_id),
            keys::PAYOUT_ACCOUNT_SK,
            |revision, now| PayoutAccount {
                user_id: actor.user_id,
                name: account.name.clone(),
                destination: account.destination.clone(),
                email: account.email.clone(),
                revision,
                gateway_contact_id: None,
                gateway_fund_account_id: None,
                updated_at: now,
            },
        )
        .await?;
    let requeued = requeue_waiting_payouts(store, actor.user_id).await?;
    info!(
        event = "payout_account_saved",
        user_id = actor.user_id,
        account_type = saved.destination.kind(),
        revision = saved.revision,
        requeued,
        "payout account saved"
    );
    Ok(saved)
}

/// The user's payouts that failed for want of an account go back to the queue, each as
/// a new attempt (the failed one never reached the gateway), each a conditional write:
/// one changed meanwhile is left as it is.
async fn requeue_waiting_payouts(store: &Store, user_id: u64) -> Result<usize> {
    let mut requeued = 0;
    let mut start = None;
    loop {
        let page = store
            .query_payouts(&PayoutIndex::User(user_id), false, 100, start)
            .await?;
        for payout in page.payouts.iter().filter(|payout| {
            payout.status == PayoutStatus::Failed
                && matches!(
                    payout.failure_reason.as_deref(),
                    Some(PAYOUT_ACCOUNT_MISSING | PAYOUT_ACCOUNT_INVALID)
                )
        }) {
            // A payout that changed meanwhile, or used every attempt, is left as it is.
            match send_round_again(store, payout).await {
                Ok(_) => requeued += 1,
                Err(Error::InvalidTransition { .. } | Error::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(requeued),
        }
    }
}

/// The caller's own account, or (for an admin) any user's.
pub async fn payout_account_of(
    store: &Store,
    actor: &Actor,
    user_id: u64,
) -> Result<PayoutAccount> {
    actor.require_owner(user_id, "this payout account")?;
    store
        .payout_account(user_id)
        .await?
        .ok_or(Error::PayoutAccountMissing { user_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(bank.destination.kind(), "bank_account");
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
