//! What `pers-local` gives a developer beside the service: the development identity
//! provider (`pers-local dev-token`), `GET /health`, and CORS as the deployed HTTP API
//! answers it.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::{Local, PLATFORM_KEY, command, create_tenant, start};

fn server(data_dir: &Path, extra: &[(&str, &str)]) -> Local {
    let mut cmd = command(data_dir);
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    start(cmd)
}

/// `pers-local dev-token <args>` under `data_dir`: its exit status, stdout and stderr.
fn dev_token(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pers-local"))
        .arg("dev-token")
        .args(args)
        .env_clear()
        .env("PERS_DATA_DIR", data_dir)
        .output()
        .expect("pers-local runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn token_for(data_dir: &Path, args: &[&str]) -> String {
    let (ok, token, err) = dev_token(data_dir, args);
    assert!(ok, "dev-token {args:?}: {err}");
    assert_eq!(
        token.matches('.').count(),
        2,
        "one JWT on one line: {token}"
    );
    token
}

async fn exchange(base: &str, project_key: &str, token: &str, auth_type: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .header("x-project-key", project_key)
        .json(&json!({"authToken": token, "authType": auth_type}))
        .send()
        .await
        .expect("request");
    (res.status().as_u16(), res.json().await.expect("JSON"))
}

fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

async fn project_key(base: &str) -> String {
    let tenant: Value = create_tenant(base, PLATFORM_KEY)
        .await
        .json()
        .await
        .unwrap();
    tenant["projectApiKey"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_dev_token_opens_a_session_of_its_own_auth_type_in_any_tenant_of_its_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Minted before the server ever started: the server takes the key dev-token made.
    let early = token_for(dir.path(), &["--sub", "alice"]);
    let local = server(dir.path(), &[]);
    let (first, second) = (
        project_key(&local.base).await,
        project_key(&local.base).await,
    );

    let (status, session) = exchange(&local.base, &first, &early, "user").await;
    assert_eq!(status, 201, "{session}");
    let access = claims_of(session["accessToken"].as_str().unwrap());
    assert_eq!(access["authType"], "user");
    // The same subject is the same user on a second sign-in, another user elsewhere.
    let again = token_for(dir.path(), &["--sub", "alice"]);
    let (_, same) = exchange(&local.base, &first, &again, "user").await;
    assert_eq!(
        claims_of(same["accessToken"].as_str().unwrap())["sub"],
        access["sub"]
    );
    let (status, other) = exchange(&local.base, &second, &again, "user").await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(
        claims_of(other["accessToken"].as_str().unwrap())["sub"],
        access["sub"]
    );

    // A token is for its own auth type only.
    let admin = token_for(dir.path(), &["--sub", "alice", "--auth-type", "tenant"]);
    let (status, refused) = exchange(&local.base, &first, &admin, "user").await;
    assert_eq!(status, 401, "{refused}");
    let (status, refused) = exchange(&local.base, &first, &again, "tenant").await;
    assert_eq!(status, 401, "{refused}");
    let (status, session) = exchange(&local.base, &first, &admin, "tenant").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        claims_of(session["accessToken"].as_str().unwrap())["authType"],
        "tenant"
    );

    // `/auth/verify` judges it like any trusted provider's token.
    let verdict: Value = reqwest::Client::new()
        .post(format!("{}/auth/verify", local.base))
        .header("x-project-key", &first)
        .json(&json!({"authToken": admin}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["payload"]["sub"], "alice", "{verdict}");

    // A token minted for another data directory is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = token_for(elsewhere.path(), &["--sub", "alice"]);
    let (status, refused) = exchange(&local.base, &first, &foreign, "user").await;
    assert_eq!(status, 401, "{refused}");
}

#[test]
fn dev_token_refuses_what_it_cannot_mint() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&[][..], "--sub"),
        (&["--sub", ""][..], "--sub"),
        (&["--sub"][..], "needs a value"),
        (
            &["--sub", "alice", "--auth-type", "root"][..],
            "user, business",
        ),
        (&["--sub", "alice", "--scope", "all"][..], "unknown option"),
    ] {
        let (ok, out, err) = dev_token(dir.path(), args);
        assert!(!ok && out.is_empty(), "{args:?} minted {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn health_answers_without_reading_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let local = server(dir.path(), &[]);
    let res = reqwest::Client::new()
        .get(format!("{}/health", local.base))
        .header("x-project-key", "pk_live_unknown")
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

/// The list `key: [a, b, …]` of the template's `CorsConfiguration`.
fn template_cors(key: &str) -> Vec<String> {
    let template =
        std::fs::read_to_string(support::workspace().join("template.yaml")).expect("template.yaml");
    let cors = &template[template
        .find("CorsConfiguration:")
        .expect("CORS in the template")..];
    let line = cors
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in the template's CorsConfiguration"));
    let list = line.trim();
    if let Some(inner) = list.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        inner.split(',').map(|v| v.trim().to_lowercase()).collect()
    } else {
        vec![list.to_lowercase()]
    }
}

fn listed(headers: &reqwest::header::HeaderMap, name: &str) -> Vec<String> {
    let mut values: Vec<String> = headers
        .get(name)
        .map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    values.sort();
    values
}

#[tokio::test]
async fn cors_answers_preflights_as_the_template_http_api_does() {
    let allowed = "http://localhost:5173";
    let dir = tempfile::tempdir().unwrap();
    let local = server(
        dir.path(),
        &[(
            "PERS_CORS_ORIGINS",
            "http://localhost:5173, https://app.example.com",
        )],
    );
    let http = reqwest::Client::new();
    let preflight = |origin: &str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/auth/token", local.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-project-key",
        )
        .send()
    };
    let res = preflight(allowed).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let headers = res.headers();
    assert_eq!(headers["access-control-allow-origin"], allowed);
    let mut methods = template_cors("AllowMethods");
    methods.sort();
    assert_eq!(listed(headers, "access-control-allow-methods"), methods);
    let mut allow_headers = template_cors("AllowHeaders");
    allow_headers.sort();
    assert_eq!(
        listed(headers, "access-control-allow-headers"),
        allow_headers
    );
    assert_eq!(
        headers["access-control-max-age"].to_str().unwrap(),
        template_cors("MaxAge")[0]
    );
    assert!(headers.get("access-control-allow-credentials").is_none());

    // An origin not listed gets no permission.
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // An actual request from the allowed origin may read the answer and its exposed
    // headers.
    let res = http
        .get(format!("{}/.well-known/jwks.json", local.base))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], allowed);
    assert_eq!(
        listed(res.headers(), "access-control-expose-headers"),
        template_cors("ExposeHeaders")
    );

    // Without PERS_CORS_ORIGINS, no CORS at all.
    let other = tempfile::tempdir().unwrap();
    let plain = server(other.path(), &[]);
    let res = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/auth/token", plain.base),
        )
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn an_invalid_cors_origin_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("PERS_CORS_ORIGINS", "localhost:5173")
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PERS_CORS_ORIGINS"), "{err}");
}

#[tokio::test]
async fn the_docs_page_may_not_be_framed_and_an_unknown_asset_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let local = server(dir.path(), &[]);
    let res = reqwest::get(format!("{}/docs/", local.base)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let res = reqwest::get(format!("{}/docs/no-such-asset.js", local.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["statusCode"], 404, "{body}");
}

#[tokio::test]
async fn the_served_document_names_this_server_first_only_from_a_loopback_host() {
    let dir = tempfile::tempdir().unwrap();
    let local = server(dir.path(), &[]);
    let http = reqwest::Client::new();
    let servers = |doc: Value| -> Vec<String> {
        doc["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| s["url"].as_str().unwrap().to_owned())
            .collect()
    };
    let res = http
        .get(format!("{}/openapi.json", local.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["vary"], "host");
    let here = servers(res.json().await.unwrap());
    assert_eq!(here[0], local.base);
    // It replaces the document's own pers-local server (the default address).
    assert_eq!(
        here.iter()
            .filter(|s| s.starts_with("http://127.0.0.1"))
            .count(),
        1,
        "{here:?}"
    );
    let res = http
        .get(format!("{}/openapi.json", local.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    let elsewhere = servers(res.json().await.unwrap());
    assert!(
        elsewhere.iter().all(|s| !s.contains("evil.example")),
        "{elsewhere:?}"
    );
}
