//! A real DynamoDB/Secrets Manager API: the `moto` server (each DynamoDB call made
//! atomic, as DynamoDB's are: `moto_server.py`), started on 127.0.0.1 by the test that
//! needs it and stopped when it is dropped; SDK config and clients for it
//! (under [`PATIENT`] deadlines), what `template.yaml` creates on it, and a counter of
//! the DynamoDB calls a client makes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use pers::deadlines::Deadlines;
use pers::store::DynamoStore;

use crate::{PLATFORM_KEY, free_port, unique};

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

/// `support/moto_server.py`: moto's server with each DynamoDB call atomic, as
/// DynamoDB's are (see the file), run by the Python beside `moto_server`.
fn atomic_moto_server() -> (PathBuf, PathBuf) {
    let python = moto_server_path().with_file_name("python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/moto_server.py");
    (python, script)
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
            let (python, script) = atomic_moto_server();
            // Created by our own server once it listens (see moto_server.py): another
            // test's moto may have taken the same port a moment before.
            let ready = std::env::temp_dir().join(format!("pers-moto-ready-{}", unique()));
            let mut child = Command::new(python)
                .arg(script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_READY_FILE", &ready)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server failed to start");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if ready.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let _ = std::fs::remove_file(&ready);
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
            let _ = std::fs::remove_file(&ready);
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
