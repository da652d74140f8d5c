//! The local development identity provider (DESIGN §1): how a newcomer gets a first
//! session without an identity provider of their own. `pers-local dev-token --sub alice`
//! prints a provider token that the `pers-local` of the same data directory accepts at
//! `POST /auth/token` for any of its tenants, for one auth type.
//!
//! Its key is one ES256 key per data directory, in `dev-idp.json` (owner-only), beside
//! an id of that directory; whichever of the server and `dev-token` runs first creates
//! it. Its issuer is `urn:pers-local:dev-idp:<id>/<authType>`, so a token minted under
//! another data directory names an issuer this server does not trust, and a token for
//! one auth type opens no other. The server trusts it through
//! `AppState::with_dev_identity_provider`, which only a local deployment allows; no
//! Lambda function links this module.

use std::io::Write as _;
use std::path::Path;

use jsonwebtoken::{Algorithm, Header};
use pers::BoxError;
use pers::domain::AuthType;
use pers::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
use pers::token::provider::DevIdentityProvider;
use serde_json::json;

const FILE: &str = "dev-idp.json";

/// How long a dev token may wait before it is exchanged.
pub const TOKEN_TTL_SECONDS: i64 = 3600;

pub struct DevIdp {
    id: String,
    key: SigningKey,
}

impl DevIdp {
    /// The data directory's dev IdP, created (atomically: a concurrent `dev-token` and
    /// server agree on one key) if it has none yet.
    pub fn open_or_create(data_dir: &Path) -> Result<Self, BoxError> {
        let path = data_dir.join(FILE);
        if let Some(idp) = Self::read(&path)? {
            // Owner-only also when the file was made by something else (a copy).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            return Ok(idp);
        }
        let material = KeyMaterial::generate(SigningAlgorithm::Es256)?;
        let mut stored = material.to_json();
        stored["id"] = json!(uuid::Uuid::new_v4().to_string());
        let tmp = data_dir.join(format!(".{FILE}.{}", uuid::Uuid::new_v4()));
        if let Err(e) = write_private(&tmp, stored.to_string().as_bytes()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // A link fails if the name exists: then another process created it first, and
        // its key is the one.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("{}: {e}", path.display()).into()),
        }
        Self::read(&path)?.ok_or_else(|| format!("{}: vanished", path.display()).into())
    }

    fn read(path: &Path) -> Result<Option<Self>, BoxError> {
        let raw = match std::fs::read_to_string(path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display()).into()),
        };
        let unusable = || format!("{}: not a dev IdP key file", path.display());
        let id = serde_json::from_str::<serde_json::Value>(&raw)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .filter(|id| !id.is_empty())
            .ok_or_else(unusable)?;
        let material = KeyMaterial::from_json(&raw).map_err(|_| unusable())?;
        if material.alg != SigningAlgorithm::Es256 {
            return Err(unusable().into());
        }
        Ok(Some(Self {
            id,
            key: SigningKey::from_material(&material)?,
        }))
    }

    /// What the server trusts: the issuers and the public key.
    pub fn provider(&self) -> DevIdentityProvider {
        DevIdentityProvider {
            issuer_base: format!("{}{}", DevIdentityProvider::ISSUER_PREFIX, self.id),
            jwks: json!({ "keys": [self.key.public_jwk()] }),
        }
    }

    /// A provider token for `subject`, good for `auth_type` only, for an hour from `now`.
    pub fn token(&self, subject: &str, auth_type: AuthType, now: i64) -> Result<String, BoxError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key.kid().to_owned());
        let claims = json!({
            "iss": self.provider().issuer(auth_type),
            "sub": subject,
            "aud": DevIdentityProvider::AUDIENCE,
            "iat": now,
            "exp": now + TOKEN_TTL_SECONDS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            self.key.encoding_key(),
        )?)
    }
}

/// Creates `path` (which must not exist) readable by its owner only, with `bytes`.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BoxError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = options.open(path).map_err(failed)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_data_directory_whoever_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DevIdp::open_or_create(dir.path()).unwrap();
        let second = DevIdp::open_or_create(dir.path()).unwrap();
        assert_eq!(first.provider(), second.provider());
        let other = tempfile::tempdir().unwrap();
        let third = DevIdp::open_or_create(other.path()).unwrap();
        assert_ne!(first.provider().issuer_base, third.provider().issuer_base);
        assert_ne!(first.key.kid(), third.key.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the dev IdP's key file must be private");
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let issuers: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| DevIdp::open_or_create(dir.path()).unwrap()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().provider().issuer_base)
                .collect()
        });
        assert!(issuers.windows(2).all(|w| w[0] == w[1]), "{issuers:?}");
    }
}
