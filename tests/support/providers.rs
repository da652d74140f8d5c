//! Identity providers of the tests' own: a key pair that signs provider tokens
//! ([`TestIssuer`]) and a JWKS endpoint that serves and counts ([`JwksServer`]).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use pers::keys::SigningAlgorithm;
use serde_json::Value;

/// An identity provider of the tests' own: a key pair and an issuer name.
pub struct TestIssuer {
    pub issuer: String,
    pub key: pers::keys::SigningKey,
}

impl TestIssuer {
    pub fn new(issuer: &str, alg: SigningAlgorithm) -> Self {
        let material = pers::keys::KeyMaterial::generate(alg).expect("key");
        Self {
            issuer: issuer.to_owned(),
            key: pers::keys::SigningKey::from_material(&material).expect("key"),
        }
    }

    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.key.public_jwk()] })
    }

    /// Claims that pass every rule: this issuer, `sub`, `aud`, issued now, 5 minutes.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = pers::now_unix();
        serde_json::json!({"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 300})
    }

    pub fn header(&self) -> jsonwebtoken::Header {
        let mut header = jsonwebtoken::Header::new(self.key.algorithm().jwt());
        header.kid = Some(self.key.kid().to_owned());
        header
    }

    pub fn sign(&self, header: &jsonwebtoken::Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, self.key.encoding_key()).expect("sign")
    }

    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// A JWKS endpoint on 127.0.0.1 that counts its fetches; stopped when dropped.
pub struct JwksServer {
    pub uri: String,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
    body: Arc<std::sync::Mutex<Value>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(jwks: Value, cache_control: &'static str) -> Self {
        use std::sync::atomic::Ordering;
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let body = Arc::new(std::sync::Mutex::new(jwks));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, b, down) = (fetches.clone(), body.clone(), failing.clone());
        let router = Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (f, b, down) = (f.clone(), b.clone(), down.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let status = if down.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    };
                    let json = b.lock().unwrap().clone();
                    (status, [("cache-control", cache_control)], axum::Json(json))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            uri: format!("http://{addr}/jwks.json"),
            fetches,
            body,
            failing,
            task,
        }
    }

    /// From now on, every fetch is answered `503` (and still counted).
    pub fn fail(&self) {
        self.failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set(&self, jwks: Value) {
        *self.body.lock().unwrap() = jwks;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
