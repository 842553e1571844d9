//! Where a user is paid: one payout account per user, a bank account (IFSC + account
//! number) or a UPI address, validated as RazorpayX validates fund accounts
//! (https://razorpay.com/docs/api/x/fund-accounts/) so that a bad account is refused when
//! it is saved, not when money is on its way.
//!
//! The account number and VPA are stored sealed (by `shared::vault`), only until the
//! gateway holds a fund account for them, and never shown: every response, log line
//! and error carries the masked form only, and `Debug` masks too, so a stray `{:?}`
//! cannot leak one.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
pub use crate::payout::{PAYOUT_ACCOUNT_INVALID, PAYOUT_ACCOUNT_MISSING};
use crate::time::Timestamp;

/// Where the money goes, in full: what a user saves and what the gateway is given,
/// never what is stored. Fund accounts are immutable at RazorpayX, so a change is a
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

/// A bank account or a UPI address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    BankAccount,
    Vpa,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::BankAccount => "bank_account",
            DestinationKind::Vpa => "vpa",
        }
    }
}

impl Destination {
    /// The masked form users see: the account number's last four, or the VPA's first
    /// two characters and handle.
    pub fn masked(&self) -> String {
        match self {
            Destination::BankAccount { account_number, .. } => mask_account_number(account_number),
            Destination::Vpa { address } => mask_vpa(address),
        }
    }

    pub fn kind(&self) -> DestinationKind {
        match self {
            Destination::BankAccount { .. } => DestinationKind::BankAccount,
            Destination::Vpa { .. } => DestinationKind::Vpa,
        }
    }

    fn ifsc(&self) -> Option<String> {
        match self {
            Destination::BankAccount { ifsc, .. } => Some(ifsc.clone()),
            Destination::Vpa { .. } => None,
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

/// A destination as stored: its kind, IFSC and masked form for whoever reads the
/// account; a keyed fingerprint that tells whether a save changes it; and the full
/// number or VPA sealed for the gateway path alone, dropped once the gateway holds a
/// fund account for it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "StoredForm")]
pub struct StoredDestination {
    pub kind: DestinationKind,
    pub ifsc: Option<String>,
    /// `destination_masked`.
    pub masked: String,
    /// `destination_fingerprint`: HMAC-SHA-256 (KMS) of the user and the full
    /// destination.
    pub fingerprint: String,
    /// `destination_sealed`.
    pub sealed: Option<Sealed>,
    /// The full destination of an account saved before destinations were sealed (not
    /// migrated yet): read, never written (serialising one fails); sealed when it is
    /// migrated or saved over.
    legacy: Option<Destination>,
}

impl Serialize for StoredDestination {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Stored<'a> {
            #[serde(rename = "type")]
            kind: DestinationKind,
            #[serde(skip_serializing_if = "Option::is_none")]
            ifsc: Option<&'a str>,
            destination_masked: &'a str,
            destination_fingerprint: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            destination_sealed: Option<&'a Sealed>,
        }
        if self.legacy.is_some() {
            // Written as it is, it would be a destination with no number and an empty
            // fingerprint, which every other such would be "the same" as.
            return Err(serde::ser::Error::custom(
                "a payout destination not sealed yet cannot be stored",
            ));
        }
        Stored {
            kind: self.kind,
            ifsc: self.ifsc.as_deref(),
            destination_masked: &self.masked,
            destination_fingerprint: &self.fingerprint,
            destination_sealed: self.sealed.as_ref(),
        }
        .serialize(serializer)
    }
}

/// A destination sealed with a KMS data key (see `shared::vault`), each part base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The AES-256 data key as KMS encrypted it.
    pub key: String,
    pub nonce: String,
    /// The destination's JSON, AES-256-GCM with its tag.
    pub data: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed").finish_non_exhaustive()
    }
}

/// What a stored account may hold: the sealed form, or (not migrated yet) the full one.
#[derive(Deserialize)]
struct StoredForm {
    #[serde(rename = "type")]
    kind: DestinationKind,
    #[serde(default)]
    ifsc: Option<String>,
    #[serde(default)]
    destination_masked: Option<String>,
    #[serde(default)]
    destination_fingerprint: Option<String>,
    #[serde(default)]
    destination_sealed: Option<Sealed>,
    #[serde(default)]
    account_number: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

impl TryFrom<StoredForm> for StoredDestination {
    type Error = &'static str;

    fn try_from(form: StoredForm) -> std::result::Result<Self, Self::Error> {
        if let (Some(masked), Some(fingerprint)) =
            (form.destination_masked, form.destination_fingerprint)
        {
            return Ok(StoredDestination {
                kind: form.kind,
                ifsc: form.ifsc,
                masked,
                fingerprint,
                sealed: form.destination_sealed,
                legacy: None,
            });
        }
        let legacy = match (form.kind, form.ifsc, form.account_number, form.address) {
            (DestinationKind::BankAccount, Some(ifsc), Some(account_number), _) => {
                Destination::BankAccount {
                    ifsc,
                    account_number,
                }
            }
            (DestinationKind::Vpa, _, _, Some(address)) => Destination::Vpa { address },
            // The message must not quote the item: it may hold an account number.
            _ => return Err("a payout account without a readable destination"),
        };
        Ok(StoredDestination {
            kind: legacy.kind(),
            ifsc: legacy.ifsc(),
            masked: legacy.masked(),
            fingerprint: String::new(),
            sealed: None,
            legacy: Some(legacy),
        })
    }
}

impl StoredDestination {
    /// What `shared::vault::Vault::seal` stores.
    pub fn sealed(destination: &Destination, fingerprint: String, sealed: Sealed) -> Self {
        StoredDestination {
            sealed: Some(sealed),
            ..StoredDestination::unsealed(destination, fingerprint)
        }
    }

    pub fn with_seal(self, sealed: Sealed) -> Self {
        StoredDestination {
            sealed: Some(sealed),
            ..self
        }
    }

    /// Its masked form and fingerprint, not sealed (yet).
    pub fn unsealed(destination: &Destination, fingerprint: String) -> Self {
        StoredDestination {
            kind: destination.kind(),
            ifsc: destination.ifsc(),
            masked: destination.masked(),
            fingerprint,
            sealed: None,
            legacy: None,
        }
    }

    /// Whether both are the same bank account or VPA. One sealed and one not yet
    /// cannot be compared, and count as different: a change is announced and held
    /// rather than missed.
    pub fn same_as(&self, other: &StoredDestination) -> bool {
        match (&self.legacy, &other.legacy) {
            (Some(mine), Some(theirs)) => mine == theirs,
            (None, None) => self.kind == other.kind && self.fingerprint == other.fingerprint,
            _ => false,
        }
    }

    /// The full destination of an account not migrated yet, to be sealed as it moves.
    pub fn legacy(&self) -> Option<&Destination> {
        self.legacy.as_ref()
    }

    /// What the seal is bound to beside its user (the cipher's associated data): the
    /// kind, IFSC, masked form and fingerprint stored with it, so that a seal put back
    /// beside another destination's (an older one of the same user's) does not open.
    pub fn bound_to(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.kind.as_str(),
            self.ifsc.as_deref().unwrap_or_default(),
            self.masked,
            self.fingerprint
        )
    }
}

impl fmt::Debug for StoredDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredDestination")
            .field("kind", &self.kind)
            .field("ifsc", &self.ifsc)
            .field("masked", &self.masked)
            .field("sealed", &self.sealed.is_some())
            .field("legacy", &self.legacy.is_some())
            .finish_non_exhaustive()
    }
}

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

/// Where the check of a destination stands (RazorpayX fund account validation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Asked for, or about to be: the user's payouts wait.
    Pending,
    /// The account exists and is held under the saved name: payouts go.
    Verified,
    /// Not verified: `failure` says why.
    Failed,
}

/// Why a verification failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationFailure {
    /// The bank refused the account: the user must save another.
    AccountInvalid,
    /// The account exists under a name that is not the saved one.
    NameMismatch,
    /// The bank confirmed the account but returned no name to hold to the saved one:
    /// not taken as the user's.
    NameUnconfirmed,
    /// The gateway could not complete the check: nothing is known about the account,
    /// and the next processor run asks again (it does not count against the user).
    NotCompleted,
    /// No answer came after [`MAX_VERIFICATION_STARTS`] starts, or within
    /// [`MAX_VERIFICATION_AGE_SECS`] of one: given up, so the payouts fail (and the user
    /// is told) rather than wait unseen.
    GaveUp,
}

/// How many times a check is started (a lost answer, a refusal, one the gateway could
/// not complete) before it is given up.
pub const MAX_VERIFICATION_STARTS: u32 = 3;

/// How long a started check may wait for its answer: RazorpayX takes up to two working
/// days when the bank or NPCI is slow.
pub const MAX_VERIFICATION_AGE_SECS: u64 = 5 * 86_400;

impl VerificationFailure {
    /// Whether the account itself is at fault (its payouts fail); otherwise the check
    /// is made again.
    pub fn blames_account(self) -> bool {
        !matches!(self, VerificationFailure::NotCompleted)
    }
}

/// The check of one fund account: started once per destination (a save that keeps the
/// name and destination keeps it), never per payout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: VerificationStatus,
    /// The gateway's fund account it checks: a verification of another one (an older
    /// revision's) says nothing about this.
    pub fund_account_id: String,
    /// The gateway's validation (`fav_…`), once it has answered the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_id: Option<String>,
    /// When the current check was started (a start whose answer was lost is started
    /// again, and finds this one, once the processor's lease, `LEASE_SECS`, has passed).
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// The holder's name as the bank returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_name: Option<String>,
    /// Whether `registered_name` is the saved name (absent: no name came back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_matches: Option<bool>,
    /// 0–100: RazorpayX's `name_match_score`, or our comparison's (docs/RAZORPAYX.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<VerificationFailure>,
    /// Goes up by one with every write: each write is conditioned on the step it read,
    /// so a poll, a webhook, a save and a second processor never overwrite each other
    /// blindly.
    pub step: u64,
    /// How many times a check of this fund account has been started.
    #[serde(default)]
    pub starts: u32,
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registered name is a person's name: never in a log line.
        f.debug_struct("Verification")
            .field("status", &self.status)
            .field("fund_account_id", &self.fund_account_id)
            .field("validation_id", &self.validation_id)
            .field("started_at", &self.started_at)
            .field("name_matches", &self.name_matches)
            .field("failure", &self.failure)
            .field("step", &self.step)
            .field("starts", &self.starts)
            .finish_non_exhaustive()
    }
}

impl PayoutAccount {
    /// This revision's check, when it is of `fund_account_id`.
    pub fn verification_of(&self, fund_account_id: &str) -> Option<&Verification> {
        self.verification
            .as_ref()
            .filter(|verification| verification.fund_account_id == fund_account_id)
    }
}

/// What the processor needs to know to pass a user's payouts over: read for many users
/// at once, without the account's details.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AccountGate {
    pub user_id: u64,
    #[serde(default)]
    pub hold_until: Option<Timestamp>,
    #[serde(default)]
    pub verification: Option<VerificationState>,
    /// Kept where accounts were before they had a key space of their own (not
    /// migrated yet): the processor cannot claim against it, so it passes the user's
    /// payouts over until it moves.
    #[serde(skip)]
    pub not_migrated: bool,
}

/// A verification's status and failure alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct VerificationState {
    pub status: VerificationStatus,
    #[serde(default)]
    pub failure: Option<VerificationFailure>,
}

/// Why a user's pending payouts wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutHold {
    /// The account changed recently: until the hold ends (`payout_account_changed`).
    Changed { until: Timestamp },
    /// Its destination is not verified yet (`payout_account_unverified`).
    Unverified,
}

impl PayoutHold {
    pub fn reason(self) -> &'static str {
        match self {
            PayoutHold::Changed { .. } => "payout_account_changed",
            PayoutHold::Unverified => "payout_account_unverified",
        }
    }

    pub fn until(self) -> Option<Timestamp> {
        match self {
            PayoutHold::Changed { until } => Some(until),
            PayoutHold::Unverified => None,
        }
    }
}

/// Whether a verification lets payouts go, fails them, or keeps them waiting.
fn awaits_verification(state: Option<VerificationState>) -> bool {
    match state {
        None => true,
        Some(VerificationState {
            status: VerificationStatus::Verified,
            ..
        }) => false,
        Some(VerificationState {
            status: VerificationStatus::Failed,
            failure,
        }) => !failure.is_some_and(VerificationFailure::blames_account),
        Some(VerificationState {
            status: VerificationStatus::Pending,
            ..
        }) => true,
    }
}

impl AccountGate {
    /// What keeps the user's payouts waiting at `now`, if anything: a hold first (it
    /// has an end), then a destination not verified yet, when `validating`. A failed
    /// verification keeps nothing waiting: its payouts fail, and come back on a save.
    pub fn hold(&self, now: Timestamp, validating: bool) -> Option<PayoutHold> {
        if let Some(until) = self.hold_until.filter(|until| *until > now) {
            return Some(PayoutHold::Changed { until });
        }
        (validating && awaits_verification(self.verification)).then_some(PayoutHold::Unverified)
    }
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
    /// The hold in force at `now`, if any.
    pub fn hold_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.hold_until.filter(|until| *until > now)
    }

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

impl PayoutAccount {
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

/// The first two characters of the mailbox, then `***@domain`.
pub fn mask_email(email: &str) -> String {
    mask_vpa(email)
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
