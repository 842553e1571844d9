//! The project's Python virtualenv under `.local/venv`: the tools that ship on PyPI
//! (cargo-lambda, the template linters, moto, schemathesis) install there, never into
//! the system's Python.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{paths, run};

pub fn venv_dir() -> PathBuf {
    paths::local_dir().join("venv")
}

/// The venv with `packages` installed; returns its `bin/`. `probe` is a file of that
/// `bin/` the packages provide: when it is there, nothing is installed again.
pub fn venv_with(packages: &[&str], probe: &str) -> Result<PathBuf> {
    let venv = venv_dir();
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
