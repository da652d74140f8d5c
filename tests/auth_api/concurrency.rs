//! Concurrency on both stores (simultaneous refreshes of one token, parallel first
//! logins), and the DynamoDB budget of the warm path.

use std::sync::Arc;

use axum::http::StatusCode;
use pers_tests::TestApp;
use serde_json::json;

use super::{AUD, World, access_claims, dynamo_world, refresh_claims, token_of, world, world_on};

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
            .session(&generations[0].session_key())
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
