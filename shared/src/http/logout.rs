//! `POST /auth/logout`: end the presented refresh token's session (`local`), every
//! session of its user in its tenant (`global`), or every one but this (`others`).
//!
//! The token is judged against its session as stored ([`standing`]): the current
//! generation (or the parent within the grace interval) speaks for the session even
//! after it ended, and applies its scope; an older one is reuse while the session lives
//! (the family is revoked, `401`, as at `/auth/refresh`) and changes nothing once it has
//! ended (`204`). A token that does not verify as our refresh token of this tenant is
//! `401`; one that verifies but has expired is `204` and changes nothing (its session
//! ended with it). `local` is one conditional write; `global` and `others` are one
//! strongly consistent query of the user's partition and one write per live session.

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use serde::Deserialize;

use super::auth::{BAD_REFRESH, require_private_key_for_system, reuse_detected};
use super::extract::{JsonBody, ProjectKey};
use super::{ApiError, AppState};
use crate::audit::{Action, Event};
use crate::domain::{Session, SessionKey, Standing, standing};
use crate::store::Ending;
use crate::token::{Checked, RefreshClaims};

/// Which sessions a sign-out ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(example = "local")]
pub enum LogoutScope {
    /// The presented token's session.
    #[default]
    Local,
    /// Every session of the token's user in its tenant.
    Global,
    /// Every session of the token's user in its tenant except the presented one.
    Others,
}

impl LogoutScope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Global => "global",
            Self::Others => "others",
        }
    }
}

/// The body of `POST /auth/logout`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// A refresh token of the session to sign out of: its current one (or the parent
    /// within the grace interval); an expired one is accepted too.
    #[schema(example = super::openapi::examples::refresh_token)]
    pub refresh_token: String,
    /// Which sessions to end: `local` the token's session, `global` every session of
    /// its user in this tenant, `others` all of them but the token's.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(inline, value_type = LogoutScope, default = "local", example = "local")]
    pub scope: Option<LogoutScope>,
}

/// Sessions revoked at once by `global`/`others`; each is one idempotent write.
const REVOKE_CONCURRENCY: usize = 16;

/// Sign out: end the refresh token's session (`local`, the default), every session of
/// its user in this tenant (`global`), or all of them but this one (`others`).
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    operation_id = "logout",
    summary = "Sign out of one or more sessions",
    description = "Revokes the refresh token's session (`scope: local`, the default), \
        every session of its user in this tenant (`global`), or all of them but this one \
        (`others`). Revoked sessions no longer refresh.\n\n\
        Idempotent: a session already revoked or expired (even past the refresh token's \
        `exp`) answers `204` too and changes nothing. A token that does not verify \
        (forged, of another tenant or issuer, not a refresh token) is `401` and revokes \
        nothing. A refresh token of a live session that is no longer current is reuse, as \
        at `POST /auth/refresh`: that session is revoked, whatever the scope, and the \
        answer is `401`.\n\n\
        Access tokens of ended sessions stay valid until they expire (15 minutes by \
        default), except to a verifier that asks `POST /auth/verify` with \
        `checkRevoked: true`. A `system` session also needs the tenant's \
        `apiPrivateKey` in `x-api-key`.",
    request_body(content = LogoutRequest, description = "The refresh token and the scope"),
    security(("projectKey" = []), ("projectKey" = [], "businessApiKey" = [])),
    responses(
        (status = 204, description = "Signed out (or already signed out)"),
    )
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    extensions: Extensions,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LogoutRequest>,
) -> Result<StatusCode, ApiError> {
    let scope = req.scope.unwrap_or_default();
    let checked = state
        .issuer
        .verify_expired_too::<RefreshClaims>(&req.refresh_token)
        .await?
        .map_err(|_| ApiError::Unauthorized(BAD_REFRESH))?;
    let (claims, expired) = match checked {
        Checked::Live(claims) => (claims, false),
        Checked::Expired(claims) => (claims, true),
    };
    if claims.tenant_id != ctx.tenant.id {
        return Err(ApiError::Unauthorized(BAD_REFRESH));
    }
    require_private_key_for_system(&state, &extensions, claims.auth_type, &ctx, &headers).await?;
    let revoked = if expired {
        0
    } else {
        match end(&state, &claims, scope).await? {
            Some(revoked) => revoked,
            None => return Err(reuse_detected(&state, &claims).await?),
        }
    };
    // One line per sign-out that succeeds, also when it found nothing left to end.
    Event::new(Action::SignOut, &ctx.tenant.id)
        .session(&claims.sub, &claims.sid)
        .scope(scope.as_str(), revoked)
        .record();
    Ok(StatusCode::NO_CONTENT)
}

/// Applies `scope` for a token of ours that has not expired: how many live sessions it
/// ended, or `None` when the token is reuse (no longer current, its session live).
async fn end(
    state: &AppState,
    claims: &RefreshClaims,
    scope: LogoutScope,
) -> Result<Option<usize>, ApiError> {
    let now = state.issuer.now();
    let grace = state.settings.refresh_grace.as_secs() as i64;
    let judge = |stored: Option<&Session>| standing(stored, claims.generation, now, grace);
    if scope == LogoutScope::Local {
        let ending = state
            .store
            .end_session(&claims.session_key(), claims.generation, now, grace)
            .await?;
        return Ok(match ending {
            Ending::Ended { was_live } => Some(usize::from(was_live)),
            Ending::Refused(stored) => match judge(stored.as_ref()) {
                Standing::Stale => None,
                Standing::Current | Standing::Ended => Some(0),
            },
        });
    }
    let sessions = state
        .store
        .user_sessions(&claims.tenant_id, &claims.sub)
        .await?;
    match judge(sessions.iter().find(|s| s.session_id == claims.sid)) {
        Standing::Current => {}
        Standing::Ended => return Ok(Some(0)),
        Standing::Stale => return Ok(None),
    }
    let keep = (scope == LogoutScope::Others).then_some(claims.sid.as_str());
    let ending: Vec<SessionKey> = sessions
        .iter()
        .filter(|s| s.is_live(now) && Some(s.session_id.as_str()) != keep)
        .map(Session::key)
        .collect();
    revoke_all(state, ending).await.map(Some)
}

/// Revokes every session of `keys`, a few at a time; how many. Each write is
/// idempotent and a revocation is never undone, so a failure part-way (answered `503`)
/// leaves the rest for the client's retry, and nothing to repair.
async fn revoke_all(state: &AppState, keys: Vec<SessionKey>) -> Result<usize, ApiError> {
    let count = keys.len();
    for batch in keys.chunks(REVOKE_CONCURRENCY) {
        let mut writes = tokio::task::JoinSet::new();
        for key in batch {
            let (store, key) = (state.store.clone(), key.clone());
            writes.spawn(async move { store.revoke_session(&key).await });
        }
        while let Some(done) = writes.join_next().await {
            done.map_err(|e| ApiError::Internal(Box::new(e)))??;
        }
    }
    Ok(count)
}
