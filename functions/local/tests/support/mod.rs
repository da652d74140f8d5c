//! `pers-local` as a user runs it, for the tests of this folder: the real binary on a
//! port the OS picks.

#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

/// The workspace root (the README, the template, `tests/docs`).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_owned()
}

pub const PLATFORM_KEY: &str = "pl_local_test_platform_key";

/// A running `pers-local`, killed when dropped.
pub struct Local {
    pub child: Child,
    pub base: String,
    pub printed_key: Option<String>,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn command(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pers-local"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PERS_LISTEN", "127.0.0.1:0")
        .env("PERS_DATA_DIR", data_dir)
        .env("PERS_SIGNING_ALGORITHM", "ES256")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

/// Starts it and reads the address from its first line. With `key_line`, the next line
/// must print the generated platform key.
pub fn spawn(mut cmd: Command, key_line: bool) -> Local {
    let mut child = cmd.spawn().expect("pers-local starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().expect("another line").expect("utf-8");
    let first = next();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let printed_key = key_line.then(|| next().rsplit(' ').next().unwrap_or_default().to_owned());
    // The rest of what it prints is read too (and dropped), as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    Local {
        child,
        base,
        printed_key,
    }
}

pub fn start(cmd: Command) -> Local {
    spawn(cmd, false)
}

pub fn start_expecting_key(cmd: Command) -> Local {
    spawn(cmd, true)
}

pub async fn create_tenant(base: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/tenants"))
        .header("x-api-key", key)
        .json(&json!({"projectName": "Local"}))
        .send()
        .await
        .expect("request")
}
