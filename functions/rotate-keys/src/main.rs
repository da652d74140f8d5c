//! The `rotate-keys` Lambda function: Secrets Manager calls it with the four rotation
//! steps of the signing-key secret. New keys use `PERS_SIGNING_ALGORITHM` (RS256).

use std::process::ExitCode;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pers::deadlines::Deadlines;
use pers::keys::SigningAlgorithm;
use pers::keys::rotation::{RotationEvent, rotate};
use pers::{config, runtime, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init(true);
    let alg: SigningAlgorithm = match std::env::var(config::SIGNING_ALGORITHM) {
        Ok(raw) => match raw.parse() {
            Ok(alg) => alg,
            Err(problem) => {
                let e = config::ConfigError {
                    variable: config::SIGNING_ALGORITHM,
                    problem,
                };
                tracing::error!(error = %e, "init failed");
                runtime::report_init_error("Pers.ConfigError", &e.to_string()).await;
                return ExitCode::FAILURE;
            }
        },
        Err(_) => SigningAlgorithm::Rs256,
    };
    // Secrets Manager waits up to 60 s (the function's timeout) for a step; each call
    // within it is bounded like every other dependency call.
    let env = |k: &str| std::env::var(k).ok();
    let aws = match runtime::lambda_sdk_config(&env, Deadlines::PRODUCTION) {
        Ok(aws) => aws,
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            runtime::report_init_error("Pers.ConfigError", &e.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
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
    .map_or_else(
        |e| {
            tracing::error!(error = %pers::error_chain(e.as_ref()), "the Lambda runtime stopped");
            ExitCode::FAILURE
        },
        |()| ExitCode::SUCCESS,
    )
}
