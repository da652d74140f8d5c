//! The HTTP edge: one router per endpoint group, each usable alone (a Lambda function)
//! or merged into [`app`] (`pers-local`). Paths match `template.yaml` exactly.

pub mod auth;
mod cache;
mod credentials;
mod error;
pub mod extract;
pub mod openapi;
pub mod tenants;
pub mod verify;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use cache::{PROJECT_KEY_TTL, ProjectKeyCache};
pub use error::ApiError;

use crate::config::{ConfigError, Settings};
use crate::domain::KeyHash;
use crate::geo::GeoIp;
use crate::keys::KeySource;
use crate::store::Store;
use crate::token::provider::{Providers, Reach};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// What handlers need, as trait objects: never a concrete client.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<dyn KeySource>,
    pub settings: Arc<Settings>,
    /// Hash of the platform operator key that `POST /tenants` requires.
    pub platform_key: KeyHash,
    pub providers: Arc<Providers>,
    pub project_keys: Arc<ProjectKeyCache>,
    /// The GeoIP database for `clientIpLocation`, when one is configured.
    pub geoip: Option<Arc<GeoIp>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeySource>,
        settings: Settings,
        platform_key: KeyHash,
    ) -> Self {
        Self {
            store,
            keys,
            providers: Arc::new(Providers::new(
                settings.builtin_providers.clone(),
                if settings.is_local() {
                    Reach::Any
                } else {
                    Reach::PublicOnly
                },
            )),
            settings: Arc::new(settings),
            platform_key,
            project_keys: Arc::default(),
            geoip: None,
        }
    }

    /// Opens the GeoIP database the settings name, if any (an unusable one is an error
    /// naming `PERS_GEOIP_DATABASE`).
    pub fn with_configured_geoip(mut self) -> Result<Self, ConfigError> {
        if let Some(path) = &self.settings.geoip_database {
            self.geoip = Some(Arc::new(GeoIp::open(path)?));
        }
        Ok(self)
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The parts every router shares: JSON 404/405, the body limit, one tenant per
/// request, and `Cache-Control: no-store` unless a route says otherwise.
fn edge(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            credentials::one_tenant,
        ))
        .layer(axum::middleware::map_response(
            credentials::no_store_by_default,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi::document())
}

/// Every route of the service, and its OpenAPI document at `/openapi.json`, for
/// `pers-local`.
pub fn app(state: AppState) -> Router {
    edge(
        tenants::routes()
            .merge(auth::routes())
            .merge(verify::routes())
            .route("/openapi.json", axum::routing::get(openapi_json)),
        state,
    )
}
