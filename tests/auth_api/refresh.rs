//! `POST /auth/refresh`: rotation that never extends the session, the grace interval
//! for the parent, reuse detection, tokens that never stand in for each other, on the
//! embedded store and on DynamoDB.

use axum::http::StatusCode;
use pers_tests::TestApp;
use serde_json::json;

use super::{access_claims, dynamo_world, refresh_claims, token_of, world, world_on};

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
    w.app
        .update_tenant(token_of(&res, "refreshToken"), json!({}))
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
    let sid = tab_refresh.session_key();
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
    // The app's clock, moved past the interval rather than slept through.
    let clock = std::sync::Arc::new(pers::token::ManualClock::starting_now());
    let w = world_on(TestApp::embedded_with(settings).with_clock(clock.clone())).await;
    let t0 = w.login_as("alice").await;
    let t1 = w.refresh(token_of(&t0, "refreshToken")).await;
    assert_eq!(t1.status, StatusCode::CREATED);
    clock.advance(2);
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
