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
use super::openapi::examples;
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

/// The body of `POST /auth/verify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The JWT to judge: a PERS access token of this tenant, or a token of an identity
    /// provider that the tenant trusts. Whatever it is, a bad token is an answer
    /// (`valid: false`), never an error.
    #[schema(example = examples::access_token)]
    pub auth_token: String,
    /// Also check a PERS access token against its session (one strongly consistent
    /// read): a revoked, expired or missing session makes it `valid: false`. Must be a
    /// boolean when present (`null` is `400`).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = bool, default = false, example = true)]
    pub check_revoked: Option<bool>,
}

/// The verdict of `POST /auth/verify`: the claims of a valid token, or why it is not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "valid": true,
    "payload": examples::access_claims(),
    "errorMessage": null
}))]
pub struct VerifyResponse {
    /// Whether the token verified (and, with `checkRevoked`, its session still stands).
    #[schema(example = true)]
    pub valid: bool,
    /// The token's decoded claims when it is valid; `null` otherwise.
    #[schema(schema_with = super::openapi::claims_schema, required = true)]
    pub payload: Option<Value>,
    /// Why the token is not valid; `null` when it is.
    #[schema(required = true, example = "token has expired")]
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
    operation_id = "verifyToken",
    summary = "Verify a token",
    description = "Judges any JWT for the tenant of `x-project-key`; the issuer is read from \
        the token.\n\n\
        - A PERS access token is verified against the service's own keys (current and \
        previous) and must belong to this tenant. Without `checkRevoked` this makes no \
        storage call; with `checkRevoked: true` its session is read too, and a revoked, \
        expired or missing session makes it `valid: false`.\n\
        - A token of an identity provider that the tenant trusts is verified against that \
        provider's JWKS by the rules of `POST /auth/token`.\n\
        - Anything else (refresh and login tokens included) is `valid: false`.\n\n\
        A bad token is never an error: the answer is `200` with `valid: false`, \
        `payload: null` and the reason in `errorMessage`. A missing `authToken` is `400`.",
    request_body(content = VerifyRequest, description = "The token to verify"),
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

/// The JWK Set of `GET /.well-known/jwks.json` (RFC 7517 §5). A schema only: the
/// key set renders it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    description = "The JWK Set (RFC 7517 §5) of the keys that verify PERS access tokens.",
    example = json!({"keys": [examples::signing_jwk()]})
)]
pub struct JwkSet {
    /// Every public key that may still have live tokens, the signing key first, and
    /// the next key once it is staged.
    #[schema(min_items = 1, example = json!([examples::signing_jwk()]))]
    pub keys: Vec<Jwk>,
}

/// A public key that verifies PERS access tokens (RFC 7517 §4). Which members it has
/// follows from `kty`: `n` and `e` for `RSA`, `crv`, `x` and `y` for `EC`, `crv` and `x`
/// for `OKP`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = examples::signing_jwk)]
pub struct Jwk {
    /// The key type: `RSA` for RS256, `EC` for ES256, `OKP` for EdDSA.
    #[schema(inline, example = "RSA")]
    pub kty: KeyType,
    /// The key id, its RFC 7638 thumbprint: the `kid` header of the tokens it signs.
    #[schema(example = examples::kid)]
    pub kid: String,
    /// The algorithm the key signs with (the deployment's signing algorithm).
    #[schema(inline, example = "RS256")]
    pub alg: KeyAlgorithm,
    /// What the key is for: always `sig` (signatures).
    #[serde(rename = "use")]
    #[schema(inline, example = "sig")]
    pub use_: KeyUse,
    /// `RSA` keys: the modulus, base64url-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = examples::rsa_modulus)]
    pub n: Option<String>,
    /// `RSA` keys: the public exponent, base64url-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "AQAB")]
    pub e: Option<String>,
    /// `EC` and `OKP` keys: the curve, `P-256` or `Ed25519`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "P-256")]
    pub crv: Option<String>,
    /// `EC` keys: the x coordinate; `OKP` keys: the public key; base64url-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "piINYBMlABbYwgQC7j5IubpVeMid_YfYV-yquhnU29c"
    )]
    pub x: Option<String>,
    /// `EC` keys: the y coordinate, base64url-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "lYG9MrmBsTMfva_b5BMoHYHP951pyhplEY6y4D88CG8"
    )]
    pub y: Option<String>,
}

/// A published key's `kty`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = "RSA")]
#[allow(clippy::upper_case_acronyms)]
pub enum KeyType {
    RSA,
    EC,
    OKP,
}

/// A published key's `alg`: the signing algorithms the service supports.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = "RS256")]
pub enum KeyAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

/// A published key's `use`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = "sig")]
#[serde(rename_all = "lowercase")]
pub enum KeyUse {
    Sig,
}

/// Every key that may still have live tokens, and a staged next key.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "verify",
    operation_id = "getJwks",
    summary = "Get the public signing keys",
    description = "The JWK Set that verifies PERS access tokens: every key that may still \
        have live tokens (the current one first, then the previous) and the next key \
        once it is staged, each with `kid`, `alg` and `use: sig`. A newly current key is \
        published before it signs, so a verifier that refetches on an unknown `kid` \
        always finds it. Refresh and login tokens are signed with an internal key that \
        is never published.\n\n\
        A public document: no credentials are read. It is never older than the \
        service's key refresh interval (300 s by default), and verifiers may cache it \
        for `max-age` seconds (that interval); a new key is in it for the whole \
        activation delay before any token carries it. When the service cannot reload \
        its keys, it serves the set it holds with `Cache-Control: no-cache`.",
    security(()),
    responses(
        (status = 200, description = "The JWK Set", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=<seconds>`: the key refresh interval (300 s by default); `no-cache` when the keys could not be reloaded and the set served may be older"))),
    )
)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let published = state.issuer.published_keys().await?;
    let jwks = published.keys.jwks();
    Ok(match published.stale {
        None => cacheable(&state, jwks),
        Some(age) => {
            tracing::warn!(
                age_seconds = age.as_secs(),
                "the signing keys could not be reloaded: serving the JWKS held, not to be cached"
            );
            ([(header::CACHE_CONTROL, "no-cache")], Json(jwks)).into_response()
        }
    })
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
pub(super) const CLAIMS: [&str; 12] = [
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
    /// The `iss` (and `aud`) of every PERS access token.
    #[schema(format = "uri", example = "https://auth.example.com")]
    pub issuer: String,
    /// Where the public keys are: the issuer's `/.well-known/jwks.json`.
    #[schema(
        format = "uri",
        example = "https://auth.example.com/.well-known/jwks.json"
    )]
    pub jwks_uri: String,
    /// Required by OIDC Discovery; tokens are only issued through this API.
    #[schema(example = json!(["token"]))]
    pub response_types_supported: [&'static str; 1],
    /// Subject identifiers are the same for every client (`public`).
    #[schema(example = json!(["public"]))]
    pub subject_types_supported: [&'static str; 1],
    /// The algorithms of the published keys: what access tokens are signed with.
    #[schema(example = examples::signing_algorithms)]
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// The claims that PERS access tokens carry (`network` only in testnet sessions).
    #[schema(example = examples::claims_supported)]
    pub claims_supported: [&'static str; 12],
    /// The scopes of access tokens, one per auth type; a token also carries
    /// `pers:<authType>:<tenant id>`.
    #[schema(example = examples::scopes_supported)]
    pub scopes_supported: [String; 5],
}

/// OIDC discovery: `issuer` and `jwks_uri` for OIDC-aware verifiers.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "verify",
    operation_id = "getOpenIdConfiguration",
    summary = "Get the OpenID Connect discovery document",
    description = "The OpenID Provider Metadata that OIDC-aware verifiers read (API Gateway's \
        JWT authorizer, aws-jwt-verify, jose, PyJWT's `PyJWKClient`): the `issuer` of \
        PERS access tokens and the `jwks_uri` of their keys. Configure a verifier with \
        the issuer as both issuer and audience.\n\n\
        A public document: no credentials are read. It may be cached like the JWKS.",
    security(()),
    responses(
        (status = 200, description = "The discovery document", body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=<seconds>`: the key refresh interval (300 s by default)"))),
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
