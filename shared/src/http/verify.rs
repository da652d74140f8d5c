//! `/auth/verify` (is this token good, for this tenant?) and the well-known documents
//! OIDC-aware verifiers (API Gateway's JWT authorizer, jose, PyJWT) read.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extract::{JsonBody, ProjectKey};
use super::{ApiError, AppState};
use crate::domain::AuthType;
use crate::token::provider::ProviderError;
use crate::token::{self, AccessClaims, TokenError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/verify", post(verify))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
}

/// The `verify` function's router.
pub fn router(state: AppState) -> Router {
    super::edge(routes(), state)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    pub auth_token: String,
    /// Also check a PERS access token against its session (one strongly consistent
    /// read): a revoked, expired or missing session makes it `valid: false`.
    #[serde(default, deserialize_with = "strict_bool")]
    #[schema(value_type = bool, default = false)]
    pub check_revoked: Option<bool>,
}

/// A boolean when present: `null` is not one (`400`), unlike serde's default for an
/// `Option`.
fn strict_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub valid: bool,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    pub error_message: Option<String>,
}

impl VerifyResponse {
    fn valid(payload: Value) -> Self {
        Self {
            valid: true,
            payload: Some(payload),
            error_message: None,
        }
    }

    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            valid: false,
            payload: None,
            error_message: Some(reason.into()),
        }
    }
}

/// Verifies any JWT for the tenant of `x-project-key`: ours against our keys (no storage
/// call, unless `checkRevoked`), a trusted provider's against that provider's keys. A bad
/// token is an answer (`valid: false`), never an error; only an unreachable dependency
/// is (`503`).
#[utoipa::path(
    post,
    path = "/auth/verify",
    tag = "verify",
    request_body = VerifyRequest,
    security(("projectKey" = [])),
    responses(
        (status = 200, description = "The verdict (a bad token is `valid: false`)", body = VerifyResponse),
    )
)]
async fn verify(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    // The token exactly as sent: `/auth/token` does not trim it either, and a JWT with
    // whitespace around it is not a compact JWS.
    let jwt = req.auth_token.as_str();
    if jwt.is_empty() {
        return Ok(Json(VerifyResponse::invalid("token is empty")));
    }
    if jwt.len() > token::MAX_TOKEN_BYTES {
        return Ok(Json(VerifyResponse::invalid(
            TokenError::TooLarge.to_string(),
        )));
    }
    let Some(issuer) = token::provider::unverified_issuer(jwt) else {
        return Ok(Json(VerifyResponse::invalid("token is malformed")));
    };
    if issuer == state.settings.issuer {
        let answer = match state.issuer.verify::<AccessClaims>(jwt).await? {
            Ok(claims) if claims.tenant_id != ctx.tenant.id => {
                VerifyResponse::invalid("token belongs to another tenant")
            }
            Ok(claims) => match ended(&state, &claims, req.check_revoked).await? {
                Some(reason) => VerifyResponse::invalid(reason),
                None => VerifyResponse::valid(
                    serde_json::to_value(claims).map_err(|e| ApiError::Internal(Box::new(e)))?,
                ),
            },
            Err(e) => VerifyResponse::invalid(e.to_string()),
        };
        return Ok(Json(answer));
    }
    let provider = AuthType::ALL
        .iter()
        .flat_map(|t| state.providers.trusted(&ctx.tenant, *t))
        .find(|p| p.issuer == issuer);
    let Some(provider) = provider else {
        return Ok(Json(VerifyResponse::invalid(
            "token issuer is not trusted by this tenant",
        )));
    };
    match state
        .providers
        .verify_with(&provider, jwt, state.issuer.clock())
        .await
    {
        Ok(verified) => Ok(Json(VerifyResponse::valid(verified.claims))),
        Err(ProviderError::Unavailable(e)) => Err(ApiError::Unavailable(e)),
        Err(e) => Ok(Json(VerifyResponse::invalid(e.to_string()))),
    }
}

/// With `checkRevoked: true`, why the token's session no longer stands, if it does not:
/// one strongly consistent read. Without it, no storage call at all.
async fn ended(
    state: &AppState,
    claims: &AccessClaims,
    check_revoked: Option<bool>,
) -> Result<Option<&'static str>, ApiError> {
    if check_revoked != Some(true) {
        return Ok(None);
    }
    let session = state.store.session(&claims.session_key()).await?;
    Ok(match session {
        None => Some("token's session does not exist"),
        Some(s) if s.revoked => Some("token's session has been revoked"),
        Some(s) if !s.is_live(state.issuer.now()) => Some("token's session has expired"),
        Some(_) => None,
    })
}

/// Every key that may still have live tokens, and a staged next key.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "verify",
    responses(
        (status = 200, description = "A JWK Set of public keys (`kid`, `alg`, `use: sig`)", body = Object),
    )
)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.issuer.key_set().await?;
    Ok(cacheable(&state, keys.jwks()))
}

/// A public document, which verifiers may cache as long as a function keeps its keys.
fn cacheable(state: &AppState, body: impl Serialize) -> Response {
    let max_age = state.settings.key_refresh_interval.as_secs();
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        Json(body),
    )
        .into_response()
}

/// The claims of our access tokens, as discovery names them.
const CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
    "tenantId",
    "authType",
    "sid",
    "network",
];

/// The OpenID Provider Metadata (OIDC Discovery 1.0 §3) a verifier reads.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub response_types_supported: [&'static str; 1],
    pub subject_types_supported: [&'static str; 1],
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub claims_supported: [&'static str; 12],
    pub scopes_supported: [String; 5],
}

/// OIDC discovery: `issuer` and `jwks_uri` for OIDC-aware verifiers.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "verify",
    responses(
        (status = 200, description = "The discovery document", body = Discovery),
    )
)]
async fn discovery(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.issuer.key_set().await?;
    let issuer = &state.settings.issuer;
    let body = Discovery {
        issuer: issuer.clone(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: keys.algorithms(),
        claims_supported: CLAIMS,
        scopes_supported: AuthType::ALL.map(token::scope_of),
    };
    Ok(cacheable(&state, body))
}
