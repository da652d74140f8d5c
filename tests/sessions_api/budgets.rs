//! The DynamoDB calls of the session lifecycle, counted on the wire: `local` is one
//! conditional write; `global`/`others` one query of the user's partition and one write
//! per live session ended; `checkRevoked` one read, and nothing without it. System
//! sessions pay one read of their key's lookup item.

use std::sync::Arc;

use axum::http::StatusCode;
use pers_tests::{Moto, TestApp};

use crate::{Pair, world_on};

#[tokio::test]
async fn the_session_lifecycle_stays_within_its_dynamodb_budget() {
    let moto = Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let w = world_on(TestApp::with_store(Arc::new(store))).await;
    let sessions = [
        w.sign_in("alice").await,
        w.sign_in("alice").await,
        w.sign_in("alice").await,
    ];
    let more = [
        w.sign_in("bob").await,
        w.sign_in("bob").await,
        w.sign_in("bob").await,
    ];
    calls.take();

    let res = w.app.verify(w.pk(), &sessions[0].access).await;
    assert_eq!(res.json["valid"], true);
    assert_eq!(calls.take(), 0, "/auth/verify: no call by default");
    assert!(w.valid_checking_revocation(&sessions[0].access).await);
    assert_eq!(calls.take(), 1, "/auth/verify with checkRevoked: one read");

    let res = w.logout(&sessions[0].refresh, None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(calls.take(), 1, "local: one conditional write");

    let res = w.logout(&sessions[1].refresh, Some("global")).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        calls.take(),
        1 + 2,
        "global: a query, and the two live sessions"
    );

    let res = w.logout(&more[0].refresh, Some("others")).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        calls.take(),
        1 + 2,
        "others: a query, and the two other sessions"
    );

    // The user budgets hold; a system session adds the read of its key.
    let warm = w.sign_in("carol").await;
    calls.take();
    Pair::of(&w.refresh(&warm.refresh).await);
    assert_eq!(calls.take(), 1, "/auth/refresh: exactly one call");
    let sys = Pair::of(&w.system_login("robot", w.private_key()).await);
    calls.take();
    Pair::of(&w.system_login("robot", w.private_key()).await);
    assert_eq!(
        calls.take(),
        2 + 1,
        "system /auth/token: the budget and the key read"
    );
    Pair::of(&w.system_refresh(&sys.refresh, w.private_key()).await);
    assert_eq!(
        calls.take(),
        1 + 1,
        "system /auth/refresh: the rotation and the key read"
    );

    // The recovery routes: a tenant read and a session write; a read and a transaction.
    let res = w
        .app
        .admin_token(w.id(), &[("x-api-key", pers_tests::PLATFORM_KEY)])
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(calls.take(), 2, "admin-token");
    let res = w.app.regenerate_private_key(w.admin()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(calls.take(), 2, "api-private-key");
}
