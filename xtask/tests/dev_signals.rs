//! `cargo xtask dev` stops everything it started on SIGINT, SIGTERM and SIGHUP: the
//! built binary runs the whole stack on ports of its own (its own DynamoDB Local and
//! moto, never those the environment around the test may name), a function is started
//! through the API, and the signal goes to the xtask process alone, so what stops the
//! rest can only be xtask itself. Afterwards no port of the stack may answer and no
//! process it started may be running.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// First runs may install `cargo lambda` and build the function the test calls.
const START_LIMIT: Duration = Duration::from_secs(600);
/// From the signal to xtask's exit, every child stopped.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// The function the test starts through the API (a 401 without a token: no data needed).
const FUNCTION: &str = "my-payouts";
const FUNCTION_PATH: &str = "/payouts/my-payouts";

/// One stack at a time: they share the build and `.local/`.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn sigint_stops_everything() {
    stops_everything("INT", Gateway::Simulated);
}

#[test]
fn sigterm_stops_everything() {
    stops_everything("TERM", Gateway::Simulated);
}

#[test]
fn sighup_stops_everything() {
    stops_everything("HUP", Gateway::Simulated);
}

/// With `PAYMENT_GATEWAY=razorpayx`, the local RazorpayX's port is freed too.
#[test]
fn sigterm_stops_everything_with_the_local_razorpayx() {
    stops_everything("TERM", Gateway::RazorpayX);
}

/// A signal while xtask waits for `cargo lambda watch` to listen: start-up is covered
/// too. (Whatever phase it lands in, nothing may be left.)
#[test]
fn sigterm_during_start_up_stops_everything() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stack = Stack::start("TERM-start-up", Gateway::Simulated);
    let deadline = Instant::now() + START_LIMIT;
    let recorded = loop {
        let recorded = proc::descendants(stack.pid());
        if recorded
            .iter()
            .any(|process| process.name == "cargo-lambda")
        {
            break recorded;
        }
        if !stack.running() {
            stack.fail("xtask dev ended before it started cargo lambda watch");
        }
        if Instant::now() > deadline {
            stack.fail("no cargo lambda watch");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stack.recorded = recorded.clone();
    stack.signal("TERM");
    stack.check_stopped("TERM", &recorded);
}

#[derive(Clone, Copy, Debug)]
enum Gateway {
    Simulated,
    RazorpayX,
}

fn stops_everything(signal: &str, gateway: Gateway) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();
    let mut stack = Stack::start(signal, gateway);
    stack.wait_until_listening();
    stack.call_function();

    let recorded = proc::descendants(stack.pid());
    let names: Vec<&str> = recorded
        .iter()
        .map(|process| process.name.as_str())
        .collect();
    for expected in ["java", "moto_server", "cargo-lambda", FUNCTION] {
        if !names.contains(&expected) {
            stack.fail(&format!(
                "no `{expected}` among xtask's descendants: {recorded:?}"
            ));
        }
    }
    stack.recorded = recorded.clone();

    let sent = Instant::now();
    stack.signal(signal);
    stack.check_stopped(signal, &recorded);
    eprintln!(
        "SIG{signal} ({gateway:?}): {} processes stopped in {} ms; case took {} s",
        recorded.len(),
        sent.elapsed().as_millis(),
        started.elapsed().as_secs()
    );
}

/// `xtask dev` in a process group of its own; whatever a failed check leaves is
/// killed when this drops.
struct Stack {
    child: Child,
    exited: Option<ExitStatus>,
    log: PathBuf,
    api_port: u16,
    ddb_port: u16,
    moto_port: u16,
    razorpayx_port: Option<u16>,
    recorded: Vec<proc::Process>,
}

impl Stack {
    fn start(signal: &str, gateway: Gateway) -> Stack {
        let [api_port, ddb_port, moto_port, fake_port] = free_ports();
        let razorpayx_port = match gateway {
            Gateway::Simulated => None,
            Gateway::RazorpayX => Some(fake_port),
        };
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dev_signals-{signal}-{gateway:?}.log"));
        let output = File::create(&log).expect("creating the log");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("dev")
            .current_dir(root)
            .env("API_PORT", api_port.to_string())
            .env("DDB_PORT", ddb_port.to_string())
            .env("MOTO_PORT", moto_port.to_string())
            .env(
                "AWS_ENDPOINT_URL_DYNAMODB",
                format!("http://127.0.0.1:{ddb_port}"),
            )
            .env("LOCAL_SCHEDULE_SECS", "3600")
            .env("STAGE", "local")
            .env("PAYOUTS_TABLE", "payouts")
            .env_remove("RAZORPAYX_FAKE_PORT");
        // The local defaults, whatever the environment around the test says.
        for name in [
            "JWT_SECRET",
            "RAZORPAYX_BASE_URL",
            "RAZORPAYX_KEY_ID",
            "RAZORPAYX_KEY_SECRET",
            "RAZORPAYX_ACCOUNT_NUMBER",
            "RAZORPAYX_WEBHOOK_SECRET",
            "RAZORPAYX_FAKE_WEBHOOK_URL",
        ] {
            command.env_remove(name);
        }
        match razorpayx_port {
            None => command.env("PAYMENT_GATEWAY", "simulated"),
            Some(port) => command
                .env("PAYMENT_GATEWAY", "razorpayx")
                .env("RAZORPAYX_FAKE_PORT", port.to_string()),
        };
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("the log"))
            .stderr(output)
            .spawn()
            .expect("starting xtask dev");
        Stack {
            child,
            exited: None,
            log,
            api_port,
            ddb_port,
            moto_port,
            razorpayx_port,
            recorded: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ports(&self) -> Vec<(&'static str, u16)> {
        let mut ports = vec![
            ("the API (cargo lambda watch)", self.api_port),
            ("DynamoDB Local", self.ddb_port),
            ("moto", self.moto_port),
        ];
        ports.extend(
            self.razorpayx_port
                .map(|port| ("the local RazorpayX", port)),
        );
        ports
    }

    fn running(&mut self) -> bool {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("waiting for xtask");
        }
        self.exited.is_none()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        let ports = self.ports();
        while !ports.iter().all(|(_, port)| listening(*port)) {
            if !self.running() {
                self.fail("xtask dev ended before its ports listened");
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "{ports:?} not all listening after {START_LIMIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A request through `cargo lambda watch`, which starts the function to answer it.
    fn call_function(&mut self) {
        let answer = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(("127.0.0.1", self.api_port))?;
            stream.set_read_timeout(Some(START_LIMIT))?;
            write!(
                stream,
                "GET {FUNCTION_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer)?;
            Ok(answer)
        })();
        match answer {
            Ok(answer) if answer.starts_with("HTTP/1.1 401") => {}
            Ok(answer) => self.fail(&format!("GET {FUNCTION_PATH} answered {answer:?}")),
            Err(err) => self.fail(&format!("GET {FUNCTION_PATH}: {err}")),
        }
    }

    /// To the xtask process only, not its group.
    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("running kill");
        if !status.success() {
            self.fail(&format!("kill -s {signal} failed: {status}"));
        }
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_LIMIT;
        while self.running() {
            if Instant::now() > deadline {
                self.fail(&format!(
                    "xtask dev still running {STOP_LIMIT:?} after the signal"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.exited.expect("exited")
    }

    /// After `signal`: xtask has exited, successfully, and neither its ports nor the
    /// `recorded` processes are left.
    fn check_stopped(&mut self, signal: &str, recorded: &[proc::Process]) {
        let status = self.wait_exit();
        if !status.success() {
            self.fail(&format!("xtask dev exited with {status} after SIG{signal}"));
        }
        for (what, port) in self.ports() {
            if listening(port) {
                self.fail(&format!(
                    "{what} (port {port}) still listens after SIG{signal}"
                ));
            }
        }
        let running: Vec<&proc::Process> = recorded.iter().filter(|p| p.is_running()).collect();
        if !running.is_empty() {
            self.fail(&format!("still running after SIG{signal}: {running:?}"));
        }
    }

    fn fail(&mut self, message: &str) -> ! {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{message}\n--- {} (last 60 lines) ---\n{}",
            self.log.display(),
            tail.join("\n")
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.running() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.pid())])
                .status();
            let _ = self.child.wait();
        }
        let left: Vec<String> = self
            .recorded
            .iter()
            .filter(|process| process.is_running())
            .map(|process| process.pid.to_string())
            .collect();
        if !left.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&left).status();
        }
    }
}

/// Ports nobody listens on, all different: each is held until all are chosen (the
/// system may hand out a port it has just been given back).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind(("127.0.0.1", 0)).expect("binding a free port"));
    listeners.map(|listener| listener.local_addr().expect("its address").port())
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// The process table, from `/proc`.
mod proc {
    #[derive(Clone, Debug)]
    pub struct Process {
        pub pid: u32,
        pub name: String,
        /// With the pid, tells a process from a later one given the same pid.
        start: u64,
    }

    impl Process {
        /// Neither gone nor a zombie (an orphan waiting to be reaped is not running).
        pub fn is_running(&self) -> bool {
            stat(self.pid).is_some_and(|now| now.start == self.start && !now.ended)
        }
    }

    struct Stat {
        start: u64,
        parent: u32,
        ended: bool,
    }

    /// `/proc/<pid>/stat`: `pid (comm) state ppid …`, field 22 the start time; the name
    /// may hold spaces and parentheses, so fields count from the last `)`.
    fn stat(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = text
            .get(text.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        Some(Stat {
            start: fields.get(19)?.parse().ok()?,
            parent: fields.get(1)?.parse().ok()?,
            ended: matches!(*fields.first()?, "Z" | "X" | "x"),
        })
    }

    /// Every running process descended from `root`, by parent pid.
    pub fn descendants(root: u32) -> Vec<Process> {
        let table: Vec<(u32, Stat)> = std::fs::read_dir("/proc")
            .expect("reading /proc")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .filter_map(|pid| Some((pid, stat(pid)?)))
            .collect();
        let mut found = Vec::new();
        let mut parents = vec![root];
        while let Some(parent) = parents.pop() {
            for (pid, stat) in &table {
                if stat.parent == parent && !stat.ended {
                    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    found.push(Process {
                        pid: *pid,
                        name,
                        start: stat.start,
                    });
                    parents.push(*pid);
                }
            }
        }
        found
    }
}
