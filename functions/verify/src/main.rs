//! The `verify` Lambda function: `/auth/verify` and `/.well-known/*` behind API Gateway.

use pers::{http::verify, runtime, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(true);
    let state = runtime::lambda_state().await?;
    lambda_http::run(verify::router(state)).await
}
