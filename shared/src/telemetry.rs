//! Structured JSON logs for every function, one event per line: `timestamp`, `level`,
//! `message`, the event's fields (`event`, `payout_id`, `user_id`, `amount_paise`, …)
//! at the top level, and the Lambda runtime's invocation span (`requestId`) under
//! `span`, so CloudWatch Logs Insights can filter on any of them.

use tracing_subscriber::EnvFilter;

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
        .with_env_filter(EnvFilter::new(filter))
        .try_init();
    crate::metrics::init(stage, function);
}
