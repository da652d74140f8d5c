use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::TenantId;

/// SHA-256 of an API key. Keys are 256 random bits, so a fast hash is enough to make the
/// stored value useless to a reader of the table; lookups are by this hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Lowercase hex, the form stored and used in item keys.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }

    /// Constant-time comparison, for checking a presented secret against a stored hash.
    pub fn matches(&self, presented: &str) -> bool {
        Self::of(presented).0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash of a secret is still not something to print in full.
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(d)?;
        Self::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("not a 64-digit hex hash"))
    }
}

/// Which of a tenant's keys a lookup item stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyKind {
    /// `projectApiKey`: publishable, identifies the tenant on mainnet.
    Project,
    /// `testnetProjectApiKey`: publishable, marks sessions `testnet`.
    TestnetProject,
    /// `apiPrivateKey`: a server-side secret, shown once.
    Private,
}

/// The network a session belongs to, decided by which project key opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
}

/// A lookup item: one per API key, keyed by the key's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyEntry {
    pub hash: KeyHash,
    pub tenant_id: TenantId,
    pub kind: KeyKind,
}

/// A fresh random key: `prefix` followed by 256 bits of OS randomness, base64url.
pub fn generate_api_key(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

const PRIVATE_KEY_PREFIX: &str = "sk_live_";

/// The three keys of a new tenant, generated together: two publishable project keys
/// (kept in the tenant) and the `apiPrivateKey`, shown once and stored only as a hash.
pub struct TenantKeys {
    project: SecretString,
    testnet_project: SecretString,
    private: SecretString,
}

impl TenantKeys {
    pub fn generate() -> Self {
        Self {
            project: generate_api_key("pk_live_"),
            testnet_project: generate_api_key("pk_test_"),
            private: Self::new_private_key(),
        }
    }

    pub fn project_key(&self) -> &str {
        self.project.expose_secret()
    }

    pub fn testnet_project_key(&self) -> &str {
        self.testnet_project.expose_secret()
    }

    /// A fresh `apiPrivateKey`, to replace a tenant's (regeneration).
    pub fn new_private_key() -> SecretString {
        generate_api_key(PRIVATE_KEY_PREFIX)
    }

    /// The `apiPrivateKey`, to be shown once.
    pub fn private_key(&self) -> &SecretString {
        &self.private
    }

    pub fn private_key_hash(&self) -> KeyHash {
        hash_secret(&self.private)
    }

    /// The lookup items of the three keys for tenant `id`.
    pub fn entries(&self, id: &TenantId) -> [ApiKeyEntry; 3] {
        [
            (&self.project, KeyKind::Project),
            (&self.testnet_project, KeyKind::TestnetProject),
            (&self.private, KeyKind::Private),
        ]
        .map(|(key, kind)| ApiKeyEntry {
            hash: hash_secret(key),
            tenant_id: id.clone(),
            kind,
        })
    }
}

/// Convenience for places that must hash a secret they hold.
pub fn hash_secret(secret: &SecretString) -> KeyHash {
    KeyHash::of(secret.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_through_hex() {
        let h = KeyHash::of("pk_live_abc");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(KeyHash::from_hex("zz"), None);
        assert_eq!(KeyHash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn matches_only_the_same_key() {
        let h = KeyHash::of("sk_live_secret");
        assert!(h.matches("sk_live_secret"));
        assert!(!h.matches("sk_live_secreT"));
        assert!(!h.matches(""));
    }

    #[test]
    fn generated_keys_are_prefixed_and_distinct() {
        let a = generate_api_key("pk_live_");
        let b = generate_api_key("pk_live_");
        assert!(a.expose_secret().starts_with("pk_live_"));
        assert_eq!(a.expose_secret().len(), "pk_live_".len() + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }

    #[test]
    fn debug_does_not_print_the_whole_hash() {
        let h = KeyHash::of("x");
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }
}
