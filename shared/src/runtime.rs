//! Wiring for the Lambda functions: everything a function's `main` needs, built once at
//! init from the environment (DESIGN §1, "Lambda settings").
//!
//! A cold start reads the platform key and the signing keys from Secrets Manager and
//! opens the table, all at once, bounded by [`Deadlines::init`], and meanwhile seeds
//! the random generator ([`crate::keys::seed_random`]). It fails, reporting to
//! the Lambda Runtime API's `/runtime/init/error` an error that names the setting,
//! secret or table at fault, when a setting is missing or invalid, or when a dependency
//! does not answer, refuses us or is missing. A signing-key secret that exists but
//! holds no key yet (the template creates it empty; its first rotation writes the key)
//! is not fatal: routes that need keys answer `503` until the key is there.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::config::{self, ConfigError, Deployment, Settings};
use crate::deadlines::Deadlines;
use crate::http::AppState;
use crate::keys::{KeyError, SecretsManagerKeySource, fetch_platform_key};
use crate::store::{DynamoStore, StoreError};

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const SIGNING_KEY_SECRET_ID: &str = "SIGNING_KEY_SECRET_ID";
pub const PLATFORM_SECRET_ID: &str = "PLATFORM_SECRET_ID";

/// The Lambda Runtime API's address, set by Lambda (and by emulators).
const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// Why a cold start failed. Its `Display` names what is at fault and is what the
/// runtime is told.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// One line per dependency that failed.
    #[error("{}", .0.join("; "))]
    Dependencies(Vec<String>),
    #[error("init did not finish within {0:?}")]
    Deadline(Duration),
}

impl InitError {
    /// The `errorType` reported to the runtime.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "Pers.ConfigError",
            Self::Dependencies(_) | Self::Deadline(_) => "Pers.DependencyUnavailable",
        }
    }
}

/// Whether a function can start without its table answering. `verify` can: its default
/// path makes no storage call, so it serves while DynamoDB is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Required,
    Optional,
}

/// Builds the state of a Lambda function: settings, the DynamoDB store, keys from
/// Secrets Manager (loaded now, while init has the full CPU) and the platform key.
pub async fn lambda_state(table_at_init: Table) -> Result<AppState, InitError> {
    let deadlines = Deadlines::PRODUCTION;
    // Each read of init has its own deadline; this one only bounds the whole.
    let whole = deadlines.init + Duration::from_secs(1);
    match tokio::time::timeout(whole, build_state(table_at_init, deadlines)).await {
        Ok(state) => state,
        Err(_) => Err(InitError::Deadline(whole)),
    }
}

async fn build_state(table_at_init: Table, deadlines: Deadlines) -> Result<AppState, InitError> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = Settings::from_env(None)?;
    let table = config::required(&env, TABLE_NAME)?;
    let signing_secret = config::required(&env, SIGNING_KEY_SECRET_ID)?;
    let platform_secret = config::required(&env, PLATFORM_SECRET_ID)?;

    let aws = lambda_sdk_config(&env, deadlines)?;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let keys = SecretsManagerKeySource::new(
        secrets.clone(),
        signing_secret.clone(),
        settings.key_refresh_interval,
        settings.key_activation_delay,
    );
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    // The three round trips of init, at once.
    // Each bounded by the init deadline on its own, so that a late one is named.
    let late = || format!("no answer within {:?}", deadlines.init);
    let (platform_key, loaded, warmed, seeded) = tokio::join!(
        tokio::time::timeout(
            deadlines.init,
            fetch_platform_key(&secrets, &platform_secret)
        ),
        tokio::time::timeout(deadlines.init, keys.refresh_now()),
        tokio::time::timeout(deadlines.init, store.warm_up()),
        // CPU, not a round trip: done while the round trips are in flight.
        tokio::task::spawn_blocking(crate::keys::seed_random),
    );
    let platform_key = platform_key.unwrap_or_else(|_| Err(KeyError::Unavailable(late().into())));
    let loaded = loaded.unwrap_or_else(|_| Err(KeyError::Unavailable(late().into())));
    let warmed = warmed.unwrap_or_else(|_| Err(StoreError::Unavailable(late().into())));
    let mut failed = Vec::new();
    match seeded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failed.push(crate::error_chain(&e)),
        Err(e) => failed.push(format!("seeding the random generator: {e}")),
    }
    if let Err(e) = &platform_key {
        failed.push(format!(
            "{PLATFORM_SECRET_ID} secret {platform_secret}: {}",
            crate::error_chain(e)
        ));
    }
    match &loaded {
        Ok(_) => {}
        // Secrets Manager says "not found" alike for a secret with no version yet and for
        // one that does not exist: only the first may wait for its first rotation.
        Err(KeyError::NotReady(_)) if !secret_exists(&secrets, &signing_secret).await => {
            failed.push(format!(
                "{SIGNING_KEY_SECRET_ID} secret {signing_secret} does not exist"
            ));
        }
        // Answered, but no usable key yet: routes that need keys answer 503 meanwhile.
        Err(e @ (KeyError::NotReady(_) | KeyError::Invalid(_))) => {
            tracing::error!(
                secret = %signing_secret,
                error = %crate::error_chain(e),
                "no usable signing key yet: routes that need keys answer 503 until one is there"
            );
        }
        Err(e) => failed.push(format!(
            "{SIGNING_KEY_SECRET_ID} secret {signing_secret}: {}",
            crate::error_chain(e)
        )),
    }
    if let Err(e) = &warmed {
        let line = format!(
            "{TABLE_NAME} table {}: {}",
            store.table(),
            crate::error_chain(e)
        );
        match table_at_init {
            Table::Required => failed.push(line),
            Table::Optional => tracing::warn!(error = %line, "the table did not answer at init"),
        }
    }
    let platform_key = match platform_key {
        Ok(key) if failed.is_empty() => key,
        _ => return Err(InitError::Dependencies(failed)),
    };
    Ok(AppState::new(
        Deployment::Lambda,
        Arc::new(store),
        Arc::new(keys),
        settings,
        platform_key,
    )
    .with_deadlines(deadlines)
    .with_configured_geoip()?)
}

/// The AWS SDK configuration of a function, from what Lambda puts in its environment:
/// the region (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and, for emulators, `AWS_ENDPOINT_URL`;
/// timeouts and retries from `deadlines`.
///
/// Not the SDK's default chain (profile files, SSO, STS web identity, IMDS, ECS): Lambda
/// only ever hands a function its credentials in the environment, and the chain's code
/// (an STS client among it) would be in every package and its setup in every cold
/// start (docs/PERFORMANCE.md). `pers-local` keeps the chain: a developer's profile.
pub fn lambda_sdk_config(
    env: &impl Fn(&str) -> Option<String>,
    deadlines: Deadlines,
) -> Result<aws_config::SdkConfig, ConfigError> {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_sdk_dynamodb::config::SharedCredentialsProvider;
    let region = config::required(env, "AWS_REGION")?;
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .timeout_config(deadlines.timeouts())
        .retry_config(deadlines.retries());
    if let Some(url) = env("AWS_ENDPOINT_URL").filter(|u| !u.trim().is_empty()) {
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}

/// Whether a secret exists (`DescribeSecret`). Only a definite "no such secret" is
/// `false`: any other failure leaves the question to the requests that need it.
async fn secret_exists(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> bool {
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
    let described = client.describe_secret().secret_id(secret_id).send();
    match tokio::time::timeout(Duration::from_secs(1), described).await {
        Ok(Err(aws_sdk_secretsmanager::error::SdkError::ServiceError(e))) => {
            !matches!(e.err(), DescribeSecretError::ResourceNotFoundException(_))
        }
        _ => true,
    }
}

/// The `main` of an HTTP function: builds its state, then serves `router` under the
/// Lambda runtime. A failed init is logged, reported to the Runtime API and ends the
/// process with a failure status.
pub async fn serve_http(table_at_init: Table, router: fn(AppState) -> Router) -> ExitCode {
    crate::telemetry::init(true);
    let state = match lambda_state(table_at_init).await {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, kind = e.kind(), "init failed");
            report_init_error(e.kind(), &e.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    match lambda_http::run(router(state)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %crate::error_chain(e.as_ref()), "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// Tells the Runtime API why init failed (`POST /runtime/init/error`), so that Lambda
/// reports it as the invocation's error and in its init metrics. Best effort: without a
/// Runtime API (run by hand), or if it does not answer within a second, only the log
/// line remains.
pub async fn report_init_error(kind: &str, message: &str) {
    let Ok(api) = std::env::var(RUNTIME_API) else {
        return;
    };
    let body = serde_json::json!({
        "errorType": kind,
        "errorMessage": message,
        "stackTrace": [],
    });
    let endpoint = match api.parse::<http::Uri>() {
        Ok(uri) if uri.authority().is_some() => uri,
        _ => {
            tracing::error!(value = %api, "{RUNTIME_API} is not host:port");
            return;
        }
    };
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", kind)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(lambda_runtime_api_client::body::Body::from(
            body.to_string(),
        ));
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(endpoint)
        .build();
    let sent = match request {
        Ok(request) => {
            match tokio::time::timeout(std::time::Duration::from_secs(1), client.call(request))
                .await
            {
                Ok(Ok(answer)) if answer.status().is_success() => Ok(()),
                Ok(Ok(answer)) => Err(format!("it answered {}", answer.status())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 1 s".to_owned()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not report the init error to the Runtime API");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_config_comes_from_the_variables_lambda_sets() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4566".to_owned()),
            _ => None,
        };
        let config = lambda_sdk_config(&env, Deadlines::PRODUCTION).expect("config");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(config.credentials_provider().is_some());
        let timeouts = config.timeout_config().expect("timeouts");
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Deadlines::PRODUCTION.attempt)
        );
        assert_eq!(
            config.retry_config().map(|r| r.max_attempts()),
            Some(Deadlines::PRODUCTION.max_attempts)
        );

        let without_endpoint = |k: &str| (k == "AWS_REGION").then(|| "us-east-1".to_owned());
        let config = lambda_sdk_config(&without_endpoint, Deadlines::PRODUCTION).expect("config");
        assert_eq!(config.endpoint_url(), None);

        let missing = lambda_sdk_config(&|_: &str| None, Deadlines::PRODUCTION).unwrap_err();
        assert_eq!(missing.variable, "AWS_REGION");
    }
}
