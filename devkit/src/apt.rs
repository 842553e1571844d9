//! Debian's packages, for the tools the local stack cannot fetch into `.local/`
//! (Java for DynamoDB Local, Chromium, the arm64 emulator): installed with apt-get,
//! as root or through passwordless sudo.

use std::process::Command;

use anyhow::{Context, Result};

/// Installs `packages` (no recommends), after refreshing the package lists.
pub fn install(packages: &[&str]) -> Result<()> {
    eprintln!("installing Debian's {} (apt-get)", packages.join(", "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        crate::run(&mut command)
    };
    apt(&["update", "-qq"]).context("apt-get update (installing packages needs root)")?;
    apt(&[
        &["install", "-y", "-qq", "--no-install-recommends"],
        packages,
    ]
    .concat())
    .with_context(|| format!("apt-get install {}", packages.join(" ")))
}
