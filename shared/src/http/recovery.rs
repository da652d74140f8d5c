//! Regenerating a tenant's one-time secrets: `POST /tenants/api-private-key` (a new
//! `apiPrivateKey`, the old one dead at once) and `POST /tenants/{id}/admin-token` (a
//! fresh tenant-admin token: the recovery path once the bootstrap `jwt` has expired).
//! Both are shown once; neither is stored but as a hash (the key) or not at all (the
//! token, whose session is stored).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};

use super::error::ErrorBody;
use super::extract::{API_KEY_HEADER, TenantAdmin, bearer, header_text, verify_bearer};
use super::views::{AdminToken, NewPrivateKey};
use super::{ApiError, AppState};
use crate::audit::{Action, Event};
use crate::domain::{ApiKeyEntry, AuthType, KeyKind, TenantId, TenantKeys, hash_secret};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/api-private-key", post(regenerate_private_key))
        .route("/tenants/{id}/admin-token", post(admin_token))
}

/// Regenerate the caller's `apiPrivateKey` (tenant admin token).
///
/// The old key stops working at once: system logins and refreshes with it are `401`.
/// System sessions opened with it live on and need the new key at their next refresh.
/// Concurrent regenerations leave exactly one working key: a call that lost the race
/// is `409`.
#[utoipa::path(
    post,
    path = "/tenants/api-private-key",
    tag = "tenants",
    operation_id = "regenerateApiPrivateKey",
    summary = "Regenerate the tenant's apiPrivateKey",
    description = "Replaces the `apiPrivateKey` of the tenant of the tenant-admin token in \
        `Authorization: Bearer`. The new key is **shown this once** (stored only as a \
        hash; the answer is sent with `Cache-Control: no-store`) and the old one stops \
        working at once: `system` logins and refreshes with it are `401`. `system` \
        sessions opened with the old key live on and need the new key at their next \
        refresh.\n\n\
        Concurrent regenerations leave exactly one working key: a call that lost the race \
        answers `409` (or `201` with a key that a later call has already replaced).",
    security(("tenantAdminJWT" = [])),
    responses(
        (status = 201, description = "The new key, shown this once", body = NewPrivateKey),
        (status = 404, description = "The token's tenant does not exist", body = ErrorBody),
        (status = 409, description = "Regenerated or updated concurrently; retry", body = ErrorBody),
    )
)]
async fn regenerate_private_key(
    State(state): State<AppState>,
    TenantAdmin(claims): TenantAdmin,
) -> Result<(StatusCode, Json<NewPrivateKey>), ApiError> {
    let current = state
        .store
        .tenant(&claims.tenant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant not found".into()))?;
    let key = TenantKeys::new_private_key();
    let entry = ApiKeyEntry {
        hash: hash_secret(&key),
        tenant_id: current.id.clone(),
        kind: KeyKind::Private,
    };
    let mut updated = current.clone();
    updated.api_private_key_hash = entry.hash;
    updated.version = current.version + 1;
    state
        .store
        .replace_private_key(
            &updated,
            current.version,
            current.api_private_key_hash,
            &entry,
        )
        .await?;
    state.project_keys.invalidate_tenant(&updated.id);
    Event::new(Action::PrivateKeyRegenerated, &updated.id)
        .session(&claims.sub, &claims.sid)
        .record();
    Ok((
        StatusCode::CREATED,
        Json(NewPrivateKey {
            api_private_key: key,
        }),
    ))
}

/// Who may ask for a tenant's admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    PlatformOperator,
    TenantAdmin,
}

/// Reads both credentials the route accepts: `x-api-key` must be the platform key, and
/// a bearer token must be a tenant-admin token of `tenant` (`401` when either is
/// present and invalid, `403` for another tenant's or a non-admin token; an id that is
/// not a tenant id is no admin token's).
async fn asker(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    tenant: Option<&TenantId>,
) -> Result<Asker, ApiError> {
    let operator = match header_text(headers, API_KEY_HEADER) {
        None => false,
        Some(Ok(key)) if state.platform_key.matches(key) => true,
        Some(_) => {
            return Err(ApiError::Unauthorized(
                "invalid platform API key (x-api-key)",
            ));
        }
    };
    let admin = match bearer(headers) {
        None => false,
        Some(presented) => {
            let token = presented
                .map_err(|()| ApiError::Unauthorized("missing, invalid or expired bearer token"))?;
            let claims = verify_bearer(state, extensions, token).await?;
            if claims.auth_type != AuthType::Tenant {
                return Err(ApiError::Forbidden("a tenant admin token is required"));
            }
            if Some(&claims.tenant_id) != tenant {
                return Err(ApiError::Forbidden("the admin token is another tenant's"));
            }
            true
        }
    };
    match (operator, admin) {
        (_, true) => Ok(Asker::TenantAdmin),
        (true, false) => Ok(Asker::PlatformOperator),
        (false, false) => Err(ApiError::Unauthorized(
            "the platform operator key (x-api-key) or the tenant's admin token is required",
        )),
    }
}

/// A fresh tenant-admin token (platform operator key, or the tenant's own admin token).
///
/// The recovery path once the token of `POST /tenants` has expired and no identity
/// provider is trusted for `authType: tenant`. It has the bootstrap lifetime.
#[utoipa::path(
    post,
    path = "/tenants/{id}/admin-token",
    tag = "tenants",
    operation_id = "createTenantAdminToken",
    summary = "Issue a new tenant-admin token",
    description = "A fresh tenant-admin access token for the tenant, with the bootstrap \
        lifetime (24 h by default), **shown this once** (sent with \
        `Cache-Control: no-store`): the recovery path once the `jwt` of `POST /tenants` \
        has expired and no identity provider is trusted for `authType: tenant`.\n\n\
        Asked with the platform operator key in `x-api-key` (any tenant), or with that \
        tenant's own admin token. Another tenant's admin token, or a token that is not a \
        tenant-admin token, is `403`; an unknown id is `404` (once the credentials are \
        accepted).",
    params(("id" = String, Path, format = "uuid", description = "The tenant's id (a UUID)",
        example = "3f2b8c1e-6d4a-4b7e-9a51-2c0d8e7f6a13")),
    security(("businessApiKey" = []), ("tenantAdminJWT" = [])),
    responses(
        (status = 201, description = "A new tenant-admin token, shown this once", body = AdminToken),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
async fn admin_token(
    State(state): State<AppState>,
    raw_id: Result<Path<String>, PathRejection>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<AdminToken>), ApiError> {
    let raw_id = raw_id.map_or_else(|_| String::new(), |Path(id)| id);
    let not_found = || ApiError::NotFound(format!("no tenant with id {raw_id:?}"));
    // Credentials first: whether a tenant exists is no one else's business.
    let id = TenantId::parse(&raw_id);
    let asker = asker(&state, &extensions, &headers, id.as_ref()).await?;
    let id = id.ok_or_else(not_found)?;
    state.store.tenant(&id).await?.ok_or_else(not_found)?;
    let signer = state.issuer.signer().await?;
    let session = signer.open_admin_session(&id);
    let jwt = signer.tenant_admin(&session)?;
    state.store.create_session(&session).await?;
    Event::new(Action::AdminTokenIssued, &id)
        .session(&session.user_id, &session.session_id)
        .by(match asker {
            Asker::PlatformOperator => "platform-operator",
            Asker::TenantAdmin => "tenant-admin",
        })
        .record();
    Ok((StatusCode::CREATED, Json(AdminToken { jwt })))
}
