//! The `auth` Lambda function: `/auth/token` and `/auth/refresh` behind API Gateway.

use pers::{http::auth, runtime, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(true);
    let state = runtime::lambda_state().await?;
    lambda_http::run(auth::router(state)).await
}
