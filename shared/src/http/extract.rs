//! Extractors: the JSON body (415/413/400 in the shared error shape, naming the field)
//! and the three credentials of DESIGN §2.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::domain::{AuthType, KeyHash, KeyKind, Network, Tenant, TenantId};
use crate::token::{AccessClaims, TokenError};

pub const PROJECT_KEY_HEADER: &str = "x-project-key";
pub const API_KEY_HEADER: &str = "x-api-key";

/// A header's value as text; a value that is not visible ASCII counts as absent-and-bad.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, ()>> {
    headers
        .get(name)
        .map(|v| v.to_str().map(str::trim).map_err(|_| ()))
}

/// For an optional body field, `#[serde(default, deserialize_with = "present")]`: a
/// value when present, and `null` is not one (`400` naming the field), unlike serde's
/// default for an `Option`. An absent field is `None` (the documented default).
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A JSON request body deserialised into `T`.
pub struct JsonBody<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(Ok(value)) = header_text(headers, header::CONTENT_TYPE.as_str()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::BadRequest("a JSON body is required".into()));
        }
        // serde reads a struct from a JSON array too (`["My name"]` as `{projectName}`):
        // every body of this API is an object, so anything else is refused first.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::BadRequest(format!("invalid body: {inner}"))
            } else {
                ApiError::BadRequest(format!("{path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
        Ok(Self(value))
    }
}

/// The tenant a project key names, and which network the key is for.
#[derive(Debug, Clone)]
pub struct ProjectContext {
    pub tenant: Tenant,
    pub network: Network,
}

/// Resolves a presented project key; `None` when it is unknown or not a project key.
pub async fn resolve_project_key(
    state: &AppState,
    key: &str,
) -> Result<Option<ProjectContext>, ApiError> {
    if key.is_empty() || key.len() > 256 {
        return Ok(None);
    }
    let hash = KeyHash::of(key);
    if let Some(ctx) = state.project_keys.get(&hash) {
        return Ok(Some(ctx));
    }
    let ticket = state.project_keys.ticket();
    let Some(entry) = state.store.api_key(&hash).await? else {
        return Ok(None);
    };
    let network = match entry.kind {
        KeyKind::Project => Network::Mainnet,
        KeyKind::TestnetProject => Network::Testnet,
        KeyKind::Private => return Ok(None),
    };
    let Some(tenant) = state.store.tenant(&entry.tenant_id).await? else {
        return Ok(None);
    };
    let ctx = ProjectContext { tenant, network };
    state.project_keys.put(hash, ctx.clone(), ticket);
    Ok(Some(ctx))
}

/// What the one-tenant check already found for this request's credentials, so that a
/// route reads each of them once: one key lookup, one signature check (an unknown key is
/// not cached, so it would otherwise be looked up twice).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// `x-project-key`, when it was looked up.
    pub project: Option<Option<ProjectContext>>,
    /// The `apiPrivateKey` in `x-api-key`, when it was looked up: its tenant.
    pub private: Option<Option<TenantId>>,
    /// The Bearer access token, when it was verified.
    pub bearer: Option<Result<AccessClaims, TokenError>>,
}

fn resolved(extensions: &axum::http::Extensions) -> Option<&Resolved> {
    extensions.get::<Resolved>()
}

/// [`resolve_project_key`], reusing the request's earlier resolution when there is one.
pub async fn project_key_of(
    state: &AppState,
    extensions: &axum::http::Extensions,
    key: &str,
) -> Result<Option<ProjectContext>, ApiError> {
    match resolved(extensions).and_then(|r| r.project.clone()) {
        Some(ctx) => Ok(ctx),
        None => resolve_project_key(state, key).await,
    }
}

/// [`resolve_private_key`], reusing the request's earlier resolution when there is one.
pub async fn private_key_of(
    state: &AppState,
    extensions: &axum::http::Extensions,
    key: &str,
) -> Result<Option<TenantId>, ApiError> {
    match resolved(extensions).and_then(|r| r.private.clone()) {
        Some(owner) => Ok(owner),
        None => resolve_private_key(state, key).await,
    }
}

/// The tenant whose `apiPrivateKey` `key` is; `None` when it is not one (the platform
/// key is not).
pub async fn resolve_private_key(
    state: &AppState,
    key: &str,
) -> Result<Option<TenantId>, ApiError> {
    if key.is_empty() || key.len() > 256 || state.platform_key.matches(key) {
        return Ok(None);
    }
    Ok(state
        .store
        .api_key(&KeyHash::of(key))
        .await?
        .filter(|entry| entry.kind == KeyKind::Private)
        .map(|entry| entry.tenant_id))
}

const BAD_PROJECT_KEY: &str = "missing or invalid project key (x-project-key)";

/// Header `x-project-key` (required).
pub struct ProjectKey(pub ProjectContext);

impl FromRequestParts<AppState> for ProjectKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(Ok(key)) = header_text(&parts.headers, PROJECT_KEY_HEADER) else {
            return Err(ApiError::Unauthorized(BAD_PROJECT_KEY));
        };
        project_key_of(state, &parts.extensions, key)
            .await?
            .map(Self)
            .ok_or(ApiError::Unauthorized(BAD_PROJECT_KEY))
    }
}

/// Header `x-api-key` equal to the platform operator key.
pub struct PlatformOperator;

impl FromRequestParts<AppState> for PlatformOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match header_text(&parts.headers, API_KEY_HEADER) {
            Some(Ok(key)) if state.platform_key.matches(key) => Ok(Self),
            _ => Err(ApiError::Unauthorized(
                "missing or invalid platform API key (x-api-key)",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer` header, if one is present.
pub fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    header_text(headers, header::AUTHORIZATION.as_str()).map(|value| {
        let value = value?;
        let (scheme, token) = value.split_once(' ').ok_or(())?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            Ok(token.trim())
        } else {
            Err(())
        }
    })
}

const BAD_TOKEN: &str = "missing, invalid or expired bearer token";

/// Verifies a presented PERS access token, reusing the request's earlier verification
/// when there is one.
pub async fn verify_bearer(
    state: &AppState,
    extensions: &axum::http::Extensions,
    token: &str,
) -> Result<AccessClaims, ApiError> {
    let verdict = match resolved(extensions).and_then(|r| r.bearer.clone()) {
        Some(verdict) => verdict,
        None => state.issuer.verify(token).await?,
    };
    verdict.map_err(|_| ApiError::Unauthorized(BAD_TOKEN))
}

/// `Authorization: Bearer` with a PERS access token whose `authType` is `tenant`.
pub struct TenantAdmin(pub AccessClaims);

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(Ok(token)) = bearer(&parts.headers) else {
            return Err(ApiError::Unauthorized(BAD_TOKEN));
        };
        let claims = verify_bearer(state, &parts.extensions, token).await?;
        if claims.auth_type != AuthType::Tenant {
            return Err(ApiError::Forbidden("a tenant admin token is required"));
        }
        Ok(Self(claims))
    }
}

/// The address the request came from, as the platform saw it: API Gateway's
/// `requestContext.http.sourceIp` in Lambda, the TCP peer in `pers-local`. Never a
/// header such as `X-Forwarded-For`, which any client can write.
pub struct SourceIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::ConnectInfo;
        use lambda_http::request::RequestContext;
        let from_lambda = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
            #[allow(unreachable_patterns)] // other event sources, when their features are on
            _ => None,
        };
        let ip = match from_lambda {
            Some(text) => text.parse().ok(),
            None => parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
        };
        Ok(Self(ip))
    }
}
