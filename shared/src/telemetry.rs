//! Structured JSON logs for every function, one event per line: `timestamp`, `level`,
//! `message`, the event's fields (`event`, `payout_id`, `user_id`, `amount_paise`, …)
//! at the top level, and the Lambda runtime's invocation span (`requestId`) under
//! `span`, so CloudWatch Logs Insights can filter on any of them.

use tracing_subscriber::EnvFilter;

/// The HTTP stacks under the AWS SDK and the RazorpayX client log whole requests and
/// responses at TRACE, and those carry people's bank details (payout accounts) and our
/// gateway credentials. Whatever level an operator asks for, these stay at most DEBUG.
const WIRE_LOG_CAPS: [&str; 8] = [
    "aws_smithy_runtime=debug",
    "aws_smithy_http_client=debug",
    "aws_sdk_dynamodb=debug",
    // Emails carry people's addresses; events never carry bank details, but stay capped.
    "aws_sdk_sesv2=debug",
    "aws_sdk_eventbridge=debug",
    "hyper=debug",
    "hyper_util=debug",
    "reqwest=debug",
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
