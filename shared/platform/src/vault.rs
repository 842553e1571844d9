//! Bank details as secrets: a payout account's number or VPA is sealed
//! before it is stored and opened only on the way to the gateway.
//!
//! Envelope encryption with KMS: each save asks KMS for a fresh AES-256 data key
//! (`GenerateDataKey`, under `PAYOUT_ACCOUNT_KEY_ID`), seals the destination with
//! AES-256-GCM (aws-lc-rs, a random nonce per seal) and stores the data key only as KMS
//! returned it, encrypted. Opening asks KMS to decrypt that key (`Decrypt`), which only
//! the functions that register fund accounts may. The encryption context names the
//! user, and the same words are the cipher's associated data, so a sealed destination
//! copied onto another user's account does not open.
//!
//! Whether a save changes the destination is told by a fingerprint: an HMAC-SHA-256
//! computed by KMS (`GenerateMac`, under `PAYOUT_ACCOUNT_MAC_KEY_ID`, a key that never
//! leaves KMS) of the user and the destination. A plain hash would not do: an account
//! number is short enough to be guessed from its hash.
//!
//! Why not the AWS Database Encryption SDK for DynamoDB: its Rust crate (`aws-db-esdk`)
//! is machine-generated from Dafny (some 276,000 lines, with a runtime of its own), and
//! it encrypts and signs whole items through a wrapped DynamoDB client, so every
//! function that writes an account item (the processor's fund account ids, the check's
//! steps, an admin's end of a hold) would have to share its configuration. Two
//! attributes on one item need two KMS calls and an AEAD, not that.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MacAlgorithmSpec};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::sync::OnceCell;

use domain::account::{Destination, Sealed, StoredDestination};

/// What a sealed destination is, in its encryption context and associated data.
const PURPOSE: &str = "payout-destination";

/// KMS errors that say "not now" rather than "never": asked again later.
const TRANSIENT_CODES: [&str; 5] = [
    "KMSInternalException",
    "KeyUnavailableException",
    "DependencyTimeoutException",
    "ThrottlingException",
    "LimitExceededException",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// KMS could not answer now (a timeout, throttling, a 5xx): try again later.
    #[error("KMS is unavailable: {0}")]
    Unavailable(String),
    /// KMS refused (access denied, a disabled or missing key): a deployment fault.
    #[error("KMS refused: {0}")]
    Refused(String),
    /// The sealed destination does not open under its user (tampered with, or moved
    /// from another user's account).
    #[error("the sealed payout destination cannot be opened: {0}")]
    Unreadable(String),
    /// Nothing sealed is kept: the gateway already holds the destination, or the
    /// account was saved where accounts were kept before they were sealed.
    #[error("no sealed payout destination is kept for this account")]
    NotKept,
}

/// The KMS keys of `PAYOUT_ACCOUNT_KEY_ID` (symmetric, seals) and
/// `PAYOUT_ACCOUNT_MAC_KEY_ID` (HMAC_256, fingerprints), with a client made at first
/// use. `Debug` shows the key ids, which are not secrets.
#[derive(Clone)]
pub struct Vault(Arc<Inner>);

struct Inner {
    key_id: String,
    mac_key_id: String,
    client: OnceCell<aws_sdk_kms::Client>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.0.key_id)
            .field("mac_key_id", &self.0.mac_key_id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Vault {
    fn eq(&self, other: &Self) -> bool {
        self.0.key_id == other.0.key_id && self.0.mac_key_id == other.0.mac_key_id
    }
}

impl Vault {
    pub fn new(key_id: impl Into<String>, mac_key_id: impl Into<String>) -> Self {
        Vault(Arc::new(Inner {
            key_id: key_id.into(),
            mac_key_id: mac_key_id.into(),
            client: OnceCell::new(),
        }))
    }

    pub fn with_client(
        client: aws_sdk_kms::Client,
        key_id: impl Into<String>,
        mac_key_id: impl Into<String>,
    ) -> Self {
        Vault(Arc::new(Inner {
            key_id: key_id.into(),
            mac_key_id: mac_key_id.into(),
            client: OnceCell::new_with(Some(client)),
        }))
    }

    pub fn key_id(&self) -> &str {
        &self.0.key_id
    }

    async fn client(&self) -> &aws_sdk_kms::Client {
        self.0
            .client
            .get_or_init(|| {
                Box::pin(async { aws_sdk_kms::Client::new(&crate::aws::sdk_config().await) })
            })
            .await
    }

    /// The destination as stored for `user_id`: masked, fingerprinted and sealed.
    pub async fn seal(
        &self,
        user_id: u64,
        destination: &Destination,
    ) -> Result<StoredDestination, VaultError> {
        let plaintext = plaintext_of(destination)?;
        let (fingerprint, data_key) = tokio::try_join!(
            self.fingerprint_of(user_id, &plaintext),
            self.data_key(user_id)
        )?;
        let (key_plaintext, key_sealed) = data_key;
        let stored = StoredDestination::unsealed(destination, fingerprint);
        let key = RandomizedNonceKey::new(&AES_256_GCM, &key_plaintext)
            .map_err(|_| VaultError::Refused("KMS returned a data key of the wrong size".into()))?;
        let mut data = plaintext;
        let nonce = key
            .seal_in_place_append_tag(Aad::from(associated_data(user_id, &stored)), &mut data)
            .map_err(|_| VaultError::Refused("the destination could not be sealed".into()))?;
        Ok(stored.with_seal(Sealed {
            key: BASE64.encode(key_sealed),
            nonce: BASE64.encode(nonce.as_ref()),
            data: BASE64.encode(data),
        }))
    }

    /// The destination `stored` seals, for `user_id`'s account.
    pub async fn open(
        &self,
        user_id: u64,
        stored: &StoredDestination,
    ) -> Result<Destination, VaultError> {
        // Saved before destinations were sealed, and not sealed yet: it is at hand.
        if let Some(legacy) = stored.legacy() {
            return Ok(legacy.clone());
        }
        let sealed = stored.sealed.as_ref().ok_or(VaultError::NotKept)?;
        let decode = |what: &str, text: &str| {
            BASE64
                .decode(text)
                .map_err(|_| VaultError::Unreadable(format!("its {what} is not base64")))
        };
        let key_sealed = decode("data key", &sealed.key)?;
        let nonce: [u8; NONCE_LEN] = decode("nonce", &sealed.nonce)?
            .try_into()
            .map_err(|_| VaultError::Unreadable("its nonce has the wrong length".into()))?;
        let mut data = decode("data", &sealed.data)?;
        let answer = self
            .client()
            .await
            .decrypt()
            .key_id(&self.0.key_id)
            .ciphertext_blob(Blob::new(key_sealed))
            .set_encryption_context(Some(context(user_id)))
            .send();
        // Boxed: the SDK's futures are large, and would otherwise be inlined into
        // every caller's (a processor run's stack, in a debug build).
        let answer = Box::pin(answer).await.map_err(|error| {
            // KMS's answer to a data key under another context (another user's): the
            // seal is not this account's. (A key other than ours, `IncorrectKey`, is
            // our configuration's fault: refused, and the payouts wait.)
            let foreign = error
                .as_service_error()
                .is_some_and(|service| service.is_invalid_ciphertext_exception());
            if foreign {
                VaultError::Unreadable("KMS will not open its data key for this user".into())
            } else {
                from_kms(&error)
            }
        })?;
        let key_plaintext = answer
            .plaintext
            .ok_or_else(|| VaultError::Unavailable("KMS returned no data key".into()))?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, key_plaintext.as_ref())
            .map_err(|_| VaultError::Unreadable("its data key has the wrong size".into()))?;
        let opened = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(user_id, stored)),
                &mut data,
            )
            .map_err(|_| VaultError::Unreadable("it does not open under this user".into()))?;
        serde_json::from_slice(opened)
            .map_err(|_| VaultError::Unreadable("it opened to something else".into()))
    }

    async fn data_key(&self, user_id: u64) -> Result<(Vec<u8>, Vec<u8>), VaultError> {
        let answer = self
            .client()
            .await
            .generate_data_key()
            .key_id(&self.0.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context(user_id)))
            .send();
        let answer = Box::pin(answer).await.map_err(|error| from_kms(&error))?;
        match (answer.plaintext, answer.ciphertext_blob) {
            (Some(plaintext), Some(sealed)) => Ok((plaintext.into_inner(), sealed.into_inner())),
            _ => Err(VaultError::Unavailable(
                "KMS returned no data key".to_owned(),
            )),
        }
    }

    async fn fingerprint_of(&self, user_id: u64, plaintext: &[u8]) -> Result<String, VaultError> {
        let mut message = format!("{PURPOSE}:{user_id}:").into_bytes();
        message.extend_from_slice(plaintext);
        let answer = self
            .client()
            .await
            .generate_mac()
            .key_id(&self.0.mac_key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .send();
        let answer = Box::pin(answer).await.map_err(|error| from_kms(&error))?;
        answer
            .mac
            .map(|mac| BASE64.encode(mac.as_ref()))
            .ok_or_else(|| VaultError::Unavailable("KMS returned no MAC".to_owned()))
    }
}

/// The destination's canonical bytes: its JSON, whose field order the type fixes.
fn plaintext_of(destination: &Destination) -> Result<Vec<u8>, VaultError> {
    serde_json::to_vec(destination)
        .map_err(|_| VaultError::Refused("the destination could not be written out".into()))
}

fn context(user_id: u64) -> HashMap<String, String> {
    HashMap::from([
        ("purpose".to_owned(), PURPOSE.to_owned()),
        ("user_id".to_owned(), user_id.to_string()),
    ])
}

/// The user, and what is stored beside the seal ([`StoredDestination::bound_to`]).
fn associated_data(user_id: u64, stored: &StoredDestination) -> Vec<u8> {
    format!("{PURPOSE}:{user_id}:{}", stored.bound_to()).into_bytes()
}

fn from_kms<E>(error: &aws_sdk_kms::error::SdkError<E>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = crate::aws::error_text(error);
    match error.as_service_error().and_then(|service| service.code()) {
        Some(code) if TRANSIENT_CODES.contains(&code) => VaultError::Unavailable(text),
        Some(_) => VaultError::Refused(text),
        // No answer at all: a timeout, a connection that failed.
        None => VaultError::Unavailable(text),
    }
}

impl From<VaultError> for domain::Error {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Unavailable(_) => domain::Error::DependencyUnavailable(error.to_string()),
            VaultError::Refused(_) => domain::Error::Config(error.to_string()),
            VaultError::Unreadable(_) => domain::Error::unreadable(error),
            VaultError::NotKept => domain::Error::inconsistent(error.to_string()),
        }
    }
}
