//! The app's router in process, on a given store and key source, and a typed client
//! for it: [`TestApp`] and the [`Response`] it reads.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use pers::config::{Deployment, Settings};
use pers::deadlines::Deadlines;
use pers::domain::KeyHash;
use pers::geo::GeoIp;
use pers::http::AppState;
use pers::keys::{KeySource, LocalKeySource, SigningAlgorithm};
use pers::store::{EmbeddedStore, Store};
use pers::token::Clock;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{PATIENT, PLATFORM_KEY};

/// Test settings: the issuer of a local server.
pub fn settings() -> Settings {
    Settings::from_lookup(|_| None, Some("http://127.0.0.1:3000".into())).expect("settings")
}

/// The app on a given store, with a local ES256 key (fast to generate) in a temp dir.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn with_store(store: Arc<dyn Store>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.path().join("keys.json"),
            SigningAlgorithm::Es256,
            Duration::ZERO,
        )
        .expect("local key");
        Self::with(store, Arc::new(keys), dir)
    }

    pub fn with(store: Arc<dyn Store>, keys: Arc<dyn KeySource>, dir: tempfile::TempDir) -> Self {
        Self::with_settings(store, keys, dir, settings())
    }

    pub fn with_settings(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeySource>,
        dir: tempfile::TempDir,
        settings: Settings,
    ) -> Self {
        Self::in_deployment(Deployment::Local, store, keys, dir, settings)
    }

    /// The app as `deployment` runs it (`Local` everywhere else in the harness, whose
    /// identity providers are servers on 127.0.0.1).
    pub fn in_deployment(
        deployment: Deployment,
        store: Arc<dyn Store>,
        keys: Arc<dyn KeySource>,
        dir: tempfile::TempDir,
        settings: Settings,
    ) -> Self {
        let state = AppState::new(deployment, store, keys, settings, KeyHash::of(PLATFORM_KEY))
            .with_deadlines(PATIENT);
        Self {
            router: pers::http::app(state.clone()),
            state,
            _dir: dir,
        }
    }

    /// The same app with its state changed by `change`.
    fn changed(self, change: impl FnOnce(AppState) -> AppState) -> Self {
        let state = change(self.state);
        Self {
            router: pers::http::app(state.clone()),
            state,
            _dir: self._dir,
        }
    }

    /// The same app with a request deadline of `deadlines.request`.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        self.changed(|state| state.with_deadlines(deadlines))
    }

    /// The same app on `clock` (tests of expiry and grace intervals move it rather than
    /// sleep).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.changed(|state| state.with_clock(clock))
    }

    /// The same app with the GeoIP database at `path`.
    pub fn with_geoip(self, path: &std::path::Path) -> Self {
        let geoip = GeoIp::open(path).expect("a usable GeoIP database");
        self.changed(|mut state| {
            state.geoip = Some(Arc::new(geoip));
            state
        })
    }

    /// The app on a fresh embedded store.
    pub fn embedded() -> Self {
        Self::embedded_with(settings())
    }

    /// The app on a fresh embedded store, with a local ES256 key, under `settings`.
    pub fn embedded_with(settings: Settings) -> Self {
        Self::embedded_in(Deployment::Local, settings)
    }

    /// The app on a fresh embedded store, with a local ES256 key, under `settings`, as
    /// `deployment` runs it.
    pub fn embedded_in(deployment: Deployment, settings: Settings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("embedded store");
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.path().join("keys.json"),
            SigningAlgorithm::Es256,
            Duration::ZERO,
        )
        .expect("local key");
        Self::in_deployment(deployment, Arc::new(store), Arc::new(keys), dir, settings)
    }

    /// Sends a request with a raw body and returns status, headers and the JSON answer.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Response {
            status,
            headers,
            json,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        match body {
            Some(json) => {
                let mut with_type = headers.to_vec();
                with_type.push(("content-type", "application/json"));
                self.raw(method, path, &with_type, Body::from(json.to_string()))
                    .await
            }
            None => self.raw(method, path, headers, Body::empty()).await,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(Method::GET, path, headers, None).await
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Response {
    /// Asserts the error shape of DESIGN §7 and returns the message.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["statusCode"], status.as_u16(), "{}", self.json);
        assert_eq!(
            self.json["error"],
            status.canonical_reason().unwrap_or_default(),
            "{}",
            self.json
        );
        self.json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {}", self.json))
            .to_owned()
    }
}
