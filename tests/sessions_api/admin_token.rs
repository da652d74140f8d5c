//! `POST /tenants/{id}/admin-token`: the recovery path once the bootstrap token has
//! expired, by the platform operator key or the tenant's own admin token; no one else.

use axum::http::StatusCode;
use pers::domain::{AuthType, TenantId};
use pers_tests::{PLATFORM_KEY, bearer};
use serde_json::json;

use crate::{World, other_tenant};

async fn an_expired_bootstrap_token_is_recovered(w: World) {
    let day = w.app.state.settings.tenant_admin_token_ttl.as_secs() as i64;
    w.clock.advance(day + 60);
    let patch = json!({"projectDescription": "recovered"});
    w.app
        .update_tenant(w.admin(), patch.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);

    let res = w
        .app
        .admin_token(w.id(), &[("x-api-key", PLATFORM_KEY)])
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_eq!(res.headers["cache-control"], "no-store");
    let jwt = res.json["jwt"].as_str().unwrap().to_owned();
    let claims = w.access_claims(&jwt).await;
    assert_eq!(claims.auth_type, AuthType::Tenant);
    assert_eq!(claims.tenant_id.as_str(), w.id());
    assert_eq!(
        claims.exp,
        w.app.state.issuer.now() + day,
        "the bootstrap lifetime"
    );
    let res = w.app.update_tenant(&jwt, patch).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);

    // The tenant's own admin token gets another.
    let admin = bearer(&jwt);
    let res = w
        .app
        .admin_token(w.id(), &[("authorization", &admin)])
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    assert_ne!(res.json["jwt"], jwt.as_str());
}

async fn no_one_else_gets_an_admin_token(w: World) {
    let other = other_tenant(&w).await;
    let theirs = bearer(other["jwt"].as_str().unwrap());
    let user = bearer(&w.sign_in("alice").await.access);
    let mine = bearer(w.admin());
    let unknown = TenantId::generate().to_string();
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Headers, StatusCode); 11] = [
        (w.id(), vec![], StatusCode::UNAUTHORIZED),
        (
            w.id(),
            vec![("x-api-key", "pl_wrong")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            w.id(),
            vec![("x-api-key", w.private_key())],
            StatusCode::UNAUTHORIZED,
        ),
        (
            w.id(),
            vec![("x-project-key", w.pk())],
            StatusCode::UNAUTHORIZED,
        ),
        (
            w.id(),
            vec![("authorization", "Bearer nope")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            w.id(),
            vec![("authorization", &theirs)],
            StatusCode::FORBIDDEN,
        ),
        (
            w.id(),
            vec![("authorization", &user)],
            StatusCode::FORBIDDEN,
        ),
        // A valid platform key does not make another tenant's token acceptable.
        (
            w.id(),
            vec![("x-api-key", PLATFORM_KEY), ("authorization", &theirs)],
            StatusCode::FORBIDDEN,
        ),
        (
            &unknown,
            vec![("x-api-key", PLATFORM_KEY)],
            StatusCode::NOT_FOUND,
        ),
        (
            "not-a-tenant-id",
            vec![("x-api-key", PLATFORM_KEY)],
            StatusCode::NOT_FOUND,
        ),
        (
            &unknown,
            vec![("authorization", &mine)],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (id, headers, status) in cases {
        let res = w.app.admin_token(id, &headers).await;
        assert_eq!(res.status, status, "{id} {headers:?}: {}", res.json);
        res.error(status);
    }
}

on_both_stores!(
    an_expired_bootstrap_token_is_recovered,
    no_one_else_gets_an_admin_token,
);
