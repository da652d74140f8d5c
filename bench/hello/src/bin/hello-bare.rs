//! The bare baseline of `scripts/bench-lambda`: `lambda_http` and axum answering one
//! JSON route, and nothing else — what any Rust HTTP function costs.

use axum::Json;
use axum::routing::get;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app =
        axum::Router::new().route("/hello", get(|| async { Json(json!({"hello": "world"})) }));
    lambda_http::run(app).await
}
