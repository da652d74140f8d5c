//! The `tenants` Lambda function: `/tenants…` behind API Gateway.

use pers::{http::tenants, runtime, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(true);
    let state = runtime::lambda_state().await?;
    lambda_http::run(tenants::router(state)).await
}
