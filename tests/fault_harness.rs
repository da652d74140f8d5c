//! Self-checks of the fault harness (`support/fault.rs`) against tiny servers of the
//! test's own (no moto): every mode of the TCP proxy, and the throttling HTTP proxy on
//! its own and under the DynamoDB SDK's standard retries.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use pers_tests::{Fault, FaultProxy, ThrottleError, Throttler, moto_addr};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_millis(300);

/// A TCP echo server on 127.0.0.1; runs until the test's runtime ends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Sends `msg` and reads as many bytes back, within a second.
async fn echo(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.expect("write");
    let mut back = vec![0; msg.len()];
    timeout(Duration::from_secs(1), stream.read_exact(&mut back))
        .await
        .expect("echo within a second")
        .expect("echo read");
    back
}

async fn connect(addr: SocketAddr) -> TcpStream {
    timeout(Duration::from_secs(1), TcpStream::connect(addr))
        .await
        .expect("connect within a second")
        .expect("connect")
}

/// Asserts that nothing arrives on `stream` for [`SILENCE`] (and it is not closed).
async fn assert_silent(stream: &mut TcpStream) {
    let mut buf = [0; 16];
    let read = timeout(SILENCE, stream.read(&mut buf)).await;
    assert!(read.is_err(), "expected silence, got {read:?}");
}

/// Asserts that `stream` is closed or reset by the other side promptly.
async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0; 16];
    match timeout(SILENCE, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }
}

#[tokio::test]
async fn pass_forwards_both_ways() {
    let proxy = FaultProxy::start(echo_server().await).await;
    assert_eq!(proxy.endpoint(), format!("http://{}", proxy.addr));
    let mut a = connect(proxy.addr).await;
    let mut b = connect(proxy.addr).await;
    assert_eq!(echo(&mut a, b"hello").await, b"hello");
    assert_eq!(echo(&mut b, b"world").await, b"world");
    assert_eq!(echo(&mut a, &[7; 100_000]).await, vec![7; 100_000]);
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn refuse_resets_and_pass_listens_on_the_same_port_again() {
    let proxy = FaultProxy::start(echo_server().await).await;
    let addr = proxy.addr;
    let mut established = connect(addr).await;
    assert_eq!(echo(&mut established, b"before").await, b"before");

    proxy.set(Fault::Refuse).await;
    let refused = TcpStream::connect(addr).await.expect_err("nothing listens");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert_closed(&mut established).await;

    proxy.set(Fault::Pass).await;
    assert_eq!(proxy.addr, addr);
    let mut again = connect(addr).await;
    assert_eq!(echo(&mut again, b"after").await, b"after");
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn hang_accepts_and_never_answers() {
    let proxy = FaultProxy::start(echo_server().await).await;
    let mut busy = connect(proxy.addr).await;
    assert_eq!(echo(&mut busy, b"one").await, b"one");
    let mut idle = connect(proxy.addr).await;
    assert_eq!(echo(&mut idle, b"two").await, b"two");

    proxy.set(Fault::Hang).await;
    let mut fresh = connect(proxy.addr).await;
    fresh
        .write_all(b"ping")
        .await
        .expect("write to a hung proxy");
    assert_silent(&mut fresh).await;
    busy.write_all(b"ping")
        .await
        .expect("write to a hung proxy");
    assert_silent(&mut busy).await;
    assert_eq!(proxy.connections(), 3);

    // Back to normal: connections whose bytes were swallowed are reset, the idle one
    // carries on, and new ones work.
    proxy.set(Fault::Pass).await;
    assert_closed(&mut fresh).await;
    assert_closed(&mut busy).await;
    assert_eq!(echo(&mut idle, b"three").await, b"three");
    let mut new = connect(proxy.addr).await;
    assert_eq!(echo(&mut new, b"four").await, b"four");
}

#[tokio::test]
async fn blackhole_drops_syns_until_pass() {
    let proxy = FaultProxy::start(echo_server().await).await;
    let mut established = connect(proxy.addr).await;
    assert_eq!(echo(&mut established, b"one").await, b"one");

    proxy.set(Fault::Blackhole).await;
    let connecting = timeout(Duration::from_millis(500), TcpStream::connect(proxy.addr)).await;
    assert!(connecting.is_err(), "connect completed: {connecting:?}");
    established
        .write_all(b"ping")
        .await
        .expect("write into the black hole");
    assert_silent(&mut established).await;

    // A client already waiting gets through on its next SYN once the hole is gone.
    let addr = proxy.addr;
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let stream = TcpStream::connect(addr).await;
        (stream, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.set(Fault::Pass).await;
    let (stream, took) = timeout(Duration::from_secs(3), waiting)
        .await
        .expect("the waiting client's SYN is retransmitted within 3 s")
        .expect("task");
    let mut late = stream.expect("connects after the black hole");
    assert!(
        took >= Duration::from_millis(100),
        "connected after {took:?}"
    );
    assert_eq!(echo(&mut late, b"late").await, b"late");
    // The fillers were never accepted.
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn slow_delays_every_answer() {
    let proxy = FaultProxy::start(echo_server().await).await;
    let delay = Duration::from_millis(200);
    let mut stream = connect(proxy.addr).await;
    proxy.set(Fault::Slow(delay)).await;
    for msg in [&b"one"[..], b"two"] {
        let started = Instant::now();
        assert_eq!(echo(&mut stream, msg).await, msg);
        let took = started.elapsed();
        assert!(took >= delay, "answered after {took:?}");
    }
    proxy.set(Fault::Pass).await;
    assert_eq!(echo(&mut stream, b"three").await, b"three");
}

#[test]
fn moto_addr_parses_endpoints() {
    let addr: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
    assert_eq!(moto_addr("http://127.0.0.1:5000"), addr);
    assert_eq!(moto_addr("http://127.0.0.1:5000/"), addr);
}

/// An HTTP server that answers every request with what it received, as JSON, and a
/// DynamoDB-style `{}` for `x-amz-json-1.0` requests.
async fn upstream() -> String {
    async fn answer(method: Method, uri: Uri, headers: HeaderMap, body: String) -> Response<Body> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let body = if header("content-type").as_deref() == Some("application/x-amz-json-1.0") {
            "{}".to_owned()
        } else {
            json!({
                "method": method.as_str(),
                "uri": uri.to_string(),
                "target": header("x-amz-target"),
                "custom": header("x-custom"),
                "body": body,
            })
            .to_string()
        };
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-upstream", "yes")
            .body(Body::from(body))
            .expect("response")
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(answer)).await;
    });
    format!("http://{addr}")
}

async fn call(client: &reqwest::Client, endpoint: &str, operation: &str) -> reqwest::Response {
    client
        .post(format!("{endpoint}/some/path?q=1"))
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .header("x-custom", "kept")
        .body(format!("{{\"op\":\"{operation}\"}}"))
        .send()
        .await
        .expect("the throttler answers")
}

async fn assert_throttled(response: reqwest::Response, error: ThrottleError) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/x-amz-json-1.0");
    assert_eq!(header("x-amzn-errortype"), error.code());
    let id = header("x-amzn-requestid");
    assert_eq!(id.len(), 52, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{id}"
    );
    let crc = header("x-amz-crc32");
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(body["__type"], error.type_name());
    assert_eq!(body["message"], error.message());
    if error == ThrottleError::ProvisionedThroughputExceeded {
        // zlib.crc32 of the body, computed independently.
        assert_eq!(crc, "1545824508");
    }
}

#[tokio::test]
async fn throttler_answers_throttling_errors_then_forwards() {
    let throttler = Throttler::start(&upstream().await).await;
    let endpoint = throttler.endpoint();
    let client = reqwest::Client::new();

    let forwarded = call(&client, &endpoint, "GetItem").await;
    assert_eq!(forwarded.status(), StatusCode::OK);
    assert_eq!(forwarded.headers()["x-upstream"], "yes");
    let echoed: Value = forwarded.json().await.expect("JSON");
    assert_eq!(
        echoed,
        json!({"method": "POST", "uri": "/some/path?q=1", "target": "DynamoDB_20120810.GetItem",
               "custom": "kept", "body": "{\"op\":\"GetItem\"}"})
    );

    throttler.throttle(
        &["GetItem", "TransactWriteItems"],
        3,
        ThrottleError::ProvisionedThroughputExceeded,
    );
    let error = ThrottleError::ProvisionedThroughputExceeded;
    assert_throttled(call(&client, &endpoint, "GetItem").await, error).await;
    // Other operations, even ones whose name ends the same, are forwarded.
    assert_eq!(
        call(&client, &endpoint, "BatchGetItem").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&client, &endpoint, "PutItem").await.status(),
        StatusCode::OK
    );
    assert_throttled(call(&client, &endpoint, "TransactWriteItems").await, error).await;
    assert_throttled(call(&client, &endpoint, "GetItem").await, error).await;
    assert_eq!(
        call(&client, &endpoint, "GetItem").await.status(),
        StatusCode::OK
    );
    assert_eq!((throttler.throttled(), throttler.forwarded()), (3, 4));

    throttler.throttle(&[], usize::MAX, ThrottleError::Throttling);
    for operation in ["Query", "GetItem", "Query"] {
        assert_throttled(
            call(&client, &endpoint, operation).await,
            ThrottleError::Throttling,
        )
        .await;
    }
    throttler.throttle(&["Query"], 1, ThrottleError::RequestLimitExceeded);
    assert_throttled(
        call(&client, &endpoint, "Query").await,
        ThrottleError::RequestLimitExceeded,
    )
    .await;
    throttler.throttle(&[], usize::MAX, ThrottleError::Throttling);
    throttler.stop_throttling();
    assert_eq!(
        call(&client, &endpoint, "Query").await.status(),
        StatusCode::OK
    );
    assert_eq!((throttler.throttled(), throttler.forwarded()), (7, 5));
}

/// The SDK's standard retries treat every [`ThrottleError`] as retryable: two of them
/// are retried away, a third is the call's error with the same code.
#[tokio::test]
async fn sdk_retries_every_throttling_error() {
    let throttler = Throttler::start(&upstream().await).await;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(throttler.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .build();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(config);
    let get = || {
        dynamo
            .get_item()
            .table_name("t")
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("k".into()))
            .send()
    };
    let mut throttled = 0;
    for error in [
        ThrottleError::ProvisionedThroughputExceeded,
        ThrottleError::Throttling,
        ThrottleError::RequestLimitExceeded,
    ] {
        throttler.throttle(&["GetItem"], 2, error);
        let output = get().await.expect("retried past two throttling errors");
        assert!(output.item.is_none());
        throttled += 2;
        assert_eq!(throttler.throttled(), throttled);

        throttler.throttle(&["GetItem"], 3, error);
        let failed = get()
            .await
            .expect_err("three throttling errors exhaust 3 attempts");
        throttled += 3;
        assert_eq!(throttler.throttled(), throttled);
        assert_eq!(failed.code(), Some(error.code()), "{failed:?}");
        assert_eq!(failed.message(), Some(error.message()));
    }
    assert_eq!(throttler.forwarded(), 3);
}
