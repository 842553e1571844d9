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
