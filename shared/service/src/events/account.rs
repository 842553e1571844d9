//! `payout_account.changed`: a user's payout account now sends their money somewhere
//! else, or its emails to another address. The user is told at both addresses (issue
//! 21), and the address they had before is gone from the table once the save commits,
//! so the event carries it: unlike payout events, this one holds personal data (email
//! addresses), though never the account number or UPI address, which are masked.

use std::fmt;

use aws_lambda_events::dynamodb::EventRecord;
use serde::{Deserialize, Serialize};

pub use domain::account::DestinationKind;
use domain::account::{mask_account_number, mask_vpa, Destination, StoredDestination};
use domain::error::{Error, Result};
use domain::time::Timestamp;
use store::keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountEventType {
    #[serde(rename = "payout_account.changed")]
    Changed,
}

impl AccountEventType {
    pub const ALL: [AccountEventType; 1] = [AccountEventType::Changed];

    /// The event's `DetailType`.
    pub fn detail_type(self) -> &'static str {
        match self {
            AccountEventType::Changed => "payout_account.changed",
        }
    }

    pub fn from_detail_type(text: &str) -> Option<Self> {
        AccountEventType::ALL
            .into_iter()
            .find(|kind| kind.detail_type() == text)
    }
}

/// Where the money goes, as the user may be shown it: the same fields and masks as
/// `GET /me/payout-account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedDestination {
    #[serde(rename = "type")]
    pub kind: DestinationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifsc: Option<String>,
    /// Masked: all but the last four characters are `X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    /// Masked: `as***@handle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl MaskedDestination {
    /// As an account stores it: already masked.
    pub fn of_stored(destination: &StoredDestination) -> Self {
        let (account_number, address) = match destination.kind {
            DestinationKind::BankAccount => (Some(destination.masked.clone()), None),
            DestinationKind::Vpa => (None, Some(destination.masked.clone())),
        };
        MaskedDestination {
            kind: destination.kind,
            ifsc: destination.ifsc.clone(),
            account_number,
            address,
        }
    }

    pub fn of(destination: &Destination) -> Self {
        match destination {
            Destination::BankAccount {
                ifsc,
                account_number,
            } => MaskedDestination {
                kind: DestinationKind::BankAccount,
                ifsc: Some(ifsc.clone()),
                account_number: Some(mask_account_number(account_number)),
                address: None,
            },
            Destination::Vpa { address } => MaskedDestination {
                kind: DestinationKind::Vpa,
                ifsc: None,
                account_number: None,
                address: Some(mask_vpa(address)),
            },
        }
    }

    /// `bank account XXXXXXXX9012 (IFSC HDFC0001234)` or `UPI ID as***@okhdfc`.
    pub fn in_words(&self) -> String {
        let unknown = || "(not shown)".to_owned();
        match self.kind {
            DestinationKind::BankAccount => {
                let number = self.account_number.clone().unwrap_or_else(unknown);
                match &self.ifsc {
                    Some(ifsc) => format!("bank account {number} (IFSC {ifsc})"),
                    None => format!("bank account {number}"),
                }
            }
            DestinationKind::Vpa => {
                format!("UPI ID {}", self.address.clone().unwrap_or_else(unknown))
            }
        }
    }
}

/// The `Detail` of `payout_account.changed`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAccountChanged {
    /// `<user_id>:<revision>:payout_account.changed`: the same save read again has the
    /// same id. **Deduplicate on it.**
    pub event_id: String,
    pub event_type: AccountEventType,
    pub user_id: u64,
    /// The account's revision after the save.
    pub revision: u64,
    /// When the save was written (the new `updated_at`; also the event's `Time`).
    pub changed_at: Timestamp,
    /// Whether the money now goes elsewhere. Two numbers can mask alike, so this, not
    /// a comparison of the masks, says whether it changed.
    pub destination_changed: bool,
    pub email_changed: bool,
    pub previous_destination: MaskedDestination,
    pub new_destination: MaskedDestination,
    pub previous_email: Option<String>,
    pub new_email: Option<String>,
    /// Until when the user's payouts wait, when the save put them on hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<Timestamp>,
}

/// Email addresses are personal data: a stray `{:?}` in a log line shows them masked.
impl fmt::Debug for PayoutAccountChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let email = |email: &Option<String>| email.as_deref().map(mask_email);
        f.debug_struct("PayoutAccountChanged")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("user_id", &self.user_id)
            .field("revision", &self.revision)
            .field("changed_at", &self.changed_at)
            .field("destination_changed", &self.destination_changed)
            .field("email_changed", &self.email_changed)
            .field("previous_destination", &self.previous_destination)
            .field("new_destination", &self.new_destination)
            .field("previous_email", &email(&self.previous_email))
            .field("new_email", &email(&self.new_email))
            .field("hold_until", &self.hold_until)
            .finish()
    }
}

/// `as***@example.com`, for `Debug` only.
fn mask_email(email: &str) -> String {
    mask_vpa(email)
}

impl PayoutAccountChanged {
    pub fn detail_type(&self) -> &'static str {
        self.event_type.detail_type()
    }
}

pub fn event_id(user_id: u64, revision: u64) -> String {
    format!(
        "{user_id}:{revision}:{}",
        AccountEventType::Changed.detail_type()
    )
}

/// What the event needs of an account image, read on its own rather than as a whole
/// `PayoutAccount`: an attribute the account gains later (and older items lack) must not
/// make a record unreadable, which would stop the stream's batch.
#[derive(Deserialize)]
struct AccountImage {
    user_id: u64,
    revision: u64,
    #[serde(flatten)]
    destination: StoredDestination,
    #[serde(default)]
    email: Option<String>,
    updated_at: Timestamp,
    #[serde(default)]
    hold_until: Option<Timestamp>,
}

/// Whether the stream record is of a user's payout account itself (not its history or
/// any other item under the user).
pub fn is_account_record(record: &EventRecord) -> bool {
    super::item_key(record).is_ok_and(|key| {
        (key.sk == keys::ACCOUNT_SK && key.pk.starts_with("ACCOUNT#"))
                // Where accounts were kept before they had a key space of their own: a
                // change made there (by a version still rolling out, or read late from
                // the stream) is still news.
                || (key.sk == keys::LEGACY_ACCOUNT_SK && key.pk.starts_with("USER#"))
    })
}

/// The event a stream record of a payout account stands for: `Ok(None)` for other
/// items, for the first save (nothing to compare it with), and for writes that left the
/// destination and the email as they were (a new name, the gateway's ids, a hold lifted).
/// An error means an account record that cannot be read: the publisher stops there, as
/// for a payout, since the user must not go unwarned.
pub fn event_for_record(record: &EventRecord) -> Result<Option<PayoutAccountChanged>> {
    if !is_account_record(record) {
        return Ok(None);
    }
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY")
        || record.change.old_image.is_empty()
    {
        return Ok(None);
    }
    let unreadable = |what: &str, error: serde_dynamo::Error| {
        Error::unreadable(format!(
            "stream record {}: payout account {what}: {}",
            record.change.sequence_number.as_deref().unwrap_or("?"),
            reason_without_values(&error)
        ))
    };
    let before: AccountImage = serde_dynamo::from_item(record.change.old_image.clone())
        .map_err(|error| unreadable("old image", error))?;
    let after: AccountImage = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|error| unreadable("new image (is the stream NEW_AND_OLD_IMAGES?)", error))?;

    // A destination sealed in place (saved before destinations were sealed) keeps its
    // revision and its masked form, and cannot be compared by fingerprint with the plain
    // one it was: that is no change. Anything else that differs is announced, a write
    // that kept the revision included (none of ours changes a destination without one).
    let sealed_in_place = after.revision == before.revision
        && before.destination.legacy().is_some() != after.destination.legacy().is_some()
        && before.destination.kind == after.destination.kind
        && before.destination.ifsc == after.destination.ifsc
        && before.destination.masked == after.destination.masked;
    let destination_changed = !sealed_in_place && !before.destination.same_as(&after.destination);
    let email_changed = before.email != after.email;
    if !destination_changed && !email_changed {
        return Ok(None);
    }
    // A write that did not move the revision cannot be told from another by it: the
    // stream record's own id, the same on every read of it, stands in.
    let event_id = if after.revision > before.revision {
        event_id(after.user_id, after.revision)
    } else {
        format!(
            "{}:record-{}:{}",
            after.user_id,
            record.event_id,
            AccountEventType::Changed.detail_type()
        )
    };
    Ok(Some(PayoutAccountChanged {
        event_id,
        event_type: AccountEventType::Changed,
        user_id: after.user_id,
        revision: after.revision,
        changed_at: after.updated_at,
        destination_changed,
        email_changed,
        previous_destination: MaskedDestination::of_stored(&before.destination),
        new_destination: MaskedDestination::of_stored(&after.destination),
        previous_email: before.email,
        new_email: after.email,
        hold_until: after.hold_until,
    }))
}

/// A serde error quotes the value it could not read ("invalid type: integer
/// `765432123456789`, expected a string"), which here could be an account number: only
/// a missing attribute, which quotes its name, is told as it is.
fn reason_without_values(error: &serde_dynamo::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") {
        text
    } else {
        "an attribute of an unexpected type or value".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_masked_and_read_in_words() {
        let bank = MaskedDestination::of(&Destination::BankAccount {
            ifsc: "HDFC0001234".to_owned(),
            account_number: "000123456789012".to_owned(),
        });
        assert_eq!(bank.account_number.as_deref(), Some("XXXXXXXXXXX9012"));
        assert_eq!(
            bank.in_words(),
            "bank account XXXXXXXXXXX9012 (IFSC HDFC0001234)"
        );
        let vpa = MaskedDestination::of(&Destination::Vpa {
            address: "asha.rao@okhdfc".to_owned(),
        });
        assert_eq!(vpa.in_words(), "UPI ID as***@okhdfc");
        assert_eq!(
            serde_json::to_value(&vpa).unwrap(),
            serde_json::json!({"type": "vpa", "address": "as***@okhdfc"})
        );
    }

    #[test]
    fn debug_masks_the_email_addresses() {
        let event = PayoutAccountChanged {
            event_id: event_id(7, 2),
            event_type: AccountEventType::Changed,
            user_id: 7,
            revision: 2,
            changed_at: Timestamp::from_millis(0),
            destination_changed: false,
            email_changed: true,
            previous_destination: MaskedDestination::of(&Destination::Vpa {
                address: "asha@okhdfc".to_owned(),
            }),
            new_destination: MaskedDestination::of(&Destination::Vpa {
                address: "asha@okhdfc".to_owned(),
            }),
            previous_email: Some("asha.rao@example.com".to_owned()),
            new_email: Some("someone.else@example.net".to_owned()),
            hold_until: None,
        };
        let debug = format!("{event:?} {event:#?}");
        assert!(!debug.contains("asha.rao@example.com"), "{debug}");
        assert!(!debug.contains("someone.else@"), "{debug}");
        assert!(debug.contains("so***@example.net"), "{debug}");
        assert_eq!(event.event_id, "7:2:payout_account.changed");
    }
}
