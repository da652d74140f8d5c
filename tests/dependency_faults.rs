//! Dependencies broken the ways real networks break them (DESIGN §7), with the fault
//! harness between the code and moto: refused connections, a dependency that accepts
//! and never answers, a black hole that drops every SYN, one that answers slowly, and
//! DynamoDB throttling. Every request that depends on the broken part answers a JSON
//! `503` with `Retry-After` well within the deadline, nothing is half-written, and the
//! service recovers when the dependency does.
//!
//! In process (the routers with the production SDK deadlines), then the real function
//! binaries under a Runtime API of the tests' own (warm and cold), then `pers-local`.
//!
//! The bound asserted is 6 s, twice the 3 s goal (the code gives up at 2.5 s): far
//! enough that a loaded machine cannot fail it, near enough that the 10 s-and-more of a
//! missing timeout, or a hang, always does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use pers::deadlines::Deadlines;
use pers::keys::{KeyMaterial, SecretsManagerKeySource, SigningAlgorithm};
use pers::store::DynamoStore;
use pers_tests::fault::{Fault, FaultProxy, ThrottleError, Throttler, moto_addr};
use pers_tests::runtime_api::{self, Function};
use pers_tests::{
    Moto, PLATFORM_KEY, Response, TemplateResources, TestApp, TestIssuer, sdk_config_with, unique,
};
use serde_json::{Value, json};

/// The harness's own checks: each fault does what it models.
mod fault_harness;

const BOUND: Duration = Duration::from_secs(6);

/// The error shape of DESIGN §7 for a 503, and its `Retry-After`.
fn assert_unavailable(res: &Response, what: &str) {
    res.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5"),
        "{what}: a 503 says when to retry"
    );
}

async fn timed<F: std::future::Future<Output = Response>>(what: &str, f: F) -> Response {
    let started = Instant::now();
    let res = f.await;
    let took = started.elapsed();
    eprintln!("{what}: {} in {took:?}", res.status);
    assert!(took < BOUND, "{what} took {took:?}");
    res
}

/// The routers in process on a [`Deployment`], reaching moto through its fault proxy
/// under the production deadlines.
struct World {
    d: Deployment,
    app: TestApp,
}

fn key_json() -> String {
    KeyMaterial::generate(SigningAlgorithm::Es256)
        .expect("key")
        .to_json()
        .to_string()
}

impl World {
    /// With `key`: a signing-key secret holding it; without: one as the template
    /// creates it, with no version yet.
    async fn new(key: Option<String>) -> Self {
        let d = Deployment::new(key).await;
        let config = sdk_config_with(&d.proxy.endpoint(), Deadlines::PRODUCTION).await;
        let store = DynamoStore::new(pers_tests::dynamo_client(&config), d.table.clone());
        let keys = SecretsManagerKeySource::new(
            pers_tests::secrets_client(&config),
            d.signing.clone(),
            Duration::from_secs(300),
            Duration::ZERO,
        );
        let app = TestApp::with(
            Arc::new(store),
            Arc::new(keys),
            tempfile::tempdir().expect("dir"),
        )
        .with_deadlines(Deadlines::PRODUCTION);
        Self { d, app }
    }

    /// Every item of the table, read from moto directly.
    async fn items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let direct = aws_sdk_dynamodb::Client::new(&self.d.moto.sdk_config().await);
        direct
            .scan()
            .table_name(&self.d.table)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default()
    }

    /// Nothing half-written: every tenant has its three key items, and every key item
    /// its tenant. Returns the number of tenants.
    async fn tenants_whole(&self) -> usize {
        let items = self.items().await;
        let pk = |prefix: &str| {
            items
                .iter()
                .filter(
                    |i| matches!(i.get("pk"), Some(AttributeValue::S(s)) if s.starts_with(prefix)),
                )
                .count()
        };
        let (tenants, keys) = (pk("TENANT#"), pk("APIKEY#"));
        assert_eq!(keys, 3 * tenants, "{tenants} tenants with {keys} key items");
        tenants
    }
}

async fn create_tenant(app: &TestApp) -> Response {
    app.send(
        Method::POST,
        "/tenants",
        &[("x-api-key", PLATFORM_KEY)],
        Some(json!({"projectName": "Faults"})),
    )
    .await
}

/// A tenant trusting a provider of the test's own, and a provider token for `sub`.
async fn tenant_with_provider(app: &TestApp) -> (Value, TestIssuer) {
    let tenant = app.create_tenant(json!({"projectName": "Faults"})).await;
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[(
                "authorization",
                &format!("Bearer {}", tenant["jwt"].as_str().expect("jwt")),
            )],
            Some(json!({"identityProviders": [{
                "issuer": issuer.issuer, "jwks": issuer.jwks(), "audience": "app",
                "authTypes": ["user"]
            }]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    (tenant, issuer)
}

fn pk(tenant: &Value) -> &str {
    tenant["projectApiKey"].as_str().expect("projectApiKey")
}

/// A token our keys never signed, naming a `kid` the set lacks: verifying it asks the
/// key store for a fresh set.
fn token_of_unknown_key(issuer: &str) -> String {
    let other = TestIssuer::new(issuer, SigningAlgorithm::Es256);
    let now = pers::now_unix();
    let mut header = other.header();
    header.typ = Some("at+jwt".into());
    other.sign(
        &header,
        &json!({"iss": issuer, "aud": issuer, "sub": "u", "iat": now, "exp": now + 300}),
    )
}

/// The issuer of the in-process apps ([`pers_tests::settings`]).
const ISSUER: &str = "http://127.0.0.1:3000";
/// The issuer the function binaries are given.
const FUNCTION_ISSUER: &str = "https://auth.example.com";

/// Each fault, on warm routers: what depends on the broken store or key store is a 503
/// in time; what cached keys can answer still answers; nothing is half-written; and
/// everything works again once the dependency is back.
async fn a_warm_app_under(fault: Fault) {
    let w = World::new(Some(key_json())).await;
    let (tenant, issuer) = tenant_with_provider(&w.app).await;
    let login = w
        .app
        .login(
            pk(&tenant),
            json!({"authToken": issuer.token(&issuer.claims("alice", "app"))}),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.json);
    let access = login.json["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh_token = login.json["refreshToken"].as_str().expect("rt").to_owned();
    let before = w.tenants_whole().await;

    w.d.proxy.set(fault.clone()).await;
    let what = |route: &str| format!("{route} under {fault:?}");

    let res = timed(&what("POST /tenants"), create_tenant(&w.app)).await;
    assert_unavailable(&res, &what("POST /tenants"));
    let token = issuer.token(&issuer.claims("bob", "app"));
    let res = timed(
        &what("POST /auth/token"),
        w.app.login(pk(&tenant), json!({"authToken": token})),
    )
    .await;
    assert_unavailable(&res, &what("POST /auth/token"));
    let res = timed(
        &what("POST /auth/refresh"),
        w.app.refresh(pk(&tenant), &refresh_token),
    )
    .await;
    assert_unavailable(&res, &what("POST /auth/refresh"));
    // Verification needs neither store nor key store while keys are cached.
    let res = timed(
        &what("POST /auth/verify"),
        w.app.verify(pk(&tenant), &access),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(res.json["valid"], true, "{}", res.json);
    let res = timed(
        &what("GET /.well-known/jwks.json"),
        w.app.get("/.well-known/jwks.json", &[]),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "cached keys are served");
    // An unknown kid makes the key store the judge: it cannot answer, so 503 (bounded),
    // not a 401 that could be wrong.
    let stranger = token_of_unknown_key(ISSUER);
    let res = timed(
        &what("GET /tenants/me with an unknown kid"),
        w.app.get(
            "/tenants/me",
            &[("authorization", &format!("Bearer {stranger}"))],
        ),
    )
    .await;
    assert_unavailable(&res, &what("an unknown kid"));

    w.d.proxy.set(Fault::Pass).await;
    let after = w.tenants_whole().await;
    assert!(
        after == before || after == before + 1,
        "{fault:?}: a tenant is written whole or not at all ({before} → {after})"
    );
    let res = create_tenant(&w.app).await;
    assert_eq!(res.status, StatusCode::CREATED, "recovers: {}", res.json);
    let res = w.app.refresh(pk(&tenant), &refresh_token).await;
    assert_eq!(res.status, StatusCode::CREATED, "recovers: {}", res.json);
}

#[tokio::test]
async fn a_refused_dependency_is_a_prompt_503() {
    a_warm_app_under(Fault::Refuse).await;
}

#[tokio::test]
async fn a_dependency_that_accepts_and_never_answers_is_a_503_in_time() {
    a_warm_app_under(Fault::Hang).await;
}

#[tokio::test]
async fn a_black_holed_dependency_is_a_503_in_time() {
    a_warm_app_under(Fault::Blackhole).await;
}

#[tokio::test]
async fn a_dependency_slower_than_the_deadlines_is_a_503_in_time() {
    a_warm_app_under(Fault::Slow(Duration::from_secs(5))).await;
}

#[tokio::test]
async fn a_dependency_slow_within_the_deadlines_still_serves() {
    let w = World::new(Some(key_json())).await;
    w.d.proxy.set(Fault::Slow(Duration::from_millis(150))).await;
    let res = create_tenant(&w.app).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(w.tenants_whole().await, 1);
}

/// The signing-key secret as the template creates it: it exists, with no version until
/// the first rotation writes one. A dependency not ready: 503, never 500; and once the
/// key is there, everything works without a restart.
#[tokio::test]
async fn an_empty_signing_key_secret_is_a_503_until_its_first_key() {
    let w = World::new(None).await;
    for (route, res) in [
        ("jwks", w.app.get("/.well-known/jwks.json", &[]).await),
        (
            "discovery",
            w.app.get("/.well-known/openid-configuration", &[]).await,
        ),
        ("POST /tenants", create_tenant(&w.app).await),
        (
            "a Bearer token",
            w.app
                .get(
                    "/tenants/me",
                    &[(
                        "authorization",
                        &format!("Bearer {}", token_of_unknown_key(ISSUER)),
                    )],
                )
                .await,
        ),
    ] {
        if route == "discovery" {
            // Discovery names the keys' URL and algorithms: without keys it cannot.
            assert_ne!(
                res.status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{}",
                res.json
            );
            continue;
        }
        assert_unavailable(&res, route);
    }
    assert_eq!(w.tenants_whole().await, 0, "nothing written without a key");

    let direct = aws_sdk_secretsmanager::Client::new(&w.d.moto.sdk_config().await);
    direct
        .put_secret_value()
        .secret_id(&w.d.signing)
        .secret_string(key_json())
        .send()
        .await
        .expect("first key");
    // A failed load is not retried for a second (requests get its 503 at once).
    let deadline = Instant::now() + BOUND;
    loop {
        let res = w.app.get("/.well-known/jwks.json", &[]).await;
        if res.status == StatusCode::OK {
            break;
        }
        assert_unavailable(&res, "jwks before the key is seen");
        assert!(
            Instant::now() < deadline,
            "the first key was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(create_tenant(&w.app).await.status, StatusCode::CREATED);
}

/// DynamoDB throttling: the SDK retries it (bounded), so a short burst is absorbed;
/// throttling that lasts is a 503 after `max_attempts`, with nothing written.
#[tokio::test]
async fn throttling_is_a_bounded_retry_then_a_503_with_nothing_written() {
    let moto = Moto::start().await;
    let throttler = Throttler::start(&moto.endpoint).await;
    let table = format!("pers-throttle-{}", unique());
    let direct = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    DynamoStore::new(direct.clone(), table.clone())
        .create_table()
        .await
        .expect("table");
    let config = sdk_config_with(&throttler.endpoint(), Deadlines::PRODUCTION).await;
    let app = TestApp::with_store(Arc::new(DynamoStore::new(
        pers_tests::dynamo_client(&config),
        table.clone(),
    )))
    .with_deadlines(Deadlines::PRODUCTION);
    let count = || async {
        direct
            .scan()
            .table_name(&table)
            .send()
            .await
            .expect("scan")
            .count
    };

    // Two throttled attempts, then the third goes through.
    throttler.throttle(
        &["TransactWriteItems"],
        2,
        ThrottleError::ProvisionedThroughputExceeded,
    );
    let res = create_tenant(&app).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(throttler.throttled(), 2);
    let written = count().await;
    assert_eq!(
        written, 5,
        "one tenant, its three keys and its admin session"
    );

    for (n, error) in [
        ThrottleError::ProvisionedThroughputExceeded,
        ThrottleError::Throttling,
        ThrottleError::RequestLimitExceeded,
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("POST /tenants throttled by {error:?}");
        let before = throttler.throttled();
        throttler.throttle(&[], usize::MAX, error);
        let res = timed(&what, create_tenant(&app)).await;
        assert_unavailable(&res, &what);
        let attempts = throttler.throttled() - before;
        assert_eq!(
            attempts,
            Deadlines::PRODUCTION.max_attempts as usize,
            "{what}: a bounded retry"
        );
        throttler.stop_throttling();
        assert_eq!(count().await, written, "{what}: nothing written ({n})");
    }
}

/// An attempt that commits but answers after the attempt deadline is retried by the
/// SDK; the retry finds the item it wrote itself. That is success, not a conflict: a
/// sign-in whose session write answered late still gets its tokens.
#[tokio::test]
async fn a_write_that_committed_but_answered_late_is_not_a_conflict_on_its_retry() {
    let moto = Moto::start().await;
    let throttler = Throttler::start(&moto.endpoint).await;
    let table = format!("pers-late-{}", unique());
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&moto.sdk_config().await),
        table.clone(),
    )
    .create_table()
    .await
    .expect("table");
    let config = sdk_config_with(&throttler.endpoint(), Deadlines::PRODUCTION).await;
    let app = TestApp::with_store(Arc::new(DynamoStore::new(
        pers_tests::dynamo_client(&config),
        table,
    )))
    .with_deadlines(Deadlines::PRODUCTION);
    let (tenant, issuer) = tenant_with_provider(&app).await;

    let late = Deadlines::PRODUCTION.attempt + Duration::from_millis(300);
    throttler.answer_late("SESSION#", 1, late);
    let started = Instant::now();
    let res = app
        .login(
            pk(&tenant),
            json!({"authToken": issuer.token(&issuer.claims("carol", "app"))}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    // A lower bound, so it cannot flake: the first session write timed out.
    assert!(
        started.elapsed() >= Deadlines::PRODUCTION.attempt,
        "the session write was answered late and retried"
    );
}

// ------------------------------------------------------------ the function binaries

/// The settings `template.yaml` gives a function, its AWS endpoint `endpoint`.
fn function_env(
    endpoint: &str,
    table: &str,
    signing: &str,
    platform: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TABLE_NAME", table.to_owned()),
        ("SIGNING_KEY_SECRET_ID", signing.to_owned()),
        ("PLATFORM_SECRET_ID", platform.to_owned()),
        ("PERS_ISSUER", FUNCTION_ISSUER.into()),
        ("PERS_SIGNING_ALGORITHM", "ES256".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// moto with the table and both secrets the template creates, behind a fault proxy.
struct Deployment {
    moto: Moto,
    proxy: FaultProxy,
    table: String,
    signing: String,
    platform: String,
}

impl Deployment {
    async fn new(key: Option<String>) -> Self {
        let moto = Moto::start().await;
        let TemplateResources {
            table,
            signing,
            platform,
        } = moto.template_resources(key).await;
        let proxy = FaultProxy::start(moto_addr(&moto.endpoint)).await;
        Self {
            moto,
            proxy,
            table,
            signing,
            platform,
        }
    }

    async fn start(&self, binary: &str) -> Function {
        self.start_with(binary, &self.signing, &[]).await
    }

    /// With another signing-key secret id, and more settings.
    async fn start_with(
        &self,
        binary: &str,
        signing: &str,
        more: &[(&'static str, String)],
    ) -> Function {
        let mut env = function_env(&self.proxy.endpoint(), &self.table, signing, &self.platform);
        env.extend_from_slice(more);
        Function::start(&runtime_api::binary(binary), &env).await
    }
}

/// A cold start with its dependencies down fails within Lambda's init limit, reports
/// to the Runtime API an error naming what failed, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_with_its_dependencies_down_reports_what_failed_in_time() {
    for fault in [Fault::Refuse, Fault::Hang, Fault::Blackhole] {
        let d = Deployment::new(Some(key_json())).await;
        d.proxy.set(fault.clone()).await;
        let mut started = Vec::new();
        for name in ["auth", "tenants", "verify"] {
            started.push((name, d.start(name).await));
        }
        for (name, mut function) in started {
            let error = function
                .init_error(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{name} under {fault:?} reported no init error"));
            eprintln!("{name} under {fault:?}: init error after {:?}", error.after);
            assert!(
                error.after < Duration::from_secs(8),
                "{name} under {fault:?}: init failed after {:?}",
                error.after
            );
            assert_eq!(error.kind, "Pers.DependencyUnavailable");
            assert_eq!(error.body["errorType"], "Pers.DependencyUnavailable");
            let message = error.body["errorMessage"].as_str().unwrap_or_default();
            assert!(
                message.contains(&d.signing) && message.contains("SIGNING_KEY_SECRET_ID"),
                "{name} under {fault:?} names the signing-key secret: {message}"
            );
            assert!(message.contains(&d.platform), "{message}");
            if name != "verify" {
                assert!(
                    message.contains(&d.table),
                    "{name} names the table: {message}"
                );
            }
            let status = function
                .exit_status(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("{name} under {fault:?} did not exit"));
            assert!(!status.success());
            // Its last words, for the operator: a log line that says the same.
            let logged = function
                .log_line(&["init failed", &d.signing], Duration::from_secs(1))
                .await;
            assert!(logged.is_some(), "{name}: {:?}", function.logs());
            assert!(
                !function.logs().iter().any(|l| l.contains(PLATFORM_KEY)),
                "no secret in the logs"
            );
        }
    }
}

/// A signing-key secret id naming no secret is a misconfiguration, not a secret waiting
/// for its first key: init fails and says so (Secrets Manager answers both with the same
/// "not found" to GetSecretValue; DescribeSecret tells them apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_with_a_missing_signing_key_secret_names_it() {
    let d = Deployment::new(Some(key_json())).await;
    let mut function = d.start_with("auth", "pers-no-such-secret", &[]).await;
    let error = function
        .init_error(Duration::from_secs(10))
        .await
        .expect("an init error");
    let message = error.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("SIGNING_KEY_SECRET_ID secret pers-no-such-secret does not exist"),
        "{message}"
    );
    assert!(
        !message.contains(&d.platform),
        "the platform secret is fine: {message}"
    );
}

/// The real binaries, warm: a broken store or key store is a JSON 503 (with
/// `Retry-After`) in time, through the Lambda runtime and API Gateway's response shape;
/// cached keys keep `verify` serving; and they recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_functions_answer_a_json_503_in_time_and_recover() {
    let d = Deployment::new(Some(key_json())).await;
    let tenants = d.start("tenants").await;
    let auth = d.start("auth").await;
    // Keys reloaded in the background of a request once they are a second old.
    let verify = d
        .start_with(
            "verify",
            &d.signing,
            &[("PERS_KEY_REFRESH_SECONDS", "1".into())],
        )
        .await;
    let within = Duration::from_secs(30);
    let create_event = |name: &str| {
        runtime_api::event(
            "tenants-create",
            &[("x-api-key", PLATFORM_KEY)],
            Some(&json!({ "projectName": name })),
        )
    };

    let created = tenants.invoke(create_event("Warm"), within).await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let admin = created.json["jwt"].as_str().expect("jwt").to_owned();
    let project_key = created.json["projectApiKey"]
        .as_str()
        .expect("pk")
        .to_owned();
    let verify_event = |token: &str| {
        runtime_api::event(
            "auth-verify",
            &[("x-project-key", project_key.as_str())],
            Some(&json!({"authToken": token})),
        )
    };
    let ok = verify.invoke(verify_event(&admin), within).await;
    assert_eq!(ok.json["valid"], true, "{:?}", ok.json);
    let login_event = runtime_api::event(
        "auth-token",
        &[("x-project-key", "pk_live_unknown_key_of_no_tenant")],
        Some(&json!({"authToken": "x.y.z"})),
    );
    let unknown = auth.invoke(login_event.clone(), within).await;
    assert_eq!(unknown.status, 401, "{:?}", unknown.json);

    for fault in [Fault::Hang, Fault::Blackhole, Fault::Refuse] {
        d.proxy.set(fault.clone()).await;
        let answers = [
            (
                "tenants POST /tenants",
                tenants.invoke(create_event("Down"), within).await,
            ),
            (
                "auth POST /auth/token",
                auth.invoke(login_event.clone(), within).await,
            ),
            (
                "verify, unknown kid",
                verify
                    .invoke(verify_event(&token_of_unknown_key(FUNCTION_ISSUER)), within)
                    .await,
            ),
        ];
        for (what, answer) in answers {
            eprintln!(
                "{what} under {fault:?}: {} in {:?}",
                answer.status, answer.took
            );
            assert!(
                answer.took < BOUND,
                "{what} under {fault:?} took {:?}",
                answer.took
            );
            assert_eq!(
                answer.status, 503,
                "{what} under {fault:?}: {:?}",
                answer.json
            );
            assert_eq!(answer.json["statusCode"], 503);
            assert_eq!(answer.json["error"], "Service Unavailable");
            assert_eq!(answer.headers["retry-after"], "5", "{what}");
        }
        let cached = verify.invoke(verify_event(&admin), within).await;
        assert_eq!(
            cached.json["valid"], true,
            "cached keys serve under {fault:?}"
        );
        assert!(cached.took < BOUND);
    }
    // Each 503 was counted, in a document CloudWatch would take as a metric.
    for (name, function) in [("auth", &auth), ("verify", &verify)] {
        let documents = function.stdout();
        let counted = documents
            .iter()
            .filter(|l| l.contains("\"ServerErrors\":1"))
            .inspect(|l| assert_eq!(pers_tests::emf_problems(l), Vec::<String>::new(), "{l}"))
            .count();
        assert!(counted > 0, "{name} counted no 5xx: {documents:?}");
    }
    // The reload in the background of those requests failed, and says why.
    let reload = verify
        .log_line(
            &["reloading signing keys failed", &d.signing, "error"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("no failed reload logged: {:?}", verify.logs()));
    assert!(
        ["timed out", "timeout", "dispatch failure", "onnect"]
            .iter()
            .any(|cause| reload.contains(cause)),
        "the failed reload names its cause: {reload}"
    );
    // In the background of a request, yet a line of that request (DESIGN §8): Lambda's
    // members at the top, the invocation's and the API request's ids.
    let reload: Value = serde_json::from_str(&reload).expect("a JSON line");
    assert_eq!(reload["level"], "WARN", "{reload}");
    for id in ["requestId", "xRequestId"] {
        assert!(
            reload[id].as_str().is_some_and(|v| !v.is_empty()),
            "{id} in {reload}"
        );
    }

    d.proxy.set(Fault::Pass).await;
    let again = auth.invoke(login_event, within).await;
    assert_eq!(again.status, 401, "auth recovers: {:?}", again.json);
}

/// The template's empty signing-key secret at a cold start: init succeeds (the secret
/// answers; its first rotation will write the key) and routes that need keys are 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_before_the_first_key_serves_503s_not_an_init_error() {
    let d = Deployment::new(None).await;
    let mut verify = d.start("verify").await;
    let jwks = verify
        .invoke(
            runtime_api::event("well-known-jwks", &[], None),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(jwks.status, 503, "{:?}", jwks.json);
    assert_eq!(jwks.headers["retry-after"], "5");
    assert!(
        verify
            .init_error(Duration::from_millis(100))
            .await
            .is_none(),
        "no init error"
    );
}

/// `pers-local` with `TABLE_NAME`: the same deadlines, the same 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pers_local_on_dynamodb_answers_a_503_in_time() {
    let d = Deployment::new(None).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = pers_tests::free_port();
    let mut env = function_env(&d.proxy.endpoint(), &d.table, &d.signing, &d.platform);
    env.push(("PERS_LISTEN", format!("127.0.0.1:{port}")));
    env.push(("PERS_DATA_DIR", dir.path().display().to_string()));
    env.push(("PERS_ISSUER", format!("http://127.0.0.1:{port}")));
    let mut child = tokio::process::Command::new(runtime_api::binary("pers-local"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("pers-local");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "pers-local did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.proxy.set(Fault::Hang).await;
    let started = Instant::now();
    let res = http
        .get(format!("{base}/tenants/me"))
        .header("x-project-key", "pk_live_anything")
        .send()
        .await
        .expect("answer");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["statusCode"], 503);
    let _ = child.start_kill();
}
