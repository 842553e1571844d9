//! RazorpayX webhooks (docs/RAZORPAYX.md, Webhooks; https://razorpay.com/docs/webhooks/payouts/):
//! the signature over the raw body, and what a payout event reports. Nothing here touches
//! the store: the service decides what a report means for our payout (`service::webhook`).

use super::validation::Validation;
use super::{report, PayoutEntity};
use crate::GatewayReport;
use aws_lc_rs::{constant_time, hmac};
use serde::Deserialize;

/// The header RazorpayX signs each delivery with.
pub const SIGNATURE_HEADER: &str = "x-razorpay-signature";
/// The header that names an event; a redelivery carries the same id.
pub const EVENT_ID_HEADER: &str = "x-razorpay-event-id";

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`: what RazorpayX sends in
/// `X-Razorpay-Signature`.
pub fn signature(body: &[u8], secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex(hmac::sign(&key, body).as_ref())
}

/// Lowercase hex SHA-256 of a delivery's body: with the event id, what makes a
/// delivery the same one again (the event id alone is not under the signature).
pub fn body_digest(body: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `claimed` is the signature of `body` under one of `secrets` (the current
/// one, and the previous one while a rotation is under way: events made before it
/// are redelivered signed with the old secret). Compared in constant time, on the
/// bytes as received: nothing is parsed before this says yes.
pub fn signature_is_valid<'a>(
    body: &[u8],
    claimed: &str,
    secrets: impl IntoIterator<Item = &'a str>,
) -> bool {
    let mut valid = false;
    for secret in secrets {
        let expected = signature(body, secret);
        // Every secret is tried, so the time taken does not say which one matched.
        valid |=
            constant_time::verify_slices_are_equal(expected.as_bytes(), claimed.as_bytes()).is_ok();
    }
    valid
}

/// What a verified delivery is about.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A payout event (`payout.queued`, `.initiated`, `.processed`, `.updated`,
    /// `.failed`, `.rejected`, `.reversed`, `.pending`).
    Payout {
        name: String,
        report: Box<GatewayReport>,
    },
    /// Anything else RazorpayX may send to the same URL (bank downtime, transactions,
    /// fund account validation): acknowledged, not acted on.
    Other { name: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a RazorpayX event: {0}")]
    NotAnEvent(String),
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    payload: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Wrapped {
    entity: PayoutEntity,
}

/// Reads a delivery whose signature was verified. serde's complaints quote the value
/// they could not take, which may be a person's details: those are taken out, as the
/// complaint is logged and answered.
pub fn parse(body: &[u8]) -> Result<Event, ParseError> {
    let quoted = |err: serde_json::Error| platform::telemetry::redact(&err.to_string());
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| ParseError::NotJson(quoted(err)))?;
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|err| ParseError::NotAnEvent(quoted(err)))?;
    let payout = envelope.payload.get("payout");
    let (true, Some(payout)) = (envelope.event.starts_with("payout."), payout) else {
        return Ok(Event::Other {
            name: envelope.event,
        });
    };
    let Wrapped { entity } = serde_json::from_value(payout.clone())
        .map_err(|err| ParseError::NotAnEvent(format!("payload.payout: {}", quoted(err))))?;
    Ok(Event::Payout {
        name: envelope.event,
        report: Box::new(report(&entity)),
    })
}

/// A `fund_account.validation.*` delivery, read.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidationEvent {
    /// `fund_account.validation.completed` or `.failed`.
    pub name: String,
    pub validation: Validation,
}

/// Reads a verified delivery as a validation event: `Ok(None)` for any other event
/// (those are `parse`'s, which reads this one as `Event::Other` and is unchanged by
/// it). The entity is read by the same code as a polled one, so the two cannot
/// disagree.
pub fn parse_validation(body: &[u8]) -> Result<Option<ValidationEvent>, ParseError> {
    const PAYLOAD: &str = "fund_account.validation";
    let quoted = |err: serde_json::Error| platform::telemetry::redact(&err.to_string());
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| ParseError::NotJson(quoted(err)))?;
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|err| ParseError::NotAnEvent(quoted(err)))?;
    if !envelope.event.starts_with("fund_account.validation.") {
        return Ok(None);
    }
    let entity = envelope
        .payload
        .get(PAYLOAD)
        .and_then(|wrapped| wrapped.get("entity"))
        .cloned()
        .ok_or_else(|| ParseError::NotAnEvent(format!("no payload.{PAYLOAD}.entity")))?;
    let validation = super::validation::parse_entity(entity)
        .map_err(|err| ParseError::NotAnEvent(format!("payload.{PAYLOAD}.entity: {err}")))?;
    Ok(Some(ValidationEvent {
        name: envelope.event,
        validation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::ValidationStatus;
    use crate::TransferOutcome;

    const SECRET: &str = "a-webhook-secret";

    fn event(name: &str, status: &str) -> Vec<u8> {
        serde_json::json!({
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": name,
            "contains": ["payout"],
            "payload": {"payout": {"entity": {
                "id": "pout_00000000000001",
                "entity": "payout",
                "status": status,
                "utr": "UTR123",
                "reference_id": "6f1c2a38-45f5-4f3a-9a5b-2f7d8cf0c5a1",
                "notes": {"idempotency_key": "6f1c2a3845f54f3a9a5b2f7d8cf0c5a1-1"},
                "status_details": {"reason": "beneficiary_bank_rejected", "description": "The bank rejected it", "source": "beneficiary_bank"}
            }}},
            "created_at": 1_580_118_468
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_raw_body() {
        // RFC 4231 test case 2.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signature(b"what do ya want for nothing?", "Jefe"), hex);
    }

    #[test]
    fn any_listed_secret_verifies_and_nothing_else_does() {
        let body = event("payout.processed", "processed");
        let signed = signature(&body, SECRET);
        assert!(signature_is_valid(&body, &signed, [SECRET]));
        assert!(signature_is_valid(&body, &signed, ["new-secret", SECRET]));
        assert!(!signature_is_valid(&body, &signed, ["new-secret"]));
        assert!(!signature_is_valid(&body, "", [SECRET]));
        assert!(!signature_is_valid(&body, &signed.to_uppercase(), [SECRET]));
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert!(!signature_is_valid(&tampered, &signed, [SECRET]));
    }

    #[test]
    fn a_payout_event_becomes_a_report() {
        let Ok(Event::Payout { name, report }) = parse(&event("payout.reversed", "reversed"))
        else {
            panic!("not a payout event");
        };
        assert_eq!(name, "payout.reversed");
        assert_eq!(report.gateway_payout_id, "pout_00000000000001");
        assert_eq!(
            report.payout_id,
            uuid::Uuid::parse_str("6f1c2a38-45f5-4f3a-9a5b-2f7d8cf0c5a1").ok()
        );
        assert_eq!(
            report.idempotency_key.as_deref(),
            Some("6f1c2a3845f54f3a9a5b2f7d8cf0c5a1-1")
        );
        assert!(matches!(report.outcome, TransferOutcome::Reversed { .. }));
        assert_eq!(report.not_after, &["reversed"]);
        assert_eq!(
            report.details.reason.as_deref(),
            Some("beneficiary_bank_rejected")
        );
    }

    #[test]
    fn a_validation_event_is_read_by_its_own_reader_and_left_alone_by_parse() {
        // RazorpayX's sample payload (docs/RAZORPAYX.md, "Fund account validation").
        let body = serde_json::json!({
            "entity": "event",
            "account_id": "acc_BfVUrG6tDiL7H0",
            "event": "fund_account.validation.completed",
            "contains": ["fund_account.validation"],
            "payload": {"fund_account.validation": {"entity": {
                "id": "fav_Fa6RwlxjoX0xeO",
                "entity": "fund_account.validation",
                "fund_account": {
                    "id": "fa_Fa6Rq1WwNrpMoK",
                    "entity": "fund_account",
                    "contact_id": "cont_FYSVUV5EeJKkKb",
                    "account_type": "bank_account",
                    "bank_account": {"name": "Gaurav Kumar", "bank_name": "HDFC", "ifsc": "HDFC0000053", "account_number": "1121431121541121"},
                    "batch_id": null,
                    "active": true,
                    "created_at": 1_599_473_652
                },
                "status": "completed",
                "amount": 127,
                "currency": "INR",
                "notes": {},
                "results": {"account_status": "active", "registered_name": "Gaurav Kumar"},
                "created_at": 1_599_473_653,
                "utr": "025014283826"
            }}},
            "created_at": 1_599_473_671
        })
        .to_string()
        .into_bytes();
        assert_eq!(
            parse(&body),
            Ok(Event::Other {
                name: "fund_account.validation.completed".to_owned()
            })
        );
        let Ok(Some(read)) = parse_validation(&body) else {
            panic!("not a validation event");
        };
        assert_eq!(read.name, "fund_account.validation.completed");
        assert_eq!(read.validation.id, "fav_Fa6RwlxjoX0xeO");
        assert_eq!(read.validation.status, ValidationStatus::Verified);
        assert_eq!(read.validation.name_match.matches(), Some(true));
        assert_eq!(
            read.validation.fund_account_id.as_deref(),
            Some("fa_Fa6Rq1WwNrpMoK")
        );

        assert_eq!(
            parse_validation(&event("payout.processed", "processed")),
            Ok(None)
        );
        let empty = br#"{"event":"fund_account.validation.failed","payload":{}}"#;
        assert!(matches!(
            parse_validation(empty),
            Err(ParseError::NotAnEvent(_))
        ));
    }

    #[test]
    fn other_events_and_bad_bodies() {
        let downtime = br#"{"entity":"event","event":"payout.downtime.started","payload":{"payout.downtime":{}}}"#;
        assert_eq!(
            parse(downtime),
            Ok(Event::Other {
                name: "payout.downtime.started".to_owned()
            })
        );
        assert!(matches!(parse(b"not json"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse(b"[1,2]"), Err(ParseError::NotAnEvent(_))));
        let no_entity = br#"{"event":"payout.processed","payload":{"payout":{}}}"#;
        assert!(matches!(parse(no_entity), Err(ParseError::NotAnEvent(_))));
    }
}
