//! Our own tokens through real outside verifiers, configured the way integrators configure
//! them: the issuer and the audience (both the issuer), keys found only through OIDC
//! discovery (`/.well-known/openid-configuration` → `jwks_uri`). DESIGN §4: every
//! standard verifier accepts a user access token and the tenant-admin `jwt`, and refuses
//! a refresh token and a login token; API Gateway routes tell the two kinds of access
//! token apart by their `scope`.
//!
//! The verifiers: PyJWT (`PyJWKClient`, in the project's `.venv`), the npm packages
//! `jose` and `aws-jwt-verify` (`tests/verifiers`, installed by `scripts/setup`), and
//! the documented rules of API Gateway's HTTP API JWT authorizer, written out below.
//! The service runs for real on a 127.0.0.1 port and every token comes from its API.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{AlgorithmFamily, DecodingKey, Validation};
use pers::keys::{LocalKeySource, SigningAlgorithm};
use pers::store::EmbeddedStore;
use pers_tests::{PLATFORM_KEY, TestApp};
use serde_json::{Value, json};
use tokio::process::Command;

// PyJWT, jose and aws-jwt-verify: each accepts both access tokens and refuses the others.

#[tokio::test]
async fn pyjwt_accepts_user_and_tenant_admin_access_tokens() {
    accepts_both_access_tokens(Verifier::PyJwt).await;
}

#[tokio::test]
async fn pyjwt_refuses_a_refresh_token() {
    refuses(Verifier::PyJwt, TokenKind::Refresh).await;
}

#[tokio::test]
async fn pyjwt_refuses_a_login_token() {
    refuses(Verifier::PyJwt, TokenKind::Login).await;
}

#[tokio::test]
async fn jose_accepts_user_and_tenant_admin_access_tokens() {
    accepts_both_access_tokens(Verifier::Jose).await;
}

#[tokio::test]
async fn jose_refuses_a_refresh_token() {
    refuses(Verifier::Jose, TokenKind::Refresh).await;
}

#[tokio::test]
async fn jose_refuses_a_login_token() {
    refuses(Verifier::Jose, TokenKind::Login).await;
}

#[tokio::test]
async fn aws_jwt_verify_accepts_user_and_tenant_admin_access_tokens() {
    accepts_both_access_tokens(Verifier::AwsJwtVerify).await;
}

#[tokio::test]
async fn aws_jwt_verify_refuses_a_refresh_token() {
    refuses(Verifier::AwsJwtVerify, TokenKind::Refresh).await;
}

#[tokio::test]
async fn aws_jwt_verify_refuses_a_login_token() {
    refuses(Verifier::AwsJwtVerify, TokenKind::Login).await;
}

// API Gateway's JWT authorizer: on a route without scopes like the others; on a scoped
// route, only the access token of that auth type.

#[tokio::test]
async fn api_gateway_accepts_user_and_tenant_admin_access_tokens_on_an_unscoped_route() {
    accepts_both_access_tokens(Verifier::ApiGateway { scopes: &[] }).await;
}

#[tokio::test]
async fn api_gateway_refuses_a_refresh_token_even_on_an_unscoped_route() {
    refuses(Verifier::ApiGateway { scopes: &[] }, TokenKind::Refresh).await;
}

#[tokio::test]
async fn api_gateway_refuses_a_login_token_even_on_an_unscoped_route() {
    refuses(Verifier::ApiGateway { scopes: &[] }, TokenKind::Login).await;
}

#[tokio::test]
async fn an_api_gateway_route_requiring_pers_tenant_admits_the_tenant_admin_only() {
    let route = Verifier::ApiGateway {
        scopes: &["pers:tenant"],
    };
    let service = Service::start().await;
    let [user, admin] = route
        .judge(&service, [TokenKind::UserAccess, TokenKind::TenantAdmin])
        .await;
    user.assert_refused(&route, TokenKind::UserAccess);
    admin.assert_accepted(&route, TokenKind::TenantAdmin);
}

#[tokio::test]
async fn an_api_gateway_route_requiring_pers_user_admits_the_user_only() {
    let route = Verifier::ApiGateway {
        scopes: &["pers:user"],
    };
    let service = Service::start().await;
    let [admin, user] = route
        .judge(&service, [TokenKind::TenantAdmin, TokenKind::UserAccess])
        .await;
    admin.assert_refused(&route, TokenKind::TenantAdmin);
    user.assert_accepted(&route, TokenKind::UserAccess);
}

/// Every tenant's tokens share `iss` and `aud`, so a route of one tenant's API pins the
/// tenant through its scope, `pers:<authType>:<tenant id>`.
#[tokio::test]
async fn an_api_gateway_route_requiring_one_tenants_admin_scope_admits_no_other_tenant() {
    let service = Service::start().await;
    let issuer = service.issuer.as_str();
    let payload = |token: &str| -> Value {
        use base64::Engine as _;
        let part = token.split('.').nth(1).expect("a JWT");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON claims")
    };
    let tenant = payload(&service.tenant_admin)["tenantId"]
        .as_str()
        .expect("tenantId")
        .to_owned();
    let scope = format!("pers:tenant:{tenant}");
    let route = ApiGatewayAuthorizer {
        issuer,
        audience: &[issuer],
        authorization_scopes: &[&scope],
    };
    let jwks = discover_jwks(issuer).await;
    let verdicts = [
        ("this tenant's admin", &service.tenant_admin, true),
        ("another tenant's admin", &service.other_tenant_admin, false),
        ("this tenant's user", &service.user_access, false),
    ];
    for (who, token, admitted) in verdicts {
        let verdict = route.authorize(&jwks, token);
        assert_eq!(
            matches!(verdict, Verdict::Accepted { .. }),
            admitted,
            "{scope}: {who}: {verdict:?}"
        );
    }
}

async fn accepts_both_access_tokens(verifier: Verifier) {
    let service = Service::start().await;
    let [user, admin] = verifier
        .judge(&service, [TokenKind::UserAccess, TokenKind::TenantAdmin])
        .await;
    user.assert_accepted(&verifier, TokenKind::UserAccess);
    admin.assert_accepted(&verifier, TokenKind::TenantAdmin);
}

/// The same verifier first accepts the tenant-admin `jwt`, so that its refusal of `kind`
/// is about the token, not about reaching the keys.
async fn refuses(verifier: Verifier, kind: TokenKind) {
    let service = Service::start().await;
    let [control, verdict] = verifier
        .judge(&service, [TokenKind::TenantAdmin, kind])
        .await;
    control.assert_accepted(&verifier, TokenKind::TenantAdmin);
    verdict.assert_refused(&verifier, kind);
}

// ---------------------------------------------------------------------------------------
// The service, on a real port, and one token of each kind from its API.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    UserAccess,
    TenantAdmin,
    Refresh,
    Login,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::UserAccess => "user access token",
            TokenKind::TenantAdmin => "tenant-admin jwt",
            TokenKind::Refresh => "refresh token",
            TokenKind::Login => "login token",
        })
    }
}

/// `pers::http::app` served by axum on 127.0.0.1 with an RS256 key and the issuer
/// `http://127.0.0.1:<port>`; stopped when dropped.
struct Service {
    issuer: String,
    user_access: String,
    tenant_admin: String,
    /// The admin `jwt` of a second tenant of the same service.
    other_tenant_admin: String,
    refresh: String,
    login: String,
    server: tokio::task::JoinHandle<()>,
    _app: TestApp,
}

impl Service {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let settings =
            pers::config::Settings::from_lookup(|_| None, Some(issuer.clone())).expect("settings");
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("embedded store");
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.path().join("keys.json"),
            SigningAlgorithm::Rs256,
            Duration::ZERO,
        )
        .expect("local RS256 key");
        let app = TestApp::with_settings(Arc::new(store), Arc::new(keys), dir, settings);
        let router = pers::http::app(app.state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let api = Api {
            http: reqwest::Client::new(),
            issuer: issuer.clone(),
        };
        let tenant = api
            .call(
                reqwest::Method::POST,
                "/tenants",
                ("x-api-key", PLATFORM_KEY),
                Some(json!({"projectName": "Outside verifiers"})),
                201,
            )
            .await;
        let tenant_admin = string(&tenant, "jwt");
        let other = api
            .call(
                reqwest::Method::POST,
                "/tenants",
                ("x-api-key", PLATFORM_KEY),
                Some(json!({"projectName": "Another tenant"})),
                201,
            )
            .await;
        let project_key = string(&tenant, "projectApiKey");
        api.call(
            reqwest::Method::PUT,
            "/tenants",
            ("authorization", &format!("Bearer {tenant_admin}")),
            Some(json!({"allowJWTForUnauthenticatedUsers": true})),
            200,
        )
        .await;
        let session = api
            .call(
                reqwest::Method::POST,
                "/auth/token",
                ("x-project-key", &project_key),
                Some(json!({"authToken": "x", "rawLoginData": {"name": "a"}})),
                201,
            )
            .await;
        let login = api
            .call(
                reqwest::Method::GET,
                "/tenants/login-token",
                ("x-project-key", &project_key),
                None,
                200,
            )
            .await;
        Self {
            user_access: string(&session, "accessToken"),
            refresh: string(&session, "refreshToken"),
            login: login
                .as_str()
                .unwrap_or_else(|| panic!("the login token is not a JSON string: {login}"))
                .to_owned(),
            tenant_admin,
            other_tenant_admin: string(&other, "jwt"),
            issuer,
            server,
            _app: app,
        }
    }

    fn token(&self, kind: TokenKind) -> &str {
        match kind {
            TokenKind::UserAccess => &self.user_access,
            TokenKind::TenantAdmin => &self.tenant_admin,
            TokenKind::Refresh => &self.refresh,
            TokenKind::Login => &self.login,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The service's HTTP API, over the wire.
struct Api {
    http: reqwest::Client,
    issuer: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        (header, value): (&str, &str),
        body: Option<Value>,
        expected_status: u16,
    ) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.issuer))
            .header(header, value);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a response body");
        assert_eq!(status, expected_status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"))
    }
}

fn string(json: &Value, field: &str) -> String {
    json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {json}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// The verifiers and their verdicts.

#[derive(Debug)]
enum Verdict {
    Accepted { claims: Value },
    Refused { reason: String },
}

impl Verdict {
    /// A JSON line of the verifier scripts: `{"accepted": true, "claims": {…}}` or
    /// `{"accepted": false, "reason": "…"}`.
    fn from_line(line: &str) -> Self {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("a verifier printed a line that is not JSON: {line}"));
        match json["accepted"].as_bool() {
            Some(true) => Verdict::Accepted {
                claims: json["claims"].clone(),
            },
            Some(false) => Verdict::Refused {
                reason: json["reason"].as_str().unwrap_or_default().to_owned(),
            },
            None => panic!("a verifier printed a line without a verdict: {line}"),
        }
    }

    fn assert_accepted(&self, verifier: &Verifier, kind: TokenKind) {
        if let Verdict::Refused { reason } = self {
            panic!("{verifier} must accept the {kind}, but refused it: {reason}");
        }
    }

    fn assert_refused(&self, verifier: &Verifier, kind: TokenKind) {
        if let Verdict::Accepted { claims } = self {
            panic!("{verifier} must refuse the {kind}, but accepted it with claims {claims}");
        }
    }
}

enum Verifier {
    /// PyJWT's `PyJWKClient` + `jwt.decode` (`tests/verifiers/verify.py`).
    PyJwt,
    /// panva's `jose`: `createRemoteJWKSet` + `jwtVerify` (`tests/verifiers/verify.mjs`).
    Jose,
    /// awslabs' `aws-jwt-verify`: `JwtVerifier` (`tests/verifiers/verify.mjs`).
    AwsJwtVerify,
    /// API Gateway's JWT authorizer on a route with these `authorizationScopes`.
    ApiGateway { scopes: &'static [&'static str] },
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verifier::PyJwt => f.write_str("PyJWT"),
            Verifier::Jose => f.write_str("jose"),
            Verifier::AwsJwtVerify => f.write_str("aws-jwt-verify"),
            Verifier::ApiGateway { scopes } => {
                write!(
                    f,
                    "the API Gateway JWT authorizer (authorizationScopes {scopes:?})"
                )
            }
        }
    }
}

impl Verifier {
    /// Verifies the service's token of each kind, in order, with one configured verifier
    /// (one process, one JWKS cache), configured with the issuer and the audience alone.
    async fn judge<const N: usize>(
        &self,
        service: &Service,
        kinds: [TokenKind; N],
    ) -> [Verdict; N] {
        let tokens = kinds.map(|kind| service.token(kind));
        let issuer = service.issuer.as_str();
        let verdicts = match self {
            Verifier::PyJwt => {
                let mut pyjwt = Command::new(pers_tests::venv_python());
                pyjwt.arg(verifiers_dir().join("verify.py"));
                run(pyjwt, issuer, &tokens).await
            }
            Verifier::Jose => run(node_verifier("jose"), issuer, &tokens).await,
            Verifier::AwsJwtVerify => run(node_verifier("aws-jwt-verify"), issuer, &tokens).await,
            Verifier::ApiGateway { scopes } => {
                let authorizer = ApiGatewayAuthorizer {
                    issuer,
                    audience: &[issuer],
                    authorization_scopes: scopes,
                };
                let jwks = discover_jwks(issuer).await;
                tokens
                    .iter()
                    .map(|token| authorizer.authorize(&jwks, token))
                    .collect()
            }
        };
        verdicts
            .try_into()
            .unwrap_or_else(|v: Vec<Verdict>| panic!("{self}: {} verdicts for {N} tokens", v.len()))
    }
}

fn verifiers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("verifiers")
}

/// `node verify.mjs LIBRARY`, once `scripts/setup` has installed the library.
fn node_verifier(library: &str) -> Command {
    let dir = verifiers_dir();
    let installed = dir.join("node_modules").join(library);
    assert!(
        installed.exists(),
        "{} is missing: run scripts/setup",
        installed.display()
    );
    let mut node = Command::new("node");
    node.arg(dir.join("verify.mjs")).arg(library);
    node
}

/// Runs a verifier script with `ISSUER TOKEN…` and reads its one verdict per token.
async fn run(mut verifier: Command, issuer: &str, tokens: &[&str]) -> Vec<Verdict> {
    let name = format!("{:?}", verifier.as_std());
    let output = verifier
        .arg(issuer)
        .args(tokens)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{name} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(Verdict::from_line).collect()
}

/// The JWKS an OIDC-aware verifier finds: the discovery document's `jwks_uri`.
async fn discover_jwks(issuer: &str) -> JwkSet {
    let http = reqwest::Client::new();
    let get = |url: String| {
        let request = http.get(&url).send();
        async move {
            let response = request.await.expect("the service answers");
            assert!(
                response.status().is_success(),
                "GET {url}: {}",
                response.status()
            );
            response.json::<Value>().await.expect("a JSON document")
        }
    };
    let discovery = get(format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(
        discovery["issuer"], issuer,
        "discovery names another issuer"
    );
    let jwks_uri = string(&discovery, "jwks_uri");
    serde_json::from_value(get(jwks_uri).await).expect("a JWKS")
}

// ---------------------------------------------------------------------------------------
// API Gateway's JWT authorizer, from its documentation (Amazon API Gateway developer
// guide, "Control access to HTTP APIs with JWT authorizers in API Gateway"). It fetches
// the public keys from the issuer's `jwks_uri`, supports only RSA-based algorithms, and
// evaluates: `kid` (must match a key of the JWKS), the signature, `iss` (the configured
// issuer), `aud` or `client_id` (one of the configured audience entries; `client_id` only
// when there is no `aud`), `exp` (after now), `nbf` and `iat` (before now), and `scope` or
// `scp` (at least one of the route's `authorizationScopes`, when it has some).

struct ApiGatewayAuthorizer<'a> {
    issuer: &'a str,
    audience: &'a [&'a str],
    authorization_scopes: &'a [&'a str],
}

impl ApiGatewayAuthorizer<'_> {
    fn authorize(&self, jwks: &JwkSet, token: &str) -> Verdict {
        match self.evaluate(jwks, token) {
            Ok(claims) => Verdict::Accepted { claims },
            Err(reason) => Verdict::Refused { reason },
        }
    }

    fn evaluate(&self, jwks: &JwkSet, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if header.alg.family() != AlgorithmFamily::Rsa {
            return Err(format!("alg {:?} is not RSA-based", header.alg));
        }
        let kid = header.kid.ok_or("no kid in the header")?;
        let jwk = jwks
            .find(&kid)
            .ok_or_else(|| format!("kid {kid} matches no key of the JWKS"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK {kid}: {e}"))?;

        // The signature alone; each claim is checked below, rule by rule.
        let mut signature_only = Validation::new(header.alg);
        signature_only.required_spec_claims.clear();
        signature_only.validate_exp = false;
        signature_only.validate_aud = false;
        let claims: Value = jsonwebtoken::decode(token, &key, &signature_only)
            .map_err(|e| format!("signature: {e}"))?
            .claims;

        if claims["iss"] != self.issuer {
            return Err(format!("iss {} is not {}", claims["iss"], self.issuer));
        }
        let audience_claim = match (&claims["aud"], &claims["client_id"]) {
            (Value::Null, Value::Null) => return Err("neither aud nor client_id".into()),
            (Value::Null, client_id) => client_id,
            (aud, _) => aud,
        };
        if !strings(audience_claim).any(|a| self.audience.contains(&a)) {
            return Err(format!(
                "aud/client_id {audience_claim} is not {:?}",
                self.audience
            ));
        }
        let now = jsonwebtoken::get_current_timestamp() as f64;
        match claims["exp"].as_f64() {
            Some(exp) if exp > now => {}
            _ => return Err(format!("exp {} is not after now", claims["exp"])),
        }
        // "Before now", read as not after now: a token issued this very second passes.
        for time in ["nbf", "iat"] {
            if claims[time].as_f64().is_some_and(|t| t > now) {
                return Err(format!("{time} {} is after now", claims[time]));
            }
        }
        if !self.authorization_scopes.is_empty() {
            let granted: Vec<&str> = strings(&claims["scope"])
                .chain(strings(&claims["scp"]))
                .flat_map(str::split_whitespace)
                .collect();
            if !self
                .authorization_scopes
                .iter()
                .any(|s| granted.contains(s))
            {
                return Err(format!(
                    "scope/scp {granted:?} has none of {:?}",
                    self.authorization_scopes
                ));
            }
        }
        Ok(claims)
    }
}

/// The strings of a claim that is a string or an array of strings.
fn strings(claim: &Value) -> impl Iterator<Item = &str> {
    let items = match claim {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    items.iter().filter_map(Value::as_str)
}
