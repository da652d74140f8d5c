//! Keys from AWS Secrets Manager. Each version of the signing-key secret holds one
//! [`KeyMaterial`] as JSON; `AWSCURRENT` signs, `AWSPREVIOUS` and `AWSPENDING` verify.
//! The set is held in memory. Once it is older than the refresh interval, a request
//! that signs or verifies still gets it at once and a reload starts in the background;
//! if Secrets Manager then fails, the cached set keeps serving (and the failure is
//! logged with its cause). Only with no set cached (a secret with no key yet) do
//! requests that need keys get `503`. Every call is bounded by the client's
//! [`Deadlines`](crate::deadlines::Deadlines).
//!
//! The JWKS is never served from a set older than the refresh interval (its age counted
//! from the moment its load started): [`KeySource::published`] reloads first, sharing a
//! load in flight. So every function's JWKS holds every key created a refresh interval
//! before the request: that interval is this source's publication lag, and a new
//! current key signs only from its creation + the lag + the activation delay
//! ([`activation_time`](super::activation_time)). If that reload fails, the cached set
//! is served marked stale (`Cache-Control: no-cache`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::{ExposeSecret as _, SecretString};
use tracing::Instrument as _;

use super::{KeyError, KeyMaterial, KeySet, KeySource, Published, SigningKey, activation_time};
use crate::domain::KeyHash;

/// A token naming an unknown `kid` forces a reload at most this often.
const FORCED_RELOAD_EVERY: Duration = Duration::from_secs(30);

pub struct SecretsManagerKeySource {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    secret_id: String,
    refresh_every: Duration,
    activation_delay: Duration,
    cache: RwLock<Option<Cached>>,
    refreshing: AtomicBool,
    last_forced: Mutex<Option<Instant>>,
    /// The last load and, if it failed, why. While it failed, a token naming an unknown
    /// `kid` is `503` (its key may be one this instance could not load), not `401`.
    last_load: Mutex<Option<LastLoad>>,
    load_lock: tokio::sync::Mutex<()>,
}

/// The cached set.
#[derive(Clone)]
struct Cached {
    set: Arc<KeySet>,
    /// When the load that read it started: it holds every key created before then.
    started: Instant,
    /// The same on the wall clock, which the keys' activation times count on: an age
    /// must be young by both, should the monotonic clock stand still while Lambda
    /// freezes the instance between invocations.
    started_wall: std::time::SystemTime,
    /// When a reload is next due: a refresh interval after `started`, or after the last
    /// failed reload (so that a failing Secrets Manager is not asked on every request).
    due: Instant,
}

#[derive(Clone)]
struct LastLoad {
    started: Instant,
    ended: Instant,
    failed: Option<String>,
}

/// Which load already done (or in flight, once it ends) a reload may take as its own.
#[derive(Clone, Copy)]
enum Share {
    /// One that ended after this instant: it may have started a little before.
    EndedAfter(Instant),
    /// Only one that started at or after this instant: it holds every key created
    /// before it.
    StartedAfter(Instant),
}

/// After a failed reload, the JWKS route serves the cached set (marked stale) for this
/// long before it asks Secrets Manager again: one call per interval however many
/// requests come, and a short outage is over for the JWKS as soon as it is over.
const PUBLISH_RETRY_AFTER: Duration = Duration::from_secs(5);

/// With no set cached, a failed load is not tried again for this long: requests get
/// its `503` at once instead of each waiting on Secrets Manager.
const RETRY_FAILED_LOAD_AFTER: Duration = Duration::from_secs(1);

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Unavailable(Box::new(e))
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One stage of a secret: its `SecretString` and when that version was created;
/// `None` if the stage does not exist.
pub(crate) async fn secret_string(
    client: &Client,
    secret_id: &str,
    stage: &str,
) -> Result<Option<(SecretString, i64)>, KeyError> {
    match client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(stage)
        .send()
        .await
    {
        Ok(out) => {
            let created = out.created_date.map_or(0, |d| d.secs());
            Ok(out.secret_string.map(|s| (SecretString::from(s), created)))
        }
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetSecretValueError::ResourceNotFoundException(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// What a failed reload gives its caller when a set is cached.
#[derive(Clone, Copy)]
enum Fallback {
    Cached,
    Error,
}

impl Inner {
    async fn key(&self, stage: &str) -> Result<Option<(SigningKey, i64)>, KeyError> {
        let Some((raw, created)) = secret_string(&self.client, &self.secret_id, stage).await?
        else {
            return Ok(None);
        };
        let material = KeyMaterial::from_json(raw.expose_secret())?;
        Ok(Some((SigningKey::from_material(&material)?, created)))
    }

    /// A stage that only verifies: unusable material there is logged and skipped, so
    /// it cannot keep the current key from loading.
    async fn verifying_key(&self, stage: &str) -> Result<Option<SigningKey>, KeyError> {
        match self.key(stage).await {
            Ok(key) => Ok(key.map(|(k, _)| k)),
            Err(KeyError::Invalid(why)) => {
                tracing::warn!(secret = %self.secret_id, stage, error = %why, "skipping an unusable key");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The three stages, read at once: one call's deadline bounds the load. A current
    /// key with a previous one signs from its [`activation_time`], counted with a
    /// refresh interval of publication lag (the oldest set [`KeySource::published`]
    /// serves).
    async fn load(&self) -> Result<KeySet, KeyError> {
        let (current, previous, pending) = tokio::try_join!(
            self.key("AWSCURRENT"),
            self.verifying_key("AWSPREVIOUS"),
            self.verifying_key("AWSPENDING"),
        )?;
        let (current, created) = current.ok_or_else(|| {
            KeyError::NotReady(format!(
                "secret {} has no AWSCURRENT version (is its first rotation done?)",
                self.secret_id
            ))
        })?;
        let previous_kid = previous.as_ref().map(|k| k.kid().to_owned());
        let set = KeySet::new(current, previous.into_iter().chain(pending).collect());
        let active_from = activation_time(created, self.refresh_every, self.activation_delay);
        Ok(match (previous_kid, active_from) {
            (Some(kid), Some(from)) => set.activating_at(from, &kid),
            _ => set,
        })
    }

    fn cached(&self) -> Option<Cached> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `cached` is young enough to publish at `at`: its load started less than a
    /// refresh interval before.
    fn fresh_at(&self, cached: &Cached, at: Instant) -> bool {
        let wall_age = std::time::SystemTime::now()
            .duration_since(cached.started_wall)
            .unwrap_or_default();
        at.saturating_duration_since(cached.started) < self.refresh_every
            && wall_age < self.refresh_every
    }

    /// Why the last load failed, if it did.
    fn last_failure(&self) -> Option<(Instant, String)> {
        locked(&self.last_load)
            .as_ref()
            .and_then(|l| l.failed.clone().map(|why| (l.ended, why)))
    }

    /// Reloads now; on failure with a cached set, keeps serving that set.
    async fn reload(self: &Arc<Self>) -> Result<Arc<KeySet>, KeyError> {
        self.reload_then(Fallback::Cached, Share::EndedAfter(Instant::now()))
            .await
    }

    /// Reloads now, or takes a load that `share` allows; on failure with a cached set, the
    /// cache keeps serving, and the caller gets what `fallback` says. The load runs in a
    /// task of its own (in the request's span), so a request cut at its deadline does
    /// not cut it: it finishes and its outcome is kept.
    async fn reload_then(
        self: &Arc<Self>,
        fallback: Fallback,
        share: Share,
    ) -> Result<Arc<KeySet>, KeyError> {
        let this = self.clone();
        tokio::spawn(async move { this.load_and_keep(share, fallback).await }.in_current_span())
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }

    async fn load_and_keep(
        &self,
        share: Share,
        fallback: Fallback,
    ) -> Result<Arc<KeySet>, KeyError> {
        let _one_at_a_time = self.load_lock.lock().await;
        // A load that ended while this one waited for the lock may do: use it.
        let finished = locked(&self.last_load).clone();
        let shared = finished.filter(|l| match share {
            Share::EndedAfter(asked) => l.ended >= asked,
            Share::StartedAfter(asked) => l.started >= asked,
        });
        if let Some(l) = shared {
            return match (l.failed, self.cached()) {
                (None, Some(c)) => Ok(c.set),
                (Some(_), Some(c)) if matches!(fallback, Fallback::Cached) => Ok(c.set),
                (Some(why), _) => Err(KeyError::Unavailable(why.into())),
                (None, None) => Err(KeyError::Unavailable(
                    format!(
                        "secret {}: no key set after a load at {:?}",
                        self.secret_id, l.ended
                    )
                    .into(),
                )),
            };
        }
        let started = Instant::now();
        let started_wall = std::time::SystemTime::now();
        let loaded = self.load().await;
        *locked(&self.last_load) = Some(LastLoad {
            started,
            ended: Instant::now(),
            failed: loaded.as_ref().err().map(|e| crate::error_chain(e)),
        });
        match loaded {
            Ok(set) => {
                let set = Arc::new(set);
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    set: set.clone(),
                    started,
                    started_wall,
                    due: started + self.refresh_every,
                });
                Ok(set)
            }
            Err(e) => {
                let cached = {
                    let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
                    cache.as_mut().map(|c| {
                        // Try again after another interval, not on every request; the
                        // set's age still counts from its own load.
                        c.due = Instant::now() + self.refresh_every;
                        c.set.clone()
                    })
                };
                match cached {
                    Some(set) => {
                        tracing::warn!(
                            secret = %self.secret_id,
                            error = %crate::error_chain(&e),
                            "reloading signing keys failed; the cached set goes on serving"
                        );
                        match fallback {
                            Fallback::Cached => Ok(set),
                            Fallback::Error => Err(e),
                        }
                    }
                    None => Err(e),
                }
            }
        }
    }
}

impl SecretsManagerKeySource {
    pub fn new(
        client: Client,
        secret_id: impl Into<String>,
        refresh_every: Duration,
        activation_delay: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                secret_id: secret_id.into(),
                refresh_every,
                activation_delay,
                cache: RwLock::new(None),
                refreshing: AtomicBool::new(false),
                last_forced: Mutex::new(None),
                last_load: Mutex::new(None),
                load_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Reloads the set now and waits for it (at init, and in tests): a load that starts
    /// now, so it holds every key the secret holds now.
    pub async fn refresh_now(&self) -> Result<Arc<KeySet>, KeyError> {
        self.inner
            .reload_then(Fallback::Cached, Share::StartedAfter(Instant::now()))
            .await
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeySource {
    async fn key_set(&self) -> Result<Arc<KeySet>, KeyError> {
        match self.inner.cached() {
            Some(cached) => {
                if Instant::now() >= cached.due
                    && !self.inner.refreshing.swap(true, Ordering::SeqCst)
                {
                    let inner = self.inner.clone();
                    tokio::spawn(
                        async move {
                            let _ = inner.reload().await;
                            inner.refreshing.store(false, Ordering::SeqCst);
                        }
                        .in_current_span(),
                    );
                }
                Ok(cached.set)
            }
            None => match self.inner.last_failure() {
                Some((at, why)) if at.elapsed() < RETRY_FAILED_LOAD_AFTER => {
                    Err(KeyError::Unavailable(why.into()))
                }
                _ => self.inner.reload().await,
            },
        }
    }

    async fn refresh(&self) -> Result<Arc<KeySet>, KeyError> {
        let due = {
            let mut last = locked(&self.inner.last_forced);
            let due = last.is_none_or(|t| t.elapsed() >= FORCED_RELOAD_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            // A token names a key this set lacks: if Secrets Manager cannot say whether
            // it exists, that is its outage (503), not the token's fault. Only a load
            // that starts now can say: one already in flight may predate the key.
            self.inner
                .reload_then(Fallback::Error, Share::StartedAfter(Instant::now()))
                .await
        } else if let Some((_, why)) = self.inner.last_failure() {
            Err(KeyError::Unavailable(
                format!("the last load of the signing keys failed: {why}").into(),
            ))
        } else {
            self.key_set().await
        }
    }

    /// Never a set older than the refresh interval: a stale one is reloaded first,
    /// sharing a load in flight (bounded by the client's deadlines). If the load fails,
    /// the cached set is served marked stale, and Secrets Manager is asked again after
    /// [`PUBLISH_RETRY_AFTER`].
    async fn published(&self) -> Result<Published, KeyError> {
        let asked = Instant::now();
        let inner = &self.inner;
        let fresh = |keys| Published { keys, stale: None };
        let stale = |c: Cached| Published {
            keys: c.set,
            stale: Some(c.started.elapsed()),
        };
        match inner.cached() {
            // Cold: the set is loaded now, after the request.
            None => return self.key_set().await.map(fresh),
            Some(c) if inner.fresh_at(&c, asked) => return Ok(fresh(c.set)),
            // A reload failed moments ago: do not wait on it again at once. Soon, though:
            // a verifier may cache what is served here for hours (API Gateway ignores
            // `no-cache`), so a transient failure must not stand for a whole interval.
            Some(c)
                if inner
                    .last_failure()
                    .is_some_and(|(at, _)| at.elapsed() < PUBLISH_RETRY_AFTER) =>
            {
                return Ok(stale(c));
            }
            Some(_) => {}
        }
        // A load in flight (or one ending while this waits) is shared: it started when
        // the set went stale, moments ago. Should it have taken longer than the
        // interval, one more load, started after this request, holds every key the
        // secret held when the request came.
        let mut share = Share::EndedAfter(asked);
        loop {
            let reloaded = inner.reload_then(Fallback::Error, share).await;
            match (reloaded, inner.cached()) {
                (_, Some(c)) if inner.fresh_at(&c, Instant::now()) || c.started >= asked => {
                    return Ok(fresh(c.set));
                }
                (Ok(_), _) if matches!(share, Share::EndedAfter(_)) => {
                    share = Share::StartedAfter(asked);
                }
                (_, Some(c)) => return Ok(stale(c)),
                (Ok(set), None) => return Ok(fresh(set)),
                (Err(e), None) => return Err(e),
            }
        }
    }
}

/// The platform operator key from its secret (`{"apiKey": "…"}`), kept only as a hash.
pub async fn fetch_platform_key(client: &Client, secret_id: &str) -> Result<KeyHash, KeyError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PlatformSecret {
        api_key: SecretString,
    }
    let (raw, _) = secret_string(client, secret_id, "AWSCURRENT")
        .await?
        .ok_or_else(|| KeyError::Invalid(format!("secret {secret_id} has no value")))?;
    let parsed: PlatformSecret = serde_json::from_str(raw.expose_secret()).map_err(|_| {
        KeyError::Invalid(format!("secret {secret_id} is not {{\"apiKey\": \"…\"}}"))
    })?;
    if parsed.api_key.expose_secret().len() < 16 {
        return Err(KeyError::Invalid(format!(
            "secret {secret_id}: apiKey must be at least 16 characters"
        )));
    }
    Ok(KeyHash::of(parsed.api_key.expose_secret()))
}
