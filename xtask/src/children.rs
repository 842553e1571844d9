//! Child processes in their own process group, so stopping one also stops what it
//! started (`cargo lambda watch` runs each function as a grandchild).
//!
//! A process group is not always enough: `cargo lambda watch` starts each function in
//! a session of its own, which the group's signal does not reach. It stops them itself
//! on SIGTERM; should it not (killed, crashed), whatever of its tree outlives it is
//! stopped by pid, from a list taken before anything was signalled.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How long a process tree has to stop on SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

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
        signal_pids(signal, &[format!("-{}", self.child.id())]);
    }

    /// Waits up to `limit` for the process itself to end.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.exited().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervised {
    /// SIGTERM to the group, SIGKILL after [`GRACE`]; then anything of the tree that
    /// is still running, wherever it lives, the same way.
    fn drop(&mut self) {
        let pid = self.child.id();
        // Before any signal: once a process ends, its children are re-parented and can
        // no longer be traced back to it.
        let tree = proc::tree(pid);
        if self.exited().is_none() {
            self.signal_group("-TERM");
            if !self.wait_exit(GRACE) {
                self.signal_group("-KILL");
                let _ = self.child.wait();
            }
        }
        stop_all(&tree);
    }
}

/// Stops the processes of `tree` still running (and what they started since): SIGTERM,
/// then SIGKILL for those still there after [`GRACE`].
fn stop_all(tree: &[proc::Id]) {
    let running = |known: &[proc::Id]| -> Vec<proc::Id> {
        let mut running: Vec<proc::Id> =
            known.iter().copied().filter(proc::Id::is_running).collect();
        let roots: Vec<u32> = running.iter().map(|id| id.pid).collect();
        for root in roots {
            for id in proc::tree(root) {
                if !running.contains(&id) {
                    running.push(id);
                }
            }
        }
        running
    };
    let left = running(tree);
    if left.is_empty() {
        return;
    }
    signal_ids("-TERM", &left);
    let deadline = Instant::now() + GRACE;
    let mut left = left;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left.retain(proc::Id::is_running);
        if left.is_empty() {
            return;
        }
    }
    signal_ids("-KILL", &running(&left));
}

fn signal_ids(signal: &str, ids: &[proc::Id]) {
    // Checked again just before: a pid that ended may since have been given to another
    // process.
    let pids: Vec<String> = ids
        .iter()
        .filter(|id| id.is_running())
        .map(|id| id.pid.to_string())
        .collect();
    signal_pids(signal, &pids);
}

fn signal_pids(signal: &str, pids: &[String]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(signal)
        .arg("--")
        .args(pids)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The process table, from `/proc`.
mod proc {
    /// A process: its pid and its start time (pids are reused, the pair is not).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct Id {
        pub pid: u32,
        start: u64,
    }

    impl Id {
        /// Still there, and not a zombie waiting for its parent.
        pub fn is_running(&self) -> bool {
            stat(self.pid).is_some_and(|stat| stat.id == *self && !stat.ended)
        }
    }

    struct Stat {
        id: Id,
        parent: u32,
        group: u32,
        ended: bool,
    }

    /// `/proc/<pid>/stat`: `pid (comm) state ppid pgrp session … starttime …`; the
    /// command name may hold spaces and parentheses, so fields count from the last `)`.
    fn stat(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = text
            .get(text.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        Some(Stat {
            id: Id {
                pid,
                start: fields.get(19)?.parse().ok()?,
            },
            parent: fields.get(1)?.parse().ok()?,
            group: fields.get(2)?.parse().ok()?,
            ended: matches!(*fields.first()?, "Z" | "X" | "x"),
        })
    }

    fn all() -> Vec<Stat> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .filter_map(stat)
            .collect()
    }

    /// Every live process descended from `root` or in its process group, and theirs,
    /// `root` excepted.
    pub fn tree(root: u32) -> Vec<Id> {
        let table = all();
        let mut found: Vec<Id> = table
            .iter()
            .filter(|stat| stat.group == root && stat.id.pid != root && !stat.ended)
            .map(|stat| stat.id)
            .collect();
        let mut parents = vec![root];
        parents.extend(found.iter().map(|id| id.pid));
        while let Some(parent) = parents.pop() {
            for stat in &table {
                if stat.parent == parent && !stat.ended && !found.contains(&stat.id) {
                    found.push(stat.id);
                    parents.push(stat.id.pid);
                }
            }
        }
        found
    }
}
