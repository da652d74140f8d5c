//! One method of [`TestApp`] per endpoint, each with the credential it takes, so that a
//! test reads as the calls it makes. Requests no client sends (bad content types, raw
//! bodies, odd or conflicting headers) go through [`TestApp::send`], [`TestApp::raw`]
//! and [`TestApp::get`].

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{PLATFORM_KEY, Response, TestApp};

/// The `authorization` value for a bearer token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

impl TestApp {
    /// `POST /tenants` with the platform key.
    pub async fn post_tenant(&self, body: Value) -> Response {
        self.send(
            Method::POST,
            "/tenants",
            &[("x-api-key", PLATFORM_KEY)],
            Some(body),
        )
        .await
    }

    /// Creates a tenant through the API and returns the creation answer.
    pub async fn create_tenant(&self, body: Value) -> Value {
        let res = self.post_tenant(body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
        res.json
    }

    /// `PUT /tenants` with a tenant-admin token (`Bearer {admin_jwt}`).
    pub async fn update_tenant(&self, admin_jwt: &str, body: Value) -> Response {
        self.send(
            Method::PUT,
            "/tenants",
            &[("authorization", &bearer(admin_jwt))],
            Some(body),
        )
        .await
    }

    /// `GET /tenants/{id}` with these credentials (none: the public view).
    pub async fn tenant_by_id(&self, id: &str, headers: &[(&str, &str)]) -> Response {
        self.get(&format!("/tenants/{id}"), headers).await
    }

    /// `GET /tenants/me` with these credentials.
    pub async fn tenant_me(&self, headers: &[(&str, &str)]) -> Response {
        self.get("/tenants/me", headers).await
    }

    /// `GET /tenants/client-config` with a project key.
    pub async fn client_config(&self, pk: &str) -> Response {
        self.get("/tenants/client-config", &[("x-project-key", pk)])
            .await
    }

    /// `GET /tenants/login-token` with a project key.
    pub async fn login_token(&self, pk: &str) -> Response {
        self.get("/tenants/login-token", &[("x-project-key", pk)])
            .await
    }

    /// `POST /auth/token` with a project key.
    pub async fn login(&self, pk: &str, body: Value) -> Response {
        self.send(
            Method::POST,
            "/auth/token",
            &[("x-project-key", pk)],
            Some(body),
        )
        .await
    }

    /// `POST /auth/refresh` with a project key.
    pub async fn refresh(&self, pk: &str, refresh_token: &str) -> Response {
        self.send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", pk)],
            Some(json!({"refreshToken": refresh_token})),
        )
        .await
    }

    /// `POST /auth/logout` with a project key (and `scope` when given).
    pub async fn logout(&self, pk: &str, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut body = json!({"refreshToken": refresh_token});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        self.send(
            Method::POST,
            "/auth/logout",
            &[("x-project-key", pk)],
            Some(body),
        )
        .await
    }

    /// `POST /auth/verify` with a project key and `checkRevoked` set to `check_revoked`.
    pub async fn verify_revocation(&self, pk: &str, token: &str, check_revoked: Value) -> Response {
        self.send(
            Method::POST,
            "/auth/verify",
            &[("x-project-key", pk)],
            Some(json!({"authToken": token, "checkRevoked": check_revoked})),
        )
        .await
    }

    /// `POST /tenants/api-private-key` with a tenant-admin token.
    pub async fn regenerate_private_key(&self, admin_jwt: &str) -> Response {
        self.send(
            Method::POST,
            "/tenants/api-private-key",
            &[("authorization", &bearer(admin_jwt))],
            None,
        )
        .await
    }

    /// `POST /tenants/{id}/admin-token` with these credentials.
    pub async fn admin_token(&self, id: &str, headers: &[(&str, &str)]) -> Response {
        self.send(
            Method::POST,
            &format!("/tenants/{id}/admin-token"),
            headers,
            None,
        )
        .await
    }

    /// `POST /auth/verify` with a project key.
    pub async fn verify(&self, pk: &str, token: &str) -> Response {
        self.send(
            Method::POST,
            "/auth/verify",
            &[("x-project-key", pk)],
            Some(json!({"authToken": token})),
        )
        .await
    }

    /// `GET /.well-known/jwks.json`.
    pub async fn jwks(&self) -> Response {
        self.get("/.well-known/jwks.json", &[]).await
    }

    /// `GET /.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Response {
        self.get("/.well-known/openid-configuration", &[]).await
    }
}
