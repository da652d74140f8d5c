//! The token boundary: no token is accepted anywhere it was not issued for, and every
//! credential is used or refused (issue 8; DESIGN §2–§4, §7). One test per defect,
//! through the router; the store-dependent ones on the embedded store and on DynamoDB.
//!
//! One test binary, a module per seam; the helpers they share are here.

mod credentials;
mod own_tokens;
mod provider_config;
mod provider_tokens;
mod requests;
mod sessions;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pers_tests::{Response, TestApp, TestIssuer};
use serde_json::{Value, json};

const AUD: &str = "pers-test-app";

/// One request of a table of cases: method, path, headers, body.
type Case<'a, P> = (Method, P, Vec<(&'a str, &'a str)>, Option<Value>);

/// A change to a JWK, named.
type JwkEdit = (&'static str, fn(&mut Value));

fn pk(tenant: &Value) -> &str {
    tenant["projectApiKey"].as_str().unwrap()
}

fn admin(tenant: &Value) -> String {
    format!("Bearer {}", tenant["jwt"].as_str().unwrap())
}

/// `PUT /tenants` with the tenant's admin token.
async fn update(app: &TestApp, tenant: &Value, patch: Value) -> Response {
    app.update_tenant(tenant["jwt"].as_str().unwrap(), patch)
        .await
}

/// Signs `claims` under any header members at all, as a provider (or a forger holding
/// its key) could; jsonwebtoken's own `encode` cannot write `b64`.
fn raw_token(issuer: &TestIssuer, header: Value, claims: &Value) -> String {
    let mut h = json!({"alg": issuer.key.algorithm().name(), "kid": issuer.key.kid()});
    h.as_object_mut()
        .unwrap()
        .extend(header.as_object().unwrap().clone());
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        issuer.key.encoding_key(),
        issuer.key.algorithm().jwt(),
    )
    .unwrap();
    format!("{input}.{signature}")
}

/// A tenant that trusts `issuer` (inline JWKS, audience [`AUD`]) for user sessions.
async fn trusting(app: &TestApp, issuer: &TestIssuer) -> Value {
    let tenant = app.create_tenant(json!({"projectName": "Boundary"})).await;
    let res = update(
        app,
        &tenant,
        json!({"identityProviders": [{
            "issuer": issuer.issuer, "jwks": issuer.jwks(), "audience": AUD, "authTypes": ["user"]
        }]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    tenant
}

/// Asserts that exchange and verify both refuse `token`, for the reason `why`.
async fn both_refuse(app: &TestApp, tenant: &Value, token: &str, why: &str) {
    let res = app.login(pk(tenant), json!({"authToken": token})).await;
    res.error(StatusCode::UNAUTHORIZED);
    let res = app.verify(pk(tenant), token).await;
    assert_eq!(res.status, StatusCode::OK, "{why}: {}", res.json);
    assert_eq!(res.json["valid"], false, "{why}: verify said {}", res.json);
}

async fn both_accept(app: &TestApp, tenant: &Value, token: &str, why: &str) {
    let res = app.login(pk(tenant), json!({"authToken": token})).await;
    assert_eq!(res.status, StatusCode::CREATED, "{why}: {}", res.json);
    let res = app.verify(pk(tenant), token).await;
    assert_eq!(res.json["valid"], true, "{why}: verify said {}", res.json);
}

/// A sandbox session (access and refresh token) of a fresh tenant.
async fn sandbox_session(app: &TestApp) -> (Value, Value) {
    let tenant = app.create_tenant(json!({"projectName": "Sandbox"})).await;
    let res = update(
        app,
        &tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let res = app
        .login(
            pk(&tenant),
            json!({"authToken": "-", "rawLoginData": {"name": "a"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    (tenant, res.json)
}

fn unverified(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    (next(), next())
}
