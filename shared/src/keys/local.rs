//! The local key file of `pers-local`: generated on first start, kept across restarts,
//! rotated by `pers-local rotate-keys`. Its stages mirror the Secrets Manager ones so
//! that local rotation behaves the same:
//! `{"current": Key, "previous": Key | null, "pending": Key | null}`, each key a
//! [`KeyMaterial`] plus its `createdAt` (Unix seconds). The file is re-read when it
//! changes, so a running server picks up a rotation: every set this source gives, the
//! JWKS's included, is the file as it is, so its publication lag is zero and a new
//! current key signs from its creation + the activation delay
//! ([`activation_time`](super::activation_time)).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;

use super::{
    KeyError, KeyMaterial, KeySet, KeySource, SigningAlgorithm, SigningKey, activation_time,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    #[serde(flatten)]
    material: KeyMaterial,
    #[serde(default)]
    created_at: i64,
}

impl StoredKey {
    fn generate(alg: SigningAlgorithm) -> Result<Self, KeyError> {
        Ok(Self {
            material: KeyMaterial::generate(alg)?,
            created_at: crate::now_unix(),
        })
    }

    fn to_json(&self) -> serde_json::Value {
        let mut json = self.material.to_json();
        json["createdAt"] = self.created_at.into();
        json
    }
}

#[derive(Deserialize)]
struct KeyFile {
    current: StoredKey,
    #[serde(default)]
    previous: Option<StoredKey>,
    #[serde(default)]
    pending: Option<StoredKey>,
}

impl KeyFile {
    fn read(path: &Path) -> Result<Option<Self>, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(raw) => serde_json::from_str(&raw)
                .map(Some)
                .map_err(|e| super::material::redacted_json_error(path.display(), &e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path, e)),
        }
    }

    fn write(&self, path: &Path) -> Result<(), KeyError> {
        let stage = |k: &Option<StoredKey>| k.as_ref().map(StoredKey::to_json);
        write_private(
            path,
            &serde_json::json!({
                "current": self.current.to_json(),
                "previous": stage(&self.previous),
                "pending": stage(&self.pending),
            }),
        )
    }

    fn key_set(&self, activation_delay: Duration) -> Result<KeySet, KeyError> {
        let current = SigningKey::from_material(&self.current.material)?;
        let previous = self
            .previous
            .as_ref()
            .map(|k| SigningKey::from_material(&k.material))
            .transpose()?;
        let pending = self
            .pending
            .as_ref()
            .map(|k| SigningKey::from_material(&k.material))
            .transpose()?;
        let previous_kid = previous.as_ref().map(|k| k.kid().to_owned());
        let set = KeySet::new(current, previous.into_iter().chain(pending).collect());
        let active_from =
            activation_time(self.current.created_at, Duration::ZERO, activation_delay);
        Ok(match (previous_kid, active_from) {
            (Some(kid), Some(from)) => set.activating_at(from, &kid),
            _ => set,
        })
    }
}

pub struct LocalKeySource {
    path: PathBuf,
    activation_delay: Duration,
    loaded: RwLock<(Option<Version>, Arc<KeySet>)>,
}

fn io(path: &Path, e: std::io::Error) -> KeyError {
    KeyError::Unavailable(format!("{}: {e}", path.display()).into())
}

/// What tells one version of the key file from another: its modification time and, on
/// Unix, its inode (every write is a new file renamed over the old one), so that two
/// writes within one tick of a coarse file-system clock still differ.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Version {
    modified: Option<SystemTime>,
    inode: u64,
}

fn version(path: &Path) -> Option<Version> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Version {
        modified: meta.modified().ok(),
        inode,
    })
}

impl LocalKeySource {
    /// Loads the key file at `path`, generating a key of `alg` (and the file) if absent.
    /// Returns whether a key was generated.
    pub fn open_or_generate(
        path: &Path,
        alg: SigningAlgorithm,
        activation_delay: Duration,
    ) -> Result<(Self, bool), KeyError> {
        let (file, generated) = match KeyFile::read(path)? {
            Some(file) => (file, false),
            None => {
                let file = KeyFile {
                    current: StoredKey::generate(alg)?,
                    previous: None,
                    pending: None,
                };
                file.write(path)?;
                (file, true)
            }
        };
        // Owner-only also when the file was made by something else (an older version,
        // a copy): it holds private keys.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io(path, e))?;
        }
        let set = Arc::new(file.key_set(activation_delay)?);
        Ok((
            Self {
                path: path.to_owned(),
                activation_delay,
                loaded: RwLock::new((version(path), set)),
            },
            generated,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rotates the key file at `path`: a new key of `alg` becomes current, the current
    /// one becomes previous (still verifying), the old previous is dropped. Returns the
    /// new key's `kid`.
    pub fn rotate(path: &Path, alg: SigningAlgorithm) -> Result<String, KeyError> {
        Self::rotate_keeping(path, alg, true)
    }

    /// Replaces every key of the file at `path` with a new key of `alg`, for a
    /// compromised key: with no previous key, the new one signs at once, and tokens of
    /// the old keys (refresh tokens too: every session) stop verifying as soon as the
    /// running server re-reads the file. Returns the new key's `kid`.
    pub fn replace(path: &Path, alg: SigningAlgorithm) -> Result<String, KeyError> {
        Self::rotate_keeping(path, alg, false)
    }

    fn rotate_keeping(path: &Path, alg: SigningAlgorithm, keep: bool) -> Result<String, KeyError> {
        let file = KeyFile::read(path)?.ok_or_else(|| {
            KeyError::Invalid(format!("{}: no key file to rotate", path.display()))
        })?;
        let next = StoredKey::generate(alg)?;
        let kid = SigningKey::from_material(&next.material)?.kid().to_owned();
        KeyFile {
            current: next,
            previous: keep.then_some(file.current),
            pending: None,
        }
        .write(path)?;
        Ok(kid)
    }
}

/// Writes `value` to `path` readable by the owner only, via a temporary file and a rename
/// so that a crash never leaves a half-written key file.
fn write_private(path: &Path, value: &serde_json::Value) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(value.to_string().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

#[async_trait]
impl KeySource for LocalKeySource {
    async fn key_set(&self) -> Result<Arc<KeySet>, KeyError> {
        let now = version(&self.path);
        {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            if loaded.0 == now {
                return Ok(loaded.1.clone());
            }
        }
        // The file changed (a rotation): load it; if it cannot be read, keep the old set.
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        match KeyFile::read(&self.path)
            .and_then(|f| f.map(|f| f.key_set(self.activation_delay)).transpose())
        {
            Ok(Some(set)) => *loaded = (now, Arc::new(set)),
            Ok(None) | Err(_) => {
                tracing::warn!(path = %self.path.display(), "key file unreadable; keeping the loaded keys");
                loaded.0 = now;
            }
        }
        Ok(loaded.1.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let (first, generated) =
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::Es256, Duration::ZERO)
                .unwrap();
        assert!(generated);
        let (second, generated) =
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::Es256, Duration::ZERO)
                .unwrap();
        assert!(!generated);
        let (a, b) = (
            first.key_set().await.unwrap(),
            second.key_set().await.unwrap(),
        );
        assert_eq!(a.signing().kid(), b.signing().kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must be private");
        }
    }

    #[tokio::test]
    async fn a_rotation_is_picked_up_and_the_old_key_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let (source, _) =
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::EdDsa, Duration::ZERO)
                .unwrap();
        let old = source.key_set().await.unwrap().signing().kid().to_owned();
        // Make sure the modification time moves even on coarse clocks.
        std::thread::sleep(Duration::from_millis(20));
        let new = LocalKeySource::rotate(&path, SigningAlgorithm::EdDsa).unwrap();
        let set = source.key_set().await.unwrap();
        assert_eq!(set.signing().kid(), new);
        assert!(set.find(&old).is_some());

        // With an activation delay, the previous key keeps signing for now.
        let (delayed, _) = LocalKeySource::open_or_generate(
            &path,
            SigningAlgorithm::EdDsa,
            Duration::from_secs(600),
        )
        .unwrap();
        assert_eq!(delayed.key_set().await.unwrap().signing().kid(), old);
    }

    #[tokio::test]
    async fn a_delayed_key_signs_from_its_rounded_up_creation_plus_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let delay = Duration::from_secs(2);
        let (source, _) =
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::EdDsa, delay).unwrap();
        let old = source.key_set().await.unwrap().signing().kid().to_owned();
        // The file will say `createdAt` ≥ `before`, rounded down: the key waits a second
        // more than the delay.
        let before = crate::now_unix();
        let new = LocalKeySource::rotate(&path, SigningAlgorithm::EdDsa).unwrap();
        // At once in the JWKS, not yet signing.
        let published = source.published().await.unwrap();
        assert!(published.stale.is_none());
        assert!(published.keys.find(&new).is_some());
        assert_eq!(published.keys.signing().kid(), old);
        let held = source.key_set().await.unwrap();
        if crate::now_unix() < before + 3 {
            assert_eq!(held.signing().kid(), old);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while held.signing().kid() != new {
            assert!(
                std::time::Instant::now() < deadline,
                "the new key never signed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            crate::now_unix() >= before + 3,
            "signed before its activation"
        );
    }

    #[tokio::test]
    async fn a_replaced_key_stops_verifying_and_the_new_one_signs_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let (source, _) = LocalKeySource::open_or_generate(
            &path,
            SigningAlgorithm::EdDsa,
            Duration::from_secs(7800),
        )
        .unwrap();
        let old = source.key_set().await.unwrap().signing().kid().to_owned();
        let rotated = LocalKeySource::rotate(&path, SigningAlgorithm::EdDsa).unwrap();
        assert_eq!(source.key_set().await.unwrap().signing().kid(), old, "held");
        let new = LocalKeySource::replace(&path, SigningAlgorithm::EdDsa).unwrap();
        let set = source.key_set().await.unwrap();
        assert_eq!(set.signing().kid(), new);
        assert!(set.find(&old).is_none() && set.find(&rotated).is_none());
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::Es256, Duration::ZERO),
            Err(KeyError::Invalid(_))
        ));
    }
}
