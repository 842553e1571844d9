//! Structured JSON logs for every function, one event per line: `timestamp`, `level`,
//! `message`, the event's fields (`event`, `payout_id`, `user_id`, `amount_paise`, …)
//! at the top level, and the Lambda runtime's invocation span (`requestId`) under
//! `span`, so CloudWatch Logs Insights can filter on any of them.

use tracing::{Level, Metadata};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Crates below us that log whole events, requests or responses at TRACE, and those
/// carry bearer tokens (every API event's `authorization` header), people's bank
/// details, VPAs and emails (payout accounts, webhook bodies) and our gateway
/// credentials. Whatever level an operator asks for, these stay at most DEBUG; none of
/// them writes a payload at DEBUG (read in their sources: lambda_runtime 1.5,
/// lambda_runtime_api_client 1.1, lambda_http 1.3, aws-smithy-runtime 1.16,
/// aws-sigv4 1.6, hyper 1, reqwest 0.13).
const WIRE_LOG_CAPS: [&str; 20] = [
    // `lambda_runtime::layers::api_response` writes each invocation's raw event.
    "lambda_runtime=debug",
    "lambda_runtime_api_client=debug",
    "lambda_http=debug",
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http=debug",
    "aws_smithy_http_client=debug",
    // Signing writes the request it signs.
    "aws_sigv4=debug",
    "aws_config=debug",
    "aws_runtime=debug",
    "aws_sdk_dynamodb=debug",
    // Emails carry people's addresses; events never carry bank details, but stay capped.
    "aws_sdk_sesv2=debug",
    "aws_sdk_eventbridge=debug",
    "aws_sdk_secretsmanager=debug",
    "hyper=debug",
    "hyper_util=debug",
    "h2=debug",
    "reqwest=debug",
    "rustls=debug",
    "tower=debug",
];

/// The filter for `level` (an `EnvFilter` directive list), with the wire logs capped.
/// The caps only ever lower a level: added to a filter that asks for no TRACE, they
/// would turn those targets' DEBUG on.
pub fn filter(level: &str) -> EnvFilter {
    let filter = EnvFilter::new(level);
    if !level.to_ascii_lowercase().contains("trace") {
        return filter;
    }
    WIRE_LOG_CAPS
        .iter()
        .filter_map(|cap| cap.parse().ok())
        .fold(filter, EnvFilter::add_directive)
}

/// Our own code, the one place TRACE may come from: it logs ids, amounts and codes.
/// Every crate of the service, each its own log target.
const OWN_TARGETS: [&str; 6] = ["service", "api", "domain", "platform", "store", "gateway"];

/// Behind [`filter`]'s caps: an operator's directive naming a module of a capped crate
/// (`lambda_runtime::layers=trace`) is more specific than the cap and would win over
/// it, so no TRACE from outside our own code is ever written, whatever the filter says.
fn never_trace_outside_ours(metadata: &Metadata<'_>) -> bool {
    *metadata.level() < Level::TRACE
        || OWN_TARGETS.iter().any(|own| {
            metadata
                .target()
                .strip_prefix(own)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Installs the JSON subscriber once per process and turns metrics on. The level comes
/// from `RUST_LOG`, else `LOG_LEVEL`, else Lambda's `AWS_LAMBDA_LOG_LEVEL` (set by the
/// function's logging config), else `info`.
pub fn init(stage: &str, function: &str) {
    let filter = ["RUST_LOG", "LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        // Lambda's levels include FATAL, which tracing calls ERROR.
        .map(|level| level.to_lowercase().replace("fatal", "error"))
        .unwrap_or_else(|| "info".to_owned());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(self::filter(&filter))
        .finish()
        .with(tracing_subscriber::filter::filter_fn(
            never_trace_outside_ours,
        ))
        .try_init();
    crate::metrics::init(stage, function);
}

/// The first line of a scheduled function's invocation: which EventBridge event woke
/// it, so that a run can be matched to its trigger (and a redelivery told apart).
pub fn schedule_fired(event: &aws_lambda_events::eventbridge::EventBridgeEvent, what: &str) {
    tracing::info!(
        event = "schedule_fired",
        event_id = event.id.as_deref().unwrap_or_default(),
        detail_type = %event.detail_type,
        scheduled_for = %event.time.map(|time| time.to_rfc3339()).unwrap_or_default(),
        what,
        "scheduled {what}"
    );
}

/// What stands in for anything [`redact`] takes out.
pub const REDACTED: &str = "[redacted]";

/// Text from outside (a gateway's error description, a transport error) made fit for
/// a log line: gateways quote the request back ("VPA asha@okhdfc is invalid", "IFSC
/// HDFC0000053 not found"), so anything that looks like an email or a VPA (`x@y`), an
/// IFSC, or an account number (eight digits or more in a row) is replaced by
/// [`REDACTED`]. Codes, field names and the words around them stay.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() || "._+-@".contains(character) {
            word.push(character);
        } else {
            redact_word(&word, &mut out);
            word.clear();
            out.push(character);
        }
    }
    redact_word(&word, &mut out);
    out
}

/// Account numbers are 9 to 18 digits; shorter runs (a status code, a field length, an
/// IP's octets) say nothing about anyone.
const ACCOUNT_DIGITS: usize = 8;

fn redact_word(word: &str, out: &mut String) {
    if word.contains('@') {
        out.push_str(REDACTED);
        return;
    }
    // Each run of letters and digits is judged on its own: `acc-000123456789` is one
    // word, and its digits are an account number.
    let mut segment = String::new();
    for character in word.chars() {
        if character.is_ascii_alphanumeric() {
            segment.push(character);
        } else {
            redact_segment(&segment, out);
            segment.clear();
            out.push(character);
        }
    }
    redact_segment(&segment, out);
}

fn redact_segment(segment: &str, out: &mut String) {
    if is_ifsc(segment) {
        out.push_str(REDACTED);
        return;
    }
    let mut digits = String::new();
    for character in segment.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        flush_digits(&mut digits, out);
        out.push(character);
    }
    flush_digits(&mut digits, out);
}

fn flush_digits(digits: &mut String, out: &mut String) {
    if digits.len() >= ACCOUNT_DIGITS {
        out.push_str(REDACTED);
    } else {
        out.push_str(digits);
    }
    digits.clear();
}

/// `[A-Z]{4}0[A-Z0-9]{6}`, in either case (a gateway may echo what it was sent).
fn is_ifsc(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 11
        && bytes[..4].iter().all(u8::is_ascii_alphabetic)
        && bytes[4] == b'0'
        && bytes[5..].iter().all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[test]
    fn redaction_takes_out_vpas_emails_ifscs_and_account_numbers() {
        let cases = [
            ("VPA asha@okhdfc is invalid", "VPA [redacted] is invalid"),
            (
                "Invalid IFSC Code HDFC0000053 (field ifsc)",
                "Invalid IFSC Code [redacted] (field ifsc)",
            ),
            (
                "account 765432123456789 is closed; mail asha.rao+pay@example.co.in",
                "account [redacted] is closed; mail [redacted]",
            ),
            (
                "ifsc=hdfc0000053,acc-000123456789",
                "ifsc=[redacted],acc-[redacted]",
            ),
            (
                "403: Transactions from this IP are not allowed",
                "403: Transactions from this IP are not allowed",
            ),
            (
                "The amount must be at least 100 (field amount)",
                "The amount must be at least 100 (field amount)",
            ),
            ("pout_RvSample000001 failed", "pout_RvSample000001 failed"),
        ];
        for (text, redacted) in cases {
            assert_eq!(redact(text), redacted, "{text}");
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut captured) = self.0.lock() {
                captured.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What reaches the output at `level` when each capped crate (and one of its
    /// modules) writes at TRACE and DEBUG, and our own code at TRACE.
    fn written(level: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .with_env_filter(filter(level))
            .finish()
            .with(tracing_subscriber::filter::filter_fn(
                never_trace_outside_ours,
            ));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "planted-event", "raw JSON event received from Lambda");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "planted-request");
            tracing::trace!(target: "aws_sigv4::http_request::sign", "planted-signing");
            tracing::trace!(target: "some_future_crate", "planted-elsewhere");
            tracing::debug!(target: "lambda_runtime::runtime", "debug-kept");
            tracing::trace!(target: "service::process", "ours-kept");
        });
        let text = captured
            .0
            .lock()
            .map(|bytes| bytes.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&text).into_owned()
    }

    #[test]
    fn no_trace_from_below_us_is_written_whatever_the_filter() {
        for level in [
            "trace",
            "TRACE",
            "info,lambda_runtime=trace",
            "lambda_runtime::layers::api_response=trace",
            "aws_smithy_runtime::client=trace,aws_sigv4=trace,trace",
        ] {
            let text = written(level);
            assert!(!text.contains("planted"), "{level}: {text}");
        }
        let text = written("trace");
        assert!(text.contains("debug-kept"), "{text}");
        assert!(text.contains("ours-kept"), "{text}");
    }
}
