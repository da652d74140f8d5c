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
mod tests {
    use super::*;

    /// Test-only keys written by another tool (`openssl genpkey`, OpenSSL 3.0), as an
    /// operator might put their own key into the secret.
    const OPENSSL_KEYS: [(SigningAlgorithm, &str); 3] = [
        (
            SigningAlgorithm::Rs256,
            include_str!("../../tests/fixtures/openssl-keys/rs256.pem"),
        ),
        (
            SigningAlgorithm::Es256,
            include_str!("../../tests/fixtures/openssl-keys/es256.pem"),
        ),
        (
            SigningAlgorithm::EdDsa,
            include_str!("../../tests/fixtures/openssl-keys/eddsa.pem"),
        ),
    ];

    fn material(alg: SigningAlgorithm, pem: &str) -> KeyMaterial {
        KeyMaterial {
            alg,
            private_key_pem: SecretString::from(pem),
        }
    }

    #[test]
    fn generated_and_openssl_keys_sign_what_their_public_jwk_verifies() {
        let generated = [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ]
        .map(|alg| KeyMaterial::generate(alg).unwrap());
        let openssl = OPENSSL_KEYS.map(|(alg, pem)| material(alg, pem));
        for m in generated.iter().chain(&openssl) {
            let key = SigningKey::from_material(m).unwrap();
            let header = jsonwebtoken::Header::new(m.alg.jwt());
            let token =
                jsonwebtoken::encode(&header, &json!({"sub": "x"}), key.encoding_key()).unwrap();
            // Verified with a key rebuilt from the published JWK alone.
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            let public = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(m.alg.jwt());
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            jsonwebtoken::decode::<serde_json::Value>(&token, &public, &validation)
                .unwrap_or_else(|e| panic!("{}: {e}", m.alg.name()));
            assert_eq!(key.kid().len(), 43, "a SHA-256 thumbprint");
        }
    }

    #[test]
    fn a_malformed_key_document_is_described_without_quoting_it() {
        for raw in [
            r#"{"alg": "PEM-MIIEvQ", "privateKeyPem": "x"}"#,
            r#""PEM-MIIEvQ""#,
            r#"{"alg": "RS256", "privateKeyPem": "PEM-MIIEvQ", "#,
        ] {
            let err = KeyMaterial::from_json(raw).unwrap_err().to_string();
            assert!(!err.contains("MIIEvQ"), "{err}");
            assert!(err.contains("line 1"), "{err}");
        }
    }

    #[test]
    fn every_algorithm_generates_parses_and_publishes_only_public_parts() {
        for alg in [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ] {
            let material = KeyMaterial::generate(alg).unwrap();
            let round_trip = KeyMaterial::from_json(&material.to_json().to_string()).unwrap();
            let a = SigningKey::from_material(&material).unwrap();
            let b = SigningKey::from_material(&round_trip).unwrap();
            assert_eq!(a.kid(), b.kid(), "{alg:?}: kid is a function of the key");
            let jwk = a.public_jwk();
            assert_eq!(jwk["alg"], alg.name());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], a.kid());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg:?} leaks {private}");
            }
            // The published JWK is what outside verifiers use: it must verify our signature.
            let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
            let decoding = DecodingKey::from_jwk(&parsed).unwrap();
            let mut header = jsonwebtoken::Header::new(alg.jwt());
            header.kid = Some(a.kid().to_owned());
            let token = jsonwebtoken::encode(
                &header,
                &json!({"sub": "x", "exp": crate::now_unix() + 60}),
                a.encoding_key(),
            )
            .unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg.jwt());
            validation.validate_aud = false;
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        }
    }

    #[test]
    fn the_internal_key_follows_its_signing_key_and_is_never_published() {
        let material = KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
        let a = SigningKey::from_material(&material).unwrap();
        let again = SigningKey::from_material(&material).unwrap();
        let other =
            SigningKey::from_material(&KeyMaterial::generate(SigningAlgorithm::Es256).unwrap())
                .unwrap();
        assert_eq!(
            a.internal().kid(),
            again.internal().kid(),
            "derived, not random"
        );
        assert_ne!(a.internal().kid(), other.internal().kid());
        assert_ne!(a.internal().kid(), a.kid());
        let published = a.public_jwk().to_string();
        assert!(!published.contains(a.internal().kid()), "{published}");
        // What one copy signs, the other verifies: any function holding the secret can.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(a.internal().kid().to_owned());
        let claims = json!({"sub": "x", "exp": crate::now_unix() + 60});
        let token = jsonwebtoken::encode(&header, &claims, a.internal().encoding_key()).unwrap();
        let validation = {
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
            v.validate_aud = false;
            v
        };
        let decode = |k: &SigningKey| {
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                k.internal().decoding_key(),
                &validation,
            )
        };
        assert!(decode(&again).is_ok());
        assert!(decode(&other).is_err());
    }

    #[test]
    fn distinct_keys_have_distinct_kids() {
        let a = SigningKey::from_material(&KeyMaterial::generate(SigningAlgorithm::Es256).unwrap())
            .unwrap();
        let b = SigningKey::from_material(&KeyMaterial::generate(SigningAlgorithm::Es256).unwrap())
            .unwrap();
        assert_ne!(a.kid(), b.kid());
    }

    #[test]
    fn mismatched_or_broken_material_is_rejected() {
        let ec = KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
        let lying = KeyMaterial {
            alg: SigningAlgorithm::Rs256,
            ..ec
        };
        assert!(SigningKey::from_material(&lying).is_err());
        assert!(KeyMaterial::from_json(r#"{"alg":"HS256","privateKeyPem":"x"}"#).is_err());
        let junk = KeyMaterial::from_json(r#"{"alg":"EdDSA","privateKeyPem":"junk"}"#).unwrap();
        assert!(SigningKey::from_material(&junk).is_err());
        let [(_, rsa), (_, ec), _] = OPENSSL_KEYS;
        assert!(SigningKey::from_material(&material(SigningAlgorithm::Es256, rsa)).is_err());
        assert!(SigningKey::from_material(&material(SigningAlgorithm::EdDsa, ec)).is_err());
        // PKCS#1 (`RSA PRIVATE KEY`) is not the documented format.
        let pkcs1 = rsa.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        assert!(SigningKey::from_material(&material(SigningAlgorithm::Rs256, &pkcs1)).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let m = KeyMaterial::generate(SigningAlgorithm::EdDsa).unwrap();
        assert!(!format!("{m:?}").contains("PRIVATE"));
        let k = SigningKey::from_material(&m).unwrap();
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }
}
