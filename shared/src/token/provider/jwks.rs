//! Providers' JWK Sets fetched over HTTP: cached as `Cache-Control` allows, refetched on
//! an unknown `kid` at most once a minute, bounded in size and time, and (for tenants'
//! URIs in Lambda) never fetched from an internal address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ProviderError;
use crate::BoxError;
use crate::deadlines::Deadlines;
use crate::net::{PublicOnlyResolver, Reach, internal_address};
use crate::token::jwk::PublicKeys;

/// An unknown `kid` triggers at most one refetch of a JWKS per this interval.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);
/// After a failed refetch, the cached JWKS is served this long before the next try.
const FAILED_REFETCH_BACKOFF: Duration = Duration::from_secs(30);
/// JWKS lifetime when the response has no `Cache-Control: max-age`.
const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);
const MAX_JWKS_TTL: Duration = Duration::from_secs(86_400);
const MAX_JWKS_BYTES: usize = 256 * 1024;

struct CachedSet {
    set: Arc<PublicKeys>,
    fresh_until: Instant,
    last_forced: Option<Instant>,
}

/// JWKS fetched over HTTP, cached as `Cache-Control` allows, refetched on an unknown
/// `kid` at most once a minute; one lock per URI, so a slow provider delays only itself.
///
/// The HTTP clients are built on the first fetch, not at init: building one loads the
/// system's root certificates, milliseconds of CPU in every cold start, and most
/// functions never fetch a JWKS (a tenant's provider keys are often inline).
pub struct JwksCache {
    http: OnceLock<reqwest::Client>,
    /// The same client, resolving names to public addresses only (and never through a
    /// proxy, whose address would be the only one checked); `None` if it could not be
    /// built, and then guarded fetches fail rather than fall back to `http`.
    public_http: OnceLock<Option<reqwest::Client>>,
    entries: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<CachedSet>>>>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        // An identity provider's JWKS is a dependency like any other (DESIGN §7).
        .connect_timeout(Deadlines::PRODUCTION.connect * 2)
        .timeout(Deadlines::PRODUCTION.operation)
        // A provider's JWKS URI is where its keys are, not a place to be sent
        // from: a redirect could point the function at an internal address.
        .redirect(reqwest::redirect::Policy::none())
}

impl JwksCache {
    pub fn new() -> Self {
        Self {
            http: OnceLock::new(),
            public_http: OnceLock::new(),
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http
            .get_or_init(|| client_builder().build().unwrap_or_default())
    }

    fn public_http(&self) -> Option<&reqwest::Client> {
        self.public_http
            .get_or_init(|| {
                client_builder()
                    .no_proxy()
                    .dns_resolver(Arc::new(PublicOnlyResolver))
                    .build()
                    .ok()
            })
            .as_ref()
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
        let fetched = self.fetch(uri, reach).await;
        if fetched.is_err() {
            crate::metrics::count(crate::metrics::Metric::ProviderJwksFailures);
        }
        match fetched {
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
            Reach::Any => self.http(),
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
                self.public_http()
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
            // A user name or password in the URL is a tenant's secret too.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "<not a URL>".to_owned(),
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
    fn a_logged_jwks_uri_keeps_no_secret() {
        assert_eq!(
            without_query("https://user:pa55@idp.example/jwks.json?key=k#f"),
            "https://idp.example/jwks.json"
        );
        assert_eq!(without_query("not a url"), "<not a URL>");
    }
}
