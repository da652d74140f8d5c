//! The one place the service mints and checks its own tokens: an [`Issuer`] holds the
//! key source, the settings and a clock. Handlers ask it for a [`Signer`] (the key set
//! in force and one instant, taken before anything is written) and for verdicts on the
//! tokens they are shown; they never build claims.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::Serialize;

use super::{
    AccessClaims, Expiry, Kind, LoginClaims, OwnClaims, RefreshClaims, SigningFailed, TokenError,
    sign, verify, verify_at,
};
use crate::config::Settings;
use crate::domain::{AuthType, Network, Session, SessionOrigin, TenantId, UserId};
use crate::keys::{KeyError, KeySet, KeySource, Published};

/// Where the time of every token and session comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::now_unix()
    }
}

/// A clock that stands still until it is moved: for tests of expiry and grace
/// intervals that would otherwise sleep.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing the system's time now.
    pub fn starting_now() -> Self {
        Self(AtomicI64::new(crate::now_unix()))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An access token and a refresh token of one session, as `/auth/token` and
/// `/auth/refresh` answer them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// A PERS access token (a JWT, `typ: at+jwt`, 15 minutes by default), sent as
    /// `Authorization: Bearer` to the APIs that verify it against the published JWKS.
    #[schema(example = crate::http::openapi::examples::access_token)]
    pub access_token: String,
    /// The session's refresh token (`typ: refresh+jwt`): it works once, at
    /// `POST /auth/refresh` or `POST /auth/logout`, within the session's lifetime (30
    /// days by default).
    #[schema(example = crate::http::openapi::examples::refresh_token)]
    pub refresh_token: String,
}

/// Mints every kind of PERS token and verifies our own.
#[derive(Clone)]
pub struct Issuer {
    keys: Arc<dyn KeySource>,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
}

impl Issuer {
    pub fn new(keys: Arc<dyn KeySource>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys,
            settings,
            clock,
        }
    }

    /// The same issuer on another clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The clock, for checks that must read it later (after a provider's JWKS fetch).
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The key set in force (for the discovery document).
    pub async fn key_set(&self) -> Result<Arc<KeySet>, KeyError> {
        self.keys.key_set().await
    }

    /// The key set to publish in the JWKS, never older than its source's publication
    /// lag unless the source cannot be read ([`KeySource::published`]).
    pub async fn published_keys(&self) -> Result<Published, KeyError> {
        self.keys.published().await
    }

    /// A signer with the key set in force and the time now. Ask for it before writing
    /// anything, so that when the keys are unavailable nothing is written.
    pub async fn signer(&self) -> Result<Signer<'_>, KeyError> {
        Ok(Signer {
            keys: self.keys.key_set().await?,
            settings: &self.settings,
            now: self.clock.now(),
        })
    }

    /// Verifies one of our own tokens of the kind `C` names. A `kid` the cached key set
    /// lacks (a rotation another function saw first) reloads the keys once before
    /// failing. The outer error is the key store's; the inner one is the token's.
    pub async fn verify<C: OwnClaims>(
        &self,
        token: &str,
    ) -> Result<Result<C, TokenError>, KeyError> {
        // The time is read once the keys are in hand: a reload may take a while.
        let keys = self.keys.key_set().await?;
        match verify(&keys, &self.settings, token, self.clock.now()) {
            Err(TokenError::UnknownKey) => {
                let keys = self.keys.refresh().await?;
                Ok(verify(&keys, &self.settings, token, self.clock.now()))
            }
            other => Ok(other),
        }
    }

    /// [`Issuer::verify`], except that a token past its `exp` still verifies, marked
    /// [`Checked::Expired`]: for a sign-out, which must tell an expired token of ours
    /// (nothing left to end: `204`) from one that is not ours (`401`). Every other rule
    /// holds.
    pub async fn verify_expired_too<C: OwnClaims>(
        &self,
        token: &str,
    ) -> Result<Result<Checked<C>, TokenError>, KeyError> {
        let keys = self.keys.key_set().await?;
        let checked = |keys: &KeySet| {
            verify_at::<C>(keys, &self.settings, token, self.clock.now(), Expiry::Allow).map(
                |(claims, expired)| {
                    if expired {
                        Checked::Expired(claims)
                    } else {
                        Checked::Live(claims)
                    }
                },
            )
        };
        match checked(&keys) {
            Err(TokenError::UnknownKey) => Ok(checked(&*self.keys.refresh().await?)),
            other => Ok(other),
        }
    }
}

/// A token of ours that verified, and whether it is still within its lifetime.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked<C> {
    Live(C),
    Expired(C),
}

/// The user id of a tenant's admin sessions opened by the bootstrap credential or the
/// `admin-token` route (not by a provider).
pub fn tenant_admin_user(tenant: &TenantId) -> UserId {
    format!("tenant-admin:{tenant}")
}

/// The key set in force and one instant: every token a request mints is signed by the
/// same key at the same time.
pub struct Signer<'a> {
    keys: Arc<KeySet>,
    settings: &'a Settings,
    now: i64,
}

impl Signer<'_> {
    /// The instant this signer stamps on its tokens (Unix seconds).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The absolute end of a session opened now.
    pub fn session_end(&self) -> i64 {
        self.now + self.settings.refresh_token_ttl.as_secs() as i64
    }

    /// The pair of `session`'s current generation: the access token with the published
    /// key, the refresh token with the internal one.
    pub fn session_pair(
        &self,
        session: &Session,
        via: SessionOrigin,
    ) -> Result<TokenPair, SigningFailed> {
        let access = AccessClaims::for_session(self.settings, session, self.now);
        let refresh = RefreshClaims::for_session(self.settings, session, via, self.now);
        Ok(TokenPair {
            access_token: sign(&self.keys, Kind::Access, &access)?,
            refresh_token: sign(&self.keys, Kind::Refresh, &refresh)?,
        })
    }

    /// A new session of `user`, opened now, with the refresh-token lifetime.
    pub fn open_session(
        &self,
        tenant: &TenantId,
        user: UserId,
        auth_type: AuthType,
        network: Network,
    ) -> Session {
        Session::open(
            tenant.clone(),
            user,
            auth_type,
            network,
            self.now,
            self.session_end(),
        )
    }

    /// A new tenant-admin session of `tenant` with the bootstrap lifetime, for the token
    /// of [`Signer::tenant_admin`]: every access token has a stored session, so that
    /// `checkRevoked` can judge it.
    pub fn open_admin_session(&self, tenant: &TenantId) -> Session {
        let ttl = self.settings.tenant_admin_token_ttl.as_secs() as i64;
        Session::open(
            tenant.clone(),
            tenant_admin_user(tenant),
            AuthType::Tenant,
            Network::Mainnet,
            self.now,
            self.now + ttl,
        )
    }

    /// The tenant-admin access token of `session` (from [`Signer::open_admin_session`]).
    pub fn tenant_admin(&self, session: &Session) -> Result<String, SigningFailed> {
        let claims = AccessClaims::tenant_admin(self.settings, session, self.now);
        sign(&self.keys, Kind::Access, &claims)
    }

    /// A login token (five minutes) bound to `tenant` and `network`.
    pub fn login(&self, tenant: &TenantId, network: Network) -> Result<String, SigningFailed> {
        let claims = LoginClaims::new(self.settings, tenant, network, self.now);
        sign(&self.keys, Kind::Login, &claims)
    }
}
