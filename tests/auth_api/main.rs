//! `/auth/token` and `/auth/refresh` through the router: provider verification, users,
//! sessions and rotation on the embedded store; budget and concurrency on both stores.
//!
//! One test binary, a module per feature; the helpers they share are here.

mod concurrency;
mod exchange;
mod jwks;
mod provider_rules;
mod refresh;

use std::sync::Arc;

use axum::http::StatusCode;
use pers::keys::SigningAlgorithm;
use pers::token::{AccessClaims, RefreshClaims};
use pers_tests::{Response, TestApp, TestIssuer};
use serde_json::{Value, json};

const AUD: &str = "pers-test-app";

struct World {
    app: Arc<TestApp>,
    tenant: Value,
    issuer: TestIssuer,
}

impl World {
    fn pk(&self) -> &str {
        self.tenant["projectApiKey"].as_str().unwrap()
    }

    async fn login(&self, token: &str) -> Response {
        self.app.login(self.pk(), json!({"authToken": token})).await
    }

    async fn login_as(&self, sub: &str) -> Response {
        self.login(&self.issuer.token(&self.issuer.claims(sub, AUD)))
            .await
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        self.app.refresh(self.pk(), refresh_token).await
    }
}

/// Updates the tenant through `PUT /tenants` with its admin token; the update must pass.
async fn update_tenant(app: &TestApp, tenant: &Value, patch: Value) {
    let res = app
        .update_tenant(tenant["jwt"].as_str().unwrap(), patch)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

/// Sets the tenant's identity providers through `PUT /tenants`.
async fn trust(app: &TestApp, tenant: &Value, providers: Value) {
    update_tenant(app, tenant, json!({ "identityProviders": providers })).await;
}

/// A tenant trusting an inline-JWKS provider for user, business and system sessions.
async fn world_on(app: TestApp) -> World {
    let tenant = app.create_tenant(json!({"projectName": "Auth"})).await;
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    trust(
        &app,
        &tenant,
        json!([{
            "issuer": issuer.issuer, "jwks": issuer.jwks(), "audience": AUD,
            "authTypes": ["user", "business", "system"]
        }]),
    )
    .await;
    World {
        app: Arc::new(app),
        tenant,
        issuer,
    }
}

async fn world() -> World {
    world_on(TestApp::embedded()).await
}

async fn dynamo_world(moto: &pers_tests::Moto) -> World {
    world_on(TestApp::with_store(Arc::new(moto.dynamo_store().await))).await
}

/// The claims of the access token of a `201` answer.
async fn access_claims(app: &TestApp, res: &Response) -> AccessClaims {
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    app.access_claims(token_of(res, "accessToken")).await
}

/// The claims of the refresh token of an answer.
async fn refresh_claims(app: &TestApp, res: &Response) -> RefreshClaims {
    app.refresh_claims(token_of(res, "refreshToken")).await
}

fn token_of<'a>(res: &'a Response, field: &str) -> &'a str {
    res.json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {}", res.json))
}
