//! The token boundary: no token is accepted anywhere it was not issued for, and every
//! credential is used or refused (issue 8; DESIGN §2–§4, §7). One test per defect,
//! through the router; the store-dependent ones on the embedded store and on DynamoDB.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pers::config::Settings;
use pers::keys::SigningAlgorithm;
use pers::token::{self, AccessClaims};
use pers_tests::{JwksServer, Moto, PLATFORM_KEY, Response, TestApp, TestIssuer};
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

async fn update(app: &TestApp, tenant: &Value, patch: Value) -> Response {
    app.send(
        Method::PUT,
        "/tenants",
        &[("authorization", &admin(tenant))],
        Some(patch),
    )
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

// 1. Audience pins hold whatever the JSON type of `aud`; `iss` is required.
#[tokio::test]
async fn a_named_audience_is_required_and_must_be_a_matching_string() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let with_aud = |aud: Option<Value>| {
        let mut c = issuer.claims("alice", AUD);
        match aud {
            Some(v) => c["aud"] = v,
            None => {
                c.as_object_mut().unwrap().remove("aud");
            }
        }
        issuer.token(&c)
    };
    for bad in [
        None,
        Some(json!(1)),
        Some(json!(true)),
        Some(json!(null)),
        Some(json!({})),
        Some(json!([1])),
        Some(json!([null])),
        Some(json!([])),
        Some(json!("")),
        Some(json!([AUD, 7])),
        Some(json!(["someone-else"])),
    ] {
        both_refuse(
            &app,
            &tenant,
            &with_aud(bad.clone()),
            &format!("aud {bad:?}"),
        )
        .await;
    }
    both_accept(&app, &tenant, &with_aud(Some(json!(AUD))), "aud string").await;
    both_accept(
        &app,
        &tenant,
        &with_aud(Some(json!(["x", AUD]))),
        "aud array",
    )
    .await;

    let mut no_iss = issuer.claims("alice", AUD);
    no_iss.as_object_mut().unwrap().remove("iss");
    both_refuse(&app, &tenant, &issuer.token(&no_iss), "no iss").await;
    let mut iss_array = issuer.claims("alice", AUD);
    iss_array["iss"] = json!([issuer.issuer]);
    both_refuse(&app, &tenant, &issuer.token(&iss_array), "iss array").await;
}

#[tokio::test]
async fn the_built_in_signers_audience_is_required_too() {
    let signer = TestIssuer::new("https://signer.example", SigningAlgorithm::Es256);
    let jwks = JwksServer::start(signer.jwks(), "max-age=300").await;
    let vars = [
        ("PERS_SIGNER_ISSUER", signer.issuer.clone()),
        ("PERS_SIGNER_JWKS_URI", jwks.uri.clone()),
        ("PERS_SIGNER_AUDIENCE", AUD.to_owned()),
    ];
    let settings = Settings::from_lookup(
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
        Some("http://127.0.0.1:3000".into()),
    )
    .unwrap();
    let app = TestApp::embedded_with(settings);
    let tenant = app.create_tenant(json!({"projectName": "Signer"})).await;
    let mut no_aud = signer.claims("alice", AUD);
    no_aud.as_object_mut().unwrap().remove("aud");
    both_refuse(&app, &tenant, &signer.token(&no_aud), "signer without aud").await;
    let mut number = signer.claims("alice", AUD);
    number["aud"] = json!(1);
    both_refuse(&app, &tenant, &signer.token(&number), "signer aud 1").await;
    both_accept(
        &app,
        &tenant,
        &signer.token(&signer.claims("alice", AUD)),
        "signer",
    )
    .await;
}

// 2. A `crit` header is refused.
#[tokio::test]
async fn a_critical_header_extension_is_refused() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let claims = issuer.claims("alice", AUD);
    both_accept(
        &app,
        &tenant,
        &raw_token(&issuer, json!({}), &claims),
        "plain",
    )
    .await;
    for header in [
        json!({"crit": ["anything"], "anything": 1}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"crit": []}),
    ] {
        let token = raw_token(&issuer, header.clone(), &claims);
        both_refuse(&app, &tenant, &token, &header.to_string()).await;
    }
}

// 3. Only keys meant for signatures verify them.
#[tokio::test]
async fn keys_not_meant_for_signatures_never_verify_one() {
    let app = TestApp::embedded();
    let edits: [JwkEdit; 4] = [
        ("use enc", |k| k["use"] = json!("enc")),
        ("key_ops without verify", |k| {
            k["key_ops"] = json!(["encrypt", "wrapKey"])
        }),
        ("another alg", |k| k["alg"] = json!("ES384")),
        ("curve that does not fit", |k| k["crv"] = json!("P-384")),
    ];
    for (what, edit) in edits {
        let issuer = TestIssuer::new("https://remote.example", SigningAlgorithm::Es256);
        let mut jwk = issuer.key.public_jwk();
        edit(&mut jwk);
        let server = JwksServer::start(json!({"keys": [jwk]}), "max-age=300").await;
        let tenant = app.create_tenant(json!({"projectName": "Remote"})).await;
        let res = update(
            &app,
            &tenant,
            json!({"identityProviders": [{
                "issuer": issuer.issuer, "jwksUri": server.uri, "audience": AUD, "authTypes": ["user"]
            }]}),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.json);
        let token = issuer.token(&issuer.claims("alice", AUD));
        both_refuse(&app, &tenant, &token, what).await;
    }
}

// 4. An inline JWKS whose keys could never verify is bad input.
#[tokio::test]
async fn an_unusable_inline_jwks_is_refused_naming_it() {
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Inline"})).await;
    let ec = TestIssuer::new("https://i", SigningAlgorithm::Es256)
        .key
        .public_jwk();
    let okp = TestIssuer::new("https://i", SigningAlgorithm::EdDsa)
        .key
        .public_jwk();
    let without = |k: &Value, m: &str| {
        let mut k = k.clone();
        k.as_object_mut().unwrap().remove(m);
        k
    };
    let bad_keys = [
        json!({"kty": "RSA", "n": "not+base64/url==", "e": "AQAB"}),
        without(&ec, "crv"),
        without(&without(&ec, "x"), "y"),
        without(&okp, "x"),
        json!({"kty": "XYZ", "x": "AAAA"}),
        json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "use": "enc"}),
    ];
    for key in bad_keys {
        let res = update(
            &app,
            &tenant,
            json!({"identityProviders": [{
                "issuer": "https://i", "jwks": {"keys": [key]}, "authTypes": ["user"]
            }]}),
        )
        .await;
        let message = res.error(StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("identityProviders[0].jwks"),
            "{key}: {message}"
        );
    }
    // A good key, but for none of the algorithms the provider allows.
    let res = update(
        &app,
        &tenant,
        json!({"identityProviders": [{
            "issuer": "https://i", "jwks": {"keys": [ec]}, "authTypes": ["user"], "algorithms": ["RS256"]
        }]}),
    )
    .await;
    assert!(
        res.error(StatusCode::BAD_REQUEST)
            .starts_with("identityProviders[0].jwks")
    );
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

// 5. Refresh and login tokens cannot pass as access tokens, here or outside.
#[tokio::test]
async fn refresh_and_login_tokens_are_not_access_tokens() {
    let app = TestApp::embedded();
    let (tenant, pair) = sandbox_session(&app).await;
    let refresh_token = pair["refreshToken"].as_str().unwrap();
    let access_token = pair["accessToken"].as_str().unwrap();
    let login_token = app
        .get("/tenants/login-token", &[("x-project-key", pk(&tenant))])
        .await
        .json;
    let login_token = login_token.as_str().unwrap();
    let jwks = app.get("/.well-known/jwks.json", &[]).await.json;
    let issuer = &app.state.settings.issuer;

    let (header, claims) = unverified(refresh_token);
    assert_eq!(header["typ"], "refresh+jwt");
    assert_eq!(
        header["alg"], "HS256",
        "a signature no outside verifier can check"
    );
    assert!(
        !jwks.to_string().contains(header["kid"].as_str().unwrap()),
        "the refresh key is never published"
    );
    assert_eq!(claims["aud"], format!("{issuer}/auth/refresh"));
    let (header, claims) = unverified(login_token);
    assert_eq!(header["typ"], "login+jwt");
    assert_eq!(claims["aud"], format!("{issuer}/login"));
    assert!(claims.get("client_id").is_none() && claims.get("scope").is_none());

    for (what, token) in [("refresh", refresh_token), ("login", login_token)] {
        let res = app.verify(pk(&tenant), token).await;
        assert_eq!(
            res.json["valid"], false,
            "{what} verified as access: {}",
            res.json
        );
        let res = app
            .send(
                Method::PUT,
                "/tenants",
                &[("authorization", &format!("Bearer {token}"))],
                Some(json!({"projectName": "Taken over"})),
            )
            .await;
        res.error(StatusCode::UNAUTHORIZED);
    }
    // Nor the reverse: an access token does not refresh.
    app.refresh(pk(&tenant), access_token)
        .await
        .error(StatusCode::UNAUTHORIZED);
    app.refresh(pk(&tenant), login_token)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(pk(&tenant), refresh_token).await.status,
        StatusCode::CREATED
    );
}

// 6. Access tokens are RFC 9068 access tokens.
#[tokio::test]
async fn access_tokens_carry_client_id_and_a_scope_naming_the_auth_type() {
    let app = TestApp::embedded();
    let (tenant, pair) = sandbox_session(&app).await;
    let (header, user) = unverified(pair["accessToken"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(user["client_id"], tenant["id"]);
    let id = tenant["id"].as_str().unwrap();
    assert_eq!(user["scope"], format!("pers:user pers:user:{id}"));
    assert_eq!(user["aud"], app.state.settings.issuer);
    let (_, admin_claims) = unverified(tenant["jwt"].as_str().unwrap());
    assert_eq!(admin_claims["client_id"], tenant["id"]);
    assert_eq!(
        admin_claims["scope"],
        format!("pers:tenant pers:tenant:{id}")
    );
    for field in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        assert!(user.get(field).is_some(), "RFC 9068 §2.2 requires {field}");
    }
}

// 7. Our own tokens get 5 s of leeway, not 60.
#[tokio::test]
async fn an_access_token_just_past_its_expiry_is_refused_everywhere() {
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Leeway"})).await;
    let keys = app.state.keys.key_set().await.unwrap();
    let good: AccessClaims =
        token::verify_access(&keys, &app.state.settings, tenant["jwt"].as_str().unwrap()).unwrap();
    let expired_by = |seconds: i64| {
        let claims = AccessClaims {
            exp: pers::now_unix() - seconds,
            ..good.clone()
        };
        token::sign(&keys, token::Kind::Access, &claims).unwrap()
    };
    let late = expired_by(20);
    let res = app.verify(pk(&tenant), &late).await;
    assert_eq!(res.json["valid"], false, "{}", res.json);
    app.send(
        Method::PUT,
        "/tenants",
        &[("authorization", &format!("Bearer {late}"))],
        Some(json!({"projectName": "Late"})),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);
    let just = expired_by(1);
    assert_eq!(app.verify(pk(&tenant), &just).await.json["valid"], true);
}

// 8. `/auth/verify` judges provider tokens by exactly the rules of `/auth/token`.
#[tokio::test]
async fn verify_and_exchange_agree_on_size_and_whitespace() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let mut padded = issuer.claims("alice", AUD);
    padded["pad"] = json!("x".repeat(8 * 1024));
    both_refuse(&app, &tenant, &issuer.token(&padded), "over 8 KiB").await;
    let good = issuer.token(&issuer.claims("alice", AUD));
    for spaced in [
        format!(" {good}"),
        format!("{good}\n"),
        format!("\t{good} "),
    ] {
        both_refuse(&app, &tenant, &spaced, "surrounding whitespace").await;
    }
    both_accept(&app, &tenant, &good, "as issued").await;
}

// 9. Credentials of different tenants are refused; a present credential is used.
#[tokio::test]
async fn credentials_of_two_tenants_are_refused_and_change_nothing() {
    let app = TestApp::embedded();
    let a = app.create_tenant(json!({"projectName": "Tenant A"})).await;
    let b = app.create_tenant(json!({"projectName": "Tenant B"})).await;
    let (a_admin, b_admin) = (admin(&a), admin(&b));
    let b_private = b["apiPrivateKey"].as_str().unwrap();

    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &a_admin), ("x-project-key", pk(&b))],
            Some(json!({"projectName": "Renamed"})),
        )
        .await;
    res.error(StatusCode::FORBIDDEN);
    let seen = app
        .get(&format!("/tenants/{}", a["id"].as_str().unwrap()), &[])
        .await;
    assert_eq!(seen.json["projectName"], "Tenant A", "nothing changed");

    let a_id = a["id"].as_str().unwrap();
    let cases: Vec<Case<String>> = vec![
        (
            Method::POST,
            "/auth/verify".into(),
            vec![("x-project-key", pk(&a)), ("authorization", &b_admin)],
            Some(json!({"authToken": a["jwt"]})),
        ),
        (
            Method::POST,
            "/auth/token".into(),
            vec![("x-project-key", pk(&a)), ("x-api-key", b_private)],
            Some(json!({"authToken": "x"})),
        ),
        (
            Method::GET,
            "/tenants/me".into(),
            vec![("x-project-key", pk(&a)), ("x-api-key", b_private)],
            None,
        ),
        (
            Method::GET,
            "/tenants/client-config".into(),
            vec![("x-project-key", pk(&a)), ("authorization", &b_admin)],
            None,
        ),
        (
            Method::GET,
            format!("/tenants/{a_id}"),
            vec![("authorization", &a_admin), ("x-project-key", pk(&b))],
            None,
        ),
        (
            Method::POST,
            "/tenants".into(),
            vec![
                ("x-api-key", PLATFORM_KEY),
                ("x-project-key", pk(&a)),
                ("authorization", &b_admin),
            ],
            Some(json!({"projectName": "C"})),
        ),
    ];
    for (method, path, headers, body) in cases {
        let res = app.send(method.clone(), &path, &headers, body).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            res.json
        );
        res.error(StatusCode::FORBIDDEN);
    }
    // Credentials of one tenant together are fine.
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &a_admin), ("x-project-key", pk(&a))],
            Some(json!({"projectName": "Tenant A2"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

#[tokio::test]
async fn the_private_key_counts_at_the_project_level_and_a_wrong_one_is_refused() {
    let app = TestApp::embedded();
    let a = app.create_tenant(json!({"projectName": "Private"})).await;
    let b = app.create_tenant(json!({"projectName": "Other"})).await;
    let path = format!("/tenants/{}", a["id"].as_str().unwrap());
    let private = a["apiPrivateKey"].as_str().unwrap();
    let res = app.get(&path, &[("x-api-key", private)]).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json["projectApiKey"], a["projectApiKey"],
        "project level"
    );
    assert!(res.json.get("stripeApiKey").is_none() && res.json.get("identityProviders").is_none());
    // Another tenant's private key grants nothing beyond public.
    let res = app
        .get(
            &path,
            &[("x-api-key", b["apiPrivateKey"].as_str().unwrap())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.json.get("projectApiKey").is_none(), "{}", res.json);
    // A wrong key, or the platform key, is refused, not ignored.
    for wrong in ["sk_live_not_a_key", PLATFORM_KEY] {
        app.get(&path, &[("x-api-key", wrong)])
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    // `/tenants/me` by the private key alone, and refused with a wrong one.
    let me = app.get("/tenants/me", &[("x-api-key", private)]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.json);
    assert_eq!(me.json["id"], a["id"]);
    app.get(
        "/tenants/me",
        &[("x-project-key", pk(&a)), ("x-api-key", "sk_live_wrong")],
    )
    .await
    .error(StatusCode::UNAUTHORIZED);
}

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
    let created = app
        .send(
            Method::POST,
            "/tenants",
            &[("x-api-key", PLATFORM_KEY)],
            Some(json!({"projectName": "Cache"})),
        )
        .await;
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
    let login_token = app
        .get("/tenants/login-token", &[("x-project-key", pk(&tenant))])
        .await;
    let by_admin = app
        .get(
            &format!("/tenants/{}", tenant["id"].as_str().unwrap()),
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
    let jwks = app.get("/.well-known/jwks.json", &[]).await;
    assert!(
        jwks.headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age="),
        "the public keys stay cacheable"
    );
}

// 13. Addresses that embed or stand for internal ones are internal.
#[tokio::test]
async fn deployed_jwks_uris_embedding_internal_addresses_are_refused() {
    let settings =
        Settings::from_lookup(|_| None, Some("https://auth.example.com".into())).unwrap();
    let app = TestApp::embedded_with(settings);
    let tenant = app.create_tenant(json!({"projectName": "SSRF"})).await;
    for host in [
        "[64:ff9b::7f00:1]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b:1::a00:1]",
        "[2002:7f00:1::1]",
        "[2002:a9fe:a9fe::]",
        "198.18.0.1",
        "198.19.1.1",
        "192.0.0.170",
    ] {
        let res = update(
            &app,
            &tenant,
            json!({"identityProviders": [{
                "issuer": "https://i.example", "jwksUri": format!("https://{host}/jwks.json"),
                "authTypes": ["user"]
            }]}),
        )
        .await;
        let message = res.error(StatusCode::BAD_REQUEST);
        assert!(message.contains("jwksUri"), "{host}: {message}");
    }
}

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
    app.get("/tenants/me", &[("x-project-key", pk(&tenant))])
        .await;
    calls.take();
    app.refresh(pk(&tenant), token)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(calls.take(), 1, "one write: the revocation");
}

// Key rotation, local key source: every token kind survives it, and the internal key
// rotates with the signing key (the Secrets Manager source: secrets_manager_keys.rs).
#[tokio::test]
async fn refresh_tokens_outlive_a_local_key_rotation_and_the_internal_key_rotates_too() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys.json");
    let (keys, _) = pers::keys::LocalKeySource::open_or_generate(
        &key_file,
        SigningAlgorithm::Es256,
        std::time::Duration::ZERO,
    )
    .unwrap();
    let store = pers::store::EmbeddedStore::open(&dir.path().join("store.redb")).unwrap();
    let app = TestApp::with(Arc::new(store), Arc::new(keys), dir);
    let (tenant, pair) = sandbox_session(&app).await;
    let old_refresh = pair["refreshToken"].as_str().unwrap();
    let (old_header, _) = unverified(old_refresh);

    pers::keys::LocalKeySource::rotate(&key_file, SigningAlgorithm::Es256).unwrap();
    let rotated = app.refresh(pk(&tenant), old_refresh).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.json);
    let (new_header, _) = unverified(rotated.json["refreshToken"].as_str().unwrap());
    assert_ne!(
        new_header["kid"], old_header["kid"],
        "a new internal key signs"
    );
    let keys = app.state.keys.key_set().await.unwrap();
    assert_eq!(new_header["kid"], keys.signing().internal().kid());
    // The old access token and the admin token still verify; new ones carry the new kid.
    for token in [
        pair["accessToken"].as_str().unwrap(),
        tenant["jwt"].as_str().unwrap(),
    ] {
        assert_eq!(app.verify(pk(&tenant), token).await.json["valid"], true);
    }
    let (access_header, _) = unverified(rotated.json["accessToken"].as_str().unwrap());
    assert_eq!(access_header["kid"], keys.signing().kid());
    let again = app
        .refresh(pk(&tenant), rotated.json["refreshToken"].as_str().unwrap())
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json);
}

// The one-tenant check reads each credential once: the route reuses what it found.
#[tokio::test]
async fn each_credential_is_looked_up_once_per_request() {
    let moto = Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let app = TestApp::with_store(Arc::new(store));
    let tenant = app.create_tenant(json!({"projectName": "Once"})).await;
    let path = format!("/tenants/{}", tenant["id"].as_str().unwrap());
    let private = tenant["apiPrivateKey"].as_str().unwrap();

    calls.take();
    app.get("/tenants/me", &[("x-project-key", "pk_live_unknown")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(calls.take(), 1, "an unknown project key: one lookup");

    let res = app
        .get(
            &path,
            &[("authorization", &admin(&tenant)), ("x-api-key", private)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert!(
        res.json["identityProviders"].is_array(),
        "the admin level: {}",
        res.json
    );
    assert_eq!(calls.take(), 2, "the private key's lookup, then the tenant");
}
