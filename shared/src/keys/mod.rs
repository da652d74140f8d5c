//! Signing key sets. The key staged current signs; the others (previous, pending) only
//! verify and are published in the JWKS, so a rotation never invalidates a live token.
//! Sources: a local file (`pers-local`) and AWS Secrets Manager (the Lambda functions).

mod local;
mod material;
pub mod rotation;
mod secrets;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use local::LocalKeySource;
pub use material::{InternalKey, KeyMaterial, SigningAlgorithm, SigningKey};
pub use secrets::{SecretsManagerKeySource, fetch_platform_key};

use crate::BoxError;

/// Draws once from AWS-LC's random generator, so that its one-time seeding happens now.
///
/// The first draw in a process seeds AWS-LC's process-wide generator: from the kernel
/// in this workspace's builds (`.cargo/config.toml`), from CPU-jitter entropy in
/// AWS-LC's default build, some 60 ms of CPU (docs/PERFORMANCE.md). Every signature and
/// every generated secret draws from it, so that whatever seeding there is happens here
/// and not in the first login or tenant after a cold start. Init calls it on a blocking
/// thread beside its round trips.
pub fn seed_random() -> Result<(), KeyError> {
    let mut byte = [0u8; 1];
    aws_lc_rs::rand::fill(&mut byte)
        .map_err(|_| KeyError::Unavailable("AWS-LC's random generator failed".into()))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key store could not be reached and no keys are cached.
    #[error("signing keys unavailable")]
    Unavailable(#[source] BoxError),
    /// The key store answers but holds no key yet: a signing-key secret as the template
    /// creates it, before its first rotation writes a version.
    #[error("no signing key yet: {0}")]
    NotReady(String),
    /// Key material is present but unusable.
    #[error("invalid key material: {0}")]
    Invalid(String),
}

/// The keys in force: one that signs, and every key a live token may carry.
///
/// A key that has just become current is published at once but may be held back from
/// signing until `active_from` ([`activation_time`]), while the previous key goes on
/// signing: so every verifier (other functions' caches, API Gateway's JWKS cache) has
/// seen the new key before any token carries it.
#[derive(Debug)]
pub struct KeySet {
    current: SigningKey,
    others: Vec<SigningKey>,
    hold: Option<(i64, String)>,
}

impl KeySet {
    pub fn new(current: SigningKey, others: Vec<SigningKey>) -> Self {
        let others = others
            .into_iter()
            .filter(|k| k.kid() != current.kid())
            .collect();
        Self {
            current,
            others,
            hold: None,
        }
    }

    /// Lets the current key sign only from `active_from` (Unix seconds); until then the
    /// key `previous_kid` of this set signs, if it is here.
    pub fn activating_at(mut self, active_from: i64, previous_kid: &str) -> Self {
        if self.others.iter().any(|k| k.kid() == previous_kid) {
            self.hold = Some((active_from, previous_kid.to_owned()));
        }
        self
    }

    /// The key that signs new tokens now.
    pub fn signing(&self) -> &SigningKey {
        match &self.hold {
            Some((from, kid)) if crate::now_unix() < *from => {
                self.find(kid).unwrap_or(&self.current)
            }
            _ => &self.current,
        }
    }

    /// A verifying key by `kid`, from this set only.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.kid() == kid)
    }

    /// An internal (refresh-token) key by `kid`, from this set only.
    pub fn find_internal(&self, kid: &str) -> Option<&InternalKey> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .map(SigningKey::internal)
            .find(|k| k.kid() == kid)
    }

    /// The public JWK Set: every key, current first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = std::iter::once(&self.current)
            .chain(&self.others)
            .map(SigningKey::public_jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The distinct algorithms of the published keys.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = std::iter::once(&self.current)
            .chain(&self.others)
            .map(|k| k.algorithm().name())
            .collect();
        algs.dedup();
        algs
    }
}

/// When a key that became current at `created` (Unix seconds, rounded down, as Secrets
/// Manager's `CreatedDate` and the local file's `createdAt` are) may sign, given its
/// source's `publication_lag` (how long until every function's JWKS includes a key once
/// it exists: [`KeySource::published`]) and the activation delay (how long every JWKS
/// then lists it before any token carries it).
///
/// The invariant: **a key is in every JWKS any function serves for at least the whole
/// activation delay before any token carries it.** So a verifier whose view of the JWKS
/// is at most the activation delay old (API Gateway's two-hour cache, a shared HTTP cache
/// honouring `max-age`) knows every key it is shown. The creation time is rounded up
/// (one second more), so that the arithmetic errs late, never early.
///
/// `None` when there is nothing to wait for (no lag, no delay: the key is published by
/// the very write that makes it current, and signing reads that write).
pub fn activation_time(created: i64, publication_lag: Duration, delay: Duration) -> Option<i64> {
    let whole = |d: Duration| d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0);
    if publication_lag.is_zero() && delay.is_zero() {
        return None;
    }
    Some(created + 1 + whole(publication_lag) + whole(delay))
}

/// The key set the JWKS serves, and whether it is as fresh as its source promises.
#[derive(Debug, Clone)]
pub struct Published {
    pub keys: Arc<KeySet>,
    /// `None`: the set holds every key its source held a publication lag ago, so
    /// verifiers may cache it for `max-age`. `Some(age)`: the source could not be read
    /// (Secrets Manager down) and this cached set, loaded `age` ago, may lack a newer
    /// key: verifiers must not cache it.
    pub stale: Option<Duration>,
}

#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// The key set in force (possibly cached, and then possibly older than the refresh
    /// interval: for signing and verifying our own tokens, where a missing new key only
    /// means the previous one signs a little longer, or one forced reload).
    async fn key_set(&self) -> Result<Arc<KeySet>, KeyError>;

    /// The key set to publish (the JWKS): it holds every key that its source held a
    /// publication lag before the request (the Secrets Manager source reloads first if
    /// its set is older than that), unless the source cannot be read, which
    /// [`Published::stale`] says. The default: [`KeySource::key_set`], taken as fresh,
    /// for sources that are always current (the local file, re-read when it changes).
    async fn published(&self) -> Result<Published, KeyError> {
        Ok(Published {
            keys: self.key_set().await?,
            stale: None,
        })
    }

    /// Asks for a fresh set because a token named a `kid` the cached set lacks. Sources
    /// rate-limit this; the default is the cached set.
    async fn refresh(&self) -> Result<Arc<KeySet>, KeyError> {
        self.key_set().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_material(&KeyMaterial::generate(SigningAlgorithm::EdDsa).unwrap()).unwrap()
    }

    #[test]
    fn a_new_current_key_waits_for_its_activation_while_the_previous_signs() {
        let (new, old) = (key(), key());
        let old_kid = old.kid().to_owned();
        let new_kid = new.kid().to_owned();
        let held = KeySet::new(new, vec![old]).activating_at(crate::now_unix() + 60, &old_kid);
        assert_eq!(held.signing().kid(), old_kid);
        assert!(held.find(&new_kid).is_some(), "published before it signs");
        assert_eq!(held.jwks()["keys"][0]["kid"], new_kid.as_str());

        let (new, old) = (key(), key());
        let old_kid = old.kid().to_owned();
        let new_kid = new.kid().to_owned();
        let active = KeySet::new(new, vec![old]).activating_at(crate::now_unix() - 1, &old_kid);
        assert_eq!(active.signing().kid(), new_kid);
    }

    #[test]
    fn activation_counts_the_lag_and_the_delay_from_the_rounded_up_creation() {
        let (lag, delay) = (Duration::from_secs(300), Duration::from_secs(7800));
        assert_eq!(
            activation_time(1_000, lag, delay),
            Some(1_000 + 1 + 300 + 7800)
        );
        // Sub-seconds round up too.
        assert_eq!(
            activation_time(
                1_000,
                Duration::from_millis(1),
                Duration::from_millis(1_001)
            ),
            Some(1_000 + 1 + 1 + 2)
        );
        // Only the local file with no delay has nothing to wait for.
        assert_eq!(activation_time(1_000, Duration::ZERO, Duration::ZERO), None);
        assert_eq!(
            activation_time(1_000, Duration::ZERO, Duration::from_secs(2)),
            Some(1_003)
        );
        assert_eq!(
            activation_time(1_000, Duration::from_secs(1), Duration::ZERO),
            Some(1_002)
        );
    }

    #[test]
    fn without_a_previous_key_the_current_key_signs_at_once() {
        let k = key();
        let kid = k.kid().to_owned();
        let set = KeySet::new(k, vec![]).activating_at(crate::now_unix() + 600, "gone");
        assert_eq!(set.signing().kid(), kid);
    }
}
