//! Tools the local stack installs for itself into `.local/` (docs/DEVELOPMENT.md, Tests).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};
use devkit::paths;

pub const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

pub use devkit::python::venv_with;

/// Razorpay's official Python SDK: the webhook tests check our signatures with its
/// `Utility.verify_webhook_signature`.
pub const RAZORPAY_SDK: &str = "razorpay==2.0.1";

/// The venv's `python` with `package` importable as `module`; installs it if not.
pub fn python_with(package: &str, module: &str) -> Result<PathBuf> {
    let bin = venv_with(&[package], "pip")?;
    let python = bin.join("python");
    let importable = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if !importable(&python) {
        eprintln!("installing {package} into {}", bin.display());
        run(Command::new(bin.join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ]))?;
        if !importable(&python) {
            bail!("`import {module}` fails after installing {package}");
        }
    }
    Ok(python)
}

/// `cargo lambda` from PyPI; returns the directory to put first on `PATH`.
pub fn cargo_lambda() -> Result<PathBuf> {
    venv_with(&[CARGO_LAMBDA], "cargo-lambda")
}

/// `PATH` with `dir` in front.
pub fn path_with(dir: &std::path::Path) -> String {
    match std::env::var("PATH") {
        Ok(path) => format!("{}:{path}", dir.display()),
        Err(_) => dir.display().to_string(),
    }
}

pub use devkit::run;

/// The template linters, pinned: each catches mistakes the other misses.
const CFN_LINT: &str = "cfn-lint==1.58.0";
const SAM_CLI: &str = "aws-sam-cli==1.170.0";

/// The venv's bin directory, with the SAM CLI and cfn-lint in it.
pub fn sam() -> Result<PathBuf> {
    venv_with(&[CFN_LINT, SAM_CLI], "sam")
}

/// `cfn-lint` and `sam validate --lint` on `template.yaml`, offline: no telemetry, and
/// a region so neither goes looking for one.
pub fn lint_template() -> Result<()> {
    let bin = sam()?;
    let template = paths::template();
    let offline = [
        ("SAM_CLI_TELEMETRY", "0"),
        ("AWS_REGION", "ap-south-1"),
        ("AWS_DEFAULT_REGION", "ap-south-1"),
    ];
    run(Command::new(bin.join("cfn-lint"))
        .arg(&template)
        .envs(offline))?;
    run(Command::new(bin.join("sam"))
        .args(["validate", "--lint", "--template"])
        .arg(&template)
        .envs(offline)
        .current_dir(paths::workspace_root()))
}
