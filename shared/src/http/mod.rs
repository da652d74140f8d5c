//! The HTTP edge: one router per endpoint group, each usable alone (a Lambda function)
//! or merged into [`app`] (`pers-local`). Paths match `template.yaml` exactly.

pub mod auth;
mod cache;
mod credentials;
mod error;
pub mod extract;
pub mod logout;
pub mod openapi;
mod recovery;
pub mod tenants;
pub mod trace;
pub mod verify;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use cache::{PROJECT_KEY_TTL, ProjectKeyCache};
pub use error::ApiError;

use crate::config::{ConfigError, Deployment, Settings};
use crate::deadlines::Deadlines;
use crate::domain::KeyHash;
use crate::geo::GeoIp;
use crate::keys::KeySource;
use crate::net::Reach;
use crate::store::Store;
use crate::token::provider::{DevIdentityProvider, Providers};
use crate::token::{Clock, Issuer, SystemClock};

/// [`AppState::with_dev_identity_provider`] outside `pers-local`.
#[derive(Debug, thiserror::Error)]
#[error("the development identity provider exists only in pers-local")]
pub struct DevIdentityProviderRefused;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// What handlers need, as trait objects: never a concrete client.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Mints every token and verifies our own; the one holder of the signing keys.
    pub issuer: Issuer,
    pub settings: Arc<Settings>,
    /// Where this runs, as the binary said: it decides what tenants' URLs may reach.
    pub deployment: Deployment,
    /// Hash of the platform operator key that `POST /tenants` requires.
    pub platform_key: KeyHash,
    pub providers: Arc<Providers>,
    pub project_keys: Arc<ProjectKeyCache>,
    /// The GeoIP database for `clientIpLocation`, when one is configured.
    pub geoip: Option<Arc<GeoIp>>,
    /// How long a request may take: past `deadlines.request` it is answered `503`.
    pub deadlines: Deadlines,
}

impl AppState {
    pub fn new(
        deployment: Deployment,
        store: Arc<dyn Store>,
        keys: Arc<dyn KeySource>,
        settings: Settings,
        platform_key: KeyHash,
    ) -> Self {
        let settings = Arc::new(settings);
        Self {
            store,
            issuer: Issuer::new(keys, settings.clone(), Arc::new(SystemClock)),
            providers: Arc::new(Providers::new(
                settings.builtin_providers.clone(),
                Reach::of_tenants_in(deployment),
            )),
            settings,
            deployment,
            platform_key,
            project_keys: Arc::default(),
            geoip: None,
            deadlines: Deadlines::PRODUCTION,
        }
    }

    /// The same state on another clock (tests of expiry and grace intervals).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.issuer = self.issuer.with_clock(clock);
        self
    }

    /// The same state under other deadlines (tests that load moto with bursts).
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    /// The same state trusting `pers-local`'s development identity provider for every
    /// tenant (DESIGN §1). Refused outside a local deployment: no Lambda function, and
    /// no setting of one, can trust it.
    pub fn with_dev_identity_provider(
        mut self,
        dev: DevIdentityProvider,
    ) -> Result<Self, DevIdentityProviderRefused> {
        if self.deployment != Deployment::Local {
            return Err(DevIdentityProviderRefused);
        }
        self.providers = Arc::new(
            Providers::new(
                self.settings.builtin_providers.clone(),
                Reach::of_tenants_in(self.deployment),
            )
            .with_dev(dev),
        );
        Ok(self)
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

/// Answers `503` when a request (its credential lookups included) outlasts its
/// deadline. Cancelling it there is safe: each write is one atomic call (a conditional
/// `PutItem`/`UpdateItem`, one `TransactWriteItems`, one embedded transaction), so a
/// cancelled request has written all of one call or none of it.
async fn within_deadline(
    axum::extract::State(deadline): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(
            format!("the request did not finish within its {deadline:?} deadline").into(),
        )
        .into_response(),
    }
}

/// The parts every router shares: the request id and line ([`trace`]), the request
/// deadline, JSON 404/405, the body limit, one tenant per request, and
/// `Cache-Control: no-store` unless a route says otherwise.
fn edge(routes: Router<AppState>, state: AppState) -> Router {
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            credentials::one_tenant,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.deadlines.request,
            within_deadline,
        ))
        .layer(axum::middleware::map_response(
            credentials::no_store_by_default,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state);
    trace::traced(routes)
}

/// The document, its first server the loopback address it was fetched from
/// (`pers-local` may listen elsewhere than its default), so that a "try it" of `/docs`
/// calls this server. Only a loopback `Host` is taken: any other could be a name that a
/// proxy or a rebinding DNS pointed here, and "try it" sends the keys a user enters.
async fn openapi_json(headers: axum::http::HeaderMap) -> impl axum::response::IntoResponse {
    let mut document = openapi::document();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .filter(|a| crate::net::is_loopback_host(a.host()));
    if let Some(host) = host {
        let here = utoipa::openapi::server::ServerBuilder::new()
            .url(format!("http://{host}"))
            .description(Some(
                "This pers-local (the address the document was fetched from)",
            ))
            .build();
        let servers = document.servers.get_or_insert_with(Vec::new);
        servers.retain(|s| !openapi::is_local_default(&s.url) && s.url != here.url);
        servers.insert(0, here);
    }
    ([(axum::http::header::VARY, "host")], axum::Json(document))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{LocalKeySource, SigningAlgorithm};
    use crate::store::EmbeddedStore;

    fn state(deployment: Deployment, parent: &std::path::Path) -> AppState {
        let dir = parent.join(format!("{deployment:?}"));
        std::fs::create_dir_all(&dir).unwrap();
        let settings =
            Settings::from_lookup(|_| None, Some("http://127.0.0.1:3000".into())).unwrap();
        let (keys, _) = LocalKeySource::open_or_generate(
            &dir.join("keys.json"),
            SigningAlgorithm::Es256,
            std::time::Duration::ZERO,
        )
        .unwrap();
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        AppState::new(
            deployment,
            Arc::new(store),
            Arc::new(keys),
            settings,
            KeyHash::of("pl_unit_test_platform_key"),
        )
    }

    fn dev() -> DevIdentityProvider {
        DevIdentityProvider {
            issuer_base: format!("{}unit-test", DevIdentityProvider::ISSUER_PREFIX),
            jwks: serde_json::json!({"keys": []}),
        }
    }

    #[test]
    fn only_a_local_deployment_trusts_the_development_identity_provider() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            state(Deployment::Lambda, dir.path())
                .with_dev_identity_provider(dev())
                .is_err()
        );
        let local = state(Deployment::Local, dir.path())
            .with_dev_identity_provider(dev())
            .unwrap();
        let tenant = crate::domain::Tenant::new(
            crate::domain::TenantId::generate(),
            "Unit".into(),
            &crate::domain::TenantKeys::generate(),
            time::OffsetDateTime::now_utc(),
        );
        let trusted: Vec<String> = crate::domain::AuthType::ALL
            .iter()
            .flat_map(|t| local.providers.trusted(&tenant, *t))
            .map(|p| p.issuer)
            .collect();
        assert_eq!(
            trusted,
            crate::domain::AuthType::ALL.map(|t| dev().issuer(t)),
            "one issuer per auth type"
        );
        // No tenant may register an issuer of a dev IdP as its own, in any deployment.
        let lambda = state(Deployment::Lambda, &dir.path().join("again"));
        assert!(
            lambda
                .providers
                .is_reserved_issuer(&dev().issuer(crate::domain::AuthType::User))
        );
    }
}
