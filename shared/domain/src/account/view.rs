//! A payout account as its owner and an admin see it: masked, with its hold and its
//! verification.

use serde::Serialize;

use crate::time::Timestamp;

use super::destination::DestinationKind;
use super::verification::{VerificationFailure, VerificationStatus};
use super::PayoutAccount;

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
    pub revision: u64,
    pub updated_at: Timestamp,
    /// Until when the user's payouts wait after a change of account (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<Timestamp>,
    /// The admin who ended this revision's hold early, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ended_by: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ended_at: Option<Timestamp>,
    /// The check of this destination, when validation is on (docs/RAZORPAYX.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationView>,
}

/// A verification as shown to the account's owner and to admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerificationView {
    pub status: VerificationStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_matches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<VerificationFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
}

impl PayoutAccount {
    /// Masked, with its verification as shown when `validating` (with validation off a
    /// stored one is history and says nothing about payouts, so it is not shown; one
    /// not asked for yet shows as pending).
    pub fn masked_with(&self, validating: bool) -> MaskedPayoutAccount {
        let mut masked = self.masked();
        masked.verification = validating.then(|| match &self.verification {
            Some(verification) => VerificationView {
                status: verification.status,
                registered_name: verification.registered_name.clone(),
                name_matches: verification.name_matches,
                name_score: verification.name_score,
                failure: verification.failure,
                checked_at: verification.checked_at,
            },
            None => VerificationView {
                status: VerificationStatus::Pending,
                registered_name: None,
                name_matches: None,
                name_score: None,
                failure: None,
                checked_at: None,
            },
        });
        masked
    }

    pub fn masked(&self) -> MaskedPayoutAccount {
        let destination = &self.destination;
        let (account_number, address) = match destination.kind {
            DestinationKind::BankAccount => (Some(destination.masked.clone()), None),
            DestinationKind::Vpa => (None, Some(destination.masked.clone())),
        };
        MaskedPayoutAccount {
            user_id: self.user_id,
            kind: destination.kind.as_str(),
            name: self.name.clone(),
            ifsc: destination.ifsc.clone(),
            account_number,
            address,
            email: self.email.clone(),
            revision: self.revision,
            updated_at: self.updated_at,
            hold_until: self.hold_at(Timestamp::now()),
            hold_ended_by: self.hold_ended_by,
            hold_ended_at: self.hold_ended_at,
            verification: None,
        }
    }
}
