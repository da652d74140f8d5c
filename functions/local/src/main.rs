//! `pers-local`: the very same handlers as the Lambda functions, on one port, with an
//! embedded store and a generated signing key under `PERS_DATA_DIR`. With `TABLE_NAME`
//! set (and `AWS_ENDPOINT_URL` for an emulator) it uses that DynamoDB table instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use pers::BoxError;
use pers::config::{ConfigError, Deployment, Settings};
use pers::deadlines::Deadlines;
use pers::domain::{KeyHash, generate_api_key};
use pers::http::{AppState, app};
use pers::keys::LocalKeySource;
use pers::store::{DynamoStore, EmbeddedStore, Store};
use secrecy::ExposeSecret as _;

const LISTEN: &str = "PERS_LISTEN";
const DATA_DIR: &str = "PERS_DATA_DIR";
const PLATFORM_KEY: &str = "PERS_PLATFORM_API_KEY";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

const USAGE: &str = "usage: pers-local            serve every route (settings from the environment)
       pers-local rotate-keys  rotate the local signing key (the running server picks it up)";

#[tokio::main]
async fn main() -> ExitCode {
    pers::telemetry::init(false);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => run().await,
        ["rotate-keys"] => rotate_keys(),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pers-local: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The data directory, created if need be and made owner-only (mode 0700) either way:
/// it holds the signing keys and the store.
fn data_dir() -> Result<PathBuf, ConfigError> {
    let dir = PathBuf::from(env(DATA_DIR).unwrap_or_else(|| ".pers-local".into()));
    let failed = |e: std::io::Error| ConfigError {
        variable: DATA_DIR,
        problem: format!("{}: {e}", dir.display()),
    };
    std::fs::create_dir_all(&dir).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
    }
    Ok(dir)
}

/// Like the `rotate-keys` function in AWS: a new key becomes current, the current one
/// stays published and verifying as previous. A running server reloads the key file;
/// the new key signs after `PERS_KEY_ACTIVATION_DELAY_SECONDS`.
fn rotate_keys() -> Result<(), BoxError> {
    let settings = Settings::from_env(Some("http://127.0.0.1:3000".into()))?;
    let path = data_dir()?.join("signing-keys.json");
    let kid = LocalKeySource::rotate(&path, settings.signing_algorithm)?;
    println!("rotated {}: new key {kid}", path.display());
    Ok(())
}

async fn run() -> Result<(), BoxError> {
    let listen: SocketAddr = env(LISTEN)
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .map_err(|e| ConfigError {
            variable: LISTEN,
            problem: format!("{e}"),
        })?;
    let data_dir = data_dir()?;

    // Bind first, so that port 0 works and the default issuer names the real address.
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let settings = Settings::from_env(Some(format!("http://{addr}")))?;

    let store: Arc<dyn Store> = match env(pers::runtime::TABLE_NAME) {
        Some(table) => {
            let aws = Deadlines::PRODUCTION.aws_config().load().await;
            Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table))
        }
        None => Arc::new(EmbeddedStore::open(&data_dir.join("store.redb"))?),
    };
    let key_file = data_dir.join("signing-keys.json");
    let (keys, generated) = LocalKeySource::open_or_generate(
        &key_file,
        settings.signing_algorithm,
        settings.key_activation_delay,
    )?;
    if generated {
        tracing::info!(path = %key_file.display(), "generated a new signing key");
    }
    let (platform_key, shown) = match env(PLATFORM_KEY) {
        Some(key) if key.len() < 16 => {
            return Err(ConfigError {
                variable: PLATFORM_KEY,
                problem: "must be at least 16 characters".into(),
            }
            .into());
        }
        Some(key) => (KeyHash::of(&key), None),
        None => {
            let key = generate_api_key("pl_");
            (KeyHash::of(key.expose_secret()), Some(key))
        }
    };

    // Not left to the first request that signs (see `seed_random`).
    pers::keys::seed_random()?;
    let issuer = settings.issuer.clone();
    let state = AppState::new(
        Deployment::Local,
        store,
        Arc::new(keys),
        settings,
        platform_key,
    )
    .with_configured_geoip()?;
    println!("pers-local listening on http://{addr} (issuer {issuer})");
    if let Some(key) = shown {
        // The operator asked for no key, so this one exists only in this process:
        // printing it once is how they get it. It is never logged.
        println!(
            "platform API key (x-api-key for POST /tenants and /tenants/{{id}}/admin-token): {}",
            key.expose_secret()
        );
    }
    // The peer address is what `clientIpLocation` looks up in the GeoIP database.
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
