//! `POST /tenants/api-private-key`: a new key, the old one dead at once (also in
//! another function whose cache holds the tenant), exactly one working key after
//! concurrent regenerations.

use std::sync::Arc;

use axum::http::StatusCode;
use pers::domain::KeyHash;
use pers_tests::TestApp;

use crate::{Pair, World};

/// Regenerates the tenant's key; the new key.
async fn regenerate(w: &World) -> String {
    let res = w.app.regenerate_private_key(w.admin()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(res.headers["cache-control"], "no-store");
    res.json["apiPrivateKey"].as_str().unwrap().to_owned()
}

/// Whether `key` is a working apiPrivateKey of the tenant (`GET /tenants/me`).
async fn works(w: &World, key: &str) -> bool {
    let res = w.app.tenant_me(&[("x-api-key", key)]).await;
    match res.status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("GET /tenants/me answered {other}: {}", res.json),
    }
}

async fn a_regenerated_key_replaces_the_old_one_at_once(w: World) {
    let old = w.private_key().to_owned();
    let sys = Pair::of(&w.system_login("robot", &old).await);
    let new = regenerate(&w).await;
    assert!(new.starts_with("sk_live_") && new != old);

    w.system_login("robot", &old)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(!works(&w, &old).await);
    w.system_refresh(&sys.refresh, &old)
        .await
        .error(StatusCode::UNAUTHORIZED);
    // The system session lives on and refreshes with the new key.
    Pair::of(&w.system_refresh(&sys.refresh, &new).await);
    Pair::of(&w.system_login("robot", &new).await);
    assert!(works(&w, &new).await);
    // Storage agrees: one lookup item, the tenant's hash.
    let store = &w.app.state.store;
    assert_eq!(store.api_key(&KeyHash::of(&old)).await.unwrap(), None);
    assert!(store.api_key(&KeyHash::of(&new)).await.unwrap().is_some());
}

// Another function (its own project-key cache, on the same table) has the tenant
// cached from a system login: the old key stops there at once too.
async fn another_function_refuses_the_old_key_at_once(w: World) {
    let auth = Arc::new(TestApp::with_store(w.app.state.store.clone()));
    let other = World {
        app: auth,
        tenant: w.tenant.clone(),
        issuer: w.issuer.clone(),
        clock: w.clock.clone(),
    };
    let old = w.private_key().to_owned();
    Pair::of(&other.system_login("robot", &old).await);
    let new = regenerate(&w).await;
    other
        .system_login("robot", &old)
        .await
        .error(StatusCode::UNAUTHORIZED);
    Pair::of(&other.system_login("robot", &new).await);
}

async fn concurrent_regenerations_leave_exactly_one_working_key(w: World) {
    let w = Arc::new(w);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let w = w.clone();
        calls.spawn(async move { w.app.regenerate_private_key(w.admin()).await });
    }
    let mut keys = Vec::new();
    while let Some(res) = calls.join_next().await {
        let res = res.unwrap();
        match res.status {
            StatusCode::CREATED => {
                keys.push(res.json["apiPrivateKey"].as_str().unwrap().to_owned())
            }
            StatusCode::CONFLICT => assert_eq!(res.json["statusCode"], 409),
            other => panic!("regeneration answered {other}: {}", res.json),
        }
    }
    assert!(!keys.is_empty(), "one regeneration wins");
    let mut working = Vec::new();
    for key in keys.iter().chain([&w.private_key().to_owned()]) {
        if works(&w, key).await {
            working.push(key.clone());
        }
    }
    assert_eq!(
        working.len(),
        1,
        "exactly one key works of {}",
        keys.len() + 1
    );
    let store = &w.app.state.store;
    let mut stored = 0;
    for key in &keys {
        stored += usize::from(store.api_key(&KeyHash::of(key)).await.unwrap().is_some());
    }
    assert_eq!(stored, 1, "exactly one lookup item");
}

async fn only_the_tenant_admin_regenerates(w: World) {
    let user = w.sign_in("alice").await;
    w.app
        .regenerate_private_key(&user.access)
        .await
        .error(StatusCode::FORBIDDEN);
    w.app
        .regenerate_private_key("not-a-token")
        .await
        .error(StatusCode::UNAUTHORIZED);
    for headers in [
        vec![],
        vec![("x-project-key", w.pk())],
        vec![("x-api-key", w.private_key())],
        vec![("x-api-key", pers_tests::PLATFORM_KEY)],
    ] {
        w.app
            .send(
                axum::http::Method::POST,
                "/tenants/api-private-key",
                &headers,
                None,
            )
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    assert!(works(&w, w.private_key()).await, "nothing changed");
}

on_both_stores!(
    a_regenerated_key_replaces_the_old_one_at_once,
    another_function_refuses_the_old_key_at_once,
    concurrent_regenerations_leave_exactly_one_working_key,
    only_the_tenant_admin_regenerates,
);
