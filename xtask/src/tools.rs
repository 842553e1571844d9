//! Tools the local stack installs for itself into `.local/` (DESIGN §11).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use devkit::paths;

pub const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

/// A Python virtualenv under `.local/venv` with `packages` installed; returns its `bin/`.
pub fn venv_with(packages: &[&str], probe: &str) -> Result<PathBuf> {
    let venv = paths::local_dir().join("venv");
    let bin = venv.join("bin");
    if bin.join(probe).is_file() {
        return Ok(bin);
    }
    if !bin.join("pip").is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("creating a Python venv (is python3-venv installed?)")?;
    }
    eprintln!("installing {} into {}", packages.join(" "), venv.display());
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages))?;
    if !bin.join(probe).is_file() {
        bail!("{probe} is missing after installing {}", packages.join(" "));
    }
    Ok(bin)
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

pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
