//! `POST /auth/verify` with `checkRevoked`: one strongly consistent read of the token's
//! session, which every access token has; strict about its type.

use axum::http::StatusCode;
use pers::token::AccessClaims;
use serde_json::json;

use crate::World;

async fn check_revoked_tells_an_ended_session_and_the_default_does_not(w: World) {
    let a = w.sign_in("alice").await;
    assert!(w.valid_checking_revocation(&a.access).await);
    let res = w.logout(&a.refresh, None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.json);

    let res = w
        .app
        .verify_revocation(w.pk(), &a.access, json!(true))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(res.json["valid"], false, "{}", res.json);
    assert_eq!(res.json["payload"], json!(null));
    assert!(
        res.json["errorMessage"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        res.json
    );
    // Without it (absent or false), the token stands until it expires.
    for res in [
        w.app.verify(w.pk(), &a.access).await,
        w.app
            .verify_revocation(w.pk(), &a.access, json!(false))
            .await,
    ] {
        assert_eq!(res.json["valid"], true, "{}", res.json);
    }
}

async fn every_access_token_has_a_session_to_check(w: World) {
    // The bootstrap admin token, and one from the admin-token route.
    assert!(w.valid_checking_revocation(w.admin()).await);
    let res = w
        .app
        .admin_token(w.id(), &[("x-api-key", pers_tests::PLATFORM_KEY)])
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert!(
        w.valid_checking_revocation(res.json["jwt"].as_str().unwrap())
            .await
    );

    // A signed token whose session was never stored is not valid.
    let a = w.sign_in("alice").await;
    let claims: AccessClaims = w.access_claims(&a.access).await;
    let orphan = w
        .app
        .sign_access(&AccessClaims {
            sid: "no-such-session".into(),
            ..claims
        })
        .await;
    let res = w.app.verify_revocation(w.pk(), &orphan, json!(true)).await;
    assert_eq!(res.json["valid"], false, "{}", res.json);
    assert!(w.app.verify(w.pk(), &orphan).await.json["valid"] == true);
}

async fn check_revoked_must_be_a_boolean(w: World) {
    let a = w.sign_in("alice").await;
    for bad in [json!(null), json!("true"), json!(1), json!({})] {
        let res = w
            .app
            .verify_revocation(w.pk(), &a.access, bad.clone())
            .await;
        let message = res.error(StatusCode::BAD_REQUEST);
        assert!(message.contains("checkRevoked"), "{bad}: {message}");
    }
}

on_both_stores!(
    check_revoked_tells_an_ended_session_and_the_default_does_not,
    every_access_token_has_a_session_to_check,
    check_revoked_must_be_a_boolean,
);
