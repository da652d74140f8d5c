//! The `auth` Lambda function: `/auth/token` and `/auth/refresh` behind API Gateway.

use std::process::ExitCode;

use pers::http::auth;
use pers::runtime::{self, Table};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::serve_http(Table::Required, auth::router).await
}
