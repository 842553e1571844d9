//! Reading a request: path parameters, query parameters and the JSON body, each
//! refused with a 400 that says what is wrong before anything reaches DynamoDB.

use lambda_http::{Body, Request, RequestExt};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::routes::Endpoint;
pub use domain::body::{is_addressable_id, only_fields, MAX_ID_LEN};
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::payout::PayoutStatus;

/// The largest JSON body a route reads. Every body the API takes is a few hundred
/// bytes; anything near this is a mistake or an attack, refused before it is parsed.
/// (The gateway's webhook has its own limit, `webhook::MAX_WEBHOOK_BYTES`.)
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A path parameter from API Gateway's `pathParameters`, or else from the raw path
/// matched against the route from its end, so that `cargo lambda` URLs such as
/// `/lambda-url/<function>/scouts/s-1/request-payout` work too.
pub fn path_param(request: &Request, endpoint: Endpoint, name: &str) -> Option<String> {
    if let Some(value) = request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
    {
        return Some(value.to_owned());
    }
    let template: Vec<&str> = endpoint.path().trim_matches('/').split('/').collect();
    let path: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    let offset = path.len().checked_sub(template.len())?;
    let mut found = None;
    for (index, part) in template.iter().enumerate() {
        let actual = path[offset + index];
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(param) if param == name => {
                found = percent_decode_str(actual)
                    .decode_utf8()
                    .ok()
                    .map(String::from);
            }
            Some(_) => {}
            None if *part == actual => {}
            None => return None,
        }
    }
    found
}

/// A record id from the path: the scout or order id as given.
pub fn record_id(
    request: &Request,
    endpoint: Endpoint,
    name: &str,
    entity: &'static str,
) -> Result<String> {
    let value = path_param(request, endpoint, name).unwrap_or_default();
    if is_addressable_id(&value) {
        Ok(value)
    } else {
        Err(Error::NotFound {
            entity,
            id: value.chars().take(MAX_ID_LEN).collect(),
        })
    }
}

/// A payout id from the path; a value that is not a UUID names no payout.
pub fn payout_id(request: &Request, endpoint: Endpoint) -> Result<Uuid> {
    let value = path_param(request, endpoint, "payout_id").unwrap_or_default();
    Uuid::parse_str(&value).map_err(|_| Error::NotFound {
        entity: "payout",
        id: value.chars().take(MAX_ID_LEN).collect(),
    })
}

/// A user id from the path: digits, as in a token's `sub`; anything else names no user.
pub fn user_id(request: &Request, endpoint: Endpoint) -> Result<u64> {
    let value = path_param(request, endpoint, "user_id").unwrap_or_default();
    value
        .parse()
        .ok()
        .filter(|_| value.bytes().all(|byte| byte.is_ascii_digit()))
        .ok_or_else(|| Error::NotFound {
            entity: "user",
            id: value.chars().take(MAX_ID_LEN).collect(),
        })
}

/// One query parameter; given twice is ambiguous and refused.
pub fn query(request: &Request, name: &str) -> Result<Option<String>> {
    let params = request.query_string_parameters();
    match params.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(Some(values[0].to_owned())),
        Some(_) => Err(Error::BadRequest(format!(
            "`{name}` is given more than once"
        ))),
    }
}

/// A whole-number query parameter within `range`.
pub fn query_number(
    request: &Request,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>> {
    let Some(text) = query(request, name)? else {
        return Ok(None);
    };
    let invalid = || {
        Error::BadRequest(format!(
            "`{name}` must be a whole number from {} to {}",
            range.start(),
            range.end()
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let number: u64 = text.parse().map_err(|_| invalid())?;
    if range.contains(&number) {
        Ok(Some(number))
    } else {
        Err(invalid())
    }
}

pub fn query_status(request: &Request) -> Result<Option<PayoutStatus>> {
    match query(request, "status")? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            Error::BadRequest(format!(
                "`status` must be one of {}",
                PayoutStatus::ALL.map(PayoutStatus::as_str).join(", ")
            ))
        }),
    }
}

/// The body as a JSON object; an empty body is an empty object.
pub fn json_object(request: &Request) -> Result<Map<String, Value>> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_JSON_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_JSON_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::BadRequest(
            "the body must be a JSON object".to_owned(),
        )),
        Err(err) => Err(Error::BadRequest(format!(
            "the body is not valid JSON: {err}"
        ))),
    }
}

/// An optional amount: a positive JSON integer of paise. Floats (even `100.0`),
/// strings, negatives, zero and numbers beyond u64 are refused; `null` means omitted.
pub fn amount(object: &Map<String, Value>, name: &str) -> Result<Option<Paise>> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.is_u64() => match number.as_u64() {
            Some(0) | None => Err(Error::BadRequest(format!(
                "`{name}` must be a positive integer of paise"
            ))),
            Some(paise) => Ok(Some(Paise(paise))),
        },
        Some(_) => Err(Error::BadRequest(format!(
            "`{name}` must be a positive integer of paise"
        ))),
    }
}

/// A header as text; a header that is not visible ASCII is refused, not guessed at.
pub fn header(request: &Request, name: &str) -> Result<Option<String>> {
    match request.headers().get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|text| Some(text.to_owned()))
            .map_err(|_| Error::BadRequest(format!("the {name} header must be ASCII"))),
    }
}
