//! The session lifecycle (DESIGN §3): sign-out in its three scopes, `checkRevoked` at
//! verify, regenerating a tenant's `apiPrivateKey` and recovering a tenant-admin token,
//! and the audit line of each. Every behaviour runs on both stores (embedded, and
//! DynamoDB served by moto); the call budgets on DynamoDB, counted.
//!
//! One test binary, a module per feature; the world they share is here.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use pers::keys::SigningAlgorithm;
use pers::token::{AccessClaims, ManualClock, RefreshClaims};
use pers_tests::{Moto, Response, TestApp, TestIssuer};
use serde_json::{Value, json};

/// Runs each case on a world on the embedded store and on one on DynamoDB (moto).
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::world_on(pers_tests::TestApp::embedded()).await).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let moto = pers_tests::Moto::start().await;
                    let app = crate::on_moto(&moto).await;
                    super::$case(crate::world_on(app).await).await;
                }
            )*
        }
    };
}

mod admin_token;
mod audit;
mod budgets;
mod logout;
mod private_key;
mod revocation;

const AUD: &str = "pers-sessions";

/// An access and a refresh token of one session.
#[derive(Debug, Clone)]
struct Pair {
    access: String,
    refresh: String,
}

impl Pair {
    fn of(res: &Response) -> Self {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
        let field = |name: &str| res.json[name].as_str().expect("a token").to_owned();
        Self {
            access: field("accessToken"),
            refresh: field("refreshToken"),
        }
    }
}

/// A tenant trusting one provider for user and system sessions, on an app whose clock
/// moves only when a test moves it.
struct World {
    app: Arc<TestApp>,
    tenant: Value,
    issuer: Arc<TestIssuer>,
    clock: Arc<ManualClock>,
}

impl World {
    fn pk(&self) -> &str {
        self.tenant["projectApiKey"].as_str().unwrap()
    }

    fn id(&self) -> &str {
        self.tenant["id"].as_str().unwrap()
    }

    /// The bootstrap tenant-admin token of `POST /tenants`.
    fn admin(&self) -> &str {
        self.tenant["jwt"].as_str().unwrap()
    }

    /// The `apiPrivateKey` of `POST /tenants`.
    fn private_key(&self) -> &str {
        self.tenant["apiPrivateKey"].as_str().unwrap()
    }

    fn provider_token(&self, sub: &str) -> String {
        self.issuer.token(&self.issuer.claims(sub, AUD))
    }

    /// A new session of the provider subject `sub` (the same user each time).
    async fn sign_in(&self, sub: &str) -> Pair {
        Pair::of(
            &self
                .app
                .login(self.pk(), json!({"authToken": self.provider_token(sub)}))
                .await,
        )
    }

    /// `POST /auth/token` for a system session, with `private_key` in `x-api-key`.
    async fn system_login(&self, sub: &str, private_key: &str) -> Response {
        let body = json!({"authToken": self.provider_token(sub), "authType": "system"});
        self.app
            .send(
                Method::POST,
                "/auth/token",
                &[("x-project-key", self.pk()), ("x-api-key", private_key)],
                Some(body),
            )
            .await
    }

    /// `POST /auth/refresh` of a system session, with `private_key` in `x-api-key`.
    async fn system_refresh(&self, refresh: &str, private_key: &str) -> Response {
        self.app
            .send(
                Method::POST,
                "/auth/refresh",
                &[("x-project-key", self.pk()), ("x-api-key", private_key)],
                Some(json!({"refreshToken": refresh})),
            )
            .await
    }

    async fn refresh(&self, refresh: &str) -> Response {
        self.app.refresh(self.pk(), refresh).await
    }

    /// Whether the session of `refresh` still refreshes (which rotates it).
    async fn refreshes(&self, refresh: &str) -> bool {
        let res = self.refresh(refresh).await;
        match res.status {
            StatusCode::CREATED => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("refresh answered {other}: {}", res.json),
        }
    }

    async fn logout(&self, refresh: &str, scope: Option<&str>) -> Response {
        self.app.logout(self.pk(), refresh, scope).await
    }

    /// `POST /auth/verify` with `checkRevoked: true`: whether the token is valid.
    async fn valid_checking_revocation(&self, access: &str) -> bool {
        let res = self
            .app
            .verify_revocation(self.pk(), access, json!(true))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.json);
        res.json["valid"].as_bool().unwrap()
    }

    /// The stored session of a refresh token.
    async fn session_of(&self, refresh: &str) -> pers::domain::Session {
        let claims: RefreshClaims = self.app.refresh_claims(refresh).await;
        self.app
            .state
            .store
            .session(&claims.session_key())
            .await
            .unwrap()
            .expect("a stored session")
    }

    async fn access_claims(&self, access: &str) -> AccessClaims {
        self.app.access_claims(access).await
    }
}

/// The app on a fresh table of `moto`.
async fn on_moto(moto: &Moto) -> TestApp {
    TestApp::with_store(Arc::new(moto.dynamo_store().await))
}

/// A tenant trusting an inline-JWKS provider for user and system sessions, on `app`
/// under a manual clock.
async fn world_on(app: TestApp) -> World {
    let clock = Arc::new(ManualClock::starting_now());
    let app = app.with_clock(clock.clone());
    let tenant = app.create_tenant(json!({"projectName": "Sessions"})).await;
    let issuer = Arc::new(TestIssuer::new(
        "https://idp.sessions.example",
        SigningAlgorithm::Es256,
    ));
    trust(&app, &tenant, &issuer).await;
    World {
        app: Arc::new(app),
        tenant,
        issuer,
        clock,
    }
}

/// Makes `tenant` trust `issuer` for user and system sessions.
async fn trust(app: &TestApp, tenant: &Value, issuer: &TestIssuer) {
    let providers = json!([{
        "issuer": issuer.issuer, "jwks": issuer.jwks(), "audience": AUD,
        "authTypes": ["user", "system"]
    }]);
    let res = app
        .update_tenant(
            tenant["jwt"].as_str().unwrap(),
            json!({ "identityProviders": providers }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

/// Another tenant on the same app, trusting the same provider.
async fn other_tenant(w: &World) -> Value {
    let tenant = w.app.create_tenant(json!({"projectName": "Other"})).await;
    trust(&w.app, &tenant, &w.issuer).await;
    tenant
}
