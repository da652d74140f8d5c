//! The README's first session, run exactly as written against a fresh `pers-local`:
//! from a clean data directory to a refreshed and verified session, through the local
//! development identity provider.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Local, command, start_expecting_key, workspace};

const MARKER: &str = "<!-- first-session:";

/// The shell block right after the README's first-session marker.
fn first_session_commands() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let after = &readme[readme
        .find(MARKER)
        .expect("the README marks its first session")..];
    let block = after
        .split_once("```bash\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("a ```bash block after the marker")
        .0;
    assert!(block.contains("dev-token") && block.contains("/auth/refresh"));
    block.to_owned()
}

/// The commands, in the workspace as a developer runs them, against the server that
/// uses `data_dir`; their stdout.
fn run(commands: &str, data_dir: &Path) -> String {
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", commands])
        .current_dir(workspace())
        .env("PERS_DATA_DIR", data_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's first session failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_readme_first_session_works_verbatim_against_a_fresh_server() {
    let dir = tempfile::tempdir().unwrap();
    // As the README's run command starts it (no platform key set: one is generated),
    // on a port the OS picks: the commands learn it from `pers-local env`.
    let local: Local = start_expecting_key(command(dir.path()));
    let out = run(&first_session_commands(), dir.path());

    // What it prints: the health answer, then the verdict.
    let printed: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let [health, verdict] = printed.as_slice() else {
        panic!("two JSON answers expected: {out}");
    };
    assert_eq!(health, &serde_json::json!({"status": "ok"}));
    assert_eq!(verdict["valid"], true, "{verdict}");
    let claims = &verdict["payload"];
    assert_eq!(claims["authType"], "user", "{claims}");
    assert_eq!(claims["iss"], local.base, "{claims}");
    assert!(
        claims["sid"].is_string() && claims["sub"].is_string(),
        "{claims}"
    );
    drop(local);
}
