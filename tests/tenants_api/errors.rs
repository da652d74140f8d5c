//! Requests refused before any route's logic (bodies that are not JSON of at most
//! 64 KiB, unknown routes and methods), and dependencies that cannot answer: all in the
//! error shape.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use pers_tests::{PLATFORM_KEY, TestApp};
use serde_json::json;

#[tokio::test]
async fn bodies_must_be_json_of_at_most_64_kib() {
    let app = TestApp::embedded();
    let key = ("x-api-key", PLATFORM_KEY);
    let res = app
        .raw(
            Method::POST,
            "/tenants",
            &[key],
            Body::from(r#"{"projectName":"A"}"#),
        )
        .await;
    res.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = app
        .raw(
            Method::POST,
            "/tenants",
            &[key, ("content-type", "text/plain")],
            Body::from("{}"),
        )
        .await;
    res.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let json_type = ("content-type", "application/json; charset=utf-8");
    let big = json!({"projectName": "A", "projectDescription": "x".repeat(70 * 1024)}).to_string();
    app.raw(Method::POST, "/tenants", &[key, json_type], Body::from(big))
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    for broken in [
        "{",
        "",
        "[]",
        "null",
        "{\"projectName\":\"A\"} trailing",
        "\u{feff}{}",
    ] {
        app.raw(
            Method::POST,
            "/tenants",
            &[key, json_type],
            Body::from(broken),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    }
    app.raw(
        Method::POST,
        "/tenants",
        &[key, json_type],
        Body::from(vec![0xff, 0xfe, 0x00]),
    )
    .await
    .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::embedded();
    app.get("/nope", &[]).await.error(StatusCode::NOT_FOUND);
    app.send(Method::DELETE, "/tenants", &[], None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
    app.send(Method::POST, "/tenants/me", &[], None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_and_unavailable_keys_too() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = pers_tests::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let store = pers::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "t");
    let app = TestApp::with_store(std::sync::Arc::new(store));
    let res = app
        .tenant_me(&[("x-project-key", "pk_live_anything")])
        .await;
    let message = res.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !message.contains("127.0.0.1"),
        "internals leaked: {message}"
    );

    // Keys from a Secrets Manager that cannot be reached, with nothing cached.
    let dir = tempfile::tempdir().unwrap();
    let embedded = pers::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
    let secrets = pers::keys::SecretsManagerKeySource::new(
        aws_sdk_secretsmanager::Client::new(&config),
        "signing",
        std::time::Duration::from_secs(300),
        std::time::Duration::ZERO,
    );
    let app = TestApp::with(
        std::sync::Arc::new(embedded),
        std::sync::Arc::new(secrets),
        dir,
    );
    let res = app.post_tenant(json!({"projectName": "X"})).await;
    res.error(StatusCode::SERVICE_UNAVAILABLE);
}
