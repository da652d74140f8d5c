//! Test harness: a real DynamoDB/Secrets Manager API (the `moto` server, started on
//! 127.0.0.1 by the test that needs it and stopped when it is dropped) and a typed
//! client for the app's router.
//!
//! - [`moto`]: the moto server, SDK config and clients, the template's resources, the
//!   DynamoDB call counter;
//! - [`app`]: [`TestApp`], the router in process, and its [`Response`];
//! - [`endpoints`]: one [`TestApp`] method per endpoint (`app.login(pk, body)`, …);
//! - [`tokens`]: the claims of the app's tokens and tokens signed by its key, the one
//!   place the tests reach the product's token API through a [`TestApp`];
//! - [`providers`]: [`TestIssuer`] and [`JwksServer`], identity providers of our own;
//! - [`geoip`]: the test GeoIP database;
//! - [`fault`], [`runtime_api`]: the fault harness and the Lambda Runtime API.

use std::net::TcpListener;
use std::path::PathBuf;

pub mod app;
pub mod emf;
pub mod endpoints;
pub mod fault;
pub mod geoip;
pub mod log;
pub mod moto;
pub mod providers;
pub mod runtime_api;
pub mod tokens;

pub use app::{Response, TestApp, settings};
pub use emf::emf_problems;
pub use endpoints::bearer;
pub use fault::{Fault, FaultProxy, ThrottleError, Throttler, moto_addr};
pub use geoip::{GEOIP_COUNTRY_ONLY, GEOIP_LONDON, write_geoip_database};
pub use log::{CapturedLog, captured_log};
pub use moto::{
    CallCounter, Moto, PATIENT, TemplateResources, dynamo_client, sdk_config_for, sdk_config_with,
    secrets_client,
};
pub use providers::{JwksServer, TestIssuer};

/// An executable of the project's `.venv` (`python` with PyJWT, `cargo-lambda`, …): beside
/// `$MOTO_SERVER` when that is set, else in the checkout's `.venv/bin`.
pub fn venv_bin(name: &str) -> PathBuf {
    match std::env::var("MOTO_SERVER") {
        Ok(moto) => PathBuf::from(moto).with_file_name(name),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.venv/bin")
            .join(name),
    }
}

/// The project's `.venv` Python (PyJWT and moto live there).
pub fn venv_python() -> PathBuf {
    venv_bin("python")
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

pub fn unique() -> String {
    pers::token::new_id()
}

pub const PLATFORM_KEY: &str = "pl_test_platform_operator_key";
