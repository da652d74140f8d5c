//! End to end through the Lambda runtime: the real `auth`, `tenants`, `verify` and
//! `rotate-keys` binaries, built by cargo and run by `cargo lambda watch` (an emulator
//! of the Lambda runtime API, which turns HTTP requests into function-URL events of
//! payload format 2.0), configured only by environment as `template.yaml` configures
//! them, against a moto server holding the table and both secrets. One story, over
//! HTTP: create a tenant, configure its identity provider, exchange a provider token,
//! refresh, verify, discover the keys from the issuer alone, update the tenant, sign out
//! everywhere and check revocation, regenerate the private key, recover an admin token,
//! rotate the signing key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pers::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
use pers_tests::{Moto, PLATFORM_KEY, TemplateResources, TestIssuer, free_port, venv_bin};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// `cargo` as the test runner was started with, and a PATH on which `cargo lambda`
/// finds the project's `.venv/bin/cargo-lambda`.
fn cargo(cargo_lambda: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let venv_bin = cargo_lambda.parent().expect("venv bin");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", venv_bin.display()))
        .current_dir(workspace())
        .stdin(Stdio::null());
    cmd
}

/// `cargo lambda watch` on 127.0.0.1, killed (with the functions it started) on drop.
struct Emulator {
    child: Child,
    base: String,
    port: u16,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The emulator runs each function as a process of its own, in the process group
        // it leads: end the group, politely first. (killpg, not the `kill` command with
        // a negative PID: here, procps-ng 4.0.2's `kill -TERM -PGID` also ended
        // processes outside the group.)
        let group = self.child.id() as libc::pid_t;
        if group <= 1 {
            return;
        }
        // SAFETY: killpg only sends a signal; `group` is the process group this test
        // created for the emulator (`process_group(0)`), never 0 or 1.
        unsafe { libc::killpg(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Emulator {
    fn url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.base)
    }
}

/// Starts the emulator; what it and the functions print goes to `log`.
async fn start_emulator(
    cargo_lambda: &Path,
    env: &[(&str, String)],
    port: u16,
    log: &Path,
) -> Emulator {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(log).expect("emulator log");
    let mut cmd = cargo(cargo_lambda);
    cmd.args(["lambda", "watch", "--ignore-changes", "--quiet"])
        .args(["--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .args(["--timeout", "60"])
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .process_group(0);
    for (k, v) in env {
        cmd.arg("--env-var").arg(format!("{k}={v}"));
    }
    let child = cmd.spawn().expect("cargo lambda watch failed to start");
    let emulator = Emulator {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on 127.0.0.1:{port}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    emulator
}

/// Sends a request and returns status and JSON body.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request to the emulator");
    let status = res.status();
    let text = res.text().await.expect("body");
    if status == StatusCode::NO_CONTENT {
        assert!(text.is_empty(), "{url}: a 204 with a body: {text}");
        return (status, Value::Null);
    }
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{url} answered {status} with non-JSON: {text}"));
    (status, json)
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt)
        .expect("JWT header")
        .kid
        .expect("kid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binaries_serve_a_whole_story_under_the_lambda_runtime() {
    let cargo_lambda = venv_bin("cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "{} is missing: run ./scripts/test (or scripts/setup) first",
        cargo_lambda.display()
    );

    // The world the template creates: a table and two secrets.
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let first_key = KeyMaterial::generate(SigningAlgorithm::Rs256).expect("key");
    let first_kid = SigningKey::from_material(&first_key)
        .expect("key")
        .kid()
        .to_owned();
    let TemplateResources {
        table,
        signing: signing_secret,
        platform: platform_secret,
    } = moto
        .template_resources(Some(first_key.to_json().to_string()))
        .await;

    // Build first, so that the emulator only runs what is built.
    let built = cargo(&cargo_lambda)
        .args(["build", "--locked"])
        .args(["--bin", "auth", "--bin", "tenants", "--bin", "verify"])
        .args(["--bin", "rotate-keys", "--bin", "pers-local"])
        .status()
        .expect("cargo build");
    assert!(built.success(), "the function binaries did not build");

    // The settings `template.yaml` gives every function, plus a short key reload so
    // that the rotation at the end shows within the test. The issuer is the verify
    // function's URL, so discovery through the emulator is real discovery.
    let mut env: Vec<(&str, String)> = vec![
        ("TABLE_NAME", table.clone()),
        ("SIGNING_KEY_SECRET_ID", signing_secret.clone()),
        ("PLATFORM_SECRET_ID", platform_secret),
        ("PERS_ACCESS_TOKEN_TTL_SECONDS", "900".into()),
        ("PERS_REFRESH_TOKEN_TTL_SECONDS", "2592000".into()),
        ("PERS_REFRESH_GRACE_SECONDS", "10".into()),
        ("PERS_TENANT_ADMIN_TOKEN_TTL_SECONDS", "86400".into()),
        ("PERS_SIGNING_ALGORITHM", "RS256".into()),
        ("PERS_KEY_REFRESH_SECONDS", "1".into()),
        ("PERS_KEY_ACTIVATION_DELAY_SECONDS", "0".into()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // Lambda's advanced logging controls win over RUST_LOG: the request lines (INFO)
        // are there although RUST_LOG alone would keep only warnings.
        ("RUST_LOG", "warn".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
    ];
    // A data directory with a key of pers-local's development identity provider, named
    // to the functions as pers-local would be told it: no function may trust it.
    let dev_dir = tempfile::tempdir().expect("temp dir");
    let dev_token = cargo(&cargo_lambda)
        .args(["run", "-q", "--locked", "--bin", "pers-local", "--"])
        .args(["dev-token", "--sub", "mallory"])
        .env("PERS_DATA_DIR", dev_dir.path())
        .output()
        .expect("pers-local dev-token");
    assert!(dev_token.status.success(), "pers-local dev-token failed");
    let dev_token = String::from_utf8(dev_token.stdout).expect("utf-8");
    env.push(("PERS_DATA_DIR", dev_dir.path().display().to_string()));
    // The issuer needs the emulator's port, which it picks: reserve one first.
    let emulator_port = free_port();
    let issuer = format!("http://127.0.0.1:{emulator_port}/lambda-url/verify");
    env.push(("PERS_ISSUER", issuer.clone()));
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log = log_dir.path().join("emulator.log");
    let emulator = start_emulator(&cargo_lambda, &env, emulator_port, &log).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .expect("http client");
    use reqwest::Method;

    // 1. Create a tenant with the platform key.
    let (status, tenant) = call(
        &http,
        Method::POST,
        &emulator.url("tenants", "/tenants"),
        &[("x-api-key", PLATFORM_KEY)],
        Some(json!({"projectName": "Lambda Story"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["acronym"], "LS", "{tenant}");
    let admin = format!("Bearer {}", tenant["jwt"].as_str().expect("jwt"));
    let project_key = tenant["projectApiKey"].as_str().expect("projectApiKey");
    let (status, refused) = call(
        &http,
        Method::POST,
        &emulator.url("tenants", "/tenants"),
        &[("x-api-key", "not-the-platform-key")],
        Some(json!({"projectName": "Nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["statusCode"], 401, "{refused}");

    // 2. Configure the tenant's identity provider.
    let idp = TestIssuer::new("https://login.story.example", SigningAlgorithm::Es256);
    let (status, updated) = call(
        &http,
        Method::PUT,
        &emulator.url("tenants", "/tenants"),
        &[("authorization", &admin)],
        Some(json!({"identityProviders": [
            {"issuer": idp.issuer, "jwks": idp.jwks(), "audience": "story-app", "authTypes": ["user"]}
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    // 3. Exchange a provider token for a session.
    let (status, login) = call(
        &http,
        Method::POST,
        &emulator.url("auth", "/auth/token"),
        &[("x-project-key", project_key)],
        Some(
            json!({"authToken": idp.token(&idp.claims("alice", "story-app")), "authType": "user"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{login}");
    let first_refresh = login["refreshToken"].as_str().expect("refreshToken");
    let first_access = login["accessToken"].as_str().expect("accessToken");

    // The development identity provider's token opens no session in a function, for
    // any auth type.
    for auth_type in ["user", "tenant"] {
        let (status, refused) = call(
            &http,
            Method::POST,
            &emulator.url("auth", "/auth/token"),
            &[("x-project-key", project_key)],
            Some(json!({"authToken": dev_token.trim(), "authType": auth_type})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth_type}: {refused}");
    }
    assert_eq!(kid_of(first_access), first_kid);

    // 4. Refresh twice; the grandparent is reuse and revokes the family.
    let refresh = |token: String| {
        let http = http.clone();
        let url = emulator.url("auth", "/auth/refresh");
        let project_key = project_key.to_owned();
        async move {
            call(
                &http,
                Method::POST,
                &url,
                &[("x-project-key", &project_key)],
                Some(json!({ "refreshToken": token })),
            )
            .await
        }
    };
    let (status, second) = refresh(first_refresh.to_owned()).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_refresh = second["refreshToken"].as_str().expect("refreshToken");
    assert_ne!(second_refresh, first_refresh);
    let (status, third) = refresh(second_refresh.to_owned()).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");
    let (status, reuse) = refresh(first_refresh.to_owned()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reuse}");
    let (status, revoked) = refresh(third["refreshToken"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the family is revoked: {revoked}"
    );

    // 5. Verify the access token through the verify function.
    let access = second["accessToken"].as_str().expect("accessToken");
    let (status, verdict) = call(
        &http,
        Method::POST,
        &emulator.url("verify", "/auth/verify"),
        &[("x-project-key", project_key)],
        Some(json!({ "authToken": access })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["payload"]["tenantId"], tenant["id"], "{verdict}");
    assert_eq!(verdict["payload"]["iss"], issuer.as_str(), "{verdict}");
    let (status, verdict) = call(
        &http,
        Method::POST,
        &emulator.url("verify", "/auth/verify"),
        &[("x-project-key", project_key)],
        Some(json!({ "authToken": second_refresh })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(
        verdict["valid"], false,
        "a refresh token is no access token"
    );

    // 6. Discovery from the issuer alone, as API Gateway's JWT authorizer does it.
    let (status, discovery) = call(
        &http,
        Method::GET,
        &format!("{issuer}/.well-known/openid-configuration"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{discovery}");
    assert_eq!(discovery["issuer"], issuer.as_str(), "{discovery}");
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    let (status, jwks) = call(&http, Method::GET, jwks_uri, &[], None).await;
    assert_eq!(status, StatusCode::OK, "{jwks}");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, [first_kid.as_str()], "{jwks}");
    assert!(jwks["keys"][0].get("d").is_none(), "no private parts");

    // 7. Update the tenant; the tenants function answers with the new profile.
    let (status, renamed) = call(
        &http,
        Method::PUT,
        &emulator.url("tenants", "/tenants"),
        &[("authorization", &admin)],
        Some(json!({"projectName": "Lambda Saga", "projectWebsite": "https://saga.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let (status, me) = call(
        &http,
        Method::GET,
        &emulator.url("tenants", "/tenants/me"),
        &[("x-project-key", project_key)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["projectName"], "Lambda Saga", "{me}");
    let (status, bad) = call(
        &http,
        Method::PUT,
        &emulator.url("tenants", "/tenants"),
        &[("authorization", &admin)],
        Some(json!({"projectWebsite": "not a url"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // 8. The session lifecycle across the functions: carol signs in twice (auth), signs
    // out everywhere (auth), and the verify function, asked to check revocation, reads
    // her session as ended; then the tenant regenerates its private key and recovers an
    // admin token (tenants).
    let mut carol = Vec::new();
    for _ in 0..2 {
        let (status, login) = call(
            &http,
            Method::POST,
            &emulator.url("auth", "/auth/token"),
            &[("x-project-key", project_key)],
            Some(json!({"authToken": idp.token(&idp.claims("carol", "story-app"))})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{login}");
        carol.push(login);
    }
    let verify_revocation = |token: String| {
        let http = http.clone();
        let url = emulator.url("verify", "/auth/verify");
        let project_key = project_key.to_owned();
        async move {
            let (status, verdict) = call(
                &http,
                Method::POST,
                &url,
                &[("x-project-key", &project_key)],
                Some(json!({ "authToken": token, "checkRevoked": true })),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            verdict["valid"] == true
        }
    };
    let carol_access = carol[1]["accessToken"].as_str().unwrap().to_owned();
    assert!(verify_revocation(carol_access.clone()).await);
    let (status, out) = call(
        &http,
        Method::POST,
        &emulator.url("auth", "/auth/logout"),
        &[("x-project-key", project_key)],
        Some(json!({"refreshToken": carol[0]["refreshToken"], "scope": "global"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{out}");
    let (status, ended) = refresh(carol[1]["refreshToken"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out everywhere: {ended}"
    );
    assert!(
        !verify_revocation(carol_access).await,
        "the session is revoked"
    );

    let old_private_key = tenant["apiPrivateKey"].as_str().expect("apiPrivateKey");
    let (status, regenerated) = call(
        &http,
        Method::POST,
        &emulator.url("tenants", "/tenants/api-private-key"),
        &[("authorization", &admin)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{regenerated}");
    let new_private_key = regenerated["apiPrivateKey"]
        .as_str()
        .expect("apiPrivateKey");
    for (key, expected) in [
        (old_private_key, StatusCode::UNAUTHORIZED),
        (new_private_key, StatusCode::OK),
    ] {
        let (status, me) = call(
            &http,
            Method::GET,
            &emulator.url("tenants", "/tenants/me"),
            &[("x-api-key", key)],
            None,
        )
        .await;
        assert_eq!(status, expected, "{me}");
    }
    let tenant_id = tenant["id"].as_str().expect("id");
    let (status, recovered) = call(
        &http,
        Method::POST,
        &emulator.url("tenants", &format!("/tenants/{tenant_id}/admin-token")),
        &[("x-api-key", PLATFORM_KEY)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{recovered}");
    let recovered_admin = format!("Bearer {}", recovered["jwt"].as_str().expect("jwt"));
    let (status, described) = call(
        &http,
        Method::PUT,
        &emulator.url("tenants", "/tenants"),
        &[("authorization", &recovered_admin)],
        Some(json!({"projectDescription": "recovered"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{described}");

    // 9. A sample event from events/, through `cargo lambda invoke`.
    let invoked = cargo(&cargo_lambda)
        .args(["lambda", "invoke", "verify"])
        .args(["--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &emulator.port.to_string()])
        .arg("--data-file")
        .arg(workspace().join("events/well-known-jwks.json"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo lambda invoke");
    assert!(invoked.status.success(), "cargo lambda invoke failed");
    let response: Value = serde_json::from_slice(&invoked.stdout).expect("invoke prints JSON");
    assert_eq!(response["statusCode"], 200, "{response}");
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body, jwks, "the event gets the same JWKS");

    // 10. A whole rotation by the rotate-keys function, invoked as Secrets Manager would.
    let rotation = "0b3f6a52-0000-4000-8000-00000000e2e0";
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let event =
            json!({"SecretId": signing_secret, "ClientRequestToken": rotation, "Step": step});
        let out = cargo(&cargo_lambda)
            .args(["lambda", "invoke", "rotate-keys"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &emulator.port.to_string()])
            .args(["--data-ascii", &event.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo lambda invoke");
        assert!(out.status.success(), "rotation step {step} failed");
    }
    let current = sm
        .get_secret_value()
        .secret_id(&signing_secret)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("current key");
    assert_eq!(current.version_id.as_deref(), Some(rotation));
    let new_kid = SigningKey::from_material(
        &KeyMaterial::from_json(current.secret_string.as_deref().expect("value")).expect("key"),
    )
    .expect("key")
    .kid()
    .to_owned();
    assert_ne!(new_kid, first_kid);

    // The functions pick the new key up by themselves: a fresh login is signed with it,
    // and a token signed with the old key still verifies.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let (status, login) = call(
            &http,
            Method::POST,
            &emulator.url("auth", "/auth/token"),
            &[("x-project-key", project_key)],
            Some(json!({"authToken": idp.token(&idp.claims("bob", "story-app"))})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{login}");
        let access = login["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned();
        if kid_of(&access) == new_kid {
            break access;
        }
        assert!(
            Instant::now() < deadline,
            "new tokens never carried the new kid"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for token in [fresh.as_str(), access] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, verdict) = call(
                &http,
                Method::POST,
                &emulator.url("verify", "/auth/verify"),
                &[("x-project-key", project_key)],
                Some(json!({ "authToken": token })),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            if verdict["valid"] == true {
                break;
            }
            assert!(Instant::now() < deadline, "{verdict}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // 11. The functions' logs, as CloudWatch would receive them (DESIGN §8).
    let answer = http
        .post(emulator.url("verify", "/auth/verify"))
        .header("x-project-key", project_key)
        .header("x-request-id", "chosen-by-the-client")
        .json(&json!({ "authToken": access }))
        .send()
        .await
        .expect("verify");
    assert_eq!(answer.status(), StatusCode::OK);
    let request_id = answer
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    assert_ne!(request_id, "chosen-by-the-client");
    let secrets = [
        PLATFORM_KEY,
        admin.trim_start_matches("Bearer "),
        recovered_admin.trim_start_matches("Bearer "),
        first_refresh,
        first_access,
        second_refresh,
        fresh.as_str(),
        old_private_key,
        new_private_key,
        dev_token.trim(),
    ];
    let private_pem = first_key.to_json()["privateKeyPem"]
        .as_str()
        .expect("pem")
        .to_owned();
    let pem_body: String = private_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(1)
        .collect();
    check_logs(&log, &request_id, &secrets, &pem_body).await;
}

/// The log lines of the functions: one JSON request line per request in Lambda's shape,
/// EMF documents that CloudWatch accepts, and no token or key anywhere.
async fn check_logs(log: &Path, request_id: &str, secrets: &[&str], pem_body: &str) {
    // The verify request's line is written as its answer goes out.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(log).expect("emulator log");
        if text.contains(request_id) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Kept for whoever reads a failure (or the shape) later.
    let kept = workspace().join("target/tmp/lambda_runtime.log");
    let _ = std::fs::create_dir_all(kept.parent().expect("target/tmp"));
    let _ = std::fs::write(&kept, &text);
    let fail = |why: String| -> ! { panic!("{why}\n--- the functions' log ---\n{text}") };
    for secret in secrets.iter().chain([&pem_body]) {
        assert!(!secret.is_empty());
        if text.contains(secret) {
            fail(format!("a token or key is in the log: {}…", &secret[..12]));
        }
    }
    let json: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| fail(format!("{e}: {l}"))))
        .collect();

    // Request lines: Lambda's members at the top, the request's own beside them.
    let requests: Vec<&Value> = json
        .iter()
        .filter(|l| l["target"] == "pers::request")
        .collect();
    for line in &requests {
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        let parsed =
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339);
        if parsed.is_err() || !timestamp.ends_with('Z') {
            fail(format!("timestamp {timestamp:?} in {line}"));
        }
        let level_ok = matches!(line["level"].as_str(), Some("INFO" | "WARN" | "ERROR"));
        let strings = [
            "message",
            "requestId",
            "functionName",
            "xRequestId",
            "method",
            "route",
        ];
        if !level_ok
            || strings
                .iter()
                .any(|k| line[k].as_str().is_none_or(str::is_empty))
            || !line["coldStart"].is_boolean()
            || !line["status"].is_u64()
            || !line["latencyMs"].is_number()
        {
            fail(format!("a request line without Lambda's members: {line}"));
        }
    }
    let ours: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["xRequestId"] == request_id)
        .collect();
    if ours.len() != 1 {
        fail(format!("{} lines for request {request_id}", ours.len()));
    }
    let line = ours[0];
    let lambda_id = line["requestId"].as_str().unwrap_or_default();
    if line["route"] != "/auth/verify" || line["status"] != 200 || lambda_id == request_id {
        fail(format!("the verify request's line: {line}"));
    }
    let verify_name = line["functionName"].as_str().unwrap_or_default().to_owned();
    // Each function's first request is its cold start, and only that one.
    for function in ["auth", "tenants", verify_name.as_str()] {
        let starts: Vec<bool> = requests
            .iter()
            .filter(|l| {
                l["functionName"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(function))
            })
            .map(|l| l["coldStart"] == true)
            .collect();
        if starts.len() < 2 || !starts[0] || starts[1..].iter().any(|c| *c) {
            fail(format!("cold starts of {function}: {starts:?}"));
        }
    }

    // EMF documents: valid by the specification, and counting what the story did.
    let mut counted = std::collections::HashMap::<String, u64>::new();
    for line in text.lines().filter(|l| l.contains("\"_aws\"")) {
        let problems = pers_tests::emf_problems(line);
        if !problems.is_empty() {
            fail(format!("not EMF: {problems:?}: {line}"));
        }
        let document: Value = serde_json::from_str(line).expect("JSON");
        if document.get("level").is_some() || document["requestId"].as_str().is_none() {
            fail(format!(
                "a metric document with a level or without requestId: {line}"
            ));
        }
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
        {
            let name = metric["Name"].as_str().expect("name");
            *counted.entry(name.to_owned()).or_default() +=
                document[name].as_u64().expect("a count");
        }
        if document["_aws"]["CloudWatchMetrics"][0]["Namespace"] != "PERS"
            || document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] != json!([["Function"]])
        {
            fail(format!("namespace or dimensions: {line}"));
        }
    }
    // alice, carol twice, bob at least once; three refreshes; one reuse; one sign-out.
    for (name, at_least) in [
        ("Logins", 4),
        ("Refreshes", 2),
        ("ReuseDetections", 1),
        ("SignOuts", 1),
    ] {
        if counted.get(name).copied().unwrap_or(0) < at_least {
            fail(format!("{name}: {counted:?}"));
        }
    }
}

/// The EMF check refuses what the specification refuses, so that its silence above
/// means something.
#[test]
fn the_emf_check_refuses_what_the_specification_refuses() {
    let good = json!({
        "_aws": {"Timestamp": 1764629776123u64, "CloudWatchMetrics": [{
            "Namespace": "PERS", "Dimensions": [["Function"]],
            "Metrics": [{"Name": "Logins", "Unit": "Count"}]}]},
        "Function": "pers-auth", "Logins": 1, "tenantId": "t"
    });
    assert_eq!(
        pers_tests::emf_problems(&good.to_string()),
        Vec::<String>::new()
    );
    type Breaks = fn(&mut Value);
    let broken: [(&str, Breaks); 9] = [
        ("no timestamp", |d| {
            d["_aws"].as_object_mut().unwrap().remove("Timestamp");
        }),
        ("timestamp as text", |d| {
            d["_aws"]["Timestamp"] = json!("2026-12-01")
        }),
        ("no metric value", |d| {
            d.as_object_mut().unwrap().remove("Logins");
        }),
        ("a text value", |d| d["Logins"] = json!("1")),
        ("no dimension value", |d| {
            d.as_object_mut().unwrap().remove("Function");
        }),
        ("a numeric dimension", |d| d["Function"] = json!(7)),
        ("an unknown unit", |d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Logins")
        }),
        ("an extra directive member", |d| {
            d["_aws"]["CloudWatchMetrics"][0]["Extra"] = json!(1)
        }),
        ("no directives", |d| {
            d["_aws"]["CloudWatchMetrics"] = json!([])
        }),
    ];
    for (what, breaks) in broken {
        let mut document = good.clone();
        breaks(&mut document);
        assert!(
            !pers_tests::emf_problems(&document.to_string()).is_empty(),
            "{what} passed"
        );
    }
    assert!(!pers_tests::emf_problems(&format!("INFO {good}")).is_empty());
}
