//! How a provider token is verified: every rule refuses the token that breaks it, key
//! pointers in the header are never followed, no algorithm confusion, a provider is
//! trusted only for its auth types and algorithms, Firebase only for tenant admins.

use axum::http::StatusCode;
use jsonwebtoken::Header;
use pers::keys::SigningAlgorithm;
use pers_tests::{JwksServer, TestApp, TestIssuer};
use serde_json::{Value, json};

use super::{AUD, access_claims, token_of, trust, world};

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
    let admin = token_of(&res, "accessToken");
    let put = app
        .update_tenant(admin, json!({"projectName": "Fb2"}))
        .await;
    assert_eq!(put.status, StatusCode::OK);

    // Its session refreshes while the tenant keeps that Firebase tenant, and ends when
    // the tenant moves to another one (the same issuer, but another vouching tenant).
    let refreshed = app.refresh(pk, token_of(&res, "refreshToken")).await;
    assert_eq!(refreshed.status, StatusCode::CREATED, "{}", refreshed.json);
    let put = app
        .update_tenant(admin, json!({"firebaseTenantId": "tenant-b"}))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json);
    app.refresh(pk, token_of(&refreshed, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
}
