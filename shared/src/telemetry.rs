//! Structured JSON logs for every function: one event per line, fields flattened so
//! CloudWatch Logs Insights can filter on `payout_id`, `user_id`, `event`.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per process. `RUST_LOG` (or `LOG_LEVEL`) picks the level.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LOG_LEVEL"))
        .unwrap_or_else(|_| "info".to_owned());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_env_filter(EnvFilter::new(filter))
        .try_init();
}
