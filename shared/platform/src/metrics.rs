//! CloudWatch metrics as Embedded Metric Format: one JSON document per line on stdout,
//! which CloudWatch Logs turns into metrics with no API call and no extra latency.
//!
//! Hand-written rather than `metrics_cloudwatch_embedded`: that crate needs a
//! process-global recorder and a flush wrapper around the runtime, while this service
//! emits a fixed handful of values at known points; a typed document is smaller and
//! testable. Emission is off until [`init`] runs (Lambda `main`s call it), so tests
//! and tools print nothing.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Payouts";

/// (stage, function) of this process, once emission is on.
static SINK: OnceLock<(String, String)> = OnceLock::new();

/// Turns emission on for this process; stage and function become dimensions.
pub fn init(stage: &str, function: &str) {
    let _ = SINK.set((stage.to_owned(), function.to_owned()));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// The EMF document: `values` are published under every dimension set in
/// `dimension_sets` (each a list of keys of `dimensions`); `properties` ride along as
/// searchable log fields.
pub fn document(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    dimension_sets: &[&[&str]],
    values: &[(&str, Unit, u64)],
    properties: &[(&str, Value)],
) -> Value {
    let mut root = Map::new();
    for (name, value) in properties {
        root.insert((*name).to_owned(), value.clone());
    }
    for (name, value) in dimensions {
        root.insert((*name).to_owned(), json!(value));
    }
    for (name, _, value) in values {
        root.insert((*name).to_owned(), json!(value));
    }
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(root)
}

/// Publishes `values` per stage, and per stage and function.
pub fn emit(values: &[(&str, Unit, u64)], properties: &[(&str, Value)]) {
    let Some((stage, function)) = SINK.get() else {
        return;
    };
    let document = document(
        domain::time::Timestamp::now().unix_millis(),
        &[("Stage", stage), ("Function", function)],
        &[&["Stage"], &["Stage", "Function"]],
        values,
        properties,
    );
    // A single write of one line: EMF documents must not interleave with log lines.
    println!("{document}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_follows_the_embedded_metric_format() {
        let doc = document(
            1_795_485_600_000,
            &[("Stage", "dev"), ("Function", "process-pending")],
            &[&["Stage"], &["Stage", "Function"]],
            &[
                ("PayoutsCompleted", Unit::Count, 3),
                ("BatchDurationMs", Unit::Milliseconds, 1042),
            ],
            &[("request_id", json!("abc"))],
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_485_600_000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Payouts");
        assert_eq!(
            directive["Dimensions"],
            json!([["Stage"], ["Stage", "Function"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "PayoutsCompleted", "Unit": "Count"}, {"Name": "BatchDurationMs", "Unit": "Milliseconds"}])
        );
        // Every metric and dimension named in the directive is a member of the root.
        assert_eq!(doc["PayoutsCompleted"], 3);
        assert_eq!(doc["BatchDurationMs"], 1042);
        assert_eq!(doc["Stage"], "dev");
        assert_eq!(doc["Function"], "process-pending");
        assert_eq!(doc["request_id"], "abc");
    }
}
