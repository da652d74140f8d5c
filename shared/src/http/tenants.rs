//! `/tenants…`: create (platform key), update (tenant admin), `me`, `client-config`,
//! `login-token` (project key) and get-by-id at three data levels.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::error::ErrorBody;
use super::extract::{
    API_KEY_HEADER, JsonBody, PROJECT_KEY_HEADER, PlatformOperator, ProjectKey, SourceIp,
    TenantAdmin, bearer, header_text, private_key_of, project_key_of, verify_bearer,
};
use super::openapi::{ClientConfigDoc, CreatedTenantDoc, TenantCreateDoc, TenantDoc};
use super::{ApiError, AppState};
use crate::domain::{
    ApiKeyEntry, AuthType, IdentityProvider, KeyKind, Tenant, TenantId, TenantPatch,
    WalletManagementType, derive_acronym, generate_api_key, hash_secret,
};
use crate::geo::client_location;
use crate::token::provider::internal_address;
use crate::token::{self, AccessClaims, Kind, LoginClaims};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create).put(update))
        .route("/tenants/me", get(me))
        .route("/tenants/client-config", get(client_config))
        .route("/tenants/login-token", get(login_token))
        .route("/tenants/{id}", get(by_id))
}

/// The `tenants` function's router.
pub fn router(state: AppState) -> Router {
    super::edge(routes(), state)
}

/// Who may see what of a tenant. Allow-lists, so a new stored field stays private
/// until it is added here on purpose.
const PUBLIC: &[&str] = &[
    "id",
    "projectName",
    "acronym",
    "createdAt",
    "projectDescription",
    "projectWebsite",
    "projectEmail",
    "projectImageUrl",
];
const PROJECT: &[&str] = &[
    "projectApiKey",
    "testnetProjectApiKey",
    "stripePublishableKey",
    "firebaseTenantId",
    "infuraApiKey",
    "polyScanApiKey",
    "allowJWTForUnauthenticatedUsers",
    "defaultWalletManagementType",
];
const ADMIN: &[&str] = &[
    "stripeApiKey",
    "stripeWebhookSecret",
    "loginToken",
    "identityProviders",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Public,
    Project,
    Admin,
}

/// The tenant's fields visible at `level` (plus `extra` named fields), nulls left out.
fn view(tenant: &Tenant, level: Level, extra: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(all) =
        serde_json::to_value(tenant).map_err(|e| ApiError::Internal(Box::new(e)))?
    else {
        return Err(ApiError::Internal(
            "tenant did not serialise to an object".into(),
        ));
    };
    let allowed = |k: &str| {
        PUBLIC.contains(&k)
            || extra.contains(&k)
            || (level >= Level::Project && PROJECT.contains(&k))
            || (level >= Level::Admin && ADMIN.contains(&k))
    };
    Ok(all
        .into_iter()
        .filter(|(k, v)| allowed(k) && !v.is_null())
        .collect())
}

/// Create a tenant (platform operator key).
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    request_body = TenantCreateDoc,
    security(("businessApiKey" = [])),
    responses(
        (status = 201, description = "The tenant, with `apiPrivateKey` and `jwt` shown this once", body = CreatedTenantDoc),
        (status = 400, description = "Bad input; the message names the field", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Credentials of different tenants", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn create(
    State(state): State<AppState>,
    _operator: PlatformOperator,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = patch.required_project_name()?;
    let project_key = generate_api_key("pk_live_");
    let testnet_key = generate_api_key("pk_test_");
    let private_key = generate_api_key("sk_live_");
    let id = TenantId::generate();
    let now = OffsetDateTime::now_utc();
    let blank = Tenant {
        id: id.clone(),
        acronym: derive_acronym(&name),
        project_name: name,
        created_at: now
            .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
            .unwrap_or(now),
        project_description: None,
        project_website: None,
        project_email: None,
        project_image_url: None,
        project_api_key: project_key.expose_secret().to_owned(),
        testnet_project_api_key: testnet_key.expose_secret().to_owned(),
        stripe_api_key: None,
        stripe_webhook_secret: None,
        stripe_publishable_key: None,
        login_token: None,
        allow_jwt_for_unauthenticated_users: false,
        firebase_tenant_id: None,
        infura_api_key: None,
        poly_scan_api_key: None,
        default_wallet_management_type: WalletManagementType::Custodial,
        identity_providers: Vec::new(),
        api_private_key_hash: hash_secret(&private_key),
        version: 1,
    };
    let tenant = patch.apply(&blank)?;
    let entries = [
        (&project_key, KeyKind::Project),
        (&testnet_key, KeyKind::TestnetProject),
        (&private_key, KeyKind::Private),
    ]
    .map(|(key, kind)| ApiKeyEntry {
        hash: hash_secret(key),
        tenant_id: id.clone(),
        kind,
    });
    // Sign before writing: if the keys are unavailable, nothing is stored.
    let keys = state.keys.key_set().await?;
    let admin = AccessClaims::tenant_admin(&state.settings, &id, crate::now_unix());
    let jwt = token::sign(&keys, Kind::Access, &admin)?;
    state.store.create_tenant(&tenant, &entries).await?;
    tracing::info!(tenant = %id, "tenant created");

    let mut body = view(&tenant, Level::Admin, &[])?;
    body.insert("apiPrivateKey".into(), json!(private_key.expose_secret()));
    body.insert("jwt".into(), json!(jwt));
    Ok((StatusCode::CREATED, Json(Value::Object(body))))
}

/// Update the caller's tenant (tenant admin token). Unknown fields are refused; `null`
/// clears an optional field.
#[utoipa::path(
    put,
    path = "/tenants",
    tag = "tenants",
    request_body = TenantPatch,
    security(("tenantAdminJWT" = [])),
    responses(
        (status = 200, description = "The tenant as its admin sees it", body = TenantDoc),
        (status = 400, description = "Bad input; the message names the field", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not a tenant admin token, or credentials of different tenants", body = ErrorBody),
        (status = 404, description = "The token's tenant does not exist", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn update(
    State(state): State<AppState>,
    TenantAdmin(claims): TenantAdmin,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(Value::Object(view(&updated, Level::Admin, &[])?)))
}

/// What a tenant's identity providers may not be, given this deployment: our own
/// issuer or a built-in provider's (their subjects would be taken for those users), or
/// a plain-`http` JWKS URI anywhere but on a local server (`pers-local` on loopback).
fn check_providers(state: &AppState, providers: &[IdentityProvider]) -> Result<(), ApiError> {
    let own = state.settings.issuer.trim_end_matches('/');
    let local = state.settings.is_local();
    for (i, p) in providers.iter().enumerate() {
        if p.issuer.trim_end_matches('/') == own || state.providers.is_reserved_issuer(&p.issuer) {
            return Err(ApiError::BadRequest(format!(
                "identityProviders[{i}].issuer: is this service's or a built-in provider's issuer"
            )));
        }
        if let Some(uri) = &p.jwks_uri
            && !local
            && !public_https(uri)
        {
            return Err(ApiError::BadRequest(format!(
                "identityProviders[{i}].jwksUri: must be an https URL of a public host"
            )));
        }
    }
    Ok(())
}

/// An `https` URL whose host is a name or a public address, not an address of the
/// function's own network. Names are checked again when the JWKS is fetched: a name
/// that resolves only to internal addresses is never connected to.
fn public_https(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    url.scheme() == "https"
        && match url.host() {
            // RFC 6761: `localhost` and every name under it are loopback.
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name != "localhost" && !name.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(v4)) => !internal_address(v4.into()),
            Some(url::Host::Ipv6(v6)) => !internal_address(v6.into()),
            None => false,
        }
}

/// The tenant of `x-project-key` (or of the `apiPrivateKey` in `x-api-key`): public
/// information plus `projectApiKey`.
#[utoipa::path(
    get,
    path = "/tenants/me",
    tag = "tenants",
    security(("projectKey" = []), ("businessApiKey" = [])),
    responses(
        (status = 200, description = "The tenant", body = TenantDoc),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Credentials of different tenants", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn me(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(Value::Object(view(
        &tenant,
        Level::Public,
        &["projectApiKey"],
    )?)))
}

/// Client-side configuration of the tenant of `x-project-key`.
#[utoipa::path(
    get,
    path = "/tenants/client-config",
    tag = "tenants",
    security(("projectKey" = [])),
    responses(
        (status = 200, description = "The configuration", body = ClientConfigDoc),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Credentials of different tenants", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn client_config(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
    SourceIp(source): SourceIp,
    headers: HeaderMap,
) -> Json<Value> {
    let t = &ctx.tenant;
    let mut body = Map::new();
    body.insert("projectName".into(), json!(t.project_name));
    body.insert("id".into(), json!(t.id));
    for (name, value) in [
        ("stripePublishableKey", &t.stripe_publishable_key),
        ("firebaseTenantId", &t.firebase_tenant_id),
        ("infuraApiKey", &t.infura_api_key),
        ("polyScanApiKey", &t.poly_scan_api_key),
    ] {
        if let Some(v) = value {
            body.insert(name.into(), json!(v));
        }
    }
    let location = client_location(&headers, source, state.geoip.as_deref());
    body.insert("clientIpLocation".into(), json!(location));
    Json(Value::Object(body))
}

/// A fresh login token (5 minutes) bound to the tenant of `x-project-key`.
#[utoipa::path(
    get,
    path = "/tenants/login-token",
    tag = "tenants",
    security(("projectKey" = [])),
    responses(
        (status = 200, description = "The token, as a JSON string", body = String, content_type = "application/json"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Credentials of different tenants", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn login_token(
    State(state): State<AppState>,
    ProjectKey(ctx): ProjectKey,
) -> Result<Json<String>, ApiError> {
    let claims = LoginClaims::new(
        &state.settings,
        &ctx.tenant.id,
        ctx.network,
        crate::now_unix(),
    );
    let keys = state.keys.key_set().await?;
    Ok(Json(token::sign(&keys, Kind::Login, &claims)?))
}

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
    params(("id" = String, Path, description = "The tenant id")),
    security((), ("projectKey" = []), ("businessApiKey" = []), ("tenantAdminJWT" = [])),
    responses(
        (status = 200, description = "The tenant", body = TenantDoc),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Credentials of different tenants", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 503, description = "A dependency is unreachable, not ready or too slow", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait before retrying (5)"))),
    )
)]
async fn by_id(
    State(state): State<AppState>,
    raw_id: Result<Path<String>, PathRejection>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    // An id that is not even UTF-8 once percent-decoded is as unknown as any other.
    let raw_id = raw_id.map_or_else(|_| String::new(), |Path(id)| id);
    let not_found = || ApiError::NotFound(format!("no tenant with id {raw_id:?}"));
    let id = TenantId::parse(&raw_id).ok_or_else(not_found)?;
    let level = level_for(&state, &extensions, &headers, &id).await?;
    let tenant = state.store.tenant(&id).await?.ok_or_else(not_found)?;
    Ok(Json(Value::Object(view(&tenant, level, &[])?)))
}
