//! `/auth/verify` and the well-known documents; an outside verifier (PyJWT, knowing only
//! the issuer) accepting our access tokens.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use pers::keys::{KeyMaterial, KeySet, SecretsManagerKeySource, SigningAlgorithm, SigningKey};
use pers::token::{self, AccessClaims};
use pers_tests::{TestApp, TestIssuer};
use serde_json::{Value, json};

fn pk(tenant: &Value) -> &str {
    tenant["projectApiKey"].as_str().unwrap()
}

fn jwt(tenant: &Value) -> &str {
    tenant["jwt"].as_str().unwrap()
}

#[tokio::test]
async fn our_access_tokens_verify_for_their_own_tenant_only() {
    let app = TestApp::embedded();
    let a = app.create_tenant(json!({"projectName": "A"})).await;
    let b = app.create_tenant(json!({"projectName": "B"})).await;
    let res = app.verify(pk(&a), jwt(&a)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json["valid"], true, "{}", res.json);
    assert_eq!(res.json["payload"]["tenantId"], a["id"]);
    assert_eq!(res.json["errorMessage"], Value::Null);

    let res = app.verify(pk(&b), jwt(&a)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json["valid"], false);
    assert_eq!(res.json["payload"], Value::Null);
    assert!(
        res.json["errorMessage"]
            .as_str()
            .unwrap()
            .contains("another tenant")
    );
}

#[tokio::test]
async fn a_bad_token_is_an_answer_never_a_4xx() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "A"})).await;
    let mut expired: AccessClaims = app.access_claims(jwt(&t)).await;
    expired.exp = pers::now_unix() - 3600;
    let expired = app.sign_access(&expired).await;
    let login = app.login_token(pk(&t)).await;
    let stranger = TestIssuer::new("https://stranger.example", SigningAlgorithm::Es256);
    let mut tampered = jwt(&t).to_owned();
    tampered.pop();
    tampered.push(if jwt(&t).ends_with('A') { 'B' } else { 'A' });
    for (case, token) in [
        ("expired", expired),
        (
            "login token is not an access token",
            login.json.as_str().unwrap().to_owned(),
        ),
        (
            "untrusted issuer",
            stranger.token(&stranger.claims("x", "y")),
        ),
        ("garbage", "garbage".to_owned()),
        ("empty", String::new()),
        ("tampered signature", tampered),
    ] {
        let res = app.verify(pk(&t), &token).await;
        assert_eq!(res.status, StatusCode::OK, "{case}");
        assert_eq!(res.json["valid"], false, "{case}: {}", res.json);
        assert!(res.json["errorMessage"].is_string(), "{case}");
    }
    app.send(
        Method::POST,
        "/auth/verify",
        &[("x-project-key", pk(&t))],
        Some(json!({})),
    )
    .await
    .error(StatusCode::BAD_REQUEST);
    app.verify("pk_live_unknown", jwt(&t))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_of_a_trusted_provider_verify_through_the_provider() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "P"})).await;
    let idp = TestIssuer::new("https://idp.example", SigningAlgorithm::EdDsa);
    let providers = json!([{"issuer": idp.issuer, "jwks": idp.jwks(), "audience": "app", "authTypes": ["user"]}]);
    let res = app
        .update_tenant(jwt(&t), json!({"identityProviders": providers}))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .verify(pk(&t), &idp.token(&idp.claims("alice", "app")))
        .await;
    assert_eq!(res.json["valid"], true, "{}", res.json);
    assert_eq!(res.json["payload"]["sub"], "alice");
    let res = app
        .verify(pk(&t), &idp.token(&idp.claims("alice", "other-app")))
        .await;
    assert_eq!(res.json["valid"], false);
}

#[tokio::test]
async fn the_jwks_publishes_public_keys_with_kid_alg_and_use() {
    let app = TestApp::embedded();
    let res = app.jwks().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.headers["cache-control"], "public, max-age=300");
    let keys = res.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    for key in keys {
        assert!(
            key["kid"].is_string() && key["alg"] == "ES256" && key["use"] == "sig",
            "{key}"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    let doc = app.discovery().await;
    assert_eq!(doc.json["issuer"], "http://127.0.0.1:3000");
    assert_eq!(
        doc.json["jwks_uri"],
        "http://127.0.0.1:3000/.well-known/jwks.json"
    );
    assert_eq!(
        doc.json["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
}

#[tokio::test]
async fn verification_makes_no_storage_call_on_the_warm_path() {
    let moto = pers_tests::Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let app = TestApp::with_store(Arc::new(store));
    let t = app.create_tenant(json!({"projectName": "Count"})).await;
    assert_eq!(app.verify(pk(&t), jwt(&t)).await.json["valid"], true);
    calls.take();
    let res = app.verify(pk(&t), jwt(&t)).await;
    assert_eq!(res.json["valid"], true);
    assert_eq!(
        calls.take(),
        0,
        "/auth/verify: no DynamoDB call on the warm path"
    );
}

#[tokio::test]
async fn a_token_signed_by_a_key_rotated_in_elsewhere_verifies_after_one_reload() {
    let moto = pers_tests::Moto::start().await;
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let first = KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
    sm.create_secret()
        .name("signing")
        .secret_string(first.to_json().to_string())
        .send()
        .await
        .unwrap();
    let keys = SecretsManagerKeySource::new(
        sm.clone(),
        "signing",
        Duration::from_secs(300),
        Duration::ZERO,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = pers::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
    let app = TestApp::with(Arc::new(store), Arc::new(keys), dir);
    let t = app.create_tenant(json!({"projectName": "Rotating"})).await;

    // Another function rotated: the new key is current in the secret, but this
    // function's cache (5 minutes) has not reloaded yet.
    let next = KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
    sm.put_secret_value()
        .secret_id("signing")
        .secret_string(next.to_json().to_string())
        .send()
        .await
        .unwrap();
    let mut claims: AccessClaims = app.access_claims(jwt(&t)).await;
    claims.jti = pers_tests::unique();
    let signed_elsewhere = token::sign(
        &KeySet::new(SigningKey::from_material(&next).unwrap(), vec![]),
        token::Kind::Access,
        &claims,
    )
    .unwrap();
    let res = app.verify(pk(&t), &signed_elsewhere).await;
    assert_eq!(res.json["valid"], true, "{}", res.json);
}

/// An outside verifier that knows only the issuer: discovery → JWKS → verify, with PyJWT
/// (`PyJWKClient`), the way API Gateway's JWT authorizer works.
#[tokio::test]
async fn pyjwt_accepts_our_access_tokens_knowing_only_the_issuer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let settings = pers::config::Settings::from_lookup(|_| None, Some(issuer.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = pers::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
    let (keys, _) = pers::keys::LocalKeySource::open_or_generate(
        &dir.path().join("k.json"),
        SigningAlgorithm::Rs256,
        Duration::ZERO,
    )
    .unwrap();
    let app = TestApp::with_settings(Arc::new(store), Arc::new(keys), dir, settings);
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let t = app.create_tenant(json!({"projectName": "Interop"})).await;
    let stranger = TestIssuer::new(&issuer, SigningAlgorithm::Rs256);
    let mut header = stranger.header();
    header.kid = app.key_set().await.signing().kid().to_owned().into();
    let forged = stranger.sign(
        &header,
        &json!({"iss": issuer, "aud": issuer, "sub": "x", "exp": pers::now_unix() + 60}),
    );

    let script = r#"
import json, sys, urllib.request
import jwt
issuer, token = sys.argv[1], sys.argv[2]
config = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
assert config["issuer"] == issuer, config
key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
try:
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=issuer, issuer=issuer)
    print("valid", claims["tenantId"])
except jwt.InvalidTokenError as e:
    print("invalid", type(e).__name__)
"#;
    let python = pers_tests::venv_python();
    for (token, expected) in [
        (
            jwt(&t).to_owned(),
            format!("valid {}", t["id"].as_str().unwrap()),
        ),
        (forged, "invalid InvalidSignatureError".to_owned()),
    ] {
        let out = tokio::process::Command::new(&python)
            .args(["-c", script, &issuer, &token])
            .output()
            .await
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), expected);
    }
    server.abort();
}
