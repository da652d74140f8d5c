//! The `verify` Lambda function: `/auth/verify` and `/.well-known/*` behind API Gateway.

use std::process::ExitCode;

use pers::http::verify;
use pers::runtime::{self, Table};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::serve_http(Table::Optional, verify::router).await
}
