//! Opaque, tamper-evident page cursors. A cursor is the query's `LastEvaluatedKey` and
//! the listing it belongs to, MAC'd with a key derived from the service secret: a
//! forged cursor, or one from another user's or another status's listing, is refused
//! (400) instead of letting a client steer a query.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::PageKey;

/// Longer than any cursor this module writes; bounds the work a hostile one causes.
const MAX_CURSOR_LEN: usize = 2048;

pub struct CursorKey(hmac::Key);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(rename = "s")]
    scope: String,
    #[serde(rename = "k")]
    key: PageKey,
}

impl CursorKey {
    /// Derived rather than the secret itself, so a cursor can never double as a token.
    pub fn derive(secret: &[u8]) -> Self {
        let master = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derived = hmac::sign(&master, b"payout-list-cursor/v1");
        CursorKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    pub fn encode(&self, scope: &str, key: &PageKey) -> Result<String> {
        let payload = serde_json::to_vec(&Payload {
            scope: scope.to_owned(),
            key: key.clone(),
        })
        .map_err(Error::store)?;
        let tag = hmac::sign(&self.0, &payload);
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    pub fn decode(&self, scope: &str, cursor: &str) -> Result<PageKey> {
        let invalid = || Error::BadRequest("cursor is not valid for this listing".to_owned());
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        hmac::verify(&self.0, &payload, &tag).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if payload.scope != scope {
            return Err(invalid());
        }
        Ok(payload.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        PageKey::from([("pk".to_owned(), "PAYOUT#1".to_owned())])
    }

    #[test]
    fn round_trips_within_its_scope_only() {
        let cursors = CursorKey::derive(b"secret");
        let cursor = cursors.encode("USER#7", &key()).unwrap();
        assert_eq!(cursors.decode("USER#7", &cursor).unwrap(), key());
        assert!(cursors.decode("USER#8", &cursor).is_err());
    }

    #[test]
    fn refuses_forged_and_foreign_cursors() {
        let cursors = CursorKey::derive(b"secret");
        let cursor = cursors.encode("USER#7", &key()).unwrap();
        let other = CursorKey::derive(b"other secret")
            .encode("USER#7", &key())
            .unwrap();
        assert!(cursors.decode("USER#7", &other).is_err());
        let (_, tag) = cursor.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"s":"USER#7","k":{"pk":"PAYOUT#2"}}"#);
        assert!(cursors
            .decode("USER#7", &format!("{forged_payload}.{tag}"))
            .is_err());
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert!(cursors.decode("USER#7", junk).is_err(), "{junk}");
        }
    }
}
