//! `POST /auth/logout`: each scope, idempotency, reuse, bad input, and a sign-out racing
//! a refresh of the same session.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{Pair, World, other_tenant};

// Each scope, for a user holding three sessions, beside another user of the tenant.
async fn each_scope_ends_exactly_its_sessions(w: World) {
    let cases = [
        (None, [true, false, false]),
        (Some("local"), [true, false, false]),
        (Some("global"), [true, true, true]),
        (Some("others"), [false, true, true]),
    ];
    for (scope, ended) in cases {
        let user = format!("alice-{scope:?}");
        let mut sessions = Vec::new();
        for _ in 0..3 {
            sessions.push(w.sign_in(&user).await);
        }
        let bystander = w.sign_in(&format!("bob-{scope:?}")).await;

        let res = w.logout(&sessions[0].refresh, scope).await;
        assert_eq!(
            res.status,
            StatusCode::NO_CONTENT,
            "{scope:?}: {}",
            res.json
        );
        assert!(res.json.is_null(), "204 has no body");
        for (i, (session, ended)) in sessions.iter().zip(ended).enumerate() {
            assert_eq!(
                w.refreshes(&session.refresh).await,
                !ended,
                "{scope:?}: session {i} should {}",
                if ended { "be ended" } else { "still refresh" }
            );
        }
        assert!(
            w.refreshes(&bystander.refresh).await,
            "{scope:?}: bystander"
        );
    }
}

// Idempotent: again, on an ended session, and past the token's `exp`.
async fn signing_out_is_idempotent(w: World) {
    let a = w.sign_in("alice").await;
    let b = w.sign_in("alice").await;
    for _ in 0..2 {
        let res = w.logout(&a.refresh, None).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);
    }
    assert!(w.session_of(&a.refresh).await.revoked);
    assert!(!w.session_of(&b.refresh).await.revoked);
    // The current token of an ended session still speaks for it: its scope applies.
    let res = w.logout(&a.refresh, Some("global")).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);
    assert!(w.session_of(&b.refresh).await.revoked);
    for scope in [None, Some("global"), Some("others")] {
        let res = w.logout(&b.refresh, scope).await;
        assert_eq!(
            res.status,
            StatusCode::NO_CONTENT,
            "{scope:?}: {}",
            res.json
        );
    }

    // Past the refresh token's `exp` (its session's end): 204, and nothing changes.
    let c = w.sign_in("carol").await;
    let d = w.sign_in("carol").await;
    let (c_claims, d_claims) = (
        w.app.refresh_claims(&c.refresh).await,
        w.app.refresh_claims(&d.refresh).await,
    );
    let ttl = w.app.state.settings.refresh_token_ttl.as_secs() as i64;
    w.clock.advance(ttl + 60);
    for scope in [None, Some("global")] {
        let res = w.logout(&c.refresh, scope).await;
        assert_eq!(
            res.status,
            StatusCode::NO_CONTENT,
            "{scope:?}: {}",
            res.json
        );
    }
    for claims in [c_claims, d_claims] {
        let stored = w.app.state.store.session(&claims.session_key()).await;
        assert!(
            !stored.unwrap().unwrap().revoked,
            "an expired token revokes nothing"
        );
    }
}

// Reuse: a token older than the parent within grace revokes its family alone (401);
// once the family has ended, any of its tokens is 204 and changes nothing more.
async fn a_stale_token_is_reuse_and_revokes_its_family_alone(w: World) {
    let a0 = w.sign_in("alice").await;
    let b = w.sign_in("alice").await;
    let a1 = Pair::of(&w.refresh(&a0.refresh).await);
    let grace = w.app.state.settings.refresh_grace.as_secs() as i64;
    w.clock.advance(grace + 1);

    let res = w.logout(&a0.refresh, Some("global")).await;
    let message = res.error(StatusCode::UNAUTHORIZED);
    assert!(message.contains("revoked"), "{message}");
    assert!(
        w.session_of(&a1.refresh).await.revoked,
        "the family is revoked"
    );
    assert!(
        !w.session_of(&b.refresh).await.revoked,
        "the scope did not apply"
    );
    for scope in [Some("global"), None] {
        let res = w.logout(&a0.refresh, scope).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);
    }
    assert!(w.refreshes(&b.refresh).await, "nothing more changed");

    // The parent within the grace interval still speaks for its session.
    let c0 = w.sign_in("carol").await;
    let c1 = Pair::of(&w.refresh(&c0.refresh).await);
    let res = w.logout(&c0.refresh, None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);
    assert!(!w.refreshes(&c1.refresh).await);
}

// Every bad input: a clear error, and nothing revoked.
async fn bad_sign_outs_are_refused_and_revoke_nothing(w: World) {
    let a = w.sign_in("alice").await;
    let other = other_tenant(&w).await;
    let other_pk = other["projectApiKey"].as_str().unwrap();
    let theirs = Pair::of(
        &w.app
            .login(other_pk, json!({"authToken": w.provider_token("alice")}))
            .await,
    );
    let login_token = w
        .app
        .login_token(w.pk())
        .await
        .json
        .as_str()
        .unwrap()
        .to_owned();
    let mut forged = a.refresh.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });

    let bodies = [
        json!({}),
        json!({"refreshToken": 5}),
        json!({"refreshToken": a.refresh, "scope": "everywhere"}),
        json!({"refreshToken": a.refresh, "scope": null}),
        json!({"refreshToken": a.refresh, "scope": ["global"]}),
    ];
    for body in bodies {
        let res = w
            .app
            .send(
                Method::POST,
                "/auth/logout",
                &[("x-project-key", w.pk())],
                Some(body.clone()),
            )
            .await;
        res.error(StatusCode::BAD_REQUEST);
    }
    for raw in ["", "[]", "not json"] {
        let res = w
            .app
            .raw(
                Method::POST,
                "/auth/logout",
                &[
                    ("x-project-key", w.pk()),
                    ("content-type", "application/json"),
                ],
                Body::from(raw),
            )
            .await;
        res.error(StatusCode::BAD_REQUEST);
    }
    let not_ours = [
        a.access.clone(),
        login_token,
        forged,
        theirs.refresh.clone(),
        w.provider_token("alice"),
        "x".into(),
        String::new(),
    ];
    for token in &not_ours {
        for scope in [None, Some("global")] {
            w.logout(token, scope).await.error(StatusCode::UNAUTHORIZED);
        }
    }
    for pk in ["pk_live_nobody", other_pk] {
        w.app
            .logout(pk, &a.refresh, Some("global"))
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    assert!(w.refreshes(&a.refresh).await, "nothing was revoked");
    assert!(
        w.app.refresh(other_pk, &theirs.refresh).await.status == StatusCode::CREATED,
        "nor the other tenant's session"
    );
}

// A system session signs out with the tenant's apiPrivateKey, as it refreshes.
async fn a_system_session_signs_out_with_the_private_key(w: World) {
    let sys = Pair::of(&w.system_login("robot", w.private_key()).await);
    w.logout(&sys.refresh, None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    let wrong = w
        .app
        .send(
            Method::POST,
            "/auth/logout",
            &[("x-project-key", w.pk()), ("x-api-key", "sk_live_wrong")],
            Some(json!({"refreshToken": sys.refresh})),
        )
        .await;
    wrong.error(StatusCode::UNAUTHORIZED);
    assert!(!w.session_of(&sys.refresh).await.revoked);
    let res = w
        .app
        .send(
            Method::POST,
            "/auth/logout",
            &[("x-project-key", w.pk()), ("x-api-key", w.private_key())],
            Some(json!({"refreshToken": sys.refresh})),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);
    assert!(w.session_of(&sys.refresh).await.revoked);
}

// A sign-out racing a refresh of the same session never leaves it alive, whichever
// wins: many sessions at once, each refreshed and signed out concurrently.
async fn a_sign_out_racing_a_refresh_never_leaves_the_session_alive(w: World) {
    let w = Arc::new(w);
    for round in 0..3 {
        let scope = ["local", "global"][round % 2];
        let mut sessions = Vec::new();
        for i in 0..8 {
            // Users of their own, so that a global sign-out ends only its own session.
            sessions.push(w.sign_in(&format!("racer-{round}-{i}")).await);
        }
        let mut races = tokio::task::JoinSet::new();
        for (i, session) in sessions.iter().enumerate() {
            let (w1, w2, token) = (w.clone(), w.clone(), session.refresh.clone());
            let token2 = token.clone();
            races.spawn(async move { (i, "refresh", w1.refresh(&token).await) });
            races.spawn(async move { (i, "logout", w2.logout(&token2, Some(scope)).await) });
        }
        let mut rotated = Vec::new();
        while let Some(done) = races.join_next().await {
            let (i, what, res) = done.unwrap();
            match (what, res.status) {
                ("logout", StatusCode::NO_CONTENT) => {}
                ("refresh", StatusCode::CREATED) => rotated.push(Pair::of(&res).refresh),
                ("refresh", StatusCode::UNAUTHORIZED) => {}
                _ => panic!(
                    "{scope} race {i}: {what} answered {}: {}",
                    res.status, res.json
                ),
            }
        }
        for session in &sessions {
            assert!(
                w.session_of(&session.refresh).await.revoked,
                "{scope}: the session outlived its sign-out"
            );
        }
        for token in rotated {
            assert!(
                !w.refreshes(&token).await,
                "{scope}: a rotated token still refreshes"
            );
        }
    }
}

on_both_stores!(
    each_scope_ends_exactly_its_sessions,
    signing_out_is_idempotent,
    a_stale_token_is_reuse_and_revokes_its_family_alone,
    bad_sign_outs_are_refused_and_revoke_nothing,
    a_system_session_signs_out_with_the_private_key,
    a_sign_out_racing_a_refresh_never_leaves_the_session_alive,
);
