//! DESIGN §2, the rules every route shares: a request speaks for at most one tenant,
//! and nothing that carries a token or a secret is kept by a cache.
//!
//! [`one_tenant`] looks at every tenant credential a request carries, whether or not its
//! route reads it — `x-project-key`, an `x-api-key` other than the platform key, a PERS
//! access token in `Authorization: Bearer` — and refuses the request with `403` when two
//! valid ones belong to different tenants, before the handler runs (so nothing changes).
//! A credential that is not valid plays no part here: the route that reads it refuses
//! it (`401`); one that does not read it ignores it. The public documents read no
//! credentials and are not looked at.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::extract::{
    API_KEY_HEADER, PROJECT_KEY_HEADER, Resolved, bearer, header_text, resolve_private_key,
    resolve_project_key,
};
use super::{ApiError, AppState};
use crate::domain::TenantId;
use crate::token::AccessClaims;

/// Paths that read no credentials at all.
fn public_document(path: &str) -> bool {
    path.starts_with("/.well-known/") || matches!(path, "/openapi.json" | "/docs" | "/health")
}

/// Refuses a request whose valid credentials name different tenants (`403`), and hands
/// what it found to the route ([`Resolved`]).
pub async fn one_tenant(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !public_document(request.uri().path()) {
        let (tenants, resolved) = presented_tenants(&state, request.headers()).await?;
        if tenants.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err(ApiError::Forbidden(
                "the request's credentials belong to different tenants",
            ));
        }
        if let Some(tenant) = tenants.first() {
            super::trace::record_tenant(tenant);
        }
        request.extensions_mut().insert(resolved);
    }
    Ok(next.run(request).await)
}

/// The tenant of each valid tenant credential of the request, and what each credential
/// it looked at resolved to.
async fn presented_tenants(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Vec<TenantId>, Resolved), ApiError> {
    let mut tenants = Vec::with_capacity(3);
    let mut resolved = Resolved::default();
    if let Some(Ok(key)) = header_text(headers, PROJECT_KEY_HEADER) {
        let ctx = resolve_project_key(state, key).await?;
        if let Some(ctx) = &ctx {
            tenants.push(ctx.tenant.id.clone());
        }
        resolved.project = Some(ctx);
    }
    if let Some(Ok(token)) = bearer(headers) {
        let verdict = state.issuer.verify::<AccessClaims>(token).await?;
        if let Ok(claims) = &verdict {
            tenants.push(claims.tenant_id.clone());
        }
        resolved.bearer = Some(verdict);
    }
    if let Some(Ok(key)) = header_text(headers, API_KEY_HEADER)
        && !tenants.is_empty()
    {
        // A private key alone names one tenant and cannot conflict. Beside another
        // credential it is looked up in storage, not matched against the cached tenant,
        // whose hash may be a regenerated key's (DESIGN §3: the old key stops at once).
        let owner = resolve_private_key(state, key).await?;
        if let Some(owner) = &owner {
            tenants.push(owner.clone());
        }
        resolved.private = Some(owner);
    }
    Ok((tenants, resolved))
}

/// `Cache-Control: no-store` on every answer that does not say otherwise: tokens,
/// secrets and per-caller views must never be kept by a CDN or a browser (DESIGN §7).
/// Only the public documents opt into caching.
pub async fn no_store_by_default(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
