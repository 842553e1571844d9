//! A new payout account as a request gives it, checked field by field as RazorpayX
//! checks fund accounts, so a bad account is refused when it is saved.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

use super::destination::Destination;

/// What a user may set: the account without its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayoutAccount {
    pub name: String,
    pub destination: Destination,
    pub email: Option<String>,
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
    // A name the bank's can be held to: titles alone ("Mrs.") would match anyone's.
    if crate::names::normalised_name(name).is_empty() {
        return Err(invalid(
            "name",
            "name must be the account holder's name, not only a title",
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
