//! Wiring for the Lambda functions: everything a function's `main` needs, built once at
//! init from the environment (DESIGN §1, "Lambda settings").

use std::sync::Arc;

use aws_config::BehaviorVersion;

use crate::BoxError;
use crate::config::{self, Settings};
use crate::http::AppState;
use crate::keys::{SecretsManagerKeySource, fetch_platform_key};
use crate::store::DynamoStore;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const SIGNING_KEY_SECRET_ID: &str = "SIGNING_KEY_SECRET_ID";
pub const PLATFORM_SECRET_ID: &str = "PLATFORM_SECRET_ID";

/// Builds the state of a Lambda function: settings, the DynamoDB store, keys from
/// Secrets Manager (loaded now, while init has the full CPU) and the platform key.
/// A missing or invalid setting is an error naming it, which stops the function at init.
pub async fn lambda_state() -> Result<AppState, BoxError> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = Settings::from_env(None)?;
    let table = config::required(&env, TABLE_NAME)?;
    let signing_secret = config::required(&env, SIGNING_KEY_SECRET_ID)?;
    let platform_secret = config::required(&env, PLATFORM_SECRET_ID)?;

    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let keys = SecretsManagerKeySource::new(
        secrets.clone(),
        signing_secret,
        settings.key_refresh_interval,
        settings.key_activation_delay,
    );
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    // The three round trips of init, at once.
    let (platform_key, loaded, warmed) = tokio::join!(
        fetch_platform_key(&secrets, &platform_secret),
        keys.refresh_now(),
        store.warm_up(),
    );
    let platform_key = platform_key?;
    if let Err(e) = loaded {
        // Not fatal: requests that need keys answer 503 until they load.
        tracing::error!(error = %e, "signing keys could not be loaded at init");
    }
    if let Err(e) = warmed {
        // Not fatal either: each request reports its own storage errors.
        tracing::warn!(error = %e, table = store.table(), "the table did not answer at init");
    }
    Ok(
        AppState::new(Arc::new(store), Arc::new(keys), settings, platform_key)
            .with_configured_geoip()?,
    )
}
