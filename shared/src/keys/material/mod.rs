use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyError;

/// Algorithms the service signs with. RS256 is the default because API Gateway's JWT
/// authorizer accepts only RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(format!("must be RS256, ES256 or EdDSA, got {other:?}")),
        }
    }
}

/// A private key as stored in the local key file and in each version of the signing-key
/// secret: `{"alg": "RS256", "privateKeyPem": "<PKCS#8 PEM>"}`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMaterial {
    pub alg: SigningAlgorithm,
    pub private_key_pem: SecretString,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A fresh private key of `alg` from AWS-LC's random source, as PKCS#8 PEM.
    pub fn generate(alg: SigningAlgorithm) -> Result<Self, KeyError> {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
        let failed = |_| KeyError::Invalid(format!("could not generate an {} key", alg.name()));
        let der: Zeroizing<Vec<u8>> = Zeroizing::new(match alg {
            SigningAlgorithm::Rs256 => {
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .and_then(|k| k.as_der())
                    .map_err(failed)?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
        });
        let pem = Zeroizing::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", der.as_slice()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ));
        Ok(Self {
            alg,
            private_key_pem: SecretString::from(pem.as_str()),
        })
    }

    /// The JSON form stored in files and secrets.
    pub fn to_json(&self) -> serde_json::Value {
        json!({ "alg": self.alg, "privateKeyPem": self.private_key_pem.expose_secret() })
    }

    pub fn from_json(raw: &str) -> Result<Self, KeyError> {
        serde_json::from_str(raw).map_err(|e| redacted_json_error("key JSON", &e))
    }
}

/// A JSON error about key material that names the kind of error and where it is, not
/// serde's message, which may quote the offending value: key material.
pub(super) fn redacted_json_error(what: impl std::fmt::Display, e: &serde_json::Error) -> KeyError {
    KeyError::Invalid(format!(
        "{what}: not a valid key document ({:?} error at line {}, column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// A usable key: signs (if current) and verifies, with its public JWK and `kid`, and
/// the internal key derived from it.
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_jwk: serde_json::Value,
    internal: InternalKey,
}

/// The internal key that signs and verifies refresh tokens (HS256), which only this
/// service ever verifies: it is never published, so no outside verifier can take a
/// refresh token for an access token. It is derived (HKDF-SHA256, RFC 5869) from the
/// private signing key it belongs to, so it lives and rotates with that key in the same
/// secret version, and every stage that verifies (previous, pending) verifies its
/// refresh tokens too.
pub struct InternalKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl InternalKey {
    fn derive(private_der: &[u8]) -> Result<Self, KeyError> {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let failed = |_| KeyError::Invalid("could not derive the internal key".into());
        let prk = Salt::new(HKDF_SHA256, b"pers internal token key").extract(private_der);
        let mut secret = Zeroizing::new([0u8; 32]);
        prk.expand(&[b"refresh-token hs256 v1"], HKDF_SHA256)
            .and_then(|okm| okm.fill(secret.as_mut()))
            .map_err(failed)?;
        // A name for the key that says nothing about it: a hash of the secret, tagged.
        let mut digest = Sha256::new();
        digest.update(b"pers internal kid");
        digest.update(secret.as_ref());
        let kid = format!("int-{}", b64(&digest.finalize()[..16]));
        Ok(Self {
            kid,
            encoding: EncodingKey::from_secret(secret.as_ref()),
            decoding: DecodingKey::from_secret(secret.as_ref()),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid(e: impl fmt::Display) -> KeyError {
    KeyError::Invalid(e.to_string())
}

impl SigningKey {
    pub fn from_material(material: &KeyMaterial) -> Result<Self, KeyError> {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
        };
        let pem = material.private_key_pem.expose_secret();
        let parsed = pem::parse(pem).map_err(|_| KeyError::Invalid("not a PEM document".into()))?;
        if parsed.tag() != "PRIVATE KEY" {
            return Err(KeyError::Invalid("not a PKCS#8 private key".into()));
        }
        let der = Zeroizing::new(parsed.into_contents());
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            KeyError::Invalid(format!("not an {} private key: {e}", material.alg.name()))
        };
        // The thumbprint members of RFC 7638, which serde_json keeps in lexical order.
        let (thumb, encoding, decoding) = match material.alg {
            SigningAlgorithm::Rs256 => {
                let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(rejected)?;
                let public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public_key());
                let (n, e) = (b64(&public.n), b64(&public.e));
                (
                    json!({"e": e, "kty": "RSA", "n": n}),
                    EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(invalid)?,
                    DecodingKey::from_rsa_components(&n, &e).map_err(invalid)?,
                )
            }
            SigningAlgorithm::Es256 => {
                let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(rejected)?;
                // Uncompressed SEC1 point: 0x04, then X and Y, 32 bytes each.
                let point = key.public_key().as_ref();
                let [4, xy @ ..] = point else {
                    return Err(KeyError::Invalid("unexpected P-256 public key form".into()));
                };
                let (x, y) = xy.split_at(xy.len() / 2);
                let (x, y) = (b64(x), b64(y));
                (
                    json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
                    EncodingKey::from_ec_pem(pem.as_bytes()).map_err(invalid)?,
                    DecodingKey::from_ec_components(&x, &y).map_err(invalid)?,
                )
            }
            SigningAlgorithm::EdDsa => {
                // PKCS#8 v1 (ours, openssl's) and v2 (with the public key) both load.
                let key = Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?;
                let x = b64(key.public_key().as_ref());
                (
                    json!({"crv": "Ed25519", "kty": "OKP", "x": x}),
                    EncodingKey::from_ed_pem(pem.as_bytes()).map_err(invalid)?,
                    DecodingKey::from_ed_components(&x).map_err(invalid)?,
                )
            }
        };
        let kid = b64(&Sha256::digest(thumb.to_string().as_bytes()));
        let internal = InternalKey::derive(&der)?;
        let mut public_jwk = thumb;
        public_jwk["kid"] = json!(kid);
        public_jwk["alg"] = json!(material.alg.name());
        public_jwk["use"] = json!("sig");
        Ok(Self {
            kid,
            alg: material.alg,
            encoding,
            decoding,
            public_jwk,
            internal,
        })
    }

    /// The internal (refresh-token) key that belongs to this key.
    pub fn internal(&self) -> &InternalKey {
        &self.internal
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public JWK with `kid`, `alg` and `use: sig`; never a private member.
    pub fn public_jwk(&self) -> serde_json::Value {
        self.public_jwk.clone()
    }
}

#[cfg(test)]
mod tests;
