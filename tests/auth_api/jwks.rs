//! Providers' JWKS by URI: cached, refetched at most once a minute, kept while the
//! provider is down, a 503 for that provider only when unreachable, never fetched from
//! the function's own network when deployed, and bounded in size.

use std::sync::Arc;

use axum::http::StatusCode;
use pers::keys::SigningAlgorithm;
use pers_tests::{JwksServer, TestApp, TestIssuer};
use serde_json::{Value, json};

use super::{AUD, trust};

/// A tenant that trusts one provider whose JWKS is served by a local server.
async fn remote_provider(
    app: &TestApp,
    alg: SigningAlgorithm,
    cache_control: &'static str,
) -> (Value, TestIssuer, JwksServer) {
    let tenant = app.create_tenant(json!({"projectName": "Remote"})).await;
    let issuer = TestIssuer::new("https://remote.example", alg);
    let server = JwksServer::start(issuer.jwks(), cache_control).await;
    trust(
        app,
        &tenant,
        json!([{"issuer": issuer.issuer, "jwksUri": server.uri, "authTypes": ["user"]}]),
    )
    .await;
    (tenant, issuer, server)
}

#[tokio::test]
async fn jwks_by_uri_is_cached_and_refetched_once_a_minute_on_an_unknown_kid() {
    let app = TestApp::embedded();
    let (tenant, issuer, server) =
        remote_provider(&app, SigningAlgorithm::EdDsa, "public, max-age=300").await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let login_with = |t: &TestIssuer| json!({"authToken": t.token(&t.claims("alice", "x"))});

    assert_eq!(
        app.login(pk, login_with(&issuer)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.login(pk, login_with(&issuer)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(server.fetches(), 1, "a fresh JWKS is served from the cache");

    // The provider rotates: a token with the new kid triggers one refetch and passes.
    let rotated = TestIssuer::new(&issuer.issuer, SigningAlgorithm::EdDsa);
    server.set(json!({"keys": [issuer.key.public_jwk(), rotated.key.public_jwk()]}));
    assert_eq!(
        app.login(pk, login_with(&rotated)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(server.fetches(), 2);

    // Another unknown kid within the minute: no refetch, refused.
    let unknown = TestIssuer::new(&issuer.issuer, SigningAlgorithm::EdDsa);
    app.login(pk, login_with(&unknown))
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.fetches(),
        2,
        "unknown kids must not hammer the provider"
    );
}

#[tokio::test]
async fn a_failing_jwks_keeps_its_cached_set_and_is_not_retried_on_every_login() {
    let app = TestApp::embedded();
    let (tenant, issuer, server) =
        remote_provider(&app, SigningAlgorithm::Es256, "max-age=1").await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let body = || json!({"authToken": issuer.token(&issuer.claims("alice", "x"))});
    assert_eq!(app.login(pk, body()).await.status, StatusCode::CREATED);
    assert_eq!(server.fetches(), 1);

    server.fail();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..3 {
        assert_eq!(
            app.login(pk, body()).await.status,
            StatusCode::CREATED,
            "the cached set keeps serving while the provider is down"
        );
    }
    assert_eq!(
        server.fetches(),
        2,
        "one failed refetch, then the cached set for a while: not one try per login"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_503_for_that_provider_only() {
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Down"})).await;
    let down = TestIssuer::new("https://down.example", SigningAlgorithm::Es256);
    let up = TestIssuer::new("https://up.example", SigningAlgorithm::Es256);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    trust(
        &app,
        &tenant,
        json!([
            {"issuer": down.issuer, "jwksUri": format!("http://127.0.0.1:{port}/jwks.json"), "authTypes": ["user"]},
            {"issuer": up.issuer, "jwks": up.jwks(), "authTypes": ["user"]}
        ]),
    )
    .await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let res = app
        .login(pk, json!({"authToken": down.token(&down.claims("a", "x"))}))
        .await;
    res.error(StatusCode::SERVICE_UNAVAILABLE);
    let res = app
        .login(pk, json!({"authToken": up.token(&up.claims("a", "x"))}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}

/// Stores `jwks_uri` as the tenant's one provider straight into the store, past the
/// checks of `PUT /tenants` (as a name that passes them but resolves inward would be).
async fn store_provider_uri(app: &TestApp, tenant: &Value, issuer: &str, jwks_uri: &str) {
    let id = pers::domain::TenantId::parse(tenant["id"].as_str().unwrap()).unwrap();
    let mut t = app.state.store.tenant(&id).await.unwrap().unwrap();
    t.identity_providers = serde_json::from_value(json!([
        {"issuer": issuer, "jwksUri": jwks_uri, "authTypes": ["user"]}
    ]))
    .unwrap();
    let version = t.version;
    t.version += 1;
    app.state.store.update_tenant(&t, version).await.unwrap();
    app.state.project_keys.invalidate_tenant(&id);
}

/// A TCP listener on 127.0.0.1 that counts (and drops) the connections it accepts.
async fn connection_counter() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

#[tokio::test]
async fn deployed_a_tenants_jwks_uri_never_reaches_the_functions_own_network() {
    use std::sync::atomic::Ordering;
    let idp = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let token = idp.token(&idp.claims("mallory", AUD));
    let (port, connections) = connection_counter().await;

    let deployed = TestApp::embedded_in(
        pers::config::Deployment::Lambda,
        pers::config::Settings::from_lookup(|_| None, Some("https://auth.example.com".into()))
            .unwrap(),
    );
    let tenant = deployed
        .create_tenant(json!({"projectName": "Inward"}))
        .await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    // `localhost` resolves to loopback on every machine: a name the fetch must resolve
    // and then refuse to connect to. The literals are refused before any resolution.
    for uri in [
        format!("https://localhost:{port}/jwks.json"),
        format!("https://127.0.0.1:{port}/jwks.json"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks.json"),
    ] {
        store_provider_uri(&deployed, &tenant, &idp.issuer, &uri).await;
        let res = deployed.login(pk, json!({"authToken": token})).await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{uri}: {}",
            res.json
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing was connected to"
    );

    // The control: a local server's tenants may use loopback, and the counter sees it.
    let local = TestApp::embedded();
    let tenant = local.create_tenant(json!({"projectName": "Dev"})).await;
    let uri = format!("http://localhost:{port}/jwks.json");
    store_provider_uri(&local, &tenant, &idp.issuer, &uri).await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let res = local.login(pk, json!({"authToken": token})).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.json);
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the local fetch connected"
    );
}

/// A JWKS endpoint on 127.0.0.1 that answers with `body` in chunks and no length, so the
/// client learns the size only by reading.
async fn chunked_jwks_server(body: String) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            for chunk in body.as_bytes().chunks(16 * 1024) {
                let _ = stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await;
                let _ = stream.write_all(chunk).await;
                let _ = stream.write_all(b"\r\n").await;
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
    });
    uri
}

#[tokio::test]
async fn a_jwks_larger_than_the_limit_is_refused_even_without_a_content_length() {
    let idp = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let token = idp.token(&idp.claims("alice", AUD));
    let jwks = idp.jwks().to_string();
    // Valid JSON either way: 300 KiB of whitespace after the set.
    let padded = format!("{jwks}{}", " ".repeat(300 * 1024));
    for (body, expected) in [
        (jwks, StatusCode::CREATED),
        (padded, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let app = TestApp::embedded();
        let tenant = app.create_tenant(json!({"projectName": "Big"})).await;
        let uri = chunked_jwks_server(body).await;
        trust(
            &app,
            &tenant,
            json!([{"issuer": idp.issuer, "jwksUri": uri, "audience": AUD, "authTypes": ["user"]}]),
        )
        .await;
        let pk = tenant["projectApiKey"].as_str().unwrap();
        let res = app.login(pk, json!({"authToken": token})).await;
        assert_eq!(res.status, expected, "{}", res.json);
    }
}
