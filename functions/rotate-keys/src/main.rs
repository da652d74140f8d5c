//! The `rotate-keys` Lambda function: Secrets Manager calls it with the four rotation
//! steps of the signing-key secret. New keys use `PERS_SIGNING_ALGORITHM` (RS256).

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pers::keys::SigningAlgorithm;
use pers::keys::rotation::{RotationEvent, rotate};
use pers::{config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(true);
    let alg: SigningAlgorithm = match std::env::var(config::SIGNING_ALGORITHM) {
        Ok(raw) => raw.parse().map_err(|problem| config::ConfigError {
            variable: config::SIGNING_ALGORITHM,
            problem,
        })?,
        Err(_) => SigningAlgorithm::Rs256,
    };
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    lambda_runtime::run(service_fn(|event: LambdaEvent<RotationEvent>| {
        let client = client.clone();
        async move {
            rotate(&client, &event.payload, alg)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
