//! Our own tokens: refresh and login tokens are not access tokens, access tokens are
//! RFC 9068 ones, 5 s of leeway, and every kind survives a local key rotation (defects
//! 5–7).

use std::sync::Arc;

use axum::http::StatusCode;
use pers::keys::SigningAlgorithm;
use pers::token::AccessClaims;
use pers_tests::TestApp;
use serde_json::json;

use super::{pk, sandbox_session, unverified};

// 5. Refresh and login tokens cannot pass as access tokens, here or outside.
#[tokio::test]
async fn refresh_and_login_tokens_are_not_access_tokens() {
    let app = TestApp::embedded();
    let (tenant, pair) = sandbox_session(&app).await;
    let refresh_token = pair["refreshToken"].as_str().unwrap();
    let access_token = pair["accessToken"].as_str().unwrap();
    let login_token = app.login_token(pk(&tenant)).await.json;
    let login_token = login_token.as_str().unwrap();
    let jwks = app.jwks().await.json;
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
            .update_tenant(token, json!({"projectName": "Taken over"}))
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
    let good: AccessClaims = app.access_claims(tenant["jwt"].as_str().unwrap()).await;
    let expired_by = |seconds: i64| AccessClaims {
        exp: pers::now_unix() - seconds,
        ..good.clone()
    };
    let late = app.sign_access(&expired_by(20)).await;
    let res = app.verify(pk(&tenant), &late).await;
    assert_eq!(res.json["valid"], false, "{}", res.json);
    app.update_tenant(&late, json!({"projectName": "Late"}))
        .await
        .error(StatusCode::UNAUTHORIZED);
    let just = app.sign_access(&expired_by(1)).await;
    assert_eq!(app.verify(pk(&tenant), &just).await.json["valid"], true);
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
    let keys = app.key_set().await;
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
