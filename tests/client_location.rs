//! `clientIpLocation` of `GET /tenants/client-config`: CloudFront's viewer headers first,
//! then a GeoIP database looked up by the source address that the platform saw (the TCP
//! peer in `pers-local`, `requestContext.http.sourceIp` in Lambda), else `null`.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use pers::http::tenants;
use pers_tests::{GEOIP_COUNTRY_ONLY, GEOIP_LONDON, TestApp, write_geoip_database};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Located {
    app: TestApp,
    project_key: String,
    _db: tempfile::TempDir,
}

async fn app_with_geoip() -> Located {
    let db = tempfile::tempdir().unwrap();
    let path = db.path().join("test-city.mmdb");
    write_geoip_database(&path);
    let app = TestApp::embedded().with_geoip(&path);
    let tenant = app.create_tenant(json!({"projectName": "Geo"})).await;
    Located {
        project_key: tenant["projectApiKey"].as_str().unwrap().to_owned(),
        app,
        _db: db,
    }
}

async fn answer(router: Router, request: Request<Body>) -> Value {
    let res = router.oneshot(request).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `client-config` as `pers-local` serves it: the peer address comes from the socket.
async fn location_from_peer(w: &Located, peer: &str, headers: &[(&str, &str)]) -> Value {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut req = Request::get("/tenants/client-config")
        .header("x-project-key", &w.project_key)
        .extension(ConnectInfo(peer));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = answer(w.app.router.clone(), req.body(Body::empty()).unwrap()).await;
    body["clientIpLocation"].clone()
}

#[tokio::test]
async fn the_geoip_database_locates_the_caller_by_peer_address() {
    let w = app_with_geoip().await;
    let london = location_from_peer(&w, &format!("{GEOIP_LONDON}:40000"), &[]).await;
    assert_eq!(
        london,
        json!({
            "country_code": "GB", "country_name": "United Kingdom",
            "region_code": "ENG", "region_name": "England",
            "city_name": "London", "postal_code": "EC1A",
            "latitude": 51.5142, "longitude": -0.0931, "accuracy_radius": 100,
        })
    );

    // An IPv4 client on a dual-stack socket is looked up as IPv4.
    let mapped = location_from_peer(&w, &format!("[::ffff:{GEOIP_LONDON}]:40000"), &[]).await;
    assert_eq!(mapped, london);

    // A Country record fills what it knows and leaves the rest null.
    let sweden = location_from_peer(&w, &format!("{GEOIP_COUNTRY_ONLY}:1"), &[]).await;
    assert_eq!(sweden["country_code"], "SE");
    assert_eq!(sweden["country_name"], "Sweden");
    assert_eq!(sweden["city_name"], Value::Null);
    assert_eq!(sweden["accuracy_radius"], Value::Null);

    // Addresses the database does not know, loopback among them, are unknown.
    for peer in ["192.0.2.1:1", "127.0.0.1:1", "[2001:db8::1]:1"] {
        assert_eq!(
            location_from_peer(&w, peer, &[]).await,
            Value::Null,
            "{peer}"
        );
    }
}

#[tokio::test]
async fn cloudfront_headers_win_over_the_database_and_forwarded_for_is_not_trusted() {
    let w = app_with_geoip().await;
    let from_cloudfront = location_from_peer(
        &w,
        &format!("{GEOIP_LONDON}:1"),
        &[
            ("cloudfront-viewer-country", "DE"),
            ("cloudfront-viewer-city", "Berlin"),
        ],
    )
    .await;
    assert_eq!(from_cloudfront["country_code"], "DE");
    assert_eq!(from_cloudfront["city_name"], "Berlin");

    // Any client can write X-Forwarded-For; only the platform's own view counts.
    let forged = location_from_peer(&w, "192.0.2.1:1", &[("x-forwarded-for", GEOIP_LONDON)]).await;
    assert_eq!(forged, Value::Null);
}

#[tokio::test]
async fn without_a_database_the_source_address_tells_nothing() {
    let app = TestApp::embedded();
    let tenant = app.create_tenant(json!({"projectName": "No geo"})).await;
    let req = Request::get("/tenants/client-config")
        .header("x-project-key", tenant["projectApiKey"].as_str().unwrap())
        .extension(ConnectInfo(
            format!("{GEOIP_LONDON}:1").parse::<SocketAddr>().unwrap(),
        ))
        .body(Body::empty())
        .unwrap();
    let body = answer(app.router.clone(), req).await;
    assert_eq!(body["clientIpLocation"], Value::Null);
}

/// The sample event through the `tenants` function, with its CloudFront headers removed
/// and the given `sourceIp` and extra headers.
async fn location_in_lambda(w: &Located, source_ip: &str, extra: &[(&str, &str)]) -> Value {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/tenants-client-config.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let headers = event["headers"].as_object_mut().unwrap();
    headers.retain(|name, _| !name.starts_with("cloudfront-viewer-"));
    headers.insert("x-project-key".into(), json!(w.project_key));
    for (k, v) in extra {
        headers.insert((*k).into(), json!(v));
    }
    event["requestContext"]["http"]["sourceIp"] = json!(source_ip);
    let request = lambda_http::request::from_str(&event.to_string())
        .unwrap()
        .map(|body| Body::from(body.to_vec()));
    let body = answer(tenants::router(w.app.state.clone()), request).await;
    body["clientIpLocation"].clone()
}

#[tokio::test]
async fn in_lambda_the_source_ip_of_the_request_context_is_looked_up() {
    let w = app_with_geoip().await;
    let located = location_in_lambda(&w, GEOIP_LONDON, &[]).await;
    assert_eq!(located["country_code"], "GB");
    assert_eq!(located["city_name"], "London");

    let forged = location_in_lambda(&w, "203.0.113.24", &[("x-forwarded-for", GEOIP_LONDON)]).await;
    assert_eq!(forged, Value::Null);
}
