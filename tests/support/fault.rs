//! Network faults between the code under test and moto, switchable while a test runs.
//!
//! * [`FaultProxy`] is a TCP proxy in front of moto: it forwards bytes unchanged, or
//!   refuses connections, hangs, black-holes SYNs or slows the answers down
//!   ([`Fault`]), and a switch applies to new and to established connections alike.
//! * [`Throttler`] is an HTTP proxy in front of moto that answers chosen DynamoDB
//!   operations with DynamoDB's own throttling errors ([`ThrottleError`]) and forwards
//!   everything else.
//!
//! Both listen on 127.0.0.1 on a port the OS picks; the tests point the SDK's
//! `endpoint_url` at [`FaultProxy::endpoint`] / [`Throttler::endpoint`] instead of
//! moto's. Everything they start is stopped when they are dropped.

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The socket address of an endpoint such as `http://127.0.0.1:PORT` (moto's).
pub fn moto_addr(endpoint: &str) -> SocketAddr {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    authority
        .parse()
        .unwrap_or_else(|e| panic!("{endpoint:?} is not http://IP:PORT: {e}"))
}

/// What the network between the SDK and moto does (see [`FaultProxy::set`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A healthy network: bytes are forwarded both ways unchanged.
    Pass,
    /// Nothing listens on the port (the service is down, or a firewall rejects with
    /// RST): a connect fails at once with `ECONNREFUSED`. The listening socket is
    /// closed and every established proxied connection is reset (RST), as when the
    /// server process dies. Switching to any other mode listens on the same port again.
    Refuse,
    /// A server that accepts connections but is stuck (overloaded, paused, deadlocked),
    /// or a partition after the handshake: connects succeed, what arrives is read and
    /// thrown away, nothing is ever answered; connections stay open. Established
    /// connections go silent the same way. A connection that lost bytes this way is
    /// reset when the mode switches back to [`Fault::Pass`] or [`Fault::Slow`] (like a
    /// middlebox that lost the flow's state); one that stayed idle carries on.
    /// Requests sent during a hang never reach moto.
    Hang,
    /// A black hole (a firewall that drops packets, a host gone from the network): the
    /// SYN of a new connection is dropped, so a connect never completes and runs into
    /// the client's connect timeout (the kernel retransmits the SYN after 1 s, 3 s, …).
    /// Made by listening with a backlog of 1 and filling the accept queue with
    /// connections the proxy opens to itself, never accepted: Linux drops a SYN to a
    /// listener whose accept queue is full. Established connections go silent as in
    /// [`Fault::Hang`]. Switching back listens with a full-size backlog again, and the
    /// clients waiting in `SYN_SENT` get through on their next SYN retransmission.
    Blackhole,
    /// A slow link or slow server: forwarded, but every chunk on its way back to the
    /// client is held for this long first (chunks are delayed one after another, so an
    /// answer the proxy reads in k pieces takes at least k times the delay). A chunk
    /// being held is re-judged at once when the mode changes.
    Slow(Duration),
}

impl Fault {
    /// Bytes are forwarded in this mode.
    fn forwards(&self) -> bool {
        matches!(self, Fault::Pass | Fault::Slow(_))
    }

    /// Established connections stay open but carry nothing in this mode.
    fn silent(&self) -> bool {
        matches!(self, Fault::Hang | Fault::Blackhole)
    }

    fn listening(&self) -> Listen {
        match self {
            Fault::Pass | Fault::Slow(_) | Fault::Hang => Listen::Accepting,
            Fault::Refuse => Listen::Closed,
            Fault::Blackhole => Listen::Blackhole,
        }
    }
}

/// Listen backlog while the proxy accepts: large enough for a burst of SDK clients.
const BACKLOG: u32 = 1024;
/// How long a connect to the proxy's own black-holed port may take before it counts as
/// dropped; on loopback a handshake that happens takes microseconds.
const FILL_PROBE: Duration = Duration::from_millis(100);
/// Upper bound on the connections used to fill the accept queue (Linux needs 2 for a
/// backlog of 1).
const MAX_FILLERS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listen {
    Closed,
    Accepting,
    Blackhole,
}

/// The proxy's listening socket, as the current [`Fault`] wants it.
enum Listening {
    /// [`Fault::Refuse`]: no socket on the port.
    Closed,
    /// The accept loop, which owns the listener.
    Accepting(JoinHandle<()>),
    /// A listener with a full accept queue, and the connections filling it.
    Blackhole {
        _listener: TcpListener,
        _fillers: Vec<TcpStream>,
    },
}

impl Listening {
    fn kind(&self) -> Listen {
        match self {
            Listening::Closed => Listen::Closed,
            Listening::Accepting(_) => Listen::Accepting,
            Listening::Blackhole { .. } => Listen::Blackhole,
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of an upstream (moto), whose [`Fault`] can be
/// switched while connections are open. Starts in [`Fault::Pass`]; stops every task
/// it started and closes its sockets when dropped.
pub struct FaultProxy {
    /// Where the proxy listens; the same port in every mode.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Fault>,
    listening: tokio::sync::Mutex<Listening>,
    connections: Arc<Mutex<JoinSet<()>>>,
    accepted: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// A proxy to `upstream` on a port of 127.0.0.1 chosen by the OS, in [`Fault::Pass`].
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = listen(0, BACKLOG).expect("the fault proxy can listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (mode, _) = watch::channel(Fault::Pass);
        let proxy = Self {
            addr,
            upstream,
            mode,
            listening: tokio::sync::Mutex::new(Listening::Closed),
            connections: Arc::new(Mutex::new(JoinSet::new())),
            accepted: Arc::new(AtomicUsize::new(0)),
        };
        *proxy.listening.lock().await = Listening::Accepting(proxy.accept_loop(listener));
        proxy
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current mode.
    pub fn fault(&self) -> Fault {
        self.mode.borrow().clone()
    }

    /// Switches to `fault`, for new and established connections (see [`Fault`]). When
    /// this returns the listening socket is in its new state: refused connects fail,
    /// black-holed ones time out, and after a switch back they are accepted again.
    pub async fn set(&self, fault: Fault) {
        let mut listening = self.listening.lock().await;
        // Established connections react to the mode itself (reset, go silent, resume).
        let want = fault.listening();
        self.mode.send_replace(fault);
        if listening.kind() == want {
            return;
        }
        match std::mem::replace(&mut *listening, Listening::Closed) {
            Listening::Accepting(task) => {
                task.abort();
                // Resolves once the task's future, and with it the listener, is dropped.
                let _ = task.await;
            }
            // Dropped here: the listener and the connections filling its queue.
            Listening::Blackhole { .. } | Listening::Closed => {}
        }
        *listening = match want {
            Listen::Closed => Listening::Closed,
            Listen::Accepting => {
                Listening::Accepting(self.accept_loop(relisten(self.addr, BACKLOG).await))
            }
            Listen::Blackhole => black_hole(self.addr).await,
        };
    }

    /// Connections accepted so far, in every mode (the black hole's own fillers are
    /// never accepted and not counted).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn accept_loop(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream;
        let mode = self.mode.subscribe();
        let connections = self.connections.clone();
        let accepted = self.accepted.clone();
        tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    // Out of file descriptors and the like: wait for some to close.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut tasks = connections.lock().unwrap_or_else(PoisonError::into_inner);
                while tasks.try_join_next().is_some() {}
                tasks.spawn(serve(client, upstream, mode.clone()));
            }
        })
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Listening::Accepting(task) = self.listening.get_mut() {
            task.abort();
        }
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

/// A listener on `127.0.0.1:port` with `SO_REUSEADDR`, so that the port can be listened
/// on again while connections accepted by an earlier listener are still open.
fn listen(port: u16, backlog: u32) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(backlog)
}

/// [`listen`] on the proxy's port again, retrying for a second should the port be busy.
async fn relisten(addr: SocketAddr, backlog: u32) -> TcpListener {
    let mut attempts = 0;
    loop {
        match listen(addr.port(), backlog) {
            Ok(listener) => return listener,
            Err(e) if attempts == 50 => {
                panic!("the fault proxy cannot listen on {addr} again: {e}")
            }
            Err(_) => attempts += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A listener on `addr` with a backlog of 1 whose accept queue is full, so that the
/// kernel drops further SYNs.
async fn black_hole(addr: SocketAddr) -> Listening {
    let listener = relisten(addr, 1).await;
    let mut fillers = Vec::new();
    while fillers.len() < MAX_FILLERS {
        match tokio::time::timeout(FILL_PROBE, TcpStream::connect(addr)).await {
            Ok(Ok(filler)) => fillers.push(filler),
            Ok(Err(e)) => panic!("black hole: connecting to {addr} to fill its queue: {e}"),
            // This SYN was dropped: the queue is full.
            Err(_) => {
                return Listening::Blackhole {
                    _listener: listener,
                    _fillers: fillers,
                };
            }
        }
    }
    panic!(
        "black hole: {MAX_FILLERS} connections to a listener with backlog 1 all completed; \
         this kernel does not drop SYNs when the accept queue is full"
    )
}

/// One proxied connection: connects upstream, then carries bytes both ways under the
/// current mode until either side closes, or resets the client when the mode says so.
async fn serve(mut client: TcpStream, upstream: SocketAddr, mode: watch::Receiver<Fault>) {
    let _ = client.set_nodelay(true);
    let lost = AtomicBool::new(false);
    let upstream = tokio::select! {
        connected = TcpStream::connect(upstream) => connected,
        () = until_reset(mode.clone(), &lost) => return reset(client),
    };
    let Ok(mut upstream) = upstream else {
        // Upstream is down: the client sees what it would see without the proxy.
        return reset(client);
    };
    let _ = upstream.set_nodelay(true);
    let must_reset = {
        let (from_client, to_client) = client.split();
        let (from_upstream, to_upstream) = upstream.split();
        let requests = pump(from_client, to_upstream, mode.clone(), false, &lost);
        let answers = pump(from_upstream, to_client, mode.clone(), true, &lost);
        tokio::select! {
            _ = async { tokio::try_join!(requests, answers) } => false,
            () = until_reset(mode, &lost) => true,
        }
    };
    if must_reset {
        reset(client);
    }
}

/// Resolves when the connection must be reset: the mode is [`Fault::Refuse`], or the
/// connection lost bytes to a silence and the mode forwards again (or the proxy is gone).
async fn until_reset(mut mode: watch::Receiver<Fault>, lost: &AtomicBool) {
    loop {
        let fault = mode.borrow_and_update().clone();
        if fault == Fault::Refuse || (fault.forwards() && lost.load(Ordering::SeqCst)) {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

/// Closes `stream` with a RST instead of a FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Carries bytes from `src` to `dst` under the current mode; `to_client` marks the
/// direction [`Fault::Slow`] delays. Ends with `Ok` once `src` closed and `dst` was shut
/// down for writing, and with an error (ending the whole connection) when either side
/// fails, when `src` closes during a silence or after bytes were lost, or when the
/// proxy is dropped.
async fn pump(
    mut src: ReadHalf<'_>,
    mut dst: WriteHalf<'_>,
    mut mode: watch::Receiver<Fault>,
    to_client: bool,
    lost: &AtomicBool,
) -> io::Result<()> {
    let gone = || io::Error::new(io::ErrorKind::ConnectionAborted, "fault proxy stopped");
    let mut buf = vec![0; 16 * 1024];
    loop {
        mode.mark_unchanged();
        let n = tokio::select! {
            read = src.read(&mut buf) => read?,
            changed = mode.changed() => {
                changed.map_err(|_| gone())?;
                continue;
            }
        };
        let mut fault = mode.borrow_and_update().clone();
        if let (Fault::Slow(delay), true) = (&fault, to_client && n > 0) {
            let held = tokio::time::sleep(*delay);
            tokio::pin!(held);
            tokio::select! {
                () = &mut held => {}
                changed = mode.changed() => changed.map_err(|_| gone())?,
            }
            fault = mode.borrow_and_update().clone();
        }
        if n == 0 {
            if fault.silent() || lost.load(Ordering::SeqCst) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed while silent",
                ));
            }
            dst.shutdown().await?;
            return Ok(());
        }
        if !fault.forwards() || lost.load(Ordering::SeqCst) {
            // Hang or black hole: thrown away, and the connection can never resume.
            lost.store(true, Ordering::SeqCst);
            continue;
        }
        dst.write_all(&buf[..n]).await?;
    }
}

/// A DynamoDB throttling error, as the service sends it.
///
/// How the SDK classifies them (read in aws-runtime 1.10.2 and aws-smithy-runtime
/// 1.16.2, aws-sdk-dynamodb 1.136.0): the error code is taken from `x-amzn-errortype`
/// (else the body's `__type`) with the `namespace#` prefix removed. All three codes are
/// in `aws_runtime::retries::classifiers::THROTTLING_ERRORS`, so the
/// `AwsErrorCodeClassifier` every DynamoDB operation registers returns
/// `RetryableError { kind: ErrorKind::ThrottlingError }` for each; none of the three is
/// modelled `@retryable` (`retryable_error_kind()` is `None`), and a 400 is not a
/// transient status. With `RetryConfig::standard()` (3 attempts, initial backoff 1 s,
/// no retry spec) a throttled call is retried after a jittered `rand(0..1) × 1 s`, then
/// `rand(0..1) × 2 s`, and fails with the third throttling answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleError {
    /// `ProvisionedThroughputExceededException`: a table or index over its provisioned
    /// (or on-demand partition) throughput.
    ProvisionedThroughputExceeded,
    /// `ThrottlingException`: requests over a rate DynamoDB enforces outside provisioned
    /// throughput (control-plane calls, on-demand table limits).
    Throttling,
    /// `RequestLimitExceeded`: the account's throughput limit is exceeded.
    RequestLimitExceeded,
}

impl ThrottleError {
    /// The error code the SDK reports (`ProvideErrorMetadata::code`).
    pub fn code(self) -> &'static str {
        match self {
            ThrottleError::ProvisionedThroughputExceeded => {
                "ProvisionedThroughputExceededException"
            }
            ThrottleError::Throttling => "ThrottlingException",
            ThrottleError::RequestLimitExceeded => "RequestLimitExceeded",
        }
    }

    /// The body's `__type`.
    pub fn type_name(self) -> &'static str {
        match self {
            ThrottleError::ProvisionedThroughputExceeded => {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            }
            ThrottleError::Throttling => "com.amazon.coral.availability#ThrottlingException",
            ThrottleError::RequestLimitExceeded => {
                "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"
            }
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ThrottleError::ProvisionedThroughputExceeded => {
                "The level of configured provisioned throughput for the table was exceeded. \
                 Consider increasing your provisioning level with the UpdateTable API."
            }
            ThrottleError::Throttling => "Rate of requests exceeds the allowed throughput.",
            ThrottleError::RequestLimitExceeded => {
                "Throughput exceeds the current throughput limit for your account. \
                 Please contact AWS Support at https://aws.amazon.com/support request a limit increase"
            }
        }
    }

    /// The JSON body DynamoDB answers.
    pub fn body(self) -> String {
        serde_json::json!({"__type": self.type_name(), "message": self.message()}).to_string()
    }

    /// The whole answer: 400, `application/x-amz-json-1.0`, `x-amzn-errortype`, a fresh
    /// `x-amzn-requestid` and the body's `x-amz-crc32`.
    fn response(self) -> Response<Body> {
        let body = self.body();
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
            .header("x-amzn-errortype", self.code())
            .header("x-amzn-requestid", request_id())
            .header("x-amz-crc32", crc32(body.as_bytes()).to_string())
            .body(Body::from(body))
            .expect("a static error answer is a valid response")
    }
}

/// A random-looking DynamoDB request id: 52 characters of `[0-9A-Z]`.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let keys = RandomState::new();
    (0..52u64)
        .map(|i| char::from(ALPHABET[(keys.hash_one((n, i)) % 36) as usize]))
        .collect()
}

/// CRC-32 (IEEE), which DynamoDB sends in `x-amz-crc32`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Which requests to answer with an error.
struct Rule {
    operations: Vec<String>,
    remaining: usize,
    error: ThrottleError,
}

/// Which requests to forward at once but answer late: the write commits, its answer
/// comes after the client has given up (a timeout the SDK then retries).
struct Late {
    body_contains: String,
    remaining: usize,
    delay: Duration,
}

fn operation_matches(operations: &[String], target: &str) -> bool {
    let operation = target.rsplit('.').next().unwrap_or(target);
    operations.is_empty() || operations.iter().any(|op| op == operation || op == target)
}

struct Relay {
    upstream: String,
    client: reqwest::Client,
    rule: Mutex<Option<Rule>>,
    late: Mutex<Option<Late>>,
    throttled: AtomicUsize,
    forwarded: AtomicUsize,
}

impl Relay {
    /// How late to answer a request with this body, if at all; counts it.
    fn delay(&self, body: &[u8]) -> Option<Duration> {
        let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        let current = late.as_mut()?;
        if !String::from_utf8_lossy(body).contains(&current.body_contains) {
            return None;
        }
        let delay = current.delay;
        current.remaining -= 1;
        if current.remaining == 0 {
            *late = None;
        }
        Some(delay)
    }

    /// The error to answer a request for `target` (`x-amz-target`) with, if any; counts
    /// it against the rule.
    fn throttle(&self, target: &str) -> Option<ThrottleError> {
        let mut rule = self.rule.lock().unwrap_or_else(PoisonError::into_inner);
        let current = rule.as_mut()?;
        if !operation_matches(&current.operations, target) {
            return None;
        }
        let error = current.error;
        if current.remaining != usize::MAX {
            current.remaining -= 1;
        }
        if current.remaining == 0 {
            *rule = None;
        }
        Some(error)
    }
}

/// Request and response headers that are not relayed: hop-by-hop ones, and the framing
/// the relay sets itself.
fn relayed(headers: &HeaderMap) -> HeaderMap {
    const SKIP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
    headers
        .iter()
        .filter(|(name, _)| !SKIP.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

async fn relay_request(State(relay): State<Arc<Relay>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    // Read whole first, as DynamoDB does, so the connection stays usable after an error.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("request body: {e}")),
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(error) = relay.throttle(target) {
        relay.throttled.fetch_add(1, Ordering::SeqCst);
        return error.response();
    }
    relay.forwarded.fetch_add(1, Ordering::SeqCst);
    let delay = relay.delay(&body);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let sent = relay
        .client
        .request(parts.method, format!("{}{path}", relay.upstream))
        .headers(relayed(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("throttler upstream: {e}")),
    };
    let status = answer.status();
    let headers = relayed(answer.headers());
    let body: Bytes = match answer.bytes().await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("throttler upstream: {e}")),
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An HTTP proxy on 127.0.0.1 in front of moto that answers chosen DynamoDB operations
/// with throttling errors ([`ThrottleError`]) and forwards every other request (method,
/// path, query, headers, body) and relays its answer. Stopped when dropped.
pub struct Throttler {
    /// Where the throttler listens.
    pub addr: SocketAddr,
    relay: Arc<Relay>,
    task: JoinHandle<()>,
}

impl Throttler {
    /// A throttler in front of `upstream_endpoint` (such as `http://127.0.0.1:PORT`), on
    /// a port of 127.0.0.1 chosen by the OS; it forwards everything until told otherwise.
    pub async fn start(upstream_endpoint: &str) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        let relay = Arc::new(Relay {
            upstream: upstream_endpoint.trim_end_matches('/').to_owned(),
            client,
            rule: Mutex::new(None),
            late: Mutex::new(None),
            throttled: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
        });
        let router = Router::new()
            .fallback(relay_request)
            .with_state(relay.clone());
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the throttler can listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, relay, task }
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, answers the next `count` requests for one of `operations` with
    /// `error` instead of forwarding them (`usize::MAX`: all of them). An operation is
    /// the name after the last `.` of `x-amz-target` (`GetItem` matches
    /// `DynamoDB_20120810.GetItem` but not `…BatchGetItem`), or the whole target; no
    /// operations means every request. Replaces any earlier rule.
    pub fn throttle(&self, operations: &[&str], count: usize, error: ThrottleError) {
        let rule = (count > 0).then(|| Rule {
            operations: operations.iter().map(|op| (*op).to_owned()).collect(),
            remaining: count,
            error,
        });
        *self
            .relay
            .rule
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rule;
    }

    /// From now on, forwards the next `count` requests whose body contains
    /// `body_contains` at once, and relays each answer `delay` later.
    pub fn answer_late(&self, body_contains: &str, count: usize, delay: Duration) {
        let late = (count > 0).then(|| Late {
            body_contains: body_contains.to_owned(),
            remaining: count,
            delay,
        });
        *self
            .relay
            .late
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = late;
    }

    /// Forwards every request again.
    pub fn stop_throttling(&self) {
        *self
            .relay
            .rule
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Requests answered with a throttling error so far.
    pub fn throttled(&self) -> usize {
        self.relay.throttled.load(Ordering::SeqCst)
    }

    /// Requests forwarded upstream so far (whether or not upstream answered).
    pub fn forwarded(&self) -> usize {
        self.relay.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Throttler {
    fn drop(&mut self) {
        // Dropping the server stops accepting and shuts its connections down gracefully.
        self.task.abort();
    }
}
