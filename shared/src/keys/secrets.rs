//! Keys from AWS Secrets Manager. Each version of the signing-key secret holds one
//! [`KeyMaterial`] as JSON; `AWSCURRENT` signs, `AWSPREVIOUS` and `AWSPENDING` verify.
//! The set is held in memory. Once it is older than the refresh interval, a request
//! still gets it at once and a reload starts in the background; if Secrets Manager then
//! fails, the cached set keeps serving (and the failure is logged with its cause). Only
//! with no set cached (a secret with no key yet) do requests that need keys get `503`.
//! Every call is bounded by the client's [`Deadlines`](crate::deadlines::Deadlines).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::{ExposeSecret as _, SecretString};

use super::{KeyError, KeyMaterial, KeySet, KeySource, SigningKey};
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
    cache: RwLock<Option<(Instant, Arc<KeySet>)>>,
    refreshing: AtomicBool,
    last_forced: Mutex<Option<Instant>>,
    /// When the last load ended and, if it failed, why. While it failed, a token naming
    /// an unknown `kid` is `503` (its key may be one this instance could not load), not
    /// `401`.
    last_load: Mutex<Option<(Instant, Option<String>)>>,
    load_lock: tokio::sync::Mutex<()>,
}

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

    /// The three stages, read at once: one call's deadline bounds the load.
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
        Ok(match previous_kid {
            Some(kid) => set.activating_at(created + self.activation_delay.as_secs() as i64, &kid),
            None => set,
        })
    }

    fn cached(&self) -> Option<(Instant, Arc<KeySet>)> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why the last load failed, if it did.
    fn last_failure(&self) -> Option<(Instant, String)> {
        locked(&self.last_load)
            .as_ref()
            .and_then(|(at, failed)| failed.clone().map(|why| (*at, why)))
    }

    /// Reloads now; on failure with a cached set, keeps serving that set.
    async fn reload(self: &Arc<Self>) -> Result<Arc<KeySet>, KeyError> {
        self.reload_then(Fallback::Cached).await
    }

    /// Reloads now; on failure with a cached set, the cache keeps serving, and the caller
    /// gets what `fallback` says. The load runs in a task of its own, so a request cut
    /// at its deadline does not cut it: it finishes and its outcome is kept.
    async fn reload_then(self: &Arc<Self>, fallback: Fallback) -> Result<Arc<KeySet>, KeyError> {
        let this = self.clone();
        let asked = Instant::now();
        tokio::spawn(async move { this.load_and_keep(asked, fallback).await })
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }

    async fn load_and_keep(
        &self,
        asked: Instant,
        fallback: Fallback,
    ) -> Result<Arc<KeySet>, KeyError> {
        let _one_at_a_time = self.load_lock.lock().await;
        // A load that ended while this one waited for the lock is as fresh: use it.
        let finished = locked(&self.last_load).clone();
        if let Some((at, failed)) = finished.filter(|(at, _)| *at >= asked) {
            return match (failed, self.cached()) {
                (None, Some((_, set))) => Ok(set),
                (Some(_), Some((_, set))) if matches!(fallback, Fallback::Cached) => Ok(set),
                (Some(why), _) => Err(KeyError::Unavailable(why.into())),
                (None, None) => Err(KeyError::Unavailable(
                    format!(
                        "secret {}: no key set after a load at {at:?}",
                        self.secret_id
                    )
                    .into(),
                )),
            };
        }
        let loaded = self.load().await;
        *locked(&self.last_load) = Some((
            Instant::now(),
            loaded.as_ref().err().map(|e| crate::error_chain(e)),
        ));
        match loaded {
            Ok(set) => {
                let set = Arc::new(set);
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), set.clone()));
                Ok(set)
            }
            Err(e) => {
                let cached = {
                    let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
                    cache.as_mut().map(|(loaded, set)| {
                        // Try again after another interval, not on every request.
                        *loaded = Instant::now();
                        set.clone()
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

    /// Reloads the set now and waits for it (at init, and in tests).
    pub async fn refresh_now(&self) -> Result<Arc<KeySet>, KeyError> {
        self.inner.reload().await
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeySource {
    async fn key_set(&self) -> Result<Arc<KeySet>, KeyError> {
        match self.inner.cached() {
            Some((loaded, set)) => {
                if loaded.elapsed() >= self.inner.refresh_every
                    && !self.inner.refreshing.swap(true, Ordering::SeqCst)
                {
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        let _ = inner.reload().await;
                        inner.refreshing.store(false, Ordering::SeqCst);
                    });
                }
                Ok(set)
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
            // it exists, that is its outage (503), not the token's fault.
            self.inner.reload_then(Fallback::Error).await
        } else if let Some((_, why)) = self.inner.last_failure() {
            Err(KeyError::Unavailable(
                format!("the last load of the signing keys failed: {why}").into(),
            ))
        } else {
            self.key_set().await
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
