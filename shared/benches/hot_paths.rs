//! The hot paths, measured in process (`cargo bench -p pers-shared`): signing and
//! verifying a PERS access token with each supported algorithm, the token pair of a
//! login or refresh (before and after the refresh token's internal key), and whole warm requests
//! through the router on the embedded store — `POST /auth/verify` (no storage call) and
//! `GET /tenants/me` (the project key from the in-memory cache).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pers::config::{Deployment, Settings};
use pers::domain::{AuthType, KeyHash, Network, Session, SessionOrigin, TenantId};
use pers::http::{AppState, app};
use pers::keys::{KeyMaterial, KeySet, LocalKeySource, SigningAlgorithm, SigningKey};
use pers::store::EmbeddedStore;
use pers::token::{self, AccessClaims, Kind, RefreshClaims};
use serde_json::Value;
use tower::ServiceExt as _;

const ISSUER: &str = "https://auth.example.com";
const PLATFORM_KEY: &str = "pl_bench_platform_operator_key";

fn settings() -> Settings {
    Settings::from_lookup(|_| None, Some(ISSUER.into())).expect("settings")
}

fn session() -> Session {
    let now = pers::now_unix();
    Session {
        session_id: token::new_id(),
        tenant_id: TenantId::generate(),
        user_id: token::new_id(),
        auth_type: AuthType::User,
        network: Network::Mainnet,
        generation: 0,
        rotated_at: now,
        revoked: false,
        created_at: now,
        expires_at: now + 30 * 86_400,
    }
}

fn claims(settings: &Settings) -> AccessClaims {
    AccessClaims::for_session(settings, &session(), pers::now_unix())
}

/// What `/auth/token` and `/auth/refresh` sign: an access token and a refresh token.
/// Before the refresh token moved to the internal key, both were RS256 signatures with
/// the published key (measured here by signing the refresh claims with that key).
fn token_pair(c: &mut Criterion) {
    let settings = settings();
    let session = session();
    let now = pers::now_unix();
    let access = AccessClaims::for_session(&settings, &session, now);
    let refresh = RefreshClaims::for_session(&settings, &session, SessionOrigin::Sandbox, now);
    let material = KeyMaterial::generate(SigningAlgorithm::Rs256).expect("key");
    let keys = KeySet::new(SigningKey::from_material(&material).expect("key"), vec![]);
    let mut group = c.benchmark_group("sign token pair");
    group.bench_function("RS256 access + RS256 refresh (before)", |b| {
        b.iter(|| {
            let a = token::sign(&keys, Kind::Access, black_box(&access)).expect("sign");
            let r = token::sign(&keys, Kind::Login, black_box(&refresh)).expect("sign");
            (a, r)
        })
    });
    group.bench_function("RS256 access + HS256 refresh (now)", |b| {
        b.iter(|| {
            let a = token::sign(&keys, Kind::Access, black_box(&access)).expect("sign");
            let r = token::sign(&keys, Kind::Refresh, black_box(&refresh)).expect("sign");
            (a, r)
        })
    });
    group.finish();
    let refresh_token = token::sign(&keys, Kind::Refresh, &refresh).expect("sign");
    c.bench_function("verify refresh token HS256", |b| {
        b.iter(|| {
            token::verify::<RefreshClaims>(&keys, &settings, black_box(&refresh_token), now)
                .expect("valid")
        })
    });
}

fn tokens(c: &mut Criterion) {
    let settings = settings();
    let claims = claims(&settings);
    let mut sign = c.benchmark_group("sign access token");
    let mut signed = Vec::new();
    for alg in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ] {
        let material = KeyMaterial::generate(alg).expect("key");
        let keys = KeySet::new(SigningKey::from_material(&material).expect("key"), vec![]);
        sign.bench_function(BenchmarkId::from_parameter(alg.name()), |b| {
            b.iter(|| token::sign(&keys, Kind::Access, black_box(&claims)).expect("sign"))
        });
        let token = token::sign(&keys, Kind::Access, &claims).expect("sign");
        signed.push((alg, keys, token));
    }
    sign.finish();

    let now = pers::now_unix();
    let mut verify = c.benchmark_group("verify access token");
    for (alg, keys, token) in &signed {
        verify.bench_function(BenchmarkId::from_parameter(alg.name()), |b| {
            b.iter(|| {
                token::verify::<AccessClaims>(keys, &settings, black_box(token), now)
                    .expect("valid")
            })
        });
    }
    verify.finish();
}

/// Sends one request through the router and checks its status.
async fn send(router: &axum::Router, request: Request<Body>, expected: StatusCode) -> Value {
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), expected);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The whole service on the embedded store, with one tenant: its router, the tenant's
/// project key and a `POST /auth/verify` body with its admin token. The directory must
/// outlive the router.
fn service(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (axum::Router, String, String) {
    let store = EmbeddedStore::open(&dir.join("store.redb")).expect("store");
    // RS256, the default: what a deployment signs with unless told otherwise.
    let (keys, _) = LocalKeySource::open_or_generate(
        &dir.join("keys.json"),
        SigningAlgorithm::Rs256,
        Duration::ZERO,
    )
    .expect("key");
    let state = AppState::new(
        Deployment::Lambda,
        Arc::new(store),
        Arc::new(keys),
        settings(),
        KeyHash::of(PLATFORM_KEY),
    );
    let router = app(state);
    let tenant = rt.block_on(send(
        &router,
        Request::post("/tenants")
            .header("x-api-key", PLATFORM_KEY)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"projectName": "Bench"}"#))
            .expect("request"),
        StatusCode::CREATED,
    ));
    let project_key = tenant["projectApiKey"].as_str().expect("key").to_owned();
    let verify_body = serde_json::json!({"authToken": tenant["jwt"]}).to_string();
    (router, project_key, verify_body)
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (router, project_key, verify_body) = service(&rt, dir.path());

    let mut group = c.benchmark_group("warm request");
    group.bench_function("POST /auth/verify (RS256)", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::post("/auth/verify")
                .header("x-project-key", &project_key)
                .header("content-type", "application/json")
                .body(Body::from(verify_body.clone()))
                .expect("request");
            let answer = send(&router, request, StatusCode::OK).await;
            assert_eq!(answer["valid"], true);
        })
    });
    group.bench_function("GET /tenants/me", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::get("/tenants/me")
                .header("x-project-key", &project_key)
                .body(Body::empty())
                .expect("request");
            send(&router, request, StatusCode::OK).await;
        })
    });
    group.finish();
}

/// What DESIGN §8 costs a request: the warm `POST /auth/verify` with no subscriber, and
/// with the Lambda functions' log layer and filter (lines and metric documents into a
/// sink, so that only the formatting is measured, not a pipe) at `INFO` (the request
/// line written) and at `WARN` (spans kept, the line filtered out). One thread, so that
/// the subscriber set for the bench is the one every poll sees.
fn logging(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (router, project_key, verify_body) = service(&rt, dir.path());
    let verify = || async {
        let request = Request::post("/auth/verify")
            .header("x-project-key", &project_key)
            .header("content-type", "application/json")
            .body(Body::from(verify_body.clone()))
            .expect("request");
        let answer = send(&router, request, StatusCode::OK).await;
        assert_eq!(answer["valid"], true);
    };
    let subscriber = |level: &str| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let targets = pers::telemetry::filter(Some(level), None);
        tracing_subscriber::registry().with(
            pers::telemetry::json::JsonLines::new(
                Some("bench-verify".into()),
                std::io::sink,
                std::io::sink,
            )
            .with_filter(pers::telemetry::lambda_filter(targets)),
        )
    };
    let mut group = c.benchmark_group("logging per request (POST /auth/verify)");
    group.bench_function("no subscriber", |b| b.to_async(&rt).iter(verify));
    for level in ["INFO", "WARN"] {
        let _installed = tracing::subscriber::set_default(subscriber(level));
        group.bench_function(format!("Lambda log layer at {level}"), |b| {
            b.to_async(&rt).iter(verify)
        });
    }
    group.finish();
}

criterion_group!(benches, tokens, token_pair, requests, logging);
criterion_main!(benches);
