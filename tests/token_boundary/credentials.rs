//! Credentials: those of two tenants together are refused and change nothing, a present
//! credential is used (the private key at the project level), each is looked up once
//! per request (defect 9).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use pers_tests::{Moto, PLATFORM_KEY, TestApp};
use serde_json::json;

use super::{Case, admin, pk};

// 9. Credentials of different tenants are refused; a present credential is used.
#[tokio::test]
async fn credentials_of_two_tenants_are_refused_and_change_nothing() {
    let app = TestApp::embedded();
    let a = app.create_tenant(json!({"projectName": "Tenant A"})).await;
    let b = app.create_tenant(json!({"projectName": "Tenant B"})).await;
    let (a_admin, b_admin) = (admin(&a), admin(&b));
    let b_private = b["apiPrivateKey"].as_str().unwrap();

    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &a_admin), ("x-project-key", pk(&b))],
            Some(json!({"projectName": "Renamed"})),
        )
        .await;
    res.error(StatusCode::FORBIDDEN);
    let seen = app.tenant_by_id(a["id"].as_str().unwrap(), &[]).await;
    assert_eq!(seen.json["projectName"], "Tenant A", "nothing changed");

    let a_id = a["id"].as_str().unwrap();
    let cases: Vec<Case<String>> = vec![
        (
            Method::POST,
            "/auth/verify".into(),
            vec![("x-project-key", pk(&a)), ("authorization", &b_admin)],
            Some(json!({"authToken": a["jwt"]})),
        ),
        (
            Method::POST,
            "/auth/token".into(),
            vec![("x-project-key", pk(&a)), ("x-api-key", b_private)],
            Some(json!({"authToken": "x"})),
        ),
        (
            Method::GET,
            "/tenants/me".into(),
            vec![("x-project-key", pk(&a)), ("x-api-key", b_private)],
            None,
        ),
        (
            Method::GET,
            "/tenants/client-config".into(),
            vec![("x-project-key", pk(&a)), ("authorization", &b_admin)],
            None,
        ),
        (
            Method::GET,
            format!("/tenants/{a_id}"),
            vec![("authorization", &a_admin), ("x-project-key", pk(&b))],
            None,
        ),
        (
            Method::POST,
            "/tenants".into(),
            vec![
                ("x-api-key", PLATFORM_KEY),
                ("x-project-key", pk(&a)),
                ("authorization", &b_admin),
            ],
            Some(json!({"projectName": "C"})),
        ),
    ];
    for (method, path, headers, body) in cases {
        let res = app.send(method.clone(), &path, &headers, body).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            res.json
        );
        res.error(StatusCode::FORBIDDEN);
    }
    // Credentials of one tenant together are fine.
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &a_admin), ("x-project-key", pk(&a))],
            Some(json!({"projectName": "Tenant A2"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

#[tokio::test]
async fn the_private_key_counts_at_the_project_level_and_a_wrong_one_is_refused() {
    let app = TestApp::embedded();
    let a = app.create_tenant(json!({"projectName": "Private"})).await;
    let b = app.create_tenant(json!({"projectName": "Other"})).await;
    let id = a["id"].as_str().unwrap();
    let private = a["apiPrivateKey"].as_str().unwrap();
    let res = app.tenant_by_id(id, &[("x-api-key", private)]).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json["projectApiKey"], a["projectApiKey"],
        "project level"
    );
    assert!(res.json.get("stripeApiKey").is_none() && res.json.get("identityProviders").is_none());
    // Another tenant's private key grants nothing beyond public.
    let res = app
        .tenant_by_id(id, &[("x-api-key", b["apiPrivateKey"].as_str().unwrap())])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.json.get("projectApiKey").is_none(), "{}", res.json);
    // A wrong key, or the platform key, is refused, not ignored.
    for wrong in ["sk_live_not_a_key", PLATFORM_KEY] {
        app.tenant_by_id(id, &[("x-api-key", wrong)])
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    // `/tenants/me` by the private key alone, and refused with a wrong one.
    let me = app.tenant_me(&[("x-api-key", private)]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.json);
    assert_eq!(me.json["id"], a["id"]);
    app.tenant_me(&[("x-project-key", pk(&a)), ("x-api-key", "sk_live_wrong")])
        .await
        .error(StatusCode::UNAUTHORIZED);
}

// The one-tenant check reads each credential once: the route reuses what it found.
#[tokio::test]
async fn each_credential_is_looked_up_once_per_request() {
    let moto = Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    let app = TestApp::with_store(Arc::new(store));
    let tenant = app.create_tenant(json!({"projectName": "Once"})).await;
    let id = tenant["id"].as_str().unwrap();
    let private = tenant["apiPrivateKey"].as_str().unwrap();

    calls.take();
    app.tenant_me(&[("x-project-key", "pk_live_unknown")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(calls.take(), 1, "an unknown project key: one lookup");

    let res = app
        .tenant_by_id(
            id,
            &[("authorization", &admin(&tenant)), ("x-api-key", private)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert!(
        res.json["identityProviders"].is_array(),
        "the admin level: {}",
        res.json
    );
    assert_eq!(calls.take(), 2, "the private key's lookup, then the tenant");
}
