//! `/auth/token` (exchange a provider token for a PERS session), `/auth/refresh`
//! (rotate the session's refresh token, with reuse detection) and, in [`super::logout`],
//! `/auth/logout`.

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::extract::{
    API_KEY_HEADER, JsonBody, ProjectContext, ProjectKey, header_text, private_key_of,
};
use super::{ApiError, AppState};
use crate::audit::{Action, Event};
use crate::domain::{
    AuthType, Identity, SandboxUser, SessionOrigin, Verdict, judge_failed_rotation,
};
use crate::metrics::{self, Metric};
use crate::store::Rotation;
use crate::token::provider::ProviderError;
use crate::token::{RefreshClaims, Signer, TokenPair};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(exchange))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(super::logout::logout))
}

/// The `auth` function's router.
pub fn router(state: AppState) -> Router {
    super::edge(routes(), state)
}

/// The body of `POST /auth/token`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// The identity provider's token (a JWT) for the person or system signing in: from
    /// a provider the tenant trusts for `authType`. Not read in sandbox mode (see
    /// `rawLoginData`).
    #[schema(min_length = 1, example = super::openapi::examples::provider_token)]
    pub auth_token: String,
    /// The kind of session asked for; `system` also needs the tenant's `apiPrivateKey`
    /// in `x-api-key`. Absent means `user`; `null` is not a kind (`400`).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(inline, value_type = AuthType, default = "user", example = "user")]
    pub auth_type: Option<AuthType>,
    /// Sandbox mode: the data of a new unauthenticated user (see the schema's
    /// description, [`super::openapi::raw_login_data_schema`]).
    #[serde(default)]
    #[schema(schema_with = super::openapi::raw_login_data_schema)]
    pub raw_login_data: Option<Value>,
}

/// The body of `POST /auth/refresh`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The session's current refresh token (each works once), from `POST /auth/token`
    /// or the last refresh.
    #[schema(example = super::openapi::examples::refresh_token)]
    pub refresh_token: String,
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Untrusted => Self::Unauthorized(
                "the token's issuer is not trusted for this tenant and auth type",
            ),
            ProviderError::Invalid(reason) => Self::Unauthorized(reason),
            ProviderError::Unavailable(_) => Self::Unavailable(Box::new(e)),
        }
    }
}

/// The PERS user behind the request, and how it signed in: a sandbox user, or the user
/// linked to a verified provider identity.
async fn user_for(
    state: &AppState,
    ctx: &ProjectContext,
    auth_type: AuthType,
    req: TokenRequest,
    signer: &Signer<'_>,
) -> Result<(String, SessionOrigin), ApiError> {
    let now = signer.now();
    let tenant = &ctx.tenant;
    // Sandbox mode creates users without verification, so it can only ever open plain
    // user sessions: never an admin, business or system one.
    if let (true, AuthType::User, Some(raw)) = (
        tenant.allow_jwt_for_unauthenticated_users,
        auth_type,
        req.raw_login_data,
    ) {
        if !raw.is_object() {
            return Err(ApiError::BadRequest(
                "rawLoginData: must be an object".into(),
            ));
        }
        crate::domain::storable_json("rawLoginData", &raw)?;
        let user = SandboxUser {
            user_id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.id.clone(),
            raw_login_data: raw,
            created_at: now,
            expires_at: signer.session_end(),
        };
        state.store.create_sandbox_user(&user).await?;
        return Ok((user.user_id, SessionOrigin::Sandbox));
    }
    if req.auth_token.is_empty() {
        return Err(ApiError::BadRequest("authToken: must not be empty".into()));
    }
    let verified = state
        .providers
        .verify(tenant, auth_type, &req.auth_token, state.issuer.clock())
        .await?;
    let via = SessionOrigin::Provider {
        issuer: verified.issuer.clone(),
        firebase_tenant: verified.firebase_tenant,
    };
    let identity = Identity {
        tenant_id: tenant.id.clone(),
        issuer: verified.issuer,
        subject: verified.subject,
        user_id: uuid::Uuid::new_v4().to_string(),
        created_at: now,
    };
    Ok((state.store.link_identity(&identity).await?, via))
}

/// Exchange a provider token for a PERS session (DESIGN §3).
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    operation_id = "createToken",
    summary = "Exchange a provider token for a session",
    description = "Opens a session for the tenant of `x-project-key` and answers its first \
        token pair.\n\n\
        `authToken` must be a JWT of an identity provider that the tenant trusts for \
        `authType` (default `user`): a built-in provider of the platform, or one of the \
        tenant's `identityProviders`. It is checked against the provider's JWKS: an \
        asymmetric algorithm the provider allows, `iss`, `aud` when the provider names \
        one, `exp`, `nbf`/`iat` (60 s leeway) and a non-empty `sub`. The same provider \
        subject always maps to the same PERS user of this tenant.\n\n\
        A `system` session also needs the tenant's `apiPrivateKey` in `x-api-key`.\n\n\
        **Sandbox mode.** When the tenant's `allowJWTForUnauthenticatedUsers` is true \
        and a `user` session is asked for with `rawLoginData`, `authToken` is not \
        verified: a new unauthenticated user holding `rawLoginData` is signed in.\n\n\
        The access token lives 15 minutes and the session 30 days by default; the \
        answer is sent with `Cache-Control: no-store`.",
    request_body(content = TokenRequest, description = "The provider token and the kind of session"),
    security(("projectKey" = []), ("projectKey" = [], "businessApiKey" = [])),
    responses(
        (status = 201, description = "A new session: its access and refresh tokens", body = TokenPair),
    )
)]
async fn exchange(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    extensions: Extensions,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let auth_type = req.auth_type.unwrap_or(AuthType::User);
    require_private_key_for_system(&state, &extensions, auth_type, &ctx, &headers).await?;
    // Keys first: if they are unavailable, nothing is written.
    let signer = state.issuer.signer().await?;
    let (user_id, via) = user_for(&state, &ctx, auth_type, req, &signer).await?;
    let session = signer.open_session(&ctx.tenant.id, user_id, auth_type, ctx.network);
    state.store.create_session(&session).await?;
    let pair = signer.session_pair(&session, via)?;
    metrics::count_for(Metric::Logins, auth_type);
    Ok((StatusCode::CREATED, Json(pair)))
}

/// Whether the tenant, as resolved for this request, still allows a session opened the
/// way `claims` says: sandbox sessions while it allows unauthenticated users, provider
/// sessions while it trusts that issuer for the session's auth type (DESIGN §3) — and,
/// for the built-in Firebase, through the same Firebase tenant.
fn still_allowed(state: &AppState, ctx: &ProjectContext, claims: &RefreshClaims) -> bool {
    match &claims.via {
        SessionOrigin::Sandbox => {
            ctx.tenant.allow_jwt_for_unauthenticated_users && claims.auth_type == AuthType::User
        }
        SessionOrigin::Provider {
            issuer,
            firebase_tenant,
        } => state
            .providers
            .trusted(&ctx.tenant, claims.auth_type)
            .iter()
            .any(|p| p.opened(issuer, firebase_tenant.as_deref())),
    }
}

/// A `system` session, opened, refreshed or signed out, needs the tenant's
/// `apiPrivateKey` in `x-api-key` besides the project key: a leaked system refresh token
/// alone is not enough. The key is looked up in storage (one strongly consistent read),
/// not in the cached tenant, so that a regenerated key stops working at once in every
/// function (DESIGN §3): the one call system sessions pay beyond the budgets.
pub(super) async fn require_private_key_for_system(
    state: &AppState,
    extensions: &Extensions,
    auth_type: AuthType,
    ctx: &ProjectContext,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    const NEEDED: &str = "system sessions need the tenant's apiPrivateKey (x-api-key)";
    if auth_type != AuthType::System {
        return Ok(());
    }
    let Some(Ok(key)) = header_text(headers, API_KEY_HEADER) else {
        return Err(ApiError::Unauthorized(NEEDED));
    };
    match private_key_of(state, extensions, key).await? {
        Some(owner) if owner == ctx.tenant.id => Ok(()),
        _ => Err(ApiError::Unauthorized(NEEDED)),
    }
}

/// A refresh token that is no longer current, presented while its session lives: the
/// whole family is revoked (one write) and the answer is `401`.
pub(super) async fn reuse_detected(
    state: &AppState,
    claims: &RefreshClaims,
) -> Result<ApiError, ApiError> {
    state.store.revoke_session(&claims.session_key()).await?;
    Event::new(Action::ReuseDetected, &claims.tenant_id)
        .session(&claims.sub, &claims.sid)
        .record();
    Ok(ApiError::Unauthorized(
        "refresh token was already used; the session is revoked",
    ))
}

pub(super) const BAD_REFRESH: &str = "invalid, expired or revoked refresh token";

/// Rotate a session: a new pair for the current refresh token (DESIGN §3).
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    operation_id = "refreshToken",
    summary = "Rotate a session's refresh token",
    description = "Answers a new token pair for the session's current refresh token, \
        which then stops working: each refresh token works once.\n\n\
        **Reuse detection.** A refresh token that is no longer current revokes the whole \
        session (`401`). The one exception is the immediate parent presented within the \
        grace interval after a rotation (10 s by default), as when two tabs refresh at \
        once: it gets a fresh access token and the session's current refresh token.\n\n\
        A revoked or expired session, another tenant's token, or a session that the \
        tenant no longer allows (sandbox mode turned off, its provider removed or no \
        longer trusted for its auth type) is `401`. Rotation never extends the session's \
        lifetime. A `system` session also needs the tenant's `apiPrivateKey` in \
        `x-api-key`. The answer is sent with `Cache-Control: no-store`.",
    request_body(content = RefreshRequest, description = "The current refresh token"),
    security(("projectKey" = []), ("projectKey" = [], "businessApiKey" = [])),
    responses(
        (status = 201, description = "The rotated pair", body = TokenPair),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    extensions: Extensions,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let claims: RefreshClaims = state
        .issuer
        .verify(&req.refresh_token)
        .await?
        .map_err(|_| ApiError::Unauthorized(BAD_REFRESH))?;
    let signer = state.issuer.signer().await?;
    if claims.tenant_id != ctx.tenant.id {
        return Err(ApiError::Unauthorized(BAD_REFRESH));
    }
    require_private_key_for_system(&state, &extensions, claims.auth_type, &ctx, &headers).await?;
    let key = claims.session_key();
    if !still_allowed(&state, &ctx, &claims) {
        // One write instead of the rotation: the budget of one call holds.
        state.store.revoke_session(&key).await?;
        Event::new(Action::SessionDisallowed, &ctx.tenant.id)
            .session(&claims.sub, &claims.sid)
            .record();
        return Err(ApiError::Unauthorized(
            "the tenant no longer allows this session; sign in again",
        ));
    }
    let now = signer.now();
    let rotation = state
        .store
        .rotate_session(&key, claims.generation, now)
        .await?;
    let session = match rotation {
        Rotation::Rotated(session) => session,
        Rotation::Failed(stored) => {
            let grace = state.settings.refresh_grace.as_secs() as i64;
            match judge_failed_rotation(
                stored.as_ref(),
                &ctx.tenant.id,
                claims.generation,
                now,
                grace,
            ) {
                Verdict::Grace(current) => current,
                Verdict::Reuse => return Err(reuse_detected(&state, &claims).await?),
                Verdict::Refuse => return Err(ApiError::Unauthorized(BAD_REFRESH)),
            }
        }
    };
    let pair = signer.session_pair(&session, claims.via)?;
    metrics::count_for(Metric::Refreshes, claims.auth_type);
    Ok((StatusCode::CREATED, Json(pair)))
}
