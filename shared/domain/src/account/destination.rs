//! Where the money goes: a bank account or a VPA in full (what a user saves and the
//! gateway is given), as stored (sealed, with its masked form), and how each is masked.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// A destination sealed with a KMS data key (see `platform::vault`), each part base64.
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
    /// What `platform::vault::Vault::seal` stores.
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

/// The first two characters of the mailbox, then `***@domain`.
pub fn mask_email(email: &str) -> String {
    mask_vpa(email)
}
