//! What a request body or path may hold, whoever reads it: the API's edge and the use
//! cases that parse their own bodies refuse the same things with the same words.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How much of an unknown key an error repeats, and how many of them it names: a
/// caller's own text comes back short, never in full.
const MAX_KEY_SHOWN: usize = 64;
const MAX_KEYS_SHOWN: usize = 3;

/// Identifiers in paths are 1–128 visible ASCII characters; anything else cannot name
/// a record, so it is reported as not found rather than looked up.
pub const MAX_ID_LEN: usize = 128;

/// Whether `id` can name a scout or order in a path: 1–128 visible ASCII characters.
pub fn is_addressable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|byte| byte.is_ascii_graphic())
}

/// `fields` are the only keys a body may have; anything else is a mistake worth naming.
pub fn only_fields(object: &Map<String, Value>, fields: &[&str]) -> Result<()> {
    let unknown: Vec<&String> = object
        .keys()
        .filter(|key| !fields.contains(&key.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = unknown
        .iter()
        .take(MAX_KEYS_SHOWN)
        .map(|key| format!("`{}`", shown_key(key)))
        .collect();
    if unknown.len() > MAX_KEYS_SHOWN {
        named.push(format!("and {} more", unknown.len() - MAX_KEYS_SHOWN));
    }
    Err(Error::BadRequest(format!(
        "unknown {} {}; allowed: {}",
        if unknown.len() == 1 {
            "field"
        } else {
            "fields"
        },
        named.join(", "),
        fields.join(", ")
    )))
}

/// An unknown key as an error may repeat it: its first [`MAX_KEY_SHOWN`] characters,
/// with an ellipsis when there were more.
pub fn shown_key(key: &str) -> String {
    let mut chars = key.chars();
    let mut shown: String = chars.by_ref().take(MAX_KEY_SHOWN).collect();
    if chars.next().is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(body: Value) -> String {
        let object = body.as_object().cloned().unwrap_or_default();
        match only_fields(&object, &["amount_paise"]) {
            Err(Error::BadRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_named_short_and_few() {
        assert_eq!(
            refused(json!({"amount": 1})),
            "unknown field `amount`; allowed: amount_paise"
        );
        let long = "k".repeat(10_000);
        let message = refused(json!({ long.clone(): 1 }));
        assert!(!message.contains(&long));
        assert!(message.contains(&format!("`{}…`", "k".repeat(MAX_KEY_SHOWN))));
        let many = refused(json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}));
        assert_eq!(
            many,
            "unknown fields `a`, `b`, `c`, and 2 more; allowed: amount_paise"
        );
        assert!(only_fields(&Map::new(), &["amount_paise"]).is_ok());
    }

    #[test]
    fn a_short_key_is_shown_whole_and_a_long_one_cut_on_a_character() {
        assert_eq!(shown_key("amount"), "amount");
        let exact = "é".repeat(MAX_KEY_SHOWN);
        assert_eq!(shown_key(&exact), exact);
        assert_eq!(
            shown_key(&"é".repeat(MAX_KEY_SHOWN + 1)),
            format!("{exact}…")
        );
    }
}
