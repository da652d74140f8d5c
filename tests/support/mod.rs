//! Test harness: a real DynamoDB/Secrets Manager API (the `moto` server, started on
//! 127.0.0.1 by the test that needs it and stopped when it is dropped) and a typed
//! client for the app's router.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use pers::config::Settings;
use pers::deadlines::Deadlines;
use pers::domain::KeyHash;
use pers::http::AppState;
use pers::keys::{KeySource, LocalKeySource, SigningAlgorithm};
use pers::store::{DynamoStore, EmbeddedStore, Store};
use serde_json::Value;
use tower::ServiceExt as _;

pub mod fault;
pub mod runtime_api;
pub use fault::{Fault, FaultProxy, ThrottleError, Throttler, moto_addr};

/// The `moto_server` executable: `$MOTO_SERVER`, else the project's `.venv` (which
/// `scripts/setup` creates).
fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    assert!(
        venv.exists(),
        "moto_server not found at {}: run ./scripts/test (or scripts/setup) first",
        venv.display()
    );
    venv
}

/// An executable of the project's `.venv` (`python` with PyJWT, `cargo-lambda`, …): beside
/// `$MOTO_SERVER` when that is set, else in the checkout's `.venv/bin`.
pub fn venv_bin(name: &str) -> PathBuf {
    match std::env::var("MOTO_SERVER") {
        Ok(moto) => PathBuf::from(moto).with_file_name(name),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.venv/bin")
            .join(name),
    }
}

/// The project's `.venv` Python (PyJWT and moto live there).
pub fn venv_python() -> PathBuf {
    venv_bin("python")
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub async fn start() -> Self {
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(moto_server_path())
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server failed to start");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // lost the port race; try another
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not come up on 127.0.0.1");
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// A store on a fresh table of this server.
    pub async fn dynamo_store(&self) -> DynamoStore {
        self.dynamo_store_with(PATIENT).await
    }

    /// A store on a fresh table of this server, its client under `deadlines`.
    pub async fn dynamo_store_with(&self, deadlines: Deadlines) -> DynamoStore {
        let client = dynamo_client(&sdk_config_with(&self.endpoint, deadlines).await);
        let store = DynamoStore::new(client, format!("pers-test-{}", unique()));
        store.create_table().await.expect("create table on moto");
        store
    }
}

/// What `template.yaml` creates, on a moto server: the table and both secrets.
pub struct TemplateResources {
    pub table: String,
    /// The signing-key secret's ARN.
    pub signing: String,
    /// The platform-key secret's ARN; its `apiKey` is [`PLATFORM_KEY`].
    pub platform: String,
}

impl Moto {
    /// The table and both secrets. The signing-key secret holds `signing_key` (a
    /// `KeyMaterial` as JSON) or, with `None`, no version at all, as the template
    /// creates it before its first rotation.
    pub async fn template_resources(&self, signing_key: Option<String>) -> TemplateResources {
        let sdk = self.sdk_config().await;
        let table = format!("pers-{}", unique());
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone())
            .create_table()
            .await
            .expect("create table on moto");
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret = |name: &str, value: Option<String>| {
            let create = sm
                .create_secret()
                .name(format!("{name}-{}", unique()))
                .set_secret_string(value);
            async move {
                create
                    .send()
                    .await
                    .expect("create secret on moto")
                    .arn
                    .expect("arn")
            }
        };
        let platform_value = serde_json::json!({ "apiKey": PLATFORM_KEY }).to_string();
        TemplateResources {
            table,
            signing: secret("signing", signing_key).await,
            platform: secret("platform", Some(platform_value)).await,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DynamoDB client with a retry token bucket of its own. The SDK keeps one bucket per
/// retry partition per process: deployed, one function instance's, which is right; in a
/// test binary, every test's, so that one test's timeouts would spend another's retries.
pub fn dynamo_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::retry::RetryPartition;
    let config = aws_sdk_dynamodb::config::Builder::from(config)
        .retry_partition(RetryPartition::new(format!("dynamodb-{}", unique())))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Secrets Manager client with a retry token bucket of its own (see [`dynamo_client`]).
pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::retry::RetryPartition;
    let config = aws_sdk_secretsmanager::config::Builder::from(config)
        .retry_partition(RetryPartition::new(format!("secretsmanager-{}", unique())))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// SDK config for an endpoint, with dummy credentials, under [`PATIENT`] deadlines.
/// Tests about deadlines (`dependency_faults.rs`) use [`Deadlines::PRODUCTION`] through
/// [`sdk_config_with`].
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    sdk_config_with(endpoint, PATIENT).await
}

/// SDK config for an endpoint under other deadlines.
pub async fn sdk_config_with(endpoint: &str, deadlines: Deadlines) -> SdkConfig {
    deadlines
        .aws_config()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// The production deadlines, but patient with moto: one Python process per test, many
/// tests at once on two cores, and bursts of hundreds of connections in some (past
/// moto's accept queue, whose dropped SYNs are resent after 1 s), so that an answer can
/// take seconds, which is the machine's limit, not the code's.
pub const PATIENT: Deadlines = Deadlines {
    connect: Duration::from_secs(3),
    attempt: Duration::from_secs(20),
    operation: Duration::from_secs(60),
    request: Duration::from_secs(120),
    ..Deadlines::PRODUCTION
};

pub fn unique() -> String {
    pers::token::new_id()
}

pub const PLATFORM_KEY: &str = "pl_test_platform_operator_key";

/// Test settings: the issuer of a local server.
pub fn settings() -> Settings {
    Settings::from_lookup(|_| None, Some("http://127.0.0.1:3000".into())).expect("settings")
}

/// The app on a given store, with a local ES256 key (fast to generate) in a temp dir.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn with_store(store: Arc<dyn Store>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.path().join("keys.json"),
            SigningAlgorithm::Es256,
            Duration::ZERO,
        )
        .expect("local key");
        Self::with(store, Arc::new(keys), dir)
    }

    pub fn with(store: Arc<dyn Store>, keys: Arc<dyn KeySource>, dir: tempfile::TempDir) -> Self {
        Self::with_settings(store, keys, dir, settings())
    }

    pub fn with_settings(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeySource>,
        dir: tempfile::TempDir,
        settings: Settings,
    ) -> Self {
        let state =
            AppState::new(store, keys, settings, KeyHash::of(PLATFORM_KEY)).with_deadlines(PATIENT);
        Self {
            router: pers::http::app(state.clone()),
            state,
            _dir: dir,
        }
    }

    /// The same app with a request deadline of `deadlines.request`.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        let state = self.state.with_deadlines(deadlines);
        Self {
            router: pers::http::app(state.clone()),
            state,
            _dir: self._dir,
        }
    }

    /// The same app with the GeoIP database at `path` configured.
    pub fn with_geoip(self, path: &std::path::Path) -> Self {
        let mut settings = (*self.state.settings).clone();
        settings.geoip_database = Some(path.to_owned());
        let state = AppState::new(
            self.state.store.clone(),
            self.state.keys.clone(),
            settings,
            self.state.platform_key,
        )
        .with_deadlines(self.state.deadlines)
        .with_configured_geoip()
        .expect("a usable GeoIP database");
        Self {
            router: pers::http::app(state.clone()),
            state,
            _dir: self._dir,
        }
    }

    /// The app on a fresh embedded store.
    pub fn embedded() -> Self {
        Self::embedded_with(settings())
    }

    /// The app on a fresh embedded store, with a local ES256 key, under `settings`.
    pub fn embedded_with(settings: Settings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("embedded store");
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.path().join("keys.json"),
            SigningAlgorithm::Es256,
            Duration::ZERO,
        )
        .expect("local key");
        Self::with_settings(Arc::new(store), Arc::new(keys), dir, settings)
    }

    /// Sends a request with a raw body and returns status, headers and the JSON answer.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Response {
            status,
            headers,
            json,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        match body {
            Some(json) => {
                let mut with_type = headers.to_vec();
                with_type.push(("content-type", "application/json"));
                self.raw(method, path, &with_type, Body::from(json.to_string()))
                    .await
            }
            None => self.raw(method, path, headers, Body::empty()).await,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(Method::GET, path, headers, None).await
    }

    /// Creates a tenant through the API and returns the creation answer.
    pub async fn create_tenant(&self, body: Value) -> Value {
        let res = self
            .send(
                Method::POST,
                "/tenants",
                &[("x-api-key", PLATFORM_KEY)],
                Some(body),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
        res.json
    }
}

/// `POST /auth/token` with a project key.
pub async fn login(app: &TestApp, pk: &str, body: Value) -> Response {
    app.send(
        Method::POST,
        "/auth/token",
        &[("x-project-key", pk)],
        Some(body),
    )
    .await
}

/// `POST /auth/refresh` with a project key.
pub async fn refresh(app: &TestApp, pk: &str, refresh_token: &str) -> Response {
    app.send(
        Method::POST,
        "/auth/refresh",
        &[("x-project-key", pk)],
        Some(serde_json::json!({"refreshToken": refresh_token})),
    )
    .await
}

/// `POST /auth/verify` with a project key.
pub async fn verify(app: &TestApp, pk: &str, token: &str) -> Response {
    app.send(
        Method::POST,
        "/auth/verify",
        &[("x-project-key", pk)],
        Some(serde_json::json!({"authToken": token})),
    )
    .await
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Response {
    /// Asserts the error shape of DESIGN §7 and returns the message.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["statusCode"], status.as_u16(), "{}", self.json);
        assert_eq!(
            self.json["error"],
            status.canonical_reason().unwrap_or_default(),
            "{}",
            self.json
        );
        self.json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {}", self.json))
            .to_owned()
    }
}

/// An identity provider of the tests' own: a key pair and an issuer name.
pub struct TestIssuer {
    pub issuer: String,
    pub key: pers::keys::SigningKey,
}

impl TestIssuer {
    pub fn new(issuer: &str, alg: SigningAlgorithm) -> Self {
        let material = pers::keys::KeyMaterial::generate(alg).expect("key");
        Self {
            issuer: issuer.to_owned(),
            key: pers::keys::SigningKey::from_material(&material).expect("key"),
        }
    }

    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.key.public_jwk()] })
    }

    /// Claims that pass every rule: this issuer, `sub`, `aud`, issued now, 5 minutes.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = pers::now_unix();
        serde_json::json!({"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 300})
    }

    pub fn header(&self) -> jsonwebtoken::Header {
        let mut header = jsonwebtoken::Header::new(self.key.algorithm().jwt());
        header.kid = Some(self.key.kid().to_owned());
        header
    }

    pub fn sign(&self, header: &jsonwebtoken::Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, self.key.encoding_key()).expect("sign")
    }

    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// A JWKS endpoint on 127.0.0.1 that counts its fetches; stopped when dropped.
pub struct JwksServer {
    pub uri: String,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
    body: Arc<std::sync::Mutex<Value>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(jwks: Value, cache_control: &'static str) -> Self {
        use std::sync::atomic::Ordering;
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let body = Arc::new(std::sync::Mutex::new(jwks));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, b, down) = (fetches.clone(), body.clone(), failing.clone());
        let router = Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (f, b, down) = (f.clone(), b.clone(), down.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let status = if down.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    };
                    let json = b.lock().unwrap().clone();
                    (status, [("cache-control", cache_control)], axum::Json(json))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            uri: format!("http://{addr}/jwks.json"),
            fetches,
            body,
            failing,
            task,
        }
    }

    /// From now on, every fetch is answered `503` (and still counted).
    pub fn fail(&self) {
        self.failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set(&self, jwks: Value) {
        *self.body.lock().unwrap() = jwks;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts the DynamoDB calls a client makes (each attempt that reaches the wire).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(pub Arc<std::sync::atomic::AtomicUsize>);

impl CallCounter {
    pub fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Moto {
    /// A store on a fresh table whose client counts its calls.
    pub async fn counted_dynamo_store(&self) -> (DynamoStore, CallCounter) {
        let counter = CallCounter::default();
        use aws_sdk_dynamodb::config::retry::RetryPartition;
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk_config().await)
            .retry_partition(RetryPartition::new(format!("dynamodb-{}", unique())))
            .interceptor(counter.clone())
            .build();
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            format!("pers-test-{}", unique()),
        );
        store.create_table().await.expect("create table on moto");
        counter.take();
        (store, counter)
    }
}

/// Networks of the test GeoIP database: `81.2.69.0/24` is London (a City record with
/// every field), `2.125.160.0/24` knows only its country; nothing else is in it.
pub const GEOIP_LONDON: &str = "81.2.69.142";
pub const GEOIP_COUNTRY_ONLY: &str = "2.125.160.216";

/// Writes the test GeoIP database to `path` with an independent MaxMind DB writer
/// (Python `mmdb-writer` in the project's `.venv`), so the reader is tested against a
/// file it did not make itself.
pub fn write_geoip_database(path: &std::path::Path) {
    const SCRIPT: &str = r#"
import sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
               languages=["en"], description="PERS test database")
w.insert_network(IPSet(["81.2.69.0/24"]), {
    "city": {"geoname_id": MmdbU32(2643743), "names": {"en": "London"}},
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    "postal": {"code": "EC1A"},
    "location": {"latitude": MmdbF64(51.5142), "longitude": MmdbF64(-0.0931),
                 "accuracy_radius": MmdbU16(100)},
})
w.insert_network(IPSet(["2.125.160.0/24"]), {
    "country": {"iso_code": "SE", "names": {"en": "Sweden"}},
})
w.to_db_file(sys.argv[1])
"#;
    let status = std::process::Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(path)
        .status()
        .expect("run the venv python");
    assert!(status.success(), "writing the GeoIP database failed");
}
