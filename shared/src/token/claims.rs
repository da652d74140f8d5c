//! The claims of the three kinds of PERS token, and how each is built. Only the
//! [`Issuer`](super::Issuer) builds them for the service; the constructors are public so
//! that tests and benchmarks can mint the very same tokens.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Kind, TokenError, new_id};
use crate::config::Settings;
use crate::domain::{AuthType, Network, Session, SessionKey, SessionOrigin, TenantId};

/// The claims of one kind of our own tokens: the type says which kind it is, so a
/// token is always verified as the kind its reader expects.
pub trait OwnClaims: Serialize + DeserializeOwned {
    const KIND: Kind;

    /// The rules of this kind beyond those every kind shares.
    fn check(&self) -> Result<(), TokenError> {
        Ok(())
    }
}

/// The platform-wide scope of an auth type: `pers:user`, `pers:tenant`, …
pub fn scope_of(auth_type: AuthType) -> String {
    format!("pers:{}", auth_type.as_str())
}

/// The `scope` of an access token: the auth type, platform-wide and for its tenant
/// (`pers:tenant pers:tenant:<tenant id>`), so that an API Gateway route can require an
/// auth type with `authorizationScopes` — of any tenant, or of one: every tenant's
/// tokens share `iss` and `aud`, and API Gateway reads `client_id` only without `aud`.
pub fn scopes(auth_type: AuthType, tenant: &TenantId) -> String {
    let platform = scope_of(auth_type);
    format!("{platform} {platform}:{tenant}")
}

/// Claims of a PERS access token (RFC 9068).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    /// RFC 9068 §2.2: the client the token was issued to, here the tenant.
    #[serde(rename = "client_id")]
    pub client_id: TenantId,
    /// RFC 9068 §2.2.3: space-separated; `pers:<authType> pers:<authType>:<tenant id>`.
    pub scope: String,
    pub tenant_id: TenantId,
    pub auth_type: AuthType,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

impl AccessClaims {
    /// An access token of `session`, issued at `now`; it never outlives the session.
    pub fn for_session(settings: &Settings, session: &Session, now: i64) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: settings.audience.clone(),
            client_id: session.tenant_id.clone(),
            scope: scopes(session.auth_type, &session.tenant_id),
            tenant_id: session.tenant_id.clone(),
            auth_type: session.auth_type,
            sid: session.session_id.clone(),
            jti: new_id(),
            iat: now,
            exp: (now + settings.access_token_ttl.as_secs() as i64).min(session.expires_at),
            network: (session.network == Network::Testnet).then_some(Network::Testnet),
        }
    }

    /// The token of a tenant-admin session (`POST /tenants`, `…/admin-token`): it
    /// lives as long as the session, the bootstrap lifetime.
    pub fn tenant_admin(settings: &Settings, session: &Session, now: i64) -> Self {
        Self {
            exp: session.expires_at,
            ..Self::for_session(settings, session, now)
        }
    }

    /// The key of the session it belongs to.
    pub fn session_key(&self) -> SessionKey {
        SessionKey::new(&self.tenant_id, &self.sub, &self.sid)
    }
}

/// Claims of a PERS refresh token: its session (token family) and generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub tenant_id: TenantId,
    /// The session's kind: a `system` session refreshes only with the tenant's
    /// `apiPrivateKey`, which this claim lets the refresh check before it rotates.
    pub auth_type: AuthType,
    /// How the session was opened, so that a refresh can tell, from the tenant alone,
    /// whether the tenant still allows it (DESIGN §3).
    pub via: SessionOrigin,
    pub sid: String,
    #[serde(rename = "gen")]
    pub generation: u64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl RefreshClaims {
    /// The refresh token of `session`'s current generation.
    pub fn for_session(
        settings: &Settings,
        session: &Session,
        via: SessionOrigin,
        now: i64,
    ) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: settings.refresh_audience.clone(),
            tenant_id: session.tenant_id.clone(),
            auth_type: session.auth_type,
            via,
            sid: session.session_id.clone(),
            generation: session.generation,
            jti: new_id(),
            iat: now,
            exp: session.expires_at,
        }
    }

    /// The key of the session it belongs to.
    pub fn session_key(&self) -> SessionKey {
        SessionKey::new(&self.tenant_id, &self.sub, &self.sid)
    }
}

/// Claims of the short-lived token of `GET /tenants/login-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub tenant_id: TenantId,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

impl LoginClaims {
    pub fn new(settings: &Settings, tenant: &TenantId, network: Network, now: i64) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: tenant.to_string(),
            aud: settings.login_audience.clone(),
            tenant_id: tenant.clone(),
            jti: new_id(),
            iat: now,
            exp: now + settings.login_token_ttl.as_secs() as i64,
            network: (network == Network::Testnet).then_some(Network::Testnet),
        }
    }
}

impl OwnClaims for AccessClaims {
    const KIND: Kind = Kind::Access;

    /// RFC 9068's `client_id` is the tenant, the same as `tenantId`.
    fn check(&self) -> Result<(), TokenError> {
        if self.client_id == self.tenant_id {
            Ok(())
        } else {
            Err(TokenError::Malformed)
        }
    }
}

impl OwnClaims for RefreshClaims {
    const KIND: Kind = Kind::Refresh;
}

impl OwnClaims for LoginClaims {
    const KIND: Kind = Kind::Login;
}
