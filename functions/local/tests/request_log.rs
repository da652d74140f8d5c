//! DESIGN §8 in `pers-local`: every response carries `x-request-id` (ours, whatever the
//! client sent), and each request is one log line naming its method, route, status,
//! latency, request id and, once known, its tenant; a 5xx names its cause. Nothing a
//! client or the service holds as a secret reaches the log.

mod support;

use std::process::Stdio;

use pers::keys::SigningAlgorithm;
use pers_tests::TestIssuer;
use serde_json::{Value, json};
use support::{PLATFORM_KEY, command, create_tenant, start};

/// The request lines of `log` (target `pers::request`).
fn request_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(" pers::request: "))
        .collect()
}

/// The one request line with this id.
fn line_of<'a>(log: &'a str, id: &str) -> &'a str {
    let lines: Vec<&str> = request_lines(log)
        .into_iter()
        .filter(|l| l.contains(&format!("xRequestId=\"{id}\"")))
        .collect();
    assert_eq!(lines.len(), 1, "one line for request {id} in:\n{log}");
    lines[0]
}

fn id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{} without x-request-id", response.url()))
        .to_str()
        .expect("ASCII")
        .to_owned()
}

#[tokio::test]
async fn each_request_has_an_id_and_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("stderr.log");
    let mut cmd = command(&dir.path().join("data"));
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("RUST_LOG", "info")
        .stderr(Stdio::from(
            std::fs::File::create(&log_path).expect("log file"),
        ));
    let server = start(cmd);
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // The client's id is not taken: ids in the log are the server's.
    let health = http
        .get(format!("{base}/health"))
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .expect("health");
    let health_id = id_of(&health);
    assert_ne!(health_id, "client-chosen");
    assert!(
        uuid_like(&health_id),
        "a fresh UUID, not the client's: {health_id}"
    );

    let created = create_tenant(&base, PLATFORM_KEY).await;
    assert_eq!(created.status(), 201);
    let created_id = id_of(&created);
    let tenant: Value = created.json().await.expect("JSON");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    let admin = tenant["jwt"].as_str().expect("jwt").to_owned();
    let private_key = tenant["apiPrivateKey"].as_str().expect("key").to_owned();
    let project_key = tenant["projectApiKey"].as_str().expect("key").to_owned();

    let me = http
        .get(format!("{base}/tenants/me"))
        .header("x-project-key", &project_key)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me_id = id_of(&me);

    let unmatched = http
        .get(format!("{base}/no/such/{tenant_id}"))
        .send()
        .await
        .expect("404");
    assert_eq!(unmatched.status(), 404);
    let unmatched_id = id_of(&unmatched);

    let bad = http
        .post(format!("{base}/auth/token"))
        .header("x-project-key", &project_key)
        .json(&json!({"authToken": 7}))
        .send()
        .await
        .expect("400");
    assert_eq!(bad.status(), 400);
    let bad_id = id_of(&bad);

    // A provider whose JWKS nobody serves: its tokens are 503, a 5xx with a cause.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let dead_jwks = format!("http://{}/jwks.json", closed.local_addr().expect("addr"));
    drop(closed);
    let idp = TestIssuer::new("https://idp.log.example", SigningAlgorithm::Es256);
    let configured = http
        .put(format!("{base}/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"identityProviders": [
            {"issuer": idp.issuer, "jwksUri": dead_jwks, "authTypes": ["user"]}
        ]}))
        .send()
        .await
        .expect("put");
    assert_eq!(configured.status(), 200, "{:?}", configured.text().await);
    let provider_token = idp.token(&idp.claims("alice", "app"));
    let unavailable = http
        .post(format!("{base}/auth/token"))
        .header("x-project-key", &project_key)
        .json(&json!({"authToken": provider_token}))
        .send()
        .await
        .expect("503");
    assert_eq!(unavailable.status(), 503);
    let unavailable_id = id_of(&unavailable);

    let ids = [
        &health_id,
        &created_id,
        &me_id,
        &unmatched_id,
        &bad_id,
        &unavailable_id,
    ];
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one id per request: {ids:?}");

    // The line is written as the response goes out; give the writer a moment.
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&log_path).expect("log");
        if log.contains(&format!("xRequestId=\"{unavailable_id}\"")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(server);

    let health_line = line_of(&log, &health_id);
    assert!(health_line.contains(" INFO "), "{health_line}");
    for part in [
        "method=GET",
        "route=\"/health\"",
        "status=200",
        "latencyMs=",
    ] {
        assert!(health_line.contains(part), "{part} in {health_line}");
    }
    assert!(
        !log.contains("client-chosen"),
        "the client's id is not logged"
    );

    let created_line = line_of(&log, &created_id);
    for part in [
        "method=POST".to_owned(),
        "route=\"/tenants\"".to_owned(),
        "status=201".to_owned(),
        format!("tenantId=\"{tenant_id}\""),
    ] {
        assert!(created_line.contains(&part), "{part} in {created_line}");
    }
    let me_line = line_of(&log, &me_id);
    for part in [
        "route=\"/tenants/me\"".to_owned(),
        "status=200".to_owned(),
        format!("tenantId=\"{tenant_id}\""),
    ] {
        assert!(me_line.contains(&part), "{part} in {me_line}");
    }
    // The route is the matched template, never the raw path (ids, client text).
    let unmatched_line = line_of(&log, &unmatched_id);
    assert!(
        unmatched_line.contains("route=\"unmatched\"") && unmatched_line.contains("status=404"),
        "{unmatched_line}"
    );
    assert!(!unmatched_line.contains("/no/such"), "{unmatched_line}");
    let bad_line = line_of(&log, &bad_id);
    assert!(
        bad_line.contains("status=400") && bad_line.contains("route=\"/auth/token\""),
        "{bad_line}"
    );
    let failed = line_of(&log, &unavailable_id);
    assert!(failed.contains(" ERROR "), "a 5xx is an error: {failed}");
    assert!(
        failed.contains("status=503")
            && failed.contains("cause=")
            && failed.contains("identity provider's keys are unavailable"),
        "a 5xx names its cause: {failed}"
    );
    assert!(
        failed.contains(&format!("tenantId=\"{tenant_id}\"")),
        "{failed}"
    );

    for secret in [
        PLATFORM_KEY,
        &admin,
        &private_key,
        &provider_token,
        // The signature of a token alone is enough to tell it was logged.
        admin.rsplit('.').next().expect("signature"),
    ] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}
