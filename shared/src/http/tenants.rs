//! `/tenants…`: create (platform key), update (tenant admin), `me`, `client-config`,
//! `login-token` (project key) and get-by-id at three data levels.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use super::error::ErrorBody;
use super::extract::{
    API_KEY_HEADER, JsonBody, PROJECT_KEY_HEADER, PlatformOperator, ProjectKey, SourceIp,
    TenantAdmin, bearer, header_text, private_key_of, project_key_of, verify_bearer,
};
use super::views::{
    AdminTenant, ClientConfig, CreatedTenant, KeyedTenant, NewTenantBody, ProjectTenant,
    PublicTenant, TenantView,
};
use super::{ApiError, AppState};
use crate::audit::{Action, Event};
use crate::config::Deployment;
use crate::domain::{AuthType, IdentityProvider, Tenant, TenantId, TenantKeys, TenantPatch};
use crate::geo::client_location;
use crate::net::public_https;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create).put(update))
        .route("/tenants/me", get(me))
        .route("/tenants/client-config", get(client_config))
        .route("/tenants/login-token", get(login_token))
        .route("/tenants/{id}", get(by_id))
        .merge(super::recovery::routes())
}

/// The `tenants` function's router.
pub fn router(state: AppState) -> Router {
    super::edge(routes(), state)
}

/// How much of a tenant a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Public,
    Project,
    Admin,
}

/// Create a tenant (platform operator key).
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    operation_id = "createTenant",
    summary = "Create a tenant",
    description = "Creates a tenant (a project) with the platform operator key in \
        `x-api-key`; no other key is accepted. Only `projectName` is required: any other \
        field of `PUT /tenants` may be set at once.\n\n\
        The answer is the tenant as its admin sees it, with random, unique \
        `projectApiKey` and `testnetProjectApiKey`, an `acronym` derived from the name, \
        and two credentials **shown this once**: `apiPrivateKey` (stored only as a \
        hash) and `jwt`, a tenant-admin access token that is the tenant's bootstrap \
        credential (24 h by default; `POST /tenants/{id}/admin-token` issues another). \
        Creation is all-or-nothing; the answer is sent with `Cache-Control: no-store`.",
    request_body(content = NewTenantBody, description = "The new tenant's name and any other settings"),
    security(("businessApiKey" = [])),
    responses(
        (status = 201, description = "The tenant, with `apiPrivateKey` and `jwt` shown this once", body = CreatedTenant),
    )
)]
async fn create(
    State(state): State<AppState>,
    _operator: PlatformOperator,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    let name = patch.required_project_name()?;
    let keys = TenantKeys::generate();
    let id = TenantId::generate();
    let tenant = patch.apply(&Tenant::new(
        id.clone(),
        name,
        &keys,
        OffsetDateTime::now_utc(),
    ))?;
    // The same rules as `PUT /tenants`: a tenant created with its providers may not
    // skip them.
    check_providers(&state, &tenant.identity_providers)?;
    // Sign before writing: if the keys are unavailable, nothing is stored.
    let signer = state.issuer.signer().await?;
    let admin = signer.open_admin_session(&id);
    let jwt = signer.tenant_admin(&admin)?;
    state
        .store
        .create_tenant(&tenant, &keys.entries(&id), &admin)
        .await?;
    super::trace::record_tenant(&id);
    tracing::info!(tenant = %id, "tenant created");
    Event::new(Action::AdminTokenIssued, &id)
        .session(&admin.user_id, &admin.session_id)
        .by("platform-operator")
        .record();
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            tenant: AdminTenant::from(&tenant),
            api_private_key: keys.private_key().clone(),
            jwt,
        }),
    ))
}

/// Update the caller's tenant (tenant admin token). Unknown fields are refused; `null`
/// clears an optional field.
#[utoipa::path(
    put,
    path = "/tenants",
    tag = "tenants",
    operation_id = "updateTenant",
    summary = "Update the caller's tenant",
    description = "Changes the tenant of the tenant-admin token in `Authorization: Bearer`. \
        Every field is optional: an absent field is left as it is, `null` clears an \
        optional text field, and `identityProviders` replaces the whole list. Either \
        every field is valid and all change, or nothing does: an unknown field or an \
        invalid value (a bad URL or email, an empty name, a wrong type) is `400` naming \
        the field.\n\n\
        Turning off `allowJWTForUnauthenticatedUsers` ends the refresh of sandbox \
        sessions; removing a provider (or an auth type from it) ends the refresh of the \
        sessions it opened. The answer is the tenant as its admin sees it, sent with \
        `Cache-Control: no-store`.",
    request_body(content = TenantPatch, description = "The fields to change"),
    security(("tenantAdminJWT" = [])),
    responses(
        (status = 200, description = "The tenant as its admin sees it", body = AdminTenant),
        (status = 403, description = "Not a tenant admin token, or credentials of different tenants", body = ErrorBody),
        (status = 404, description = "The token's tenant does not exist", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    TenantAdmin(claims): TenantAdmin,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> Result<Json<AdminTenant>, ApiError> {
    let current = state
        .store
        .tenant(&claims.tenant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant not found".into()))?;
    let mut updated = patch.apply(&current)?;
    if updated.identity_providers != current.identity_providers {
        check_providers(&state, &updated.identity_providers)?;
    }
    updated.version = current.version + 1;
    state.store.update_tenant(&updated, current.version).await?;
    state.project_keys.invalidate_tenant(&updated.id);
    Ok(Json(AdminTenant::from(&updated)))
}

/// What a tenant's identity providers may not be, given this deployment: our own
/// issuer or a built-in provider's (their subjects would be taken for those users), or
/// a plain-`http` JWKS URI anywhere but on a local server (`pers-local` on loopback).
fn check_providers(state: &AppState, providers: &[IdentityProvider]) -> Result<(), ApiError> {
    let own = state.settings.issuer.trim_end_matches('/');
    for (i, p) in providers.iter().enumerate() {
        if p.issuer.trim_end_matches('/') == own || state.providers.is_reserved_issuer(&p.issuer) {
            return Err(ApiError::BadRequest(format!(
                "identityProviders[{i}].issuer: is this service's or a built-in provider's issuer"
            )));
        }
        if let Some(uri) = &p.jwks_uri
            && state.deployment == Deployment::Lambda
            && !public_https(uri)
        {
            return Err(ApiError::BadRequest(format!(
                "identityProviders[{i}].jwksUri: must be an https URL of a public host"
            )));
        }
    }
    Ok(())
}

/// The tenant of `x-project-key` (or of the `apiPrivateKey` in `x-api-key`): public
/// information plus `projectApiKey`.
#[utoipa::path(
    get,
    path = "/tenants/me",
    tag = "tenants",
    operation_id = "getCurrentTenant",
    summary = "Get the caller's tenant",
    description = "The tenant that the caller's key names, without knowing its id: its \
        public information and its `projectApiKey`. The key is `x-project-key` (either \
        project key) or the tenant's `apiPrivateKey` in `x-api-key`; every key presented \
        must be valid and of the same tenant.",
    security(("projectKey" = []), ("businessApiKey" = [])),
    responses(
        (status = 200, description = "The tenant's public information and project key", body = KeyedTenant),
    )
)]
async fn me(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Json<KeyedTenant>, ApiError> {
    const BAD: &str = "missing or invalid project key (x-project-key) or apiPrivateKey (x-api-key)";
    let by_project = match header_text(&headers, PROJECT_KEY_HEADER) {
        None => None,
        Some(presented) => {
            let key = presented.map_err(|()| ApiError::Unauthorized(BAD))?;
            let ctx = project_key_of(&state, &extensions, key).await?;
            Some(ctx.ok_or(ApiError::Unauthorized(BAD))?.tenant)
        }
    };
    // Read whenever present, so that a wrong key is refused rather than ignored.
    let by_private = match header_text(&headers, API_KEY_HEADER) {
        None => None,
        Some(presented) => {
            let key = presented.map_err(|()| ApiError::Unauthorized(BAD))?;
            Some(
                private_key_of(&state, &extensions, key)
                    .await?
                    .ok_or(ApiError::Unauthorized(BAD))?,
            )
        }
    };
    let tenant = match (by_project, by_private) {
        (Some(tenant), _) => tenant,
        (None, Some(id)) => state
            .store
            .tenant(&id)
            .await?
            .ok_or(ApiError::Unauthorized(BAD))?,
        (None, None) => return Err(ApiError::Unauthorized(BAD)),
    };
    Ok(Json(KeyedTenant::from(&tenant)))
}

/// Client-side configuration of the tenant of `x-project-key`.
#[utoipa::path(
    get,
    path = "/tenants/client-config",
    tag = "tenants",
    operation_id = "getClientConfig",
    summary = "Get the client-side configuration",
    description = "What the client-side code of the tenant of `x-project-key` needs: the \
        tenant's name and id, its publishable keys (Stripe, Infura, PolygonScan), its \
        Firebase tenant id, and where the caller is (`clientIpLocation`), from \
        CloudFront's viewer headers when present, else from the configured GeoIP \
        database, else `null`.",
    security(("projectKey" = [])),
    responses(
        (status = 200, description = "The configuration", body = ClientConfig),
    )
)]
async fn client_config(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    SourceIp(source): SourceIp,
    headers: HeaderMap,
) -> Json<ClientConfig> {
    let location = client_location(&headers, source, state.geoip.as_deref());
    Json(ClientConfig::of(&ctx.tenant, location))
}

/// A fresh login token (5 minutes) bound to the tenant of `x-project-key`.
#[utoipa::path(
    get,
    path = "/tenants/login-token",
    tag = "tenants",
    operation_id = "getLoginToken",
    summary = "Get a login token",
    description = "A fresh, short-lived token bound to the tenant of `x-project-key` (and \
        marked `testnet` when that is the testnet key): a JWT with `typ: login+jwt` and \
        its own audience, valid for 5 minutes. It is no access token: no route accepts \
        it as a credential. The answer is a JSON string, sent with \
        `Cache-Control: no-store`.",
    security(("projectKey" = [])),
    responses(
        (status = 200, description = "The token, as a JSON string", content_type = "application/json",
            body = inline(LoginTokenBody)),
    )
)]
async fn login_token(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
) -> Result<Json<String>, ApiError> {
    let signer = state.issuer.signer().await?;
    Ok(Json(signer.login(&ctx.tenant.id, ctx.network)?))
}

/// Schema only: the body of `GET /tenants/login-token`, a JSON string.
#[derive(utoipa::ToSchema)]
#[schema(
    value_type = String,
    description = "A login token (a JWT, `typ: login+jwt`) of the tenant, valid for 5 minutes.",
    example = super::openapi::examples::login_token
)]
#[allow(dead_code)]
struct LoginTokenBody(String);

/// The highest level the presented credentials grant on `tenant`. Credentials that are
/// present but invalid are refused; valid ones of another tenant grant nothing.
async fn level_for(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    tenant: &TenantId,
) -> Result<Level, ApiError> {
    let mut level = Level::Public;
    if let Some(presented) = header_text(headers, API_KEY_HEADER) {
        const BAD: &str = "invalid apiPrivateKey (x-api-key)";
        let key = presented.map_err(|()| ApiError::Unauthorized(BAD))?;
        let owner = private_key_of(state, extensions, key)
            .await?
            .ok_or(ApiError::Unauthorized(BAD))?;
        if &owner == tenant {
            level = Level::Project;
        }
    }
    if let Some(presented) = header_text(headers, PROJECT_KEY_HEADER) {
        let key = presented
            .map_err(|()| ApiError::Unauthorized("invalid project key (x-project-key)"))?;
        let ctx = project_key_of(state, extensions, key)
            .await?
            .ok_or(ApiError::Unauthorized(
                "invalid project key (x-project-key)",
            ))?;
        if &ctx.tenant.id == tenant {
            level = level.max(Level::Project);
        }
    }
    if let Some(presented) = bearer(headers) {
        let token = presented.map_err(|()| ApiError::Unauthorized("invalid bearer token"))?;
        let claims = verify_bearer(state, extensions, token).await?;
        if claims.auth_type == AuthType::Tenant && &claims.tenant_id == tenant {
            level = Level::Admin;
        }
    }
    Ok(level)
}

/// A tenant by id, at the level the credentials grant: none → public; the tenant's own
/// project key or `apiPrivateKey` → plus keys and public configuration; its admin token →
/// everything.
/// Another tenant's credentials grant nothing beyond public; invalid ones are 401.
#[utoipa::path(
    get,
    path = "/tenants/{id}",
    tag = "tenants",
    operation_id = "getTenantById",
    summary = "Get a tenant by id",
    description = "The tenant, at the level that the caller's credentials grant on it:\n\n\
        - no credentials: the public view (`id`, `projectName`, `acronym`, `createdAt` \
        and the public profile);\n\
        - the tenant's own `x-project-key`, or its `apiPrivateKey` in `x-api-key`: the \
        project view, which adds the two project keys and the public configuration;\n\
        - the tenant's own admin token (`Authorization: Bearer`): the admin view, \
        everything but the `apiPrivateKey`, which no route shows again.\n\n\
        Valid credentials of another tenant grant nothing beyond the public view; \
        invalid ones are `401`. An unknown id is `404`. Every view is sent with \
        `Cache-Control: no-store`.",
    params(("id" = String, Path, format = "uuid", description = "The tenant's id (a UUID)",
        example = "3f2b8c1e-6d4a-4b7e-9a51-2c0d8e7f6a13")),
    security((), ("projectKey" = []), ("businessApiKey" = []), ("tenantAdminJWT" = [])),
    responses(
        (status = 200, description = "The tenant at the caller's level: one of the public, project and admin views", body = TenantView),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
async fn by_id(
    State(state): State<AppState>,
    raw_id: Result<Path<String>, PathRejection>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Json<TenantView>, ApiError> {
    // An id that is not even UTF-8 once percent-decoded is as unknown as any other.
    let raw_id = raw_id.map_or_else(|_| String::new(), |Path(id)| id);
    let not_found = || ApiError::NotFound(format!("no tenant with id {raw_id:?}"));
    let id = TenantId::parse(&raw_id).ok_or_else(not_found)?;
    let level = level_for(&state, &extensions, &headers, &id).await?;
    let tenant = state.store.tenant(&id).await?.ok_or_else(not_found)?;
    Ok(Json(match level {
        Level::Public => TenantView::Public(PublicTenant::from(&tenant)),
        Level::Project => TenantView::Project(ProjectTenant::from(&tenant)),
        Level::Admin => TenantView::Admin(AdminTenant::from(&tenant)),
    }))
}
