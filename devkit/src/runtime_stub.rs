//! A minimal Lambda Runtime API on 127.0.0.1 for benchmarks: it hands out a fixed list
//! of events on `/next`, accepts responses, and notes when the first `/next` arrived —
//! the moment a function's init is over. With no events left, `/next` waits, as the
//! real API does between invocations. Tests read back what the function answered.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

/// Status, headers and body of one answer.
type Reply = (u16, Vec<(String, String)>, String);

#[derive(Default)]
struct State {
    events: Mutex<VecDeque<String>>,
    first_next: Mutex<Option<Instant>>,
    responses: AtomicU64,
    errors: AtomicU64,
    /// The bodies of `/response` and `/error`, in the order they came.
    answers: Mutex<Vec<String>>,
    changed: Condvar,
    stopped: AtomicBool,
    issued: AtomicU64,
}

pub struct RuntimeStub {
    port: u16,
    state: Arc<State>,
}

impl RuntimeStub {
    pub fn start(events: Vec<String>) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            events: Mutex::new(events.into()),
            ..State::default()
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let state = accept_state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            }
        });
        Ok(RuntimeStub { port, state })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// When the function first asked for work, waiting up to `limit` for it.
    pub fn wait_first_next(&self, limit: Duration) -> Option<Instant> {
        let guard = self.state.first_next.lock().ok()?;
        let (guard, _) = self
            .state
            .changed
            .wait_timeout_while(guard, limit, |first| first.is_none())
            .ok()?;
        *guard
    }

    /// Waits until `count` invocations were answered; `false` on timeout.
    pub fn wait_responses(&self, count: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.state.responses.load(Ordering::SeqCst)
                + self.state.errors.load(Ordering::SeqCst)
                >= count
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// What the function answered, responses and errors alike, in order.
    pub fn answers(&self) -> Vec<String> {
        self.state
            .answers
            .lock()
            .map(|answers| answers.clone())
            .unwrap_or_default()
    }

    /// Invocations the function reported as errors.
    pub fn errors(&self) -> u64 {
        self.state.errors.load(Ordering::SeqCst)
    }
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, state: &State) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if path.ends_with("/response") || path.ends_with("/error") {
            if let Ok(mut answers) = state.answers.lock() {
                answers.push(String::from_utf8_lossy(&body).into_owned());
            }
        }
        let reply = if method == "GET" && path.ends_with("/invocation/next") {
            next(state)
        } else if path.ends_with("/response") {
            state.responses.fetch_add(1, Ordering::SeqCst);
            Some((202, Vec::new(), r#"{"status":"OK"}"#.to_owned()))
        } else if path.ends_with("/error") {
            state.errors.fetch_add(1, Ordering::SeqCst);
            Some((202, Vec::new(), r#"{"status":"OK"}"#.to_owned()))
        } else {
            Some((404, Vec::new(), "{}".to_owned()))
        };
        let Some((status, headers, body)) = reply else {
            return;
        };
        let mut head = format!(
            "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// The next event, or a wait that ends only when the stub stops (then `None`).
fn next(state: &State) -> Option<Reply> {
    if let Ok(mut first) = state.first_next.lock() {
        if first.is_none() {
            *first = Some(Instant::now());
            state.changed.notify_all();
        }
    }
    loop {
        if let Some(event) = state
            .events
            .lock()
            .ok()
            .and_then(|mut events| events.pop_front())
        {
            let id = state.issued.fetch_add(1, Ordering::SeqCst);
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|now| now.as_millis() + 30_000)
                .unwrap_or_default();
            let headers = vec![
                (
                    "lambda-runtime-aws-request-id".to_owned(),
                    format!("bench-{id}"),
                ),
                (
                    "lambda-runtime-deadline-ms".to_owned(),
                    deadline.to_string(),
                ),
                (
                    "lambda-runtime-invoked-function-arn".to_owned(),
                    "arn:aws:lambda:ap-south-1:123456789012:function:bench".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id".to_owned(),
                    format!("Root=1-00000000-{id:024x}"),
                ),
            ];
            return Some((200, headers, event));
        }
        if state.stopped.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
