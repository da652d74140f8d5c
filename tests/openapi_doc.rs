//! The OpenAPI document: generated from the code, served by the app at `/openapi.json`,
//! covering every route, credential, body and error.

use axum::http::{Method, StatusCode};
use pers_tests::TestApp;
use serde_json::Value;

const ROUTES: &[(&str, &str)] = &[
    ("post", "/auth/token"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("post", "/auth/verify"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("post", "/tenants"),
    ("put", "/tenants"),
    ("get", "/tenants/me"),
    ("get", "/tenants/client-config"),
    ("get", "/tenants/login-token"),
    ("get", "/tenants/{id}"),
    ("post", "/tenants/api-private-key"),
    ("post", "/tenants/{id}/admin-token"),
];

async fn document(app: &TestApp) -> Value {
    let res = app.get("/openapi.json", &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    res.json
}

#[tokio::test]
async fn every_route_is_documented_with_its_credentials_and_errors() {
    let app = TestApp::embedded();
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            documented.push((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<&String> = responses
                .keys()
                .filter(|s| s.starts_with('4') || s.starts_with('5'))
                .collect();
            assert!(!errors.is_empty(), "{method} {path} documents no error");
            for status in errors {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            if method != "get" || path.starts_with("/tenants") {
                assert!(
                    op.get("security").is_some(),
                    "{method} {path} names no credential"
                );
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["projectKey"]["name"], "x-project-key");
    assert_eq!(schemes["businessApiKey"]["name"], "x-api-key");
    assert_eq!(schemes["tenantAdminJWT"]["scheme"], "bearer");
    let patch = &doc["components"]["schemas"]["TenantPatch"]["properties"];
    assert!(
        patch.get("identityProviders").is_some()
            && patch.get("allowJWTForUnauthenticatedUsers").is_some(),
        "{patch}"
    );
}

#[tokio::test]
async fn every_documented_route_exists_in_the_router() {
    let app = TestApp::embedded();
    for (method, path) in ROUTES {
        let path = path.replace("{id}", &pers::domain::TenantId::generate().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.send(method.clone(), &path, &[], None).await;
        assert_ne!(
            res.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if res.status == StatusCode::NOT_FOUND {
            assert_ne!(res.json["message"], "no such route", "{method} {path}");
        }
    }
}
