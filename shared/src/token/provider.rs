//! Tokens of identity providers: which providers a tenant trusts, their JWKS (inline or
//! fetched and cached), and verification by RFC 8725: algorithm allow-list per provider
//! (asymmetric only), key chosen by `kid` from the provider's own set only (`jku`, `x5u`
//! and embedded `jwk` are never read) and used only if it is meant for signatures and
//! fits the token's algorithm ([`super::jwk`]), no `crit` header, `iss` required and
//! pinned, `aud` required and pinned when the provider names one, `exp` required, 60 s
//! leeway on time claims, a non-empty `sub`, a size limit. `/auth/token` and
//! `/auth/verify` both judge a provider token by [`Providers::verify_with`] alone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::jwk::PublicKeys;
use super::{MAX_TOKEN_BYTES, PROVIDER_LEEWAY_SECONDS, TokenError};
use crate::BoxError;
use crate::config::BuiltinProviders;
use crate::deadlines::Deadlines;
use crate::domain::{AuthType, IdentityProvider, Tenant};

/// Asymmetric algorithms accepted when a provider does not narrow them.
const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
const FIREBASE_ISSUER_PREFIX: &str = "https://securetoken.google.com/";

fn firebase_issuer(project_id: &str) -> String {
    format!("{FIREBASE_ISSUER_PREFIX}{project_id}")
}

/// An unknown `kid` triggers at most one refetch of a JWKS per this interval.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);
/// After a failed refetch, the cached JWKS is served this long before the next try.
const FAILED_REFETCH_BACKOFF: Duration = Duration::from_secs(30);
/// JWKS lifetime when the response has no `Cache-Control: max-age`.
const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);
const MAX_JWKS_TTL: Duration = Duration::from_secs(86_400);
const MAX_JWKS_BYTES: usize = 256 * 1024;

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

/// Which addresses a fetch of a tenant's JWKS URI may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Anywhere: a local server, whose tenants are its own developer.
    Any,
    /// Public addresses only: a deployed function must not be steered by a tenant at
    /// its own network (the Lambda runtime API on loopback, VPC hosts, metadata
    /// services), whether by an address in the URI or by a name resolving to one.
    PublicOnly,
}

/// Whether `ip` belongs to a host's or a private network rather than the internet:
/// loopback, private (RFC 1918, IPv6 ULA), link-local, shared (RFC 6598), unspecified,
/// broadcast, multicast, benchmarking (RFC 2544), IETF protocol assignments (RFC 6890),
/// documentation, reserved and 6to4-relay ranges, IPv6 site-local; also when an IPv4
/// address is carried in IPv6 (mapped, compatible, translated, NAT64 per RFC 6052, 6to4
/// per RFC 3056), and Teredo and local-use NAT64 (RFC 8215) prefixes as a whole, since
/// what they reach cannot be told from them.
pub fn internal_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let octets = v6.octets();
            let embedded = |at: usize| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    octets[at],
                    octets[at + 1],
                    octets[at + 2],
                    octets[at + 3],
                ))
            };
            if v6.is_loopback() || v6.is_unspecified() {
                return true;
            }
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
                return internal_address(IpAddr::V4(v4));
            }
            match segments {
                // NAT64 well-known prefix and IPv4-translated addresses (RFC 6145): the
                // IPv4 address is the last 32 bits.
                [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => {
                    internal_address(embedded(12))
                }
                // 6to4: the IPv4 address follows the prefix.
                [0x2002, ..] => internal_address(embedded(2)),
                // Local-use NAT64 and Teredo, as whole prefixes.
                [0x64, 0xff9b, 1, ..] | [0x2001, 0, ..] => true,
                // Documentation (RFC 3849) and discard-only (RFC 6666).
                [0x2001, 0xdb8, ..] | [0x100, 0, 0, 0, ..] => true,
                // Site-local (RFC 3879 deprecated it; some stacks still route it).
                [seg, ..] if seg & 0xffc0 == 0xfec0 => true,
                _ => v6.is_unique_local() || v6.is_unicast_link_local() || v6.is_multicast(),
            }
        }
    }
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
        let algorithms = match &p.algorithms {
            Some(names) => names.iter().filter_map(|n| n.parse().ok()).collect(),
            None => DEFAULT_ALGORITHMS.to_vec(),
        };
        Self {
            issuer: p.issuer.clone(),
            keys: match (&p.jwks, &p.jwks_uri) {
                (Some(inline), _) => KeySource::Inline(inline.clone()),
                (None, Some(uri)) => KeySource::TenantUri(uri.clone()),
                (None, None) => KeySource::Inline(serde_json::json!({"keys": []})),
            },
            audience: p.audience.clone(),
            auth_types: p.auth_types.clone(),
            algorithms,
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

/// The built-in providers, the tenant's own, and a shared JWKS cache.
pub struct Providers {
    builtin: BuiltinProviders,
    jwks: JwksCache,
    tenant_reach: Reach,
}

impl Providers {
    /// `tenant_reach` bounds where tenants' JWKS URIs may lead (built-in providers are
    /// the operator's own configuration and are fetched wherever they point).
    pub fn new(builtin: BuiltinProviders, tenant_reach: Reach) -> Self {
        Self {
            builtin,
            jwks: JwksCache::new(),
            tenant_reach,
        }
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
                algorithms: DEFAULT_ALGORITHMS.to_vec(),
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
    }

    /// Verifies a provider token for `tenant` and `auth_type`.
    pub async fn verify(
        &self,
        tenant: &Tenant,
        auth_type: AuthType,
        token: &str,
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
        self.verify_with(&provider, token).await
    }

    /// Verifies `token` against one provider: the one rule set of DESIGN §3.
    pub async fn verify_with(
        &self,
        provider: &TrustedProvider,
        token: &str,
    ) -> Result<ProviderClaims, ProviderError> {
        let header = super::read_header(token).map_err(|e| match e {
            TokenError::TooLarge => ProviderError::Invalid("token is too large"),
            TokenError::CriticalExtension => ProviderError::Invalid(
                "token header names a critical extension, which is not supported",
            ),
            _ => ProviderError::Invalid("token is malformed"),
        })?;
        if !provider.algorithms.contains(&header.alg) {
            return Err(ProviderError::Invalid("token algorithm is not allowed"));
        }
        let kid = header.kid.as_deref();
        let set = match &provider.keys {
            KeySource::Inline(value) => Arc::new(
                PublicKeys::lenient(value)
                    .map_err(|_| ProviderError::Invalid("the provider's JWKS is unusable"))?,
            ),
            KeySource::Uri(uri) => self.jwks.get(uri, kid, Reach::Any).await?,
            KeySource::TenantUri(uri) => self.jwks.get(uri, kid, self.tenant_reach).await?,
        };
        let key = set
            .pick(kid)
            .ok_or(ProviderError::Invalid("token is signed by an unknown key"))?;
        if !key.fits(header.alg) {
            return Err(ProviderError::Invalid(
                "token algorithm does not match its key",
            ));
        }

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&provider.issuer]);
        match &provider.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        validation.leeway = PROVIDER_LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation)
            .map_err(|e| ProviderError::Invalid(reason(e.kind())))?
            .claims;
        check_claims(provider, &claims)?;
        Ok(ProviderClaims {
            issuer: provider.issuer.clone(),
            subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
            firebase_tenant: provider.firebase_tenant.clone(),
            claims,
        })
    }
}

/// The claim rules jsonwebtoken leaves to its caller, checked on the JSON itself so that
/// no claim of an unexpected type slips through: `iss` exactly the provider's; when the
/// provider names an audience, `aud` that string or an array of strings holding it; a
/// non-empty string `sub`; `iat`, if present, a number not in the future; Firebase's
/// tenant.
fn check_claims(provider: &TrustedProvider, claims: &Value) -> Result<(), ProviderError> {
    if claims["iss"].as_str() != Some(provider.issuer.as_str()) {
        return Err(ProviderError::Invalid("token issuer is not accepted"));
    }
    if let Some(expected) = &provider.audience {
        let holds = match &claims["aud"] {
            Value::String(aud) => aud == expected,
            Value::Array(auds) => {
                auds.iter().all(Value::is_string)
                    && auds.iter().any(|a| a.as_str() == Some(expected))
            }
            _ => false,
        };
        if !holds {
            return Err(ProviderError::Invalid("token audience is not accepted"));
        }
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err(ProviderError::Invalid("token has an empty subject"));
    }
    if let Some(iat) = claims.get("iat") {
        let iat = iat
            .as_i64()
            .ok_or(ProviderError::Invalid("token iat is not a number"))?;
        if iat > crate::now_unix() + PROVIDER_LEEWAY_SECONDS as i64 {
            return Err(ProviderError::Invalid("token was issued in the future"));
        }
    }
    if let Some(expected) = &provider.firebase_tenant
        && claims["firebase"]["tenant"].as_str() != Some(expected)
    {
        return Err(ProviderError::Invalid(
            "token is for another Firebase tenant",
        ));
    }
    Ok(())
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "token signature is invalid",
        ErrorKind::ExpiredSignature => "token has expired",
        ErrorKind::ImmatureSignature => "token is not yet valid",
        ErrorKind::InvalidIssuer => "token issuer is not accepted",
        ErrorKind::InvalidAudience => "token audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
        ErrorKind::InvalidAlgorithm => "token algorithm does not match its key",
        _ => "token is invalid",
    }
}

/// The `iss` of a token before verification, only to choose which provider verifies it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["iss"].as_str().map(str::to_owned)
}

struct CachedSet {
    set: Arc<PublicKeys>,
    fresh_until: Instant,
    last_forced: Option<Instant>,
}

/// JWKS fetched over HTTP, cached as `Cache-Control` allows, refetched on an unknown
/// `kid` at most once a minute; one lock per URI, so a slow provider delays only itself.
pub struct JwksCache {
    http: reqwest::Client,
    /// The same client, resolving names to public addresses only (and never through a
    /// proxy, whose address would be the only one checked); `None` if it could not be
    /// built, and then guarded fetches fail rather than fall back to `http`.
    public_http: Option<reqwest::Client>,
    entries: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<CachedSet>>>>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> Self {
        let builder = || {
            reqwest::Client::builder()
                // An identity provider's JWKS is a dependency like any other (DESIGN §7).
                .connect_timeout(Deadlines::PRODUCTION.connect * 2)
                .timeout(Deadlines::PRODUCTION.operation)
                // A provider's JWKS URI is where its keys are, not a place to be sent
                // from: a redirect could point the function at an internal address.
                .redirect(reqwest::redirect::Policy::none())
        };
        let public_http = builder()
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .build()
            .ok();
        Self {
            http: builder().build().unwrap_or_default(),
            public_http,
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, uri: &str) -> Arc<tokio::sync::Mutex<Option<CachedSet>>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.entry(uri.to_owned()).or_default().clone()
    }

    /// The JWKS at `uri`, fetching it if it is stale, or if `kid` is unknown and no
    /// forced refetch happened in the last minute.
    pub async fn get(
        &self,
        uri: &str,
        kid: Option<&str>,
        reach: Reach,
    ) -> Result<Arc<PublicKeys>, ProviderError> {
        let slot = self.slot(uri);
        let mut cached = slot.lock().await;
        let now = Instant::now();
        let (fetch, forced) = match cached.as_ref() {
            None => (true, false),
            Some(c) if now >= c.fresh_until => (true, false),
            Some(c) => {
                let unknown = kid.is_some_and(|k| !c.set.has_kid(k));
                let may_force = c.last_forced.is_none_or(|t| now - t >= UNKNOWN_KID_REFETCH);
                (unknown && may_force, unknown && may_force)
            }
        };
        if !fetch {
            return Ok(cached.as_ref().map(|c| c.set.clone()).unwrap_or_default());
        }
        match self.fetch(uri, reach).await {
            Ok((set, ttl)) => {
                let last_forced = match (forced, cached.as_ref()) {
                    (true, _) => Some(now),
                    (false, Some(c)) => c.last_forced,
                    (false, None) => None,
                };
                let set = Arc::new(set);
                *cached = Some(CachedSet {
                    set: set.clone(),
                    fresh_until: now + ttl,
                    last_forced,
                });
                Ok(set)
            }
            Err(e) => match cached.as_mut() {
                Some(c) => {
                    tracing::warn!(jwks_uri = %without_query(uri), error = %e, "JWKS refetch failed; using the cached set");
                    if forced {
                        c.last_forced = Some(now);
                    }
                    // Serve the cached set for a while before trying again, so that an
                    // outage costs one slow request per interval, not every login.
                    c.fresh_until = now + FAILED_REFETCH_BACKOFF;
                    Ok(c.set.clone())
                }
                None => Err(ProviderError::Unavailable(e)),
            },
        }
    }

    async fn fetch(&self, uri: &str, reach: Reach) -> Result<(PublicKeys, Duration), BoxError> {
        let client = match reach {
            Reach::Any => &self.http,
            Reach::PublicOnly => {
                // An address in the URI is connected to without any name resolution.
                let host = url::Url::parse(uri)?.host().map(|h| h.to_owned());
                let literal = match host {
                    Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
                    Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
                    _ => None,
                };
                if literal.is_some_and(internal_address) {
                    return Err("the JWKS URI points at an internal address".into());
                }
                self.public_http
                    .as_ref()
                    .ok_or("no HTTP client restricted to public addresses")?
            }
        };
        // Errors without the URL: its query is the tenant's to fill and is never logged.
        let mut res = client
            .get(uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(reqwest::Error::without_url)?;
        let ttl = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map_or(DEFAULT_JWKS_TTL, cache_lifetime);
        if res
            .content_length()
            .is_some_and(|n| n as usize > MAX_JWKS_BYTES)
        {
            return Err("JWKS response is too large".into());
        }
        // Read at most the limit, whatever the length the server announced (or not).
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(reqwest::Error::without_url)? {
            if bytes.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("JWKS response is too large".into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let set: Value = serde_json::from_slice(&bytes)?;
        Ok((PublicKeys::lenient(&set)?, ttl))
    }
}

/// A URL as it may be logged: without its query or fragment.
fn without_query(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// Resolves names as the system does, then keeps only public addresses: a name that
/// resolves to internal ones only fails, so a tenant's JWKS URI cannot reach them.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !internal_address(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How long a response may be cached by its `Cache-Control` value.
fn cache_lifetime(value: &str) -> Duration {
    let mut ttl = DEFAULT_JWKS_TTL;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(secs) = lower.strip_prefix("max-age=")
            && let Ok(secs) = secs.trim_matches('"').parse::<u64>()
        {
            ttl = Duration::from_secs(secs);
        }
    }
    ttl.min(MAX_JWKS_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_those_of_a_host_or_private_network() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::169.254.169.254",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "240.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::ffff:0:7f00:1",
            "fec0::1",
            "192.88.99.1",
        ] {
            assert!(internal_address(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "198.20.0.1",
            "192.0.1.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!internal_address(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_public_only_resolver_refuses_names_of_internal_addresses() {
        use reqwest::dns::Resolve as _;
        let resolved = PublicOnlyResolver
            .resolve("localhost".parse().unwrap())
            .await;
        let error = resolved.err().expect("localhost is refused").to_string();
        assert!(error.contains("no public address"), "{error}");
    }

    #[test]
    fn cache_control_sets_the_lifetime() {
        assert_eq!(
            cache_lifetime("public, max-age=120"),
            Duration::from_secs(120)
        );
        assert_eq!(cache_lifetime("max-age=0"), Duration::ZERO);
        assert_eq!(cache_lifetime("no-store"), Duration::ZERO);
        assert_eq!(cache_lifetime("public"), DEFAULT_JWKS_TTL);
        assert_eq!(cache_lifetime("max-age=99999999"), MAX_JWKS_TTL);
    }

    #[test]
    fn the_issuer_is_read_without_trusting_anything_else() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://i","sub":"x"}"#);
        assert_eq!(
            unverified_issuer(&format!("h.{payload}.s")).as_deref(),
            Some("https://i")
        );
        assert_eq!(unverified_issuer("garbage"), None);
    }
}
