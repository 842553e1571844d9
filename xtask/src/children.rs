//! Child processes in their own process group, so stopping one also stops what it
//! started (`cargo lambda watch` runs each function as a grandchild).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    pub fn spawn(name: &'static str, command: &mut Command) -> Result<Self> {
        let child = command
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Supervised { name, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(message)` once the process has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited: {status}", self.name)),
            Ok(None) => None,
            Err(err) => Some(format!("{}: {err}", self.name)),
        }
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .status();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}
