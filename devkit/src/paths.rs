//! Where things are: the workspace root and the git-ignored `.local/` beside it.

use std::path::PathBuf;

pub fn workspace_root() -> PathBuf {
    let devkit = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    devkit.parent().map(PathBuf::from).unwrap_or(devkit)
}

/// Downloaded tools, DynamoDB Local, logs: everything a fresh clone fetches for itself.
pub fn local_dir() -> PathBuf {
    workspace_root().join(".local")
}

pub fn template() -> PathBuf {
    workspace_root().join("template.yaml")
}

/// The sample event a function serves in the benchmarks and the arm64 check
/// (`events/`): its own, named after it, but for the functions with more than one kind
/// of event (the schedule's for the processor, an order's for the marketplace's).
pub fn sample_event(function: &str) -> PathBuf {
    let sample = match function {
        "process-pending" => "scheduled",
        "ingest-marketplace" => "ingest-marketplace-order",
        other => other,
    };
    workspace_root()
        .join("events")
        .join(format!("{sample}.json"))
}
