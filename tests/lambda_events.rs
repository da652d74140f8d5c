//! Every sample event in `events/` (API Gateway HTTP API, payload 2.0), parsed by
//! `lambda_http` exactly as the Lambda runtime does and answered by its function's own
//! router. Credentials in the events are placeholders; the test puts real ones in.

use std::path::PathBuf;

use axum::Router;
use axum::http::Method;
use axum::http::StatusCode;
use pers::http::{auth, tenants, verify};
use pers::keys::SigningAlgorithm;
use pers_tests::{PLATFORM_KEY, TestApp, TestIssuer};
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The router of the function that serves an event's route, as `template.yaml` wires it.
fn function_for(route_key: &str, app: &TestApp) -> Router {
    let path = route_key.split_whitespace().nth(1).unwrap_or_default();
    let state = app.state.clone();
    if path.starts_with("/tenants") {
        tenants::router(state)
    } else if ["/auth/token", "/auth/refresh", "/auth/logout"].contains(&path) {
        auth::router(state)
    } else {
        verify::router(state)
    }
}

#[tokio::test]
async fn every_sample_event_is_answered_by_its_function() {
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "Events"})).await;
    let idp = TestIssuer::new("https://login.events.example", SigningAlgorithm::Es256);
    let admin = format!("Bearer {}", tenant["jwt"].as_str().unwrap());
    let providers = json!([{"issuer": idp.issuer, "jwks": idp.jwks(), "authTypes": ["user"]}]);
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &[("authorization", &admin)],
            Some(json!({"identityProviders": providers})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let pk = tenant["projectApiKey"].as_str().unwrap();
    let sign_in = |sub: &'static str| {
        let token = idp.token(&idp.claims(sub, "x"));
        let app = &app;
        async move {
            let res = app.login(pk, json!({"authToken": token})).await;
            res.json["refreshToken"].as_str().unwrap().to_owned()
        }
    };
    let refresh_token = sign_in("alice").await;
    // The sign-out event ends its user's sessions: another user's.
    let logout_token = sign_in("carol").await;
    let id = tenant["id"].as_str().unwrap();

    let mut seen = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let route_key = event["routeKey"].as_str().unwrap().to_owned();
        assert_eq!(event["version"], "2.0", "{name}");
        assert_eq!(
            event["requestContext"]["routeKey"],
            route_key.as_str(),
            "{name}"
        );

        // Real credentials where the event has placeholders.
        let headers = event["headers"].as_object_mut().unwrap();
        if headers.contains_key("x-project-key") {
            headers.insert("x-project-key".into(), json!(pk));
        }
        if headers.contains_key("x-api-key") {
            headers.insert("x-api-key".into(), json!(PLATFORM_KEY));
        }
        if headers.contains_key("authorization") {
            headers.insert("authorization".into(), json!(admin));
        }
        if let Some(body) = event["body"].as_str() {
            let mut body: Value = serde_json::from_str(body).unwrap();
            if body.get("refreshToken").is_some() {
                body["refreshToken"] = json!(if route_key.contains("logout") {
                    &logout_token
                } else {
                    &refresh_token
                });
            }
            if body.get("authToken").is_some() {
                body["authToken"] = json!(if route_key.contains("verify") {
                    tenant["jwt"].as_str().unwrap().to_owned()
                } else {
                    idp.token(&idp.claims("bob", "x"))
                });
            }
            event["body"] = json!(body.to_string());
        }
        if let Some(sample) = event["pathParameters"]["id"].as_str().map(str::to_owned) {
            let path = event["rawPath"].as_str().unwrap().replace(&sample, id);
            event["pathParameters"]["id"] = json!(id);
            event["rawPath"] = json!(path);
            event["requestContext"]["http"]["path"] = json!(path);
        }

        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
        let response = function_for(&route_key, &app)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        // The answer names the request as API Gateway does (its access log's requestId).
        assert_eq!(
            response.headers().get("x-request-id").map(|v| v.as_bytes()),
            Some(
                event["requestContext"]["requestId"]
                    .as_str()
                    .expect("requestContext.requestId")
                    .as_bytes()
            ),
            "{name}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let expected = match route_key.as_str() {
            "POST /auth/token"
            | "POST /auth/refresh"
            | "POST /tenants"
            | "POST /tenants/api-private-key"
            | "POST /tenants/{id}/admin-token" => StatusCode::CREATED,
            "POST /auth/logout" => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected, "{name}: {body}");
        if route_key == "POST /auth/verify" {
            assert_eq!(body["valid"], true, "{name}: {body}");
        }
        seen.push(route_key);
    }

    seen.sort();
    let mut routes = vec![
        "POST /auth/token",
        "POST /auth/refresh",
        "POST /auth/logout",
        "POST /auth/verify",
        "GET /.well-known/jwks.json",
        "GET /.well-known/openid-configuration",
        "POST /tenants",
        "PUT /tenants",
        "GET /tenants/client-config",
        "GET /tenants/login-token",
        "GET /tenants/me",
        "GET /tenants/{id}",
        "POST /tenants/api-private-key",
        "POST /tenants/{id}/admin-token",
    ];
    routes.sort();
    assert_eq!(seen, routes, "one event per route");
}
