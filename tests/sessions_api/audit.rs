//! One structured audit line per sign-out, reuse detection, regeneration and admin-token
//! issue, naming tenant, user, session, action and scope, and never a token or a key.

use axum::http::StatusCode;
use pers_tests::{CapturedLog, PLATFORM_KEY, TestApp, captured_log};
use serde_json::Value;

use crate::{Pair, world_on};

/// The `fields` of each audit line this thread logged.
fn audit_lines(log: &CapturedLog) -> Vec<Value> {
    let thread = format!("{:?}", std::thread::current().id());
    log.text()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON log line"))
        .filter(|line| line["target"] == "pers::audit" && line["threadId"] == thread.as_str())
        .map(|line| line["fields"].clone())
        .collect()
}

#[tokio::test]
async fn security_events_are_audit_lines_without_secrets() {
    // The runtime of a #[tokio::test] is this one thread: its lines are this test's.
    let captured = captured_log();

    let w = world_on(TestApp::embedded()).await;
    let tenant = w.id().to_owned();
    let a = w.sign_in("alice").await;
    let b = w.sign_in("alice").await;
    let alice = w.access_claims(&a.access).await.sub;
    assert_eq!(
        w.logout(&a.refresh, Some("global")).await.status,
        StatusCode::NO_CONTENT
    );
    // Again: a sign-out too, which found nothing left to end.
    assert_eq!(
        w.logout(&a.refresh, None).await.status,
        StatusCode::NO_CONTENT
    );
    let c0 = w.sign_in("carol").await;
    let c1 = Pair::of(&w.refresh(&c0.refresh).await);
    w.clock.advance(60);
    w.refresh(&c0.refresh).await.error(StatusCode::UNAUTHORIZED);
    let regenerated = w.app.regenerate_private_key(w.admin()).await;
    let new_key = regenerated.json["apiPrivateKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = w
        .app
        .admin_token(w.id(), &[("x-api-key", PLATFORM_KEY)])
        .await;
    let jwt = issued.json["jwt"].as_str().unwrap().to_owned();

    let lines = audit_lines(captured);
    let find = |action: &str| {
        lines
            .iter()
            .filter(|l| l["action"] == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    let sign_out = find("sign-out");
    assert_eq!(sign_out.len(), 2, "{lines:?}");
    assert_eq!(sign_out[1]["scope"], "local");
    assert_eq!(sign_out[1]["revoked"], 0, "already ended");
    let a_claims = w.app.refresh_claims(&a.refresh).await;
    assert_eq!(sign_out[0]["tenant"], tenant.as_str());
    assert_eq!(sign_out[0]["user"], alice.as_str());
    assert_eq!(sign_out[0]["session"], a_claims.sid.as_str());
    assert_eq!(sign_out[0]["scope"], "global");
    assert_eq!(sign_out[0]["revoked"], 2);
    assert_eq!(sign_out[0]["audit"], true);
    let reuse = find("reuse-detected");
    assert_eq!(reuse.len(), 1, "{lines:?}");
    assert_eq!(reuse[0]["tenant"], tenant.as_str());
    assert_eq!(find("private-key-regenerated").len(), 1, "{lines:?}");
    let admin = find("admin-token-issued");
    // POST /tenants (the world's tenant) and the admin-token route.
    assert_eq!(admin.len(), 2, "{lines:?}");
    assert!(admin.iter().all(|l| l["by"] == "platform-operator"));

    let log = captured.text();
    let secrets = [
        &a.refresh,
        &a.access,
        &b.refresh,
        &c0.refresh,
        &c1.refresh,
        &new_key,
        &jwt,
    ];
    for secret in secrets {
        assert!(!log.contains(secret.as_str()), "a token or key was logged");
    }
    for secret in [PLATFORM_KEY, w.private_key(), w.admin()] {
        assert!(!log.contains(secret), "a token or key was logged");
    }
}
