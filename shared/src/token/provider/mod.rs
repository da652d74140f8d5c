//! Tokens of identity providers: which providers a tenant trusts, their JWKS (inline or
//! fetched and cached), and verification by RFC 8725: algorithm allow-list per provider
//! (asymmetric only), key chosen by `kid` from the provider's own set only (`jku`, `x5u`
//! and embedded `jwk` are never read) and used only if it is meant for signatures and
//! fits the token's algorithm ([`super::jwk`]), no `crit` header, `iss` required and
//! pinned, `aud` required and pinned when the provider names one, `exp` required, 60 s
//! leeway on time claims, a non-empty `sub`, a size limit. `/auth/token` and
//! `/auth/verify` both judge a provider token by [`Providers::verify_with`] alone.
//!
//! Here: which providers a tenant trusts; [`verify`] holds the rules, [`jwks`] the
//! fetched key sets.

mod jwks;
mod verify;

use jsonwebtoken::Algorithm;
use serde_json::Value;

pub use jwks::JwksCache;
pub use verify::unverified_issuer;

use super::{Clock, MAX_TOKEN_BYTES};
use crate::BoxError;
use crate::config::BuiltinProviders;
use crate::domain::{AuthType, IdentityProvider, ProviderAlgorithm, Tenant};
use crate::net::Reach;

const FIREBASE_ISSUER_PREFIX: &str = "https://securetoken.google.com/";

fn firebase_issuer(project_id: &str) -> String {
    format!("{FIREBASE_ISSUER_PREFIX}{project_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No provider the tenant trusts for this auth type issued the token.
    #[error("the token's issuer is not trusted for this tenant and auth type")]
    Untrusted,
    /// The token failed verification; the reason is safe to tell the caller.
    #[error("{0}")]
    Invalid(&'static str),
    /// The provider's JWKS could not be fetched and none is cached.
    #[error("the identity provider's keys are unavailable")]
    Unavailable(#[source] BoxError),
}

/// Where a provider's keys come from.
#[derive(Debug, Clone, PartialEq)]
enum KeySource {
    Inline(Value),
    /// A URI the operator configured (a built-in provider): fetched wherever it points.
    Uri(String),
    /// A URI a tenant configured: fetched under the deployment's [`Reach`].
    TenantUri(String),
}

/// One provider the tenant trusts, ready to verify with.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedProvider {
    pub issuer: String,
    keys: KeySource,
    audience: Option<String>,
    auth_types: Vec<AuthType>,
    algorithms: Vec<Algorithm>,
    /// Firebase: the `firebase.tenant` claim the token must carry.
    firebase_tenant: Option<String>,
}

impl TrustedProvider {
    /// Whether a session opened through `via` was opened through this provider.
    pub fn opened(&self, issuer: &str, firebase_tenant: Option<&str>) -> bool {
        self.issuer == issuer && self.firebase_tenant.as_deref() == firebase_tenant
    }

    fn from_tenant(p: &IdentityProvider) -> Self {
        Self {
            issuer: p.issuer.clone(),
            keys: match (&p.jwks, &p.jwks_uri) {
                (Some(inline), _) => KeySource::Inline(inline.clone()),
                (None, Some(uri)) => KeySource::TenantUri(uri.clone()),
                (None, None) => KeySource::Inline(serde_json::json!({"keys": []})),
            },
            audience: p.audience.clone(),
            auth_types: p.auth_types.clone(),
            algorithms: p.allowed_algorithms(),
            firebase_tenant: None,
        }
    }
}

/// The claims of a verified provider token.
#[derive(Debug, Clone)]
pub struct ProviderClaims {
    pub issuer: String,
    pub subject: String,
    /// The Firebase tenant the built-in Firebase provider vouched through.
    pub firebase_tenant: Option<String>,
    pub claims: Value,
}

/// `pers-local`'s development identity provider (DESIGN §1): the public key of one data
/// directory's dev IdP, trusted by every tenant of that `pers-local`, with one issuer per
/// auth type (`<issuer_base>/<authType>`), so that a token minted for one auth type
/// opens no other. Nothing in the configuration names it: only
/// [`crate::http::AppState::with_dev_identity_provider`] installs it, and only in a local
/// deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DevIdentityProvider {
    /// `urn:pers-local:dev-idp:<the data directory's id>`.
    pub issuer_base: String,
    /// The JWK Set of its one public key.
    pub jwks: Value,
}

impl DevIdentityProvider {
    /// The `aud` its tokens carry.
    pub const AUDIENCE: &str = "pers-local";
    /// How every dev IdP's issuer begins, whatever its data directory.
    pub const ISSUER_PREFIX: &str = "urn:pers-local:dev-idp:";

    /// The issuer of its tokens for `auth_type`.
    pub fn issuer(&self, auth_type: AuthType) -> String {
        format!("{}/{}", self.issuer_base, auth_type.as_str())
    }
}

/// The built-in providers, the tenant's own, and a shared JWKS cache.
pub struct Providers {
    builtin: BuiltinProviders,
    dev: Option<DevIdentityProvider>,
    jwks: JwksCache,
    tenant_reach: Reach,
}

impl Providers {
    /// `tenant_reach` bounds where tenants' JWKS URIs may lead (built-in providers are
    /// the operator's own configuration and are fetched wherever they point).
    pub fn new(builtin: BuiltinProviders, tenant_reach: Reach) -> Self {
        Self {
            builtin,
            dev: None,
            jwks: JwksCache::new(),
            tenant_reach,
        }
    }

    /// The same providers and the local development identity provider (see
    /// [`DevIdentityProvider`]; `AppState` allows it in a local deployment only).
    pub(crate) fn with_dev(mut self, dev: DevIdentityProvider) -> Self {
        self.dev = Some(dev);
        self
    }

    /// Every provider `tenant` trusts for `auth_type`: the built-in ones first, so that
    /// no tenant provider can stand in for one of them (`PUT /tenants` also refuses
    /// their issuers, see [`Self::is_reserved_issuer`]).
    pub fn trusted(&self, tenant: &Tenant, auth_type: AuthType) -> Vec<TrustedProvider> {
        let mut out = Vec::with_capacity(tenant.identity_providers.len() + 2);
        if let Some(s) = &self.builtin.signer {
            out.push(TrustedProvider {
                issuer: s.issuer.clone(),
                keys: KeySource::Uri(s.jwks_uri.clone()),
                audience: s.audience.clone(),
                auth_types: vec![AuthType::User],
                algorithms: ProviderAlgorithm::ALL.map(ProviderAlgorithm::jwt).to_vec(),
                firebase_tenant: None,
            });
        }
        // Anyone can sign up to the platform's Firebase project, so it vouches for the
        // admins of a tenant only through that tenant's own Firebase tenant: a tenant
        // without `firebaseTenantId` has no Firebase admins.
        if let (Some(f), Some(fb_tenant)) = (&self.builtin.firebase, &tenant.firebase_tenant_id) {
            out.push(TrustedProvider {
                issuer: firebase_issuer(&f.project_id),
                keys: KeySource::Uri(f.jwks_uri.clone()),
                audience: Some(f.project_id.clone()),
                auth_types: vec![AuthType::Tenant],
                algorithms: vec![Algorithm::RS256],
                firebase_tenant: Some(fb_tenant.clone()),
            });
        }
        if let Some(dev) = &self.dev {
            out.push(TrustedProvider {
                issuer: dev.issuer(auth_type),
                keys: KeySource::Inline(dev.jwks.clone()),
                audience: Some(DevIdentityProvider::AUDIENCE.to_owned()),
                auth_types: vec![auth_type],
                algorithms: vec![Algorithm::ES256],
                firebase_tenant: None,
            });
        }
        out.extend(
            tenant
                .identity_providers
                .iter()
                .map(TrustedProvider::from_tenant),
        );
        out.retain(|p| p.auth_types.contains(&auth_type));
        out
    }

    /// Whether `issuer` is a built-in provider's, which a tenant may not register as its
    /// own (its users would collide with, or impersonate, the built-in provider's).
    /// Another Firebase project than the platform's is an ordinary provider.
    pub fn is_reserved_issuer(&self, issuer: &str) -> bool {
        let issuer = issuer.trim_end_matches('/');
        let signer = self.builtin.signer.as_ref().map(|s| s.issuer.as_str());
        let firebase = self
            .builtin
            .firebase
            .as_ref()
            .map(|f| firebase_issuer(&f.project_id));
        signer.is_some_and(|s| s.trim_end_matches('/') == issuer)
            || firebase.is_some_and(|f| f == issuer)
            || issuer.starts_with(DevIdentityProvider::ISSUER_PREFIX)
    }

    /// Verifies a provider token for `tenant` and `auth_type`.
    pub async fn verify(
        &self,
        tenant: &Tenant,
        auth_type: AuthType,
        token: &str,
        clock: &dyn Clock,
    ) -> Result<ProviderClaims, ProviderError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ProviderError::Invalid("token is too large"));
        }
        let issuer =
            unverified_issuer(token).ok_or(ProviderError::Invalid("token is malformed"))?;
        let provider = self
            .trusted(tenant, auth_type)
            .into_iter()
            .find(|p| p.issuer == issuer)
            .ok_or(ProviderError::Untrusted)?;
        self.verify_with(&provider, token, clock).await
    }
}
