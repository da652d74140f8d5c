//! The `tenants` Lambda function: `/tenants…` behind API Gateway.

use std::process::ExitCode;

use pers::http::tenants;
use pers::runtime::{self, Table};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::serve_http(Table::Required, tenants::router).await
}
