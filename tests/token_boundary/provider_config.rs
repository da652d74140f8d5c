//! What a tenant may configure as a provider: no inline JWKS whose keys could never
//! verify, no JWKS URI that embeds or stands for an internal address (defects 4, 13).

use axum::http::StatusCode;
use pers::config::{Deployment, Settings};
use pers::keys::SigningAlgorithm;
use pers_tests::{TestApp, TestIssuer};
use serde_json::{Value, json};

use super::update;

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

// 13. Addresses that embed or stand for internal ones are internal.
#[tokio::test]
async fn deployed_jwks_uris_embedding_internal_addresses_are_refused() {
    let settings =
        Settings::from_lookup(|_| None, Some("https://auth.example.com".into())).unwrap();
    let app = TestApp::embedded_in(Deployment::Lambda, settings);
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
