//! Opaque page cursors. A cursor is the query's `LastEvaluatedKey` and the listing it
//! belongs to. It is not signed: reading routes hold no secret, and none is
//! needed, because a cursor can only say where to start within the caller's own
//! listing. Its shape is checked here: exactly the keys an index page ends on, the
//! index's partition equal to the listing's, a payout's primary key. A cursor from
//! another user's or another status's listing, or one made up to steer the query, is
//! refused (400); DynamoDB itself refuses a start key outside the queried partition.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use domain::error::{Error, Result};
use store::keys;
use store::{PageKey, PayoutIndex};

/// Longer than any cursor this module writes; bounds the work a hostile one causes.
const MAX_CURSOR_LEN: usize = 2048;
/// Longer than any key attribute a page ends on (a finding's: its kind, subject and
/// both sides' statuses).
const MAX_KEY_VALUE_LEN: usize = 512;
/// Longer than any key attribute a payout has (a UUID, a timestamp and a UUID).
const MAX_PAYOUT_KEY_VALUE_LEN: usize = 128;

#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(rename = "s")]
    scope: String,
    #[serde(rename = "k")]
    key: PageKey,
}

/// The cursor that continues the listing `scope` after `key`.
pub fn encode(scope: &str, key: &PageKey) -> Result<String> {
    let payload = serde_json::to_vec(&Payload {
        scope: scope.to_owned(),
        key: key.clone(),
    })
    .map_err(Error::store)?;
    Ok(URL_SAFE_NO_PAD.encode(payload))
}

/// Where the listing of `index` continues, if `cursor` is one of its own.
pub fn decode(index: &PayoutIndex, cursor: &str) -> Result<PageKey> {
    decode_checked(&index.scope(), cursor, |key| is_payout_page_end(key, index))
}

/// Where the listing `scope` continues, if `cursor` is one of its own and its key is
/// one `is_page_end` accepts: for a listing narrower than an index partition (a range
/// of time) or of other items (a day's findings).
pub fn decode_checked(
    scope: &str,
    cursor: &str,
    is_page_end: impl Fn(&PageKey) -> bool,
) -> Result<PageKey> {
    let invalid = || Error::BadRequest("cursor is not valid for this listing".to_owned());
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let payload = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let payload: Payload = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if payload.scope != scope
        || !is_page_end(&payload.key)
        || payload
            .key
            .values()
            .any(|value| value.len() > MAX_KEY_VALUE_LEN)
    {
        return Err(invalid());
    }
    Ok(payload.key)
}

/// Whether `key` is what a page of `index` ends on: a payout's table key, its creation
/// sort key, and the index's own partition attribute, with the listing's value.
pub fn is_payout_page_end(key: &PageKey, index: &PayoutIndex) -> bool {
    let names: HashSet<&str> = key.keys().map(String::as_str).collect();
    names.len() == 4
        && [keys::PK, keys::SK, keys::CREATED_SK, index.key_attribute()]
            .iter()
            .all(|name| names.contains(name))
        && key.get(index.key_attribute()) == Some(&index.scope())
        && key.get(keys::SK).is_some_and(|sk| sk == keys::PAYOUT_SK)
        && key
            .get(keys::PK)
            .is_some_and(|pk| pk.starts_with("PAYOUT#"))
        && key
            .values()
            .all(|value| value.len() <= MAX_PAYOUT_KEY_VALUE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str) -> PageKey {
        PageKey::from([
            (keys::PK.to_owned(), "PAYOUT#0b5c".to_owned()),
            (keys::SK.to_owned(), keys::PAYOUT_SK.to_owned()),
            (keys::USER_PK.to_owned(), user.to_owned()),
            (
                keys::CREATED_SK.to_owned(),
                "2026-12-05T00:00:00Z#0b5c".to_owned(),
            ),
        ])
    }

    #[test]
    fn round_trips_within_its_scope_only() {
        let cursor = encode("USER#7", &key("USER#7")).unwrap();
        assert_eq!(
            decode(&PayoutIndex::User(7), &cursor).unwrap(),
            key("USER#7")
        );
        assert!(decode(&PayoutIndex::User(8), &cursor).is_err());
    }

    #[test]
    fn refuses_cursors_that_would_steer_the_query_elsewhere() {
        // The payload claims the caller's scope but points into another user's index.
        let steered = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Payload {
                scope: "USER#7".to_owned(),
                key: key("USER#8"),
            })
            .unwrap(),
        );
        assert!(decode(&PayoutIndex::User(7), &steered).is_err());
        let mut extra = key("USER#7");
        extra.insert(keys::STATUS_PK.to_owned(), "STATUS#pending".to_owned());
        let mut not_a_payout = key("USER#7");
        not_a_payout.insert(keys::PK.to_owned(), "USER#7".to_owned());
        let mut missing = key("USER#7");
        missing.remove(keys::CREATED_SK);
        let mut long = key("USER#7");
        long.insert(keys::CREATED_SK.to_owned(), "x".repeat(500));
        // The listing's value under another index's attribute: DynamoDB would refuse
        // it as a start key of this index (a 500), so it is refused here (a 400).
        let mut misnamed = key("USER#7");
        misnamed.remove(keys::USER_PK);
        misnamed.insert(keys::STATUS_PK.to_owned(), "USER#7".to_owned());
        for bad in [extra, not_a_payout, missing, long, misnamed] {
            let payload = serde_json::to_vec(&Payload {
                scope: "USER#7".to_owned(),
                key: bad.clone(),
            })
            .unwrap();
            assert!(
                decode(&PayoutIndex::User(7), &URL_SAFE_NO_PAD.encode(payload)).is_err(),
                "{bad:?}"
            );
        }
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert!(decode(&PayoutIndex::User(7), junk).is_err(), "{junk}");
        }
    }
}
