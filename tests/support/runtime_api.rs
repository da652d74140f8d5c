//! A Lambda Runtime API of the tests' own, on 127.0.0.1: it runs a real function binary
//! as Lambda does (the process polls `/runtime/invocation/next`, posts each answer to
//! `/runtime/invocation/{id}/response`, and a failed init to `/runtime/init/error`),
//! hands it API Gateway events built from the samples in `events/`, and records what it
//! answers, when, and how its init ended. Unlike `cargo lambda watch` it shows a test
//! the init error itself and when it came.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// The function binaries of the workspace (`auth`, `tenants`, `verify`, `pers-local`),
/// built once per test binary with the cargo and profile the tests run with.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = std::process::Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--locked",
                "--message-format=json-render-diagnostics",
            ])
            .args([
                "-p",
                "auth",
                "-p",
                "tenants",
                "-p",
                "verify",
                "-p",
                "pers-local",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "building the function binaries failed"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .filter_map(|m| {
                let exe = m["executable"].as_str()?;
                Some((m["target"]["name"].as_str()?.to_owned(), PathBuf::from(exe)))
            })
            .collect()
    });
    built
        .get(name)
        .unwrap_or_else(|| panic!("no binary {name} among {:?}", built.keys()))
        .clone()
}

/// An API Gateway HTTP API event (payload 2.0) from `events/<sample>.json`, with its
/// headers and body replaced.
pub fn event(sample: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{sample}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut event: Value = serde_json::from_str(&text).expect("sample event is JSON");
    let mut map = serde_json::Map::new();
    map.insert(
        "host".into(),
        json!("a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
    );
    map.insert("content-type".into(), json!("application/json"));
    for (k, v) in headers {
        map.insert((*k).to_owned(), json!(v));
    }
    event["headers"] = Value::Object(map);
    match body {
        Some(body) => event["body"] = json!(body.to_string()),
        None => {
            if let Some(o) = event.as_object_mut() {
                o.remove("body");
            }
        }
    }
    event
}

/// How a function's init ended, as the Runtime API saw it.
#[derive(Debug, Clone)]
pub struct InitError {
    /// The `lambda-runtime-function-error-type` header.
    pub kind: String,
    /// The body: `errorType`, `errorMessage`.
    pub body: Value,
    /// From the process's start to the report's arrival.
    pub after: Duration,
}

/// A function's answer to one invocation, decoded from the API Gateway response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Value,
    pub json: Value,
    pub took: Duration,
}

/// One poll of `/runtime/invocation/next`: when it came, and how much CPU time the
/// process had used by then. The first ends init; each later one ends an invocation.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub at: Instant,
    pub cpu: Duration,
}

struct Shared {
    pid: OnceLock<u32>,
    polls: Mutex<Vec<Poll>>,
    next: tokio::sync::Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    init_error: Mutex<Option<oneshot::Sender<(String, Value, Instant)>>>,
}

/// One function process under a Runtime API of its own; both stop when dropped.
pub struct Function {
    child: tokio::process::Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// What it wrote to stdout: the metric documents (EMF).
    stdout: Arc<Mutex<Vec<String>>>,
    invocations: mpsc::Sender<(String, Value)>,
    shared: Arc<Shared>,
    init_error: Option<oneshot::Receiver<(String, Value, Instant)>>,
    started: Instant,
    server: tokio::task::JoinHandle<()>,
}

impl Function {
    /// Starts `binary` with exactly `env` (plus `PATH` and the Runtime API's address).
    pub async fn start(binary: &Path, env: &[(&str, String)]) -> Self {
        let (invocations, next) = mpsc::channel(8);
        let (init_tx, init_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            pid: OnceLock::new(),
            polls: Mutex::default(),
            next: tokio::sync::Mutex::new(next),
            waiting: Mutex::default(),
            init_error: Mutex::new(Some(init_tx)),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "pers-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start the function binary");
        if let Some(pid) = child.id() {
            let _ = shared.pid.set(pid);
        }
        // Its log lines, kept for the test and passed on to the test's own stderr.
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let logs = logs.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt as _;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("{line}");
                    logs.lock().expect("lock").push(line);
                }
            });
        }
        // Its metric documents, kept for the test (not echoed: one per counted event).
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let stdout = stdout.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt as _;
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    stdout.lock().expect("lock").push(line);
                }
            });
        }
        Self {
            child,
            logs,
            stdout,
            invocations,
            shared,
            init_error: Some(init_rx),
            started,
            server,
        }
    }

    /// Waits for the init error the function reports, or `None` if it reports none
    /// within `within` (or exits without one).
    pub async fn init_error(&mut self, within: Duration) -> Option<InitError> {
        let rx = self.init_error.take()?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok((kind, body, at))) => Some(InitError {
                kind,
                body,
                after: at.duration_since(self.started),
            }),
            _ => None,
        }
    }

    /// The lines the function wrote to stdout so far: its metric documents.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// The log lines (stderr) the function wrote so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("lock").clone()
    }

    /// Waits up to `within` for a log line containing every one of `parts`.
    pub async fn log_line(&self, parts: &[&str], within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .logs()
                .into_iter()
                .find(|line| parts.iter().all(|p| line.contains(p)));
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// When the process started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until the process has polled for its next invocation `count` times (the
    /// first poll ends init) and returns every poll so far; `None` after `within`.
    pub async fn polls(&self, count: usize, within: Duration) -> Option<Vec<Poll>> {
        let deadline = Instant::now() + within;
        loop {
            let polls = self.shared.polls.lock().expect("lock").clone();
            if polls.len() >= count {
                return Some(polls);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The process's peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Waits for the process to exit; `None` if it is still running after `within`.
    pub async fn exit_status(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// One invocation with an API Gateway event; panics if no answer comes in `within`.
    pub async fn invoke(&self, event: Value, within: Duration) -> Answer {
        let id = crate::unique();
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .expect("lock")
            .insert(id.clone(), tx);
        let started = Instant::now();
        self.invocations
            .send((id, event))
            .await
            .expect("the Runtime API is running");
        let response = tokio::time::timeout(within, rx)
            .await
            .unwrap_or_else(|_| panic!("no answer within {within:?}"))
            .expect("answer");
        let took = started.elapsed();
        let status = response["statusCode"].as_u64().unwrap_or(0) as u16;
        let body = response["body"].as_str().unwrap_or_default();
        let json = serde_json::from_str(body).unwrap_or_else(|_| {
            panic!("the function answered {status} with a body that is not JSON: {response}")
        });
        Answer {
            status,
            headers: response["headers"].clone(),
            json,
            took,
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

/// The CPU time (user and system, all threads) process `pid` has used, read from its
/// CPU-time clock (nanoseconds, unlike the clock ticks of `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both calls only write the out-parameter they are given, which lives on
    // this stack frame; a pid that is gone is an error return, not undefined behaviour.
    unsafe {
        if libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) != 0 {
            return None;
        }
        if libc::clock_gettime(clock, &mut now) != 0 {
            return None;
        }
    }
    Some(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> (HeaderMap, String) {
    let at = Instant::now();
    let cpu = shared.pid.get().and_then(|pid| cpu_time(*pid));
    shared.polls.lock().expect("lock").push(Poll {
        at,
        cpu: cpu.unwrap_or_default(),
    });
    let mut next = shared.next.lock().await;
    let Some((id, event)) = next.recv().await else {
        // The test is over: hold the poll until the process is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 10_000;
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        headers.insert(k, v.parse().expect("header value"));
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:pers-test".into(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0".into(),
    );
    (headers, event.to_string())
}

async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let answer = serde_json::from_str(&body).unwrap_or(Value::String(body));
    deliver(&shared, &id, answer)
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    // Lambda answers API Gateway with an error; API Gateway answers 502, not JSON of ours.
    deliver(
        &shared,
        &id,
        json!({"statusCode": 502, "body": format!("{{\"functionError\": {body:?}}}")}),
    )
}

fn deliver(shared: &Shared, id: &str, answer: Value) -> StatusCode {
    match shared.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    if let Some(tx) = shared.init_error.lock().expect("lock").take() {
        let _ = tx.send((kind, body, Instant::now()));
    }
    StatusCode::ACCEPTED
}
