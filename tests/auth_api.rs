//! `/auth/token` and `/auth/refresh` through the router: provider verification, users,
//! sessions and rotation on the embedded store; budget and concurrency on both stores.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use jsonwebtoken::Header;
use pers::keys::SigningAlgorithm;
use pers::token::{self, AccessClaims, RefreshClaims};
use pers_tests::{JwksServer, Response, TestApp, TestIssuer};
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
    let auth = format!("Bearer {}", tenant["jwt"].as_str().unwrap());
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &auth)],
            Some(patch),
        )
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

async fn keys(app: &TestApp) -> Arc<pers::keys::KeySet> {
    app.state.keys.key_set().await.unwrap()
}

async fn access_claims(app: &TestApp, res: &Response) -> AccessClaims {
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    let token = res.json["accessToken"].as_str().unwrap();
    token::verify_access(&*keys(app).await, &app.state.settings, token).unwrap()
}

async fn refresh_claims(app: &TestApp, res: &Response) -> RefreshClaims {
    let token = res.json["refreshToken"].as_str().unwrap();
    token::verify(
        &*keys(app).await,
        &app.state.settings,
        token::Kind::Refresh,
        token,
    )
    .unwrap()
}

fn token_of<'a>(res: &'a Response, field: &str) -> &'a str {
    res.json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {}", res.json))
}

#[tokio::test]
async fn a_provider_token_becomes_a_pers_session() {
    let w = world().await;
    let res = w.login_as("alice").await;
    let access = access_claims(&w.app, &res).await;
    assert_eq!(access.tenant_id.as_str(), w.tenant["id"]);
    assert_eq!(access.auth_type, pers::domain::AuthType::User);
    assert_eq!(access.exp - access.iat, 900);
    assert_eq!(access.network, None);
    let header = jsonwebtoken::decode_header(token_of(&res, "accessToken")).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());

    let refresh = refresh_claims(&w.app, &res).await;
    assert_eq!(refresh.sid, access.sid);
    assert_eq!(refresh.generation, 0);
    assert_eq!(refresh.exp - refresh.iat, 2_592_000);
}

#[tokio::test]
async fn one_user_per_tenant_issuer_and_subject() {
    let w = world().await;
    let first = access_claims(&w.app, &w.login_as("alice").await).await;
    let again = access_claims(&w.app, &w.login_as("alice").await).await;
    let bob = access_claims(&w.app, &w.login_as("bob").await).await;
    assert_eq!(first.sub, again.sub, "same subject, same user");
    assert_ne!(first.sid, again.sid, "each login is its own session");
    assert_ne!(first.sub, bob.sub);

    // The same subject in another tenant is another user.
    let other = w.app.create_tenant(json!({"projectName": "Other"})).await;
    let providers = json!([{"issuer": w.issuer.issuer, "jwks": w.issuer.jwks(), "audience": AUD, "authTypes": ["user"]}]);
    trust(&w.app, &other, providers).await;
    let token = w.issuer.token(&w.issuer.claims("alice", AUD));
    let elsewhere = w
        .app
        .login(
            other["projectApiKey"].as_str().unwrap(),
            json!({"authToken": token}),
        )
        .await;
    assert_ne!(access_claims(&w.app, &elsewhere).await.sub, first.sub);
}

#[tokio::test]
async fn every_verification_rule_refuses_the_token_that_breaks_it() {
    let w = world().await;
    let i = &w.issuer;
    let now = pers::now_unix();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = i.claims("alice", AUD);
        f(&mut c);
        i.token(&c)
    };
    let stranger = TestIssuer::new(&i.issuer, SigningAlgorithm::Es256);
    let mut stranger_header = stranger.header();
    stranger_header.kid = i.header().kid; // claims our provider's kid, signed by another key
    let mut no_kid = i.header();
    no_kid.kid = None;
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let body = b64(&i.claims("alice", AUD));
    let cases: Vec<(&str, String)> = vec![
        (
            "expired beyond leeway",
            with(&|c| c["exp"] = json!(now - 61)),
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        ("nbf in the future", with(&|c| c["nbf"] = json!(now + 120))),
        ("iat in the future", with(&|c| c["iat"] = json!(now + 120))),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("someone-else")),
        ),
        ("empty sub", with(&|c| c["sub"] = json!(""))),
        (
            "untrusted issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "signed by another key under our kid",
            stranger.sign(&stranger_header, &i.claims("alice", AUD)),
        ),
        ("unknown kid", {
            let mut h = i.header();
            h.kid = Some("nope".into());
            i.sign(&h, &i.claims("alice", AUD))
        }),
        (
            "alg none",
            format!(
                "{}.{body}.",
                b64(&json!({"alg": "none", "kid": i.key.kid()}))
            ),
        ),
        ("alg not allowed (HS256)", {
            let h = Header::new(jsonwebtoken::Algorithm::HS256);
            jsonwebtoken::encode(
                &h,
                &i.claims("alice", AUD),
                &jsonwebtoken::EncodingKey::from_secret(b"k"),
            )
            .unwrap()
        }),
        ("too large", with(&|c| c["pad"] = json!("x".repeat(9000)))),
        ("malformed", "not-a-jwt".to_owned()),
    ];
    for (rule, token) in cases {
        let res = w.login(&token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{rule}: {}", res.json);
        res.error(StatusCode::UNAUTHORIZED);
    }
    // Within the 60 s leeway, time claims pass.
    let res = w
        .login(&with(&|c| {
            c["exp"] = json!(now - 30);
            c["nbf"] = json!(now + 30);
        }))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    // Without a kid, a one-key set is unambiguous.
    assert_eq!(
        w.login(&i.sign(&no_kid, &i.claims("alice", AUD)))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn key_pointers_in_the_header_are_never_followed() {
    let w = world().await;
    let attacker = TestIssuer::new(&w.issuer.issuer, SigningAlgorithm::Es256);
    let evil = JwksServer::start(attacker.jwks(), "max-age=300").await;
    let mut header = attacker.header();
    header.jku = Some(evil.uri.clone());
    header.x5u = Some(evil.uri.clone());
    header.jwk = serde_json::from_value(attacker.key.public_jwk()).ok();
    let res = w
        .login(&attacker.sign(&header, &attacker.claims("mallory", AUD)))
        .await;
    res.error(StatusCode::UNAUTHORIZED);
    assert_eq!(evil.fetches(), 0, "jku/x5u must never be fetched");
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    // The classic algorithm confusion: HS256 keyed with the provider's public key bytes.
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Confused"})).await;
    let issuer = TestIssuer::new("https://rsa.example", SigningAlgorithm::Rs256);
    trust(
        &app,
        &tenant,
        json!([{"issuer": issuer.issuer, "jwks": issuer.jwks(), "authTypes": ["user"]}]),
    )
    .await;
    let n = issuer.key.public_jwk()["n"].as_str().unwrap().to_owned();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(issuer.key.kid().to_owned());
    let claims = issuer.claims("x", "any");
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    let pk = tenant["projectApiKey"].as_str().unwrap();
    app.login(pk, json!({"authToken": forged}))
        .await
        .error(StatusCode::UNAUTHORIZED);
    // The honest token of the same provider passes (no audience pinned for it).
    assert_eq!(
        app.login(pk, json!({"authToken": issuer.token(&claims)}))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_provider_is_trusted_only_for_its_auth_types_and_algorithms() {
    let w = world().await;
    let token = w.issuer.token(&w.issuer.claims("alice", AUD));
    let res = w
        .app
        .login(w.pk(), json!({"authToken": token, "authType": "tenant"}))
        .await;
    assert!(res.error(StatusCode::UNAUTHORIZED).contains("not trusted"));

    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Narrow"})).await;
    // An RSA key that names no `alg` may verify RS384 or RS256; the provider allows
    // only RS384.
    let rsa = TestIssuer::new("https://rsa.example", SigningAlgorithm::Rs256);
    let mut jwk = rsa.key.public_jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    trust(&app, &tenant, json!([{"issuer": rsa.issuer, "jwks": {"keys": [jwk]}, "authTypes": ["user"], "algorithms": ["RS384"]}])).await;
    let res = app
        .login(
            tenant["projectApiKey"].as_str().unwrap(),
            json!({"authToken": rsa.token(&rsa.claims("a", "b"))}),
        )
        .await;
    assert!(res.error(StatusCode::UNAUTHORIZED).contains("not allowed"));
}

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

#[tokio::test]
async fn firebase_admins_must_carry_the_tenants_firebase_tenant() {
    let firebase = TestIssuer::new(
        "https://securetoken.google.com/pers-test",
        SigningAlgorithm::Rs256,
    );
    let server = JwksServer::start(firebase.jwks(), "max-age=3600").await;
    let settings = pers::config::Settings::from_lookup(
        |k| match k {
            "PERS_FIREBASE_PROJECT_ID" => Some("pers-test".into()),
            "PERS_FIREBASE_JWKS_URI" => Some(server.uri.clone()),
            _ => None,
        },
        Some("http://127.0.0.1:3000".into()),
    )
    .unwrap();
    let app = TestApp::embedded_with(settings);
    let tenant = app
        .create_tenant(json!({"projectName": "Fb", "firebaseTenantId": "tenant-a"}))
        .await;
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let token_for = |fb_tenant: &str| {
        let mut c = firebase.claims("admin-uid", "pers-test");
        c["firebase"] = json!({"tenant": fb_tenant, "sign_in_provider": "password"});
        firebase.token(&c)
    };
    let res = app
        .login(
            pk,
            json!({"authToken": token_for("tenant-a"), "authType": "tenant"}),
        )
        .await;
    let claims = access_claims(&app, &res).await;
    assert_eq!(claims.auth_type, pers::domain::AuthType::Tenant);
    app.login(
        pk,
        json!({"authToken": token_for("tenant-b"), "authType": "tenant"}),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);
    // Firebase is trusted for tenant admins only.
    app.login(
        pk,
        json!({"authToken": token_for("tenant-a"), "authType": "user"}),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);

    // A tenant without a Firebase tenant of its own has no Firebase admins: anyone can
    // sign up to the platform's Firebase project.
    let open = app.create_tenant(json!({"projectName": "No Fb"})).await;
    app.login(
        open["projectApiKey"].as_str().unwrap(),
        json!({"authToken": token_for("tenant-a"), "authType": "tenant"}),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);

    // The admin session's access token administers the tenant.
    let auth = format!("Bearer {}", token_of(&res, "accessToken"));
    let put = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &auth)],
            Some(json!({"projectName": "Fb2"})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);

    // Its session refreshes while the tenant keeps that Firebase tenant, and ends when
    // the tenant moves to another one (the same issuer, but another vouching tenant).
    let refreshed = app.refresh(pk, token_of(&res, "refreshToken")).await;
    assert_eq!(refreshed.status, StatusCode::CREATED, "{}", refreshed.json);
    let put = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &auth)],
            Some(json!({"firebaseTenantId": "tenant-b"})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json);
    app.refresh(pk, token_of(&refreshed, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn system_sessions_need_the_private_key_and_testnet_keys_mark_the_session() {
    let w = world().await;
    let token = w.issuer.token(&w.issuer.claims("svc", AUD));
    let body = json!({"authToken": token, "authType": "system"});
    let pk = w.pk();
    let send = |headers: Vec<(&'static str, String)>| {
        let app = w.app.clone();
        let body = body.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send(Method::POST, "/auth/token", &h, Some(body)).await
        }
    };
    send(vec![("x-project-key", pk.to_owned())])
        .await
        .error(StatusCode::UNAUTHORIZED);
    send(vec![
        ("x-project-key", pk.to_owned()),
        ("x-api-key", "sk_live_wrong".into()),
    ])
    .await
    .error(StatusCode::UNAUTHORIZED);
    let sk = w.tenant["apiPrivateKey"].as_str().unwrap().to_owned();
    let res = send(vec![
        ("x-project-key", pk.to_owned()),
        ("x-api-key", sk.clone()),
    ])
    .await;
    assert_eq!(
        access_claims(&w.app, &res).await.auth_type,
        pers::domain::AuthType::System
    );

    // Refreshing a system session needs the private key too; refused, it rotates nothing.
    let refresh_body = json!({"refreshToken": token_of(&res, "refreshToken")});
    w.app
        .send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", pk)],
            Some(refresh_body.clone()),
        )
        .await
        .error(StatusCode::UNAUTHORIZED);
    let refreshed = w
        .app
        .send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", pk), ("x-api-key", &sk)],
            Some(refresh_body),
        )
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::CREATED,
        "the refused attempt did not use the token up: {}",
        refreshed.json
    );

    let testnet = w.tenant["testnetProjectApiKey"].as_str().unwrap();
    let res = w
        .app
        .login(
            testnet,
            json!({"authToken": w.issuer.token(&w.issuer.claims("t", AUD))}),
        )
        .await;
    assert_eq!(
        access_claims(&w.app, &res).await.network,
        Some(pers::domain::Network::Testnet)
    );
    let rotated = w.refresh(token_of(&res, "refreshToken")).await;
    assert_eq!(
        access_claims(&w.app, &rotated).await.network,
        Some(pers::domain::Network::Testnet)
    );
}

#[tokio::test]
async fn sandbox_users_come_from_raw_login_data_only_when_the_tenant_allows() {
    let w = world().await;
    let body = json!({"authToken": "anything", "rawLoginData": {"nickname": "guest"}});
    w.app
        .login(w.pk(), body.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);

    update_tenant(
        &w.app,
        &w.tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    let first = access_claims(&w.app, &w.app.login(w.pk(), body.clone()).await).await;
    let second = access_claims(&w.app, &w.app.login(w.pk(), body.clone()).await).await;
    assert_ne!(
        first.sub, second.sub,
        "each sandbox login is a new unauthenticated user"
    );

    // Never a privileged session without verification.
    let admin = json!({"authToken": "anything", "authType": "tenant", "rawLoginData": {"a": 1}});
    w.app
        .login(w.pk(), admin)
        .await
        .error(StatusCode::UNAUTHORIZED);
    let not_object = json!({"authToken": "x", "rawLoginData": [1, 2]});
    w.app
        .login(w.pk(), not_object)
        .await
        .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_requests_and_missing_keys() {
    let w = world().await;
    w.app
        .login(w.pk(), json!({}))
        .await
        .error(StatusCode::BAD_REQUEST);
    w.app
        .login(w.pk(), json!({"authToken": 5}))
        .await
        .error(StatusCode::BAD_REQUEST);
    w.app
        .login(w.pk(), json!({"authToken": "x", "authType": "root"}))
        .await
        .error(StatusCode::BAD_REQUEST);
    w.app
        .login("pk_live_nope", json!({"authToken": "x"}))
        .await
        .error(StatusCode::UNAUTHORIZED);
    w.app
        .send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", w.pk())],
            Some(json!({})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refresh_rotates_and_never_extends_the_session() {
    let w = world().await;
    let first = w.login_as("alice").await;
    let gen0 = refresh_claims(&w.app, &first).await;
    let second = w.refresh(token_of(&first, "refreshToken")).await;
    let gen1 = refresh_claims(&w.app, &second).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(gen1.generation, 1);
    assert_eq!(gen1.sid, gen0.sid);
    assert_eq!(
        gen1.exp, gen0.exp,
        "rotation never extends the absolute lifetime"
    );
    let access = access_claims(&w.app, &second).await;
    assert_eq!(access.sid, gen0.sid);
    let third = w.refresh(token_of(&second, "refreshToken")).await;
    assert_eq!(refresh_claims(&w.app, &third).await.generation, 2);
}

#[tokio::test]
async fn tokens_never_stand_in_for_each_other() {
    let w = world().await;
    let res = w.login_as("alice").await;
    // An access token is not a refresh token.
    w.refresh(token_of(&res, "accessToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    // A refresh token is not an access token.
    let auth = format!("Bearer {}", token_of(&res, "refreshToken"));
    w.app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &auth)],
            Some(json!({})),
        )
        .await
        .error(StatusCode::UNAUTHORIZED);
    // A PERS token is not a provider token.
    w.login(token_of(&res, "accessToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_parent_within_grace_gets_the_current_token_and_the_grandparent_revokes() {
    let w = world().await;
    let t0 = w.login_as("alice").await;
    let t1 = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(t1.status, StatusCode::CREATED);

    // A second tab presents gen 0 at once: a fresh access token and gen 1, no fork.
    let tab = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(tab.status, StatusCode::CREATED, "{}", tab.json);
    let tab_refresh = refresh_claims(&w.app, &tab).await;
    assert_eq!(tab_refresh.generation, 1);
    let sid = tab_refresh.sid.clone();
    assert_eq!(
        w.app
            .state
            .store
            .session(&sid)
            .await
            .unwrap()
            .unwrap()
            .generation,
        1
    );
    assert_ne!(token_of(&tab, "accessToken"), token_of(&t1, "accessToken"));

    let t2 = w.refresh(token_of(&t1, "refreshToken")).await;
    assert_eq!(refresh_claims(&w.app, &t2).await.generation, 2);

    // Gen 0 now is the grandparent: reuse. The family is revoked, current tokens too.
    let reuse = w.refresh(token_of(&t0, "refreshToken")).await;
    assert!(reuse.error(StatusCode::UNAUTHORIZED).contains("revoked"));
    assert!(
        w.app
            .state
            .store
            .session(&sid)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    w.refresh(token_of(&t2, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_parent_after_the_grace_interval_revokes() {
    let settings = pers::config::Settings::from_lookup(
        |k| (k == "PERS_REFRESH_GRACE_SECONDS").then(|| "1".to_owned()),
        Some("http://127.0.0.1:3000".into()),
    )
    .unwrap();
    let w = world_on(TestApp::embedded_with(settings)).await;
    let t0 = w.login_as("alice").await;
    let t1 = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(t1.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    w.refresh(token_of(&t0, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    w.refresh(token_of(&t1, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_tenants_key_cannot_refresh_or_revoke_a_session() {
    let w = world().await;
    let other = w.app.create_tenant(json!({"projectName": "Other"})).await;
    let t0 = w.login_as("alice").await;
    let rt = token_of(&t0, "refreshToken");
    w.app
        .refresh(other["projectApiKey"].as_str().unwrap(), rt)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.refresh(rt).await.status,
        StatusCode::CREATED,
        "the family is intact"
    );
}

/// Cases that run on both stores.
mod both {
    use super::*;

    pub async fn eight_simultaneous_refreshes_all_succeed_and_leave_one_family(w: World) {
        let t0 = w.login_as("alice").await;
        let rt = token_of(&t0, "refreshToken").to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (app, pk, rt) = (w.app.clone(), w.pk().to_owned(), rt.clone());
            tasks.spawn(async move { app.refresh(&pk, &rt).await });
        }
        let mut generations = Vec::new();
        while let Some(res) = tasks.join_next().await {
            let res = res.unwrap();
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
            generations.push(refresh_claims(&w.app, &res).await);
        }
        assert!(
            generations
                .iter()
                .all(|c| c.generation == 1 && c.sid == generations[0].sid)
        );
        let session = w
            .app
            .state
            .store
            .session(&generations[0].sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(session.generation, 1);
        assert!(!session.revoked);
    }

    pub async fn two_hundred_parallel_logins_give_two_hundred_sessions(w: World) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let app = w.app.clone();
            let pk = w.pk().to_owned();
            let token = w
                .issuer
                .token(&w.issuer.claims(&format!("user-{}", i % 20), AUD));
            tasks.spawn(async move { app.login(&pk, json!({"authToken": token})).await });
        }
        let mut sids = std::collections::HashSet::new();
        let mut users = std::collections::HashSet::new();
        while let Some(res) = tasks.join_next().await {
            let claims = access_claims(&w.app, &res.unwrap()).await;
            sids.insert(claims.sid);
            users.insert(claims.sub);
        }
        assert_eq!(sids.len(), 200);
        assert_eq!(
            users.len(),
            20,
            "concurrent first logins of a subject still make one user"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_eight_simultaneous_refreshes() {
    both::eight_simultaneous_refreshes_all_succeed_and_leave_one_family(world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_two_hundred_parallel_logins() {
    both::two_hundred_parallel_logins_give_two_hundred_sessions(world().await).await;
}

async fn dynamo_world(moto: &pers_tests::Moto) -> World {
    world_on(TestApp::with_store(Arc::new(moto.dynamo_store().await))).await
}

#[tokio::test]
async fn dynamodb_sandbox_data_it_cannot_keep_is_bad_input_not_an_outage() {
    let moto = pers_tests::Moto::start().await;
    let store = moto.dynamo_store().await;
    let table = store.table().to_owned();
    let w = world_on(TestApp::with_store(Arc::new(store))).await;
    update_tenant(
        &w.app,
        &w.tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    for raw in [json!({"score": 1e200}), deep, json!({"": "anonymous"})] {
        let msg = w
            .app
            .login(w.pk(), json!({"authToken": "x", "rawLoginData": raw}))
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("rawLoginData"), "{msg}");
    }
    let ok = w
        .app
        .login(
            w.pk(),
            json!({"authToken": "x", "rawLoginData": {"score": 1e100, "tags": ["a"]}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);

    // The one sandbox user written expires with its session (DynamoDB TTL).
    let session_end = refresh_claims(&w.app, &ok).await.exp;
    let scan = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await)
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let attr =
        |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
         name: &str| item[name].as_s().cloned().unwrap_or_default();
    let users: Vec<_> = scan
        .items()
        .iter()
        .filter(|i| attr(i, "pk").starts_with("USER#"))
        .collect();
    assert_eq!(users.len(), 1, "refused logins wrote no user");
    let expires: i64 = users[0]["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, session_end);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_eight_simultaneous_refreshes() {
    let moto = pers_tests::Moto::start().await;
    both::eight_simultaneous_refreshes_all_succeed_and_leave_one_family(dynamo_world(&moto).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_two_hundred_parallel_logins() {
    let moto = pers_tests::Moto::start().await;
    both::two_hundred_parallel_logins_give_two_hundred_sessions(dynamo_world(&moto).await).await;
}

#[tokio::test]
async fn dynamodb_rotation_and_reuse_detection() {
    let moto = pers_tests::Moto::start().await;
    let w = dynamo_world(&moto).await;
    let t0 = w.login_as("alice").await;
    let t1 = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(refresh_claims(&w.app, &t1).await.generation, 1);
    let tab = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(
        refresh_claims(&w.app, &tab).await.generation,
        1,
        "grace answer on DynamoDB"
    );
    let t2 = w.refresh(token_of(&t1, "refreshToken")).await;
    assert_eq!(t2.status, StatusCode::CREATED);
    w.refresh(token_of(&t0, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    w.refresh(token_of(&t2, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_warm_path_stays_within_the_dynamodb_budget() {
    let moto = pers_tests::Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let w = world_on(TestApp::with_store(Arc::new(store))).await;
    // Warm up: the project key is resolved (and cached), the user exists.
    let warm = w.login_as("alice").await;
    assert_eq!(warm.status, StatusCode::CREATED);
    calls.take();

    let res = w.login_as("alice").await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert!(
        calls.take() <= 2,
        "/auth/token: at most 2 DynamoDB calls on the warm path"
    );

    let res = w.refresh(token_of(&res, "refreshToken")).await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(calls.take(), 1, "/auth/refresh: exactly 1 DynamoDB call");
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

    let deployed = TestApp::embedded_with(
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
