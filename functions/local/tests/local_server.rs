//! `pers-local` as a user runs it: the real binary on a port the OS picks.

mod support;

use std::process::Stdio;
use std::sync::Arc;

use pers::store::Store as _;
use serde_json::Value;
use support::{PLATFORM_KEY, command, create_tenant, start, start_expecting_key};

#[tokio::test]
async fn a_restart_keeps_tenants_and_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    // The default issuer names the listen address, which port 0 changes on every start.
    let issuer = "http://pers-local.test";
    let mut cmd = command(dir.path());
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("PERS_ISSUER", issuer);
    let first = start(cmd);
    let created: Value = create_tenant(&first.base, PLATFORM_KEY)
        .await
        .json()
        .await
        .unwrap();
    let (id, jwt) = (
        created["id"].as_str().unwrap(),
        created["jwt"].as_str().unwrap(),
    );
    drop(first);

    let mut cmd = command(dir.path());
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("PERS_ISSUER", issuer);
    let second = start(cmd);
    // The admin token signed before the restart still verifies, so the key was kept,
    // and the tenant is still there, so the store was kept.
    let res = reqwest::Client::new()
        .get(format!("{}/tenants/{id}", second.base))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["projectApiKey"], created["projectApiKey"]);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let files = [data.join("store.redb"), data.join("signing-keys.json")];

    let mut cmd = command(&data);
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    let first = start(cmd);
    assert_eq!(create_tenant(&first.base, PLATFORM_KEY).await.status(), 201);
    drop(first);
    assert_eq!(mode(&data), 0o700, "a new data directory");
    for f in &files {
        assert_eq!(mode(f), 0o600, "new {}", f.display());
    }

    // Made readable by something else (an older version, a copy): the next start mends it.
    chmod(&data, 0o755);
    for f in &files {
        chmod(f, 0o644);
    }
    let mut cmd = command(&data);
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    let second = start(cmd);
    assert_eq!(mode(&data), 0o700, "an existing data directory");
    for f in &files {
        assert_eq!(mode(f), 0o600, "existing {}", f.display());
    }
    drop(second);
}

#[tokio::test]
async fn without_a_platform_key_one_is_generated_printed_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let local = start_expecting_key(command(dir.path()));
    let key = local.printed_key.clone().expect("printed key");
    assert!(key.starts_with("pl_"), "{key}");
    assert_eq!(
        create_tenant(&local.base, "pl_some_other_key_value")
            .await
            .status(),
        401
    );
    assert_eq!(create_tenant(&local.base, &key).await.status(), 201);
}

#[tokio::test]
async fn an_invalid_setting_stops_it_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("PERS_ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ("PERS_LISTEN", "not-an-address"),
        ("PERS_PLATFORM_API_KEY", "short"),
        ("PERS_SIGNING_ALGORITHM", "none"),
        ("PERS_GEOIP_DATABASE", "/nonexistent/GeoLite2-City.mmdb"),
    ] {
        let out = command(dir.path())
            .env(var, value)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn with_table_name_it_uses_that_dynamodb_table() {
    let moto = pers_tests::Moto::start().await;
    let store = Arc::new(moto.dynamo_store().await);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("TABLE_NAME", store.table())
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let local = start(cmd);
    let res = create_tenant(&local.base, PLATFORM_KEY).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = pers::domain::TenantId::parse(created["id"].as_str().unwrap()).unwrap();
    let stored = store
        .tenant(&id)
        .await
        .unwrap()
        .expect("the tenant is in the table");
    assert_eq!(stored.project_name, "Local");
    assert!(
        !dir.path().join("store.redb").exists(),
        "no embedded store in DynamoDB mode"
    );
}

#[tokio::test]
async fn rotate_keys_publishes_a_new_key_that_signs_while_old_tokens_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    // No PERS_KEY_ACTIVATION_DELAY_SECONDS: pers-local's default is none, so the new key
    // signs at once (a deployment's would wait 2 h 15 min).
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    let local = start(cmd);
    let before: Value = create_tenant(&local.base, PLATFORM_KEY)
        .await
        .json()
        .await
        .unwrap();
    let jwks = |base: String| async move {
        let v: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let old = jwks(local.base.clone()).await;
    assert_eq!(old.len(), 1);

    let out = command(dir.path()).arg("rotate-keys").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(20));

    let now = jwks(local.base.clone()).await;
    assert_eq!(now.len(), 2, "the running server picked up the rotation");
    assert!(now.contains(&old[0]));
    let after: Value = create_tenant(&local.base, PLATFORM_KEY)
        .await
        .json()
        .await
        .unwrap();
    let kid_of = |jwt: &str| {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        kid_of(after["jwt"].as_str().unwrap()),
        old[0],
        "new tokens carry the new kid"
    );
    let res = reqwest::Client::new()
        .get(format!(
            "{}/tenants/{}",
            local.base,
            before["id"].as_str().unwrap()
        ))
        .bearer_auth(before["jwt"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "a token signed before the rotation still verifies"
    );
    let seen: Value = res.json().await.unwrap();
    assert!(seen.get("projectApiKey").is_some(), "…at the admin level");
}

/// Schemathesis (PyPI, in the project's `.venv`) generates requests from the service's
/// own OpenAPI document, valid and invalid, one operation after another and in chains,
/// and checks every answer: never a 5xx, only documented statuses, content types,
/// headers and bodies, invalid data refused. (`positive_data_acceptance` is left out:
/// the document cannot say everything the validation checks, such as e-mail syntax or
/// one-of-`jwks`-or-`jwksUri`.)
/// The schemathesis configuration of the test below: `positive_data_acceptance` counts
/// only these statuses as accepting schema-valid data. The others a valid request may get
/// are for reasons no schema states: credentials (`401`, `403`), an id that does not
/// exist (`404`), a concurrent change (`409`).
const SCHEMATHESIS_TOML: &str = r#"
hooks = "{hooks}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409"]
"#;

/// Drops the `positive_data_acceptance` failures whose `400` names a rule that JSON
/// Schema cannot state, and only those (the message says which rule refused the data):
/// whether an inline JWK is a usable public key for the provider's algorithms (a modulus
/// size, a point on a curve, an `alg` that fits the key), what DynamoDB can store at any
/// depth of free-form JSON (nesting, number range, empty member names), issuers distinct
/// across a list (`uniqueItems` compares whole items), and the deployment's own issuers.
const SCHEMATHESIS_HOOKS: &str = r#"
import re

import schemathesis

UNEXPRESSIBLE = re.compile(
    "|".join(
        [
            r"^identityProviders\[\d+\]\.jwks\.keys\[\d+\]: ",
            r"^identityProviders\[\d+\]\.jwks: (must be nested|holds a number|holds an empty member name)",
            r"^identityProviders\[\d+\]\.issuer: is already the issuer of another provider",
            r"^identityProviders\[\d+\]\.issuer: is this service's or a built-in provider's issuer",
            r"^rawLoginData: (must be nested|holds a number|holds an empty member name)",
        ]
    )
)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 400:
        return True
    try:
        message = response.json().get("message", "")
    except Exception:
        return True
    return not UNEXPRESSIBLE.search(message)
"#;

#[tokio::test]
async fn schemathesis_finds_no_server_error_no_undocumented_answer_and_no_refused_valid_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    let local = start(cmd);
    let tenant: Value = create_tenant(&local.base, PLATFORM_KEY)
        .await
        .json()
        .await
        .unwrap();
    let project_key = format!(
        "x-project-key: {}",
        tenant["projectApiKey"].as_str().unwrap()
    );
    let admin = format!("Authorization: Bearer {}", tenant["jwt"].as_str().unwrap());
    let platform = format!("x-api-key: {PLATFORM_KEY}");
    let hooks = dir.path().join("pers_hooks.py");
    std::fs::write(&hooks, SCHEMATHESIS_HOOKS).unwrap();
    let config = dir.path().join("schemathesis.toml");
    let toml = SCHEMATHESIS_TOML.replace("{hooks}", hooks.to_str().unwrap());
    std::fs::write(&config, toml).unwrap();
    let st = pers_tests::venv_bin("st");
    let out = tokio::process::Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/openapi.json", local.base)])
        // Explicit, though the served document names this server first.
        .args(["--url", &local.base])
        .args(["--checks", "all"])
        .args(["-H", &project_key, "-H", &admin, "-H", &platform])
        .args([
            "--max-examples",
            "40",
            "--seed",
            "20261201",
            "--workers",
            "1",
        ])
        .args(["--generation-database", "none", "--no-color"])
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", st.display()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let document: Value = reqwest::get(format!("{}/openapi.json", local.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert!(operations >= 14, "{operations} operations documented");
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "every operation was exercised: {report}"
    );
}

/// The local equivalent of the compromised-key procedure: with a deployment's
/// activation delay a rotation keeps the old key signing; `rotate-keys --compromised`
/// replaces every key, the new one signing at once and the old ones' tokens refused.
#[tokio::test]
async fn rotate_keys_compromised_replaces_every_key_and_the_new_one_signs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY)
        .env("PERS_KEY_ACTIVATION_DELAY_SECONDS", "7800");
    let local = start(cmd);
    let kids = || async {
        let v: Value = reqwest::get(format!("{}/.well-known/jwks.json", local.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let signed_by = || async {
        let tenant: Value = create_tenant(&local.base, PLATFORM_KEY)
            .await
            .json()
            .await
            .unwrap();
        let kid = header_kid(tenant["jwt"].as_str().unwrap());
        (tenant, kid)
    };
    let rotate = |args: &[&str]| {
        let out = command(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let first = kids().await;
    let (before, kid) = signed_by().await;
    assert_eq!([kid], first.as_slice());

    rotate(&["rotate-keys"]);
    let rotated = kids().await;
    assert_eq!(rotated.len(), 2, "published: {rotated:?}");
    let (_, kid) = signed_by().await;
    assert_eq!(kid, first[0], "the old key signs for the delay");

    rotate(&["rotate-keys", "--compromised"]);
    let replaced = kids().await;
    assert_eq!(replaced.len(), 1, "only the new key: {replaced:?}");
    assert!(!rotated.contains(&replaced[0]));
    let (_, kid) = signed_by().await;
    assert_eq!(kid, replaced[0], "the new key signs at once");
    let res = reqwest::Client::new()
        .get(format!(
            "{}/tenants/{}",
            local.base,
            before["id"].as_str().unwrap()
        ))
        .bearer_auth(before["jwt"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a token of a replaced key is refused");
}

/// The `kid` of a JWT's header.
fn header_kid(jwt: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}
