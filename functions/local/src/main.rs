//! `pers-local`: the very same handlers as the Lambda functions, on one port, with an
//! embedded store and a generated signing key under `PERS_DATA_DIR`. With `TABLE_NAME`
//! set (and `AWS_ENDPOINT_URL` for an emulator) it uses that DynamoDB table instead.

mod dev_idp;
mod web;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use pers::BoxError;
use pers::config::{ConfigError, Deployment, Settings};
use pers::deadlines::Deadlines;
use pers::domain::AuthType;
use pers::domain::{KeyHash, generate_api_key};
use pers::http::AppState;
use pers::keys::LocalKeySource;
use pers::store::{DynamoStore, EmbeddedStore, Store};
use secrecy::ExposeSecret as _;

const LISTEN: &str = "PERS_LISTEN";
const DATA_DIR: &str = "PERS_DATA_DIR";
const PLATFORM_KEY: &str = "PERS_PLATFORM_API_KEY";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

const USAGE: &str =
    "usage: pers-local              serve every route (settings from the environment)
       pers-local env          print the running server's address and platform key as
                               shell exports: eval \"$(pers-local env)\"
       pers-local dev-token --sub <subject> [--auth-type <type>]
                               print a token of the local development identity provider,
                               which this data directory's server accepts at /auth/token
                               for that auth type (default user)
       pers-local rotate-keys  rotate the local signing key (the running server picks it up)
       pers-local rotate-keys --compromised
                               replace every local key with a new one that signs at once:
                               the old keys' tokens, sessions included, stop verifying";

#[tokio::main]
async fn main() -> ExitCode {
    pers::telemetry::init(false);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => run().await,
        ["env"] => print_exports(),
        ["dev-token", options @ ..] => dev_token(options),
        ["rotate-keys"] => rotate_keys(false),
        ["rotate-keys", "--compromised"] => rotate_keys(true),
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

/// The settings, with `pers-local`'s own default activation delay: none. The deployed
/// default (2 h 10 min) is for API Gateway's two-hour JWKS cache; what verifies
/// `pers-local`'s tokens is a developer's own (jose, PyJWT, aws-jwt-verify), and each
/// refetches the JWKS on an unknown `kid`. `PERS_KEY_ACTIVATION_DELAY_SECONDS` still
/// sets one, to rehearse a deployment's timing.
fn local_settings(mut settings: Settings) -> Settings {
    if env(pers::config::KEY_ACTIVATION_DELAY).is_none() {
        settings.key_activation_delay = std::time::Duration::ZERO;
    }
    settings
}

/// Like the `rotate-keys` function in AWS: a new key becomes current, the current one
/// stays published and verifying as previous. A running server reloads the key file;
/// the new key signs after `PERS_KEY_ACTIVATION_DELAY_SECONDS`. `compromised`: like a
/// rotation followed by removing `AWSPREVIOUS` in AWS, no old key stays, and the new key
/// signs at once.
fn rotate_keys(compromised: bool) -> Result<(), BoxError> {
    let settings = Settings::from_env(Some("http://127.0.0.1:3000".into()))?;
    let path = data_dir()?.join("signing-keys.json");
    if compromised {
        let kid = LocalKeySource::replace(&path, settings.signing_algorithm)?;
        println!(
            "replaced every key of {}: new key {kid}, signing now; tokens of the old keys no longer verify",
            path.display()
        );
    } else {
        let kid = LocalKeySource::rotate(&path, settings.signing_algorithm)?;
        println!("rotated {}: new key {kid}", path.display());
    }
    Ok(())
}

/// `dev-token --sub <subject> [--auth-type <type>]`: one line, the token.
fn dev_token(options: &[&str]) -> Result<(), BoxError> {
    let (mut subject, mut auth_type) = (None, AuthType::User);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))?;
        match *option {
            "--sub" => subject = Some(*value),
            "--auth-type" => {
                auth_type = AuthType::ALL
                    .into_iter()
                    .find(|t| t.as_str() == *value)
                    .ok_or_else(|| {
                        let all = AuthType::ALL.map(AuthType::as_str).join(", ");
                        format!("--auth-type must be one of {all}, got {value:?}")
                    })?;
            }
            _ => return Err(format!("unknown option {option}\n{USAGE}").into()),
        }
    }
    let subject = subject
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("--sub <subject> is required\n{USAGE}"))?;
    if subject.len() > 255 {
        return Err("--sub: at most 255 bytes".into());
    }
    let idp = dev_idp::DevIdp::open_or_create(&data_dir()?)?;
    println!("{}", idp.token(subject, auth_type, pers::now_unix())?);
    Ok(())
}

const EXPORTS_FILE: &str = "env";

/// The running server's exports, as it wrote them at start.
fn print_exports() -> Result<(), BoxError> {
    let path = data_dir()?.join(EXPORTS_FILE);
    let exports = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (no pers-local has started with this {DATA_DIR} yet)",
            path.display()
        )
    })?;
    // A server that did not stop cleanly leaves its exports behind: say so rather than
    // hand out an address nobody listens on.
    let listening = exports
        .lines()
        .find_map(|l| l.strip_prefix("export PERS_URL='http://"))
        .and_then(|rest| rest.strip_suffix('\''))
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        });
    if !listening {
        return Err(format!(
            "{}: the pers-local that wrote it is not listening any more (start it again)",
            path.display()
        )
        .into());
    }
    print!("{exports}");
    Ok(())
}

/// Writes the shell exports of this server (its URL, and the platform key when it
/// generated one) to the data directory, owner-only, replacing an earlier server's.
fn write_exports(dir: &Path, url: &str, platform_key: Option<&str>) -> Result<(), BoxError> {
    let mut exports = format!("export PERS_URL='{url}'\n");
    match platform_key {
        Some(key) => exports.push_str(&format!("export PLATFORM_KEY='{key}'\n")),
        None => exports.push_str(&format!(
            "# PLATFORM_KEY: the {PLATFORM_KEY} this server was started with\n"
        )),
    }
    let tmp = dir.join(format!(".{EXPORTS_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    dev_idp::write_private(&tmp, exports.as_bytes())?;
    std::fs::rename(&tmp, dir.join(EXPORTS_FILE)).map_err(|e| format!("{}: {e}", dir.display()))?;
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
    let settings = local_settings(Settings::from_env(Some(format!("http://{addr}")))?);

    // A table in a real AWS account holds real tenants: the development identity
    // provider (which mints admin tokens for any of them) is for local stores only.
    let local_store = match env(pers::runtime::TABLE_NAME) {
        None => true,
        Some(_) => env("AWS_ENDPOINT_URL").is_some_and(|u| loopback_url(&u)),
    };
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

    let cors = web::cors(env(web::CORS_ORIGINS).as_deref())?;
    let dev_idp = local_store
        .then(|| dev_idp::DevIdp::open_or_create(&data_dir))
        .transpose()?;

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
    let state = match &dev_idp {
        Some(idp) => state.with_dev_identity_provider(idp.provider())?,
        None => state,
    };
    let url = format!("http://{addr}");
    let shown = shown.as_ref().map(|key| key.expose_secret());
    write_exports(&data_dir, &url, shown)?;
    // What a developer reads at start, on stdout. A closed stdout (a supervisor that
    // stopped reading) is no reason to stop serving, so write errors are ignored.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "pers-local listening on {url} (issuer {issuer})");
    if let Some(key) = shown {
        // The operator asked for no key, so this one exists only in this process (and
        // in the owner-only exports file, until it stops): printing it once is how
        // they get it. It is never logged.
        let _ = writeln!(
            out,
            "platform API key (x-api-key for POST /tenants and /tenants/{{id}}/admin-token): {key}"
        );
    }
    if dev_idp.is_none() {
        let _ = writeln!(
            out,
            "dev-token is off: TABLE_NAME names a table outside a local emulator (AWS_ENDPOINT_URL on loopback)"
        );
    }
    let _ = writeln!(
        out,
        "docs: {url}/docs; shell exports (PERS_URL, PLATFORM_KEY): eval \"$(cargo run -q --bin pers-local -- env)\""
    );
    let _ = out.flush();
    drop(out);
    // The peer address is what `clientIpLocation` looks up in the GeoIP database.
    let service = web::router(state, cors).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown())
        .await;
    // Its exports name a server (and a generated key) that is no more.
    let _ = std::fs::remove_file(data_dir.join(EXPORTS_FILE));
    Ok(served?)
}

/// Whether `url` names a loopback host (a local emulator such as moto).
fn loopback_url(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Ctrl-C, or the SIGTERM of a supervisor.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
