//! The gates of the API's self-description, on the document `pers-local` serves: the
//! OpenAPI linters (`@redocly/cli lint`: no errors; `spectral lint` with `spectral:oas`:
//! no warnings), and the `/docs` page in a real headless browser (Debian's Chromium)
//! with the network off, which must show every operation of the document. Tools are
//! installed by `scripts/setup` (`tests/docs/node_modules`, and Chromium by apt-get).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Local, PLATFORM_KEY, command, start, workspace};

fn docs_tool(name: &str) -> PathBuf {
    let path = workspace().join("tests/docs/node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup first",
        path.display()
    );
    path
}

fn server(dir: &Path) -> Local {
    let mut cmd = command(dir);
    cmd.env("PERS_PLATFORM_API_KEY", PLATFORM_KEY);
    start(cmd)
}

async fn served_document(local: &Local) -> Value {
    reqwest::get(format!("{}/openapi.json", local.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs `cmd`, killed if it outlasts `limit`.
fn run(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(limit);
        // SAFETY: kill only sends a signal, to the child this test started (if it has
        // already been reaped, the pid is at worst one that refuses the signal).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    });
    let out = child.wait_with_output().expect("output");
    drop(watchdog);
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The linters' environment: no telemetry, no update checks (there may be no network).
fn node_tool(path: PathBuf) -> Command {
    let mut cmd = Command::new(path);
    cmd.env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .env("NO_UPDATE_NOTIFIER", "1")
        .current_dir(workspace().join("tests/docs"));
    cmd
}

#[tokio::test]
async fn the_served_document_passes_redocly_and_spectral() {
    let dir = tempfile::tempdir().unwrap();
    let local = server(dir.path());
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, served_document(&local).await.to_string()).unwrap();

    let mut redocly = node_tool(docs_tool("redocly"));
    redocly.arg("lint").arg(&file);
    let out = run(redocly, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "redocly lint found errors:\n{}",
        text(&out)
    );

    let mut spectral = node_tool(docs_tool("spectral"));
    spectral
        .args([
            "lint",
            "--ruleset",
            ".spectral.yaml",
            "--fail-severity",
            "warn",
        ])
        .arg(&file);
    let out = run(spectral, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "spectral lint (spectral:oas) found problems:\n{}",
        text(&out)
    );
}

/// Chromium, headless, with no network but loopback: hosts other than 127.0.0.1 do not
/// resolve, and any other address goes to a proxy that refuses (loopback never uses it).
fn chromium(profile: &Path) -> Command {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--virtual-time-budget=20000",
        "--window-size=1280,4000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Each operation block of a rendered Swagger UI page: (method, path).
fn rendered_operations(dom: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = dom
        .split("class=\"opblock opblock-")
        .skip(1)
        .filter_map(|block| {
            let method = block.split([' ', '"']).next()?.to_owned();
            let path = block
                .split_once("data-path=\"")?
                .1
                .split_once('"')?
                .0
                .replace("&amp;", "&");
            Some((method, path))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test]
async fn the_docs_page_shows_every_operation_with_the_network_off() {
    let dir = tempfile::tempdir().unwrap();
    let local = server(dir.path());
    let document = served_document(&local).await;
    let mut operations: Vec<(String, String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let summary = op["summary"].as_str().unwrap_or_default().to_owned();
            operations.push((method.clone(), path.clone(), summary));
        }
    }
    assert!(operations.len() >= 14, "{operations:?}");

    // Every asset of the page is pers-local's own: relative references only, each served.
    let page = reqwest::get(format!("{}/docs/", local.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png"))
        .collect();
    assert!(assets.len() >= 4, "{page}");
    for asset in assets {
        assert!(!asset.contains("//"), "{asset} is not served by pers-local");
        let url = format!("{}/docs/{}", local.base, asset.trim_start_matches("./"));
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
    }

    let profile = tempfile::tempdir().unwrap();
    let mut dump = chromium(profile.path());
    dump.arg("--dump-dom").arg(format!("{}/docs/", local.base));
    let out = run(dump, Duration::from_secs(120));
    assert!(out.status.success(), "chromium failed: {}", text(&out));
    let dom = String::from_utf8_lossy(&out.stdout);

    let mut expected: Vec<(String, String)> = operations
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    expected.sort();
    assert_eq!(
        rendered_operations(&dom),
        expected,
        "the page shows exactly the document's operations"
    );
    for (method, path, summary) in &operations {
        assert!(
            dom.contains(&html_escaped(summary)),
            "{method} {path}: summary {summary:?} not on the page"
        );
    }

    // A screenshot for a person to look at (not committed): under cargo's target tmp.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docs.png");
    let _ = std::fs::remove_file(&shot);
    let mut screenshot = chromium(profile.path());
    screenshot
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("{}/docs/", local.base));
    let out = run(screenshot, Duration::from_secs(120));
    assert!(out.status.success(), "chromium failed: {}", text(&out));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{} is {size} bytes", shot.display());
    eprintln!("screenshot of /docs: {}", shot.display());
}
