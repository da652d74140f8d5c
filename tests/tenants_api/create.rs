//! `POST /tenants`: only with the platform key; a created tenant comes with defaults,
//! its keys and its one-time secrets; the body is validated field by field.

use axum::http::{Method, StatusCode};
use pers_tests::{PLATFORM_KEY, TestApp};
use serde_json::json;

#[tokio::test]
async fn creating_a_tenant_needs_the_platform_key() {
    let app = TestApp::embedded();
    let body = Some(json!({"projectName": "Acme"}));
    for headers in [vec![], vec![("x-api-key", "wrong-key-of-some-length")]] {
        let res = app
            .send(Method::POST, "/tenants", &headers, body.clone())
            .await;
        res.error(StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers["www-authenticate"], "Bearer");
    }
    // Header names are case-insensitive.
    let res = app
        .send(
            Method::POST,
            "/tenants",
            &[("X-Api-Key", PLATFORM_KEY)],
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_created_tenant_comes_with_defaults_keys_and_one_time_secrets() {
    let app = TestApp::embedded();
    let t = app
        .create_tenant(json!({"projectName": "My Project", "projectEmail": "a@b.co"}))
        .await;
    assert_eq!(t["projectName"], "My Project");
    assert_eq!(t["acronym"], "MP");
    assert_eq!(t["projectEmail"], "a@b.co");
    assert_eq!(t["defaultWalletManagementType"], "custodial");
    assert_eq!(t["allowJWTForUnauthenticatedUsers"], false);
    assert!(t["createdAt"].as_str().unwrap().ends_with('Z'));
    let pk = t["projectApiKey"].as_str().unwrap();
    let tk = t["testnetProjectApiKey"].as_str().unwrap();
    let sk = t["apiPrivateKey"].as_str().unwrap();
    assert!(pk.starts_with("pk_live_") && tk.starts_with("pk_test_") && sk.starts_with("sk_live_"));
    assert!(t.get("apiPrivateKeyHash").is_none() && t.get("version").is_none());

    // The jwt is a tenant-admin access token for this tenant, signed by our key.
    let claims = app.access_claims(t["jwt"].as_str().unwrap()).await;
    assert_eq!(claims.tenant_id.as_str(), t["id"]);
    assert_eq!(claims.auth_type, pers::domain::AuthType::Tenant);
    assert_eq!(claims.exp - claims.iat, 86_400);

    // Two tenants never share keys or ids.
    let other = app.create_tenant(json!({"projectName": "Other"})).await;
    for field in [
        "id",
        "projectApiKey",
        "testnetProjectApiKey",
        "apiPrivateKey",
    ] {
        assert_ne!(t[field], other[field], "{field}");
    }
}

#[tokio::test]
async fn creation_validates_its_body_and_names_the_field() {
    let app = TestApp::embedded();
    let cases = [
        (json!({}), "projectName"),
        (json!({"projectName": ""}), "projectName"),
        (json!({"projectName": 7}), "projectName"),
        (json!({"projectName": "A", "colour": "red"}), "colour"),
        (
            json!({"projectName": "A", "projectEmail": "nope"}),
            "projectEmail",
        ),
        (
            json!({"projectName": "A", "projectWebsite": "javascript:alert(1)"}),
            "projectWebsite",
        ),
        (
            json!({"projectName": "A", "defaultWalletManagementType": "CUSTODIAL"}),
            "defaultWalletManagementType",
        ),
    ];
    for (body, field) in cases {
        let res = app.post_tenant(body.clone()).await;
        let message = res.error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{body} → {message}");
    }
}
