//! A session lasts only while the tenant allows how it was opened, on both stores, and
//! ending one costs one DynamoDB call (defect 14).

use std::sync::Arc;

use axum::http::StatusCode;
use pers::keys::SigningAlgorithm;
use pers_tests::{Moto, TestApp, TestIssuer};
use serde_json::{Value, json};

use super::{AUD, pk, sandbox_session, trusting, update};

// 14. A session lasts only while the tenant allows how it was opened.
async fn sessions_end_with_the_configuration_that_allowed_them(app: TestApp) {
    // Sandbox sessions end when unauthenticated users are no longer allowed.
    let (tenant, pair) = sandbox_session(&app).await;
    let first = app
        .refresh(pk(&tenant), pair["refreshToken"].as_str().unwrap())
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    let current = first.json["refreshToken"].as_str().unwrap().to_owned();
    update(
        &app,
        &tenant,
        json!({"allowJWTForUnauthenticatedUsers": false}),
    )
    .await;
    app.refresh(pk(&tenant), &current)
        .await
        .error(StatusCode::UNAUTHORIZED);
    // …and stay ended (revoked) when they are allowed again.
    update(
        &app,
        &tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    app.refresh(pk(&tenant), &current)
        .await
        .error(StatusCode::UNAUTHORIZED);

    // Provider sessions end when the provider goes or drops their auth type; new keys
    // or a new audience for the same issuer end nothing.
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let provider = |jwks: Value, aud: &str, types: Value| {
        json!({"identityProviders": [{
            "issuer": issuer.issuer, "jwks": jwks, "audience": aud, "authTypes": types
        }]})
    };
    let open = || async {
        let res = app
            .login(
                pk(&tenant),
                json!({"authToken": issuer.token(&issuer.claims("alice", AUD))}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
        res.json["refreshToken"].as_str().unwrap().to_owned()
    };
    let kept = open().await;
    let other_key = TestIssuer::new(&issuer.issuer, SigningAlgorithm::Es256);
    let both_keys = json!({"keys": [issuer.key.public_jwk(), other_key.key.public_jwk()]});
    update(
        &app,
        &tenant,
        provider(both_keys, "new-aud", json!(["user", "business"])),
    )
    .await;
    let res = app.refresh(pk(&tenant), &kept).await;
    assert_eq!(res.status, StatusCode::CREATED, "same issuer: {}", res.json);

    update(&app, &tenant, provider(issuer.jwks(), AUD, json!(["user"]))).await;
    let dropped = open().await;
    update(
        &app,
        &tenant,
        provider(issuer.jwks(), AUD, json!(["business"])),
    )
    .await;
    app.refresh(pk(&tenant), &dropped)
        .await
        .error(StatusCode::UNAUTHORIZED);

    update(&app, &tenant, provider(issuer.jwks(), AUD, json!(["user"]))).await;
    let removed = open().await;
    update(&app, &tenant, json!({"identityProviders": []})).await;
    app.refresh(pk(&tenant), &removed)
        .await
        .error(StatusCode::UNAUTHORIZED);
    update(&app, &tenant, provider(issuer.jwks(), AUD, json!(["user"]))).await;
    app.refresh(pk(&tenant), &removed)
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn embedded_sessions_end_with_the_configuration_that_allowed_them() {
    sessions_end_with_the_configuration_that_allowed_them(TestApp::embedded()).await;
}

#[tokio::test]
async fn dynamodb_sessions_end_with_the_configuration_that_allowed_them() {
    let moto = Moto::start().await;
    let app = TestApp::with_store(Arc::new(moto.dynamo_store().await));
    sessions_end_with_the_configuration_that_allowed_them(app).await;
}

#[tokio::test]
async fn ending_a_disallowed_session_costs_one_dynamodb_call() {
    let moto = Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let app = TestApp::with_store(Arc::new(store));
    let (tenant, pair) = sandbox_session(&app).await;
    update(
        &app,
        &tenant,
        json!({"allowJWTForUnauthenticatedUsers": false}),
    )
    .await;
    let token = pair["refreshToken"].as_str().unwrap();
    // The tenant is resolved from the warm project-key cache, as on the warm path.
    app.tenant_me(&[("x-project-key", pk(&tenant))]).await;
    calls.take();
    app.refresh(pk(&tenant), token)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(calls.take(), 1, "one write: the revocation");
}
