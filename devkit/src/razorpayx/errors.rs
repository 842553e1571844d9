//! How the local RazorpayX answers a request it refuses, in RazorpayX's error shape
//! (`error.code`, `description`, `field`, `reason`), and the request checks every
//! route shares: Basic auth, a JSON object body, string fields, the idempotency header,
//! and the account number and page (`count`, `skip`, `from`, `to`) a list names.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::fake::{Fake, Shared};

pub(super) struct RzpError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) description: String,
    pub(super) field: Option<String>,
    pub(super) reason: &'static str,
}

impl IntoResponse for RzpError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "description": self.description,
            "source": if self.status.is_server_error() { "internal" } else { "business" },
            "step": "NA",
            "reason": self.reason,
            "metadata": {},
            "field": self.field,
        }});
        (self.status, Json(body)).into_response()
    }
}

pub(super) fn bad_request(field: Option<&str>, description: impl Into<String>) -> RzpError {
    RzpError {
        status: StatusCode::BAD_REQUEST,
        code: "BAD_REQUEST_ERROR",
        description: description.into(),
        field: field.map(str::to_owned),
        reason: "input_validation_failed",
    }
}

/// RazorpayX's answer to a call over its rate limit, before anything is done: the
/// `rate_limit` fault's and the `rate_limit_tps` budget's.
pub(super) fn too_many_requests() -> RzpError {
    RzpError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "BAD_REQUEST_ERROR",
        description: "Too many requests".to_owned(),
        field: None,
        reason: "rate_limit_exceeded",
    }
}

pub(super) fn authenticate(fake: &Fake, headers: &HeaderMap) -> Result<(), RzpError> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", fake.config.key_id, fake.config.key_secret))
    );
    let given = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(RzpError {
            status: StatusCode::UNAUTHORIZED,
            code: "BAD_REQUEST_ERROR",
            description: "The api key provided is invalid".to_owned(),
            field: None,
            reason: "authentication_failed",
        })
    }
}

pub(super) type Reply = Result<Response, RzpError>;

pub(super) fn parse_body(body: &Bytes) -> Result<Map<String, Value>, RzpError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(bad_request(None, "The request body must be a JSON object")),
    }
}

pub(super) fn string_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    required: bool,
) -> Result<Option<&'a str>, RzpError> {
    match body.get(field) {
        None | Some(Value::Null) if required => Err(bad_request(
            Some(field),
            format!("The {field} field is required."),
        )),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad_request(
            Some(field),
            format!("The {field} must be a string."),
        )),
    }
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<String, RzpError> {
    let key = headers
        .get("x-payout-idempotency")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            bad_request(
                Some("X-Payout-Idempotency"),
                "Idempotency key is missing in the request header",
            )
        })?;
    let valid = (4..=36).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b));
    if !valid {
        return Err(bad_request(
            Some("X-Payout-Idempotency"),
            "Idempotency key must be 4 to 36 letters, digits, hyphens, underscores or spaces",
        ));
    }
    Ok(key.to_owned())
}

/// A list's `account_number`, required and ours, as RazorpayX checks it.
pub(super) fn our_account_number(
    fake: &Fake,
    query: &BTreeMap<String, String>,
) -> Result<(), RzpError> {
    match query.get("account_number") {
        None => Err(bad_request(
            Some("account_number"),
            "The account number field is required.",
        )),
        Some(number) if *number != fake.config.account_number => Err(bad_request(
            Some("account_number"),
            "The account number is invalid",
        )),
        Some(_) => Ok(()),
    }
}

/// A list as RazorpayX answers one: `{"entity": "collection", "count", "items"}`.
pub(super) fn collection(items: Vec<Value>) -> Reply {
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

/// What every `GET` list of our account checks before it reads: our keys, our account
/// number, its page.
pub(super) fn open_list<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> Result<(std::sync::MutexGuard<'a, Fake>, Page), RzpError> {
    let fake = lock(shared)?;
    authenticate(&fake, headers)?;
    our_account_number(&fake, query)?;
    let page = Page::parse(query)?;
    Ok((fake, page))
}

/// A list's page: `count` (1–100, default 10) items after `skip` (default 0), made
/// between `from` and `to` (unix seconds, both ends included, each optional).
pub(super) struct Page {
    pub(super) count: usize,
    pub(super) skip: usize,
    pub(super) from: Option<i64>,
    pub(super) to: Option<i64>,
}

impl Page {
    pub(super) fn parse(query: &BTreeMap<String, String>) -> Result<Page, RzpError> {
        let number = |name: &str, default: usize| -> Result<usize, RzpError> {
            query.get(name).map_or(Ok(default), |text| {
                text.parse()
                    .map_err(|_| bad_request(Some(name), format!("The {name} must be an integer.")))
            })
        };
        let count = number("count", 10)?;
        if !(1..=100).contains(&count) {
            return Err(bad_request(
                Some("count"),
                "The count must be between 1 and 100.",
            ));
        }
        let skip = number("skip", 0)?;
        let time = |name: &str| -> Result<Option<i64>, RzpError> {
            query
                .get(name)
                .map(|text| {
                    text.parse().map_err(|_| {
                        bad_request(Some(name), format!("The {name} must be a unix timestamp."))
                    })
                })
                .transpose()
        };
        Ok(Page {
            count,
            skip,
            from: time("from")?,
            to: time("to")?,
        })
    }

    /// Whether something made at `created_at` falls between `from` and `to`.
    pub(super) fn holds(&self, created_at: i64) -> bool {
        self.from.is_none_or(|from| created_at >= from) && self.to.is_none_or(|to| created_at <= to)
    }
}

pub(super) fn lock(shared: &Shared) -> Result<std::sync::MutexGuard<'_, Fake>, RzpError> {
    shared.lock().map_err(|_| poisoned("state"))
}

/// A lock some earlier request panicked under: every request fails until a restart.
pub(super) fn poisoned(what: &str) -> RzpError {
    RzpError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "SERVER_ERROR",
        description: format!("the local RazorpayX's {what} is poisoned; restart it"),
        field: None,
        reason: "server_error",
    }
}
