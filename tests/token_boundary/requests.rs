//! Bodies and answers: a JSON array is not an object body anywhere, and no answer with
//! a token or a secret is stored by caches (defects 10, 11).

use axum::http::{Method, StatusCode};
use pers_tests::{PLATFORM_KEY, TestApp};
use serde_json::json;

use super::{Case, admin, pk, sandbox_session, update};

// 10. A JSON array is not an object body.
#[tokio::test]
async fn a_json_array_body_is_refused_everywhere() {
    let app = TestApp::embedded();
    let (tenant, pair) = sandbox_session(&app).await;
    let admin = admin(&tenant);
    let cases: [Case<&str>; 5] = [
        (
            Method::POST,
            "/tenants",
            vec![("x-api-key", PLATFORM_KEY)],
            Some(json!(["My name"])),
        ),
        (
            Method::POST,
            "/auth/token",
            vec![("x-project-key", pk(&tenant))],
            Some(json!(["token"])),
        ),
        (
            Method::PUT,
            "/tenants",
            vec![("authorization", &admin)],
            Some(json!(["Renamed"])),
        ),
        (
            Method::POST,
            "/auth/refresh",
            vec![("x-project-key", pk(&tenant))],
            Some(json!([pair["refreshToken"]])),
        ),
        (
            Method::POST,
            "/auth/verify",
            vec![("x-project-key", pk(&tenant))],
            Some(json!([pair["accessToken"]])),
        ),
    ];
    for (method, path, headers, body) in cases {
        let res = app.send(method, path, &headers, body).await;
        assert!(
            res.error(StatusCode::BAD_REQUEST).contains("object"),
            "{path}"
        );
    }
    // The refresh token was not consumed by the refused request.
    assert_eq!(
        app.refresh(pk(&tenant), pair["refreshToken"].as_str().unwrap())
            .await
            .status,
        StatusCode::CREATED
    );
}

// 11. Tokens and secrets are never cacheable.
#[tokio::test]
async fn answers_with_tokens_or_secrets_are_not_stored_by_caches() {
    let app = TestApp::embedded();
    let created = app.post_tenant(json!({"projectName": "Cache"})).await;
    let tenant = created.json.clone();
    let updated = update(
        &app,
        &tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    let pair = app
        .login(pk(&tenant), json!({"authToken": "-", "rawLoginData": {}}))
        .await;
    let refreshed = app
        .refresh(pk(&tenant), pair.json["refreshToken"].as_str().unwrap())
        .await;
    let login_token = app.login_token(pk(&tenant)).await;
    let by_admin = app
        .tenant_by_id(
            tenant["id"].as_str().unwrap(),
            &[("authorization", &admin(&tenant))],
        )
        .await;
    for (what, res) in [
        ("POST /tenants", &created),
        ("PUT /tenants", &updated),
        ("POST /auth/token", &pair),
        ("POST /auth/refresh", &refreshed),
        ("GET /tenants/login-token", &login_token),
        ("admin GET /tenants/{id}", &by_admin),
    ] {
        assert!(res.status.is_success(), "{what}: {}", res.json);
        assert_eq!(res.headers["cache-control"], "no-store", "{what}");
    }
    let jwks = app.jwks().await;
    assert!(
        jwks.headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age="),
        "the public keys stay cacheable"
    );
}
