//! Public JWKs of identity providers, read from their JSON by our own rules rather than
//! by what a JWK library happens to accept: only a key that can verify a signature is
//! kept (RFC 7517 §4.2–4.4: `use` absent or `sig`, `key_ops` absent or holding `verify`;
//! `alg` absent or one we know, a curve that matches its coordinates), and a key is used
//! only for a token whose algorithm it fits. A leaf module: it knows nothing of tenants.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// RSA moduli below this many bits are refused (NIST SP 800-131A: 2048 since 2014).
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// What kind of public key a JWK holds, with what it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Family {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => alg == ES256,
            Self::P384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
        }
    }
}

/// A provider's public key, checked to be usable for signatures.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    family: Family,
    /// The JWK's own `alg`, when it names one: then only that algorithm.
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn member<'a>(jwk: &'a Value, name: &str) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member of the key is not a string"),
    }
}

fn bytes(jwk: &Value, name: &str) -> Result<Vec<u8>, &'static str> {
    let text = member(jwk, name)?.ok_or("the key lacks a required member")?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| "a member of the key is not base64url")
}

impl PublicKey {
    /// Reads one JWK, refusing any that could never verify a signature.
    pub fn parse(jwk: &Value) -> Result<Self, &'static str> {
        if !jwk.is_object() {
            return Err("a key is not a JSON object");
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| jwk.get(*m).is_some())
        {
            return Err("the key holds private or symmetric key material");
        }
        match member(jwk, "use")? {
            None | Some("sig") => {}
            Some(_) => return Err("the key is not meant for signatures (use)"),
        }
        if let Some(ops) = jwk.get("key_ops") {
            let ops = ops.as_array().ok_or("key_ops is not an array")?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err("the key is not meant for verifying (key_ops)");
            }
        }
        let alg = match member(jwk, "alg")? {
            None => None,
            Some(name) => Some(
                name.parse::<Algorithm>()
                    .map_err(|_| "the key's alg is not a signature algorithm")?,
            ),
        };
        let kid = member(jwk, "kid")?.map(str::to_owned);
        let (family, decoding) = match member(jwk, "kty")? {
            Some("RSA") => {
                let (n, e) = (bytes(jwk, "n")?, bytes(jwk, "e")?);
                let bits = n.len() * 8;
                if n.first() == Some(&0) || !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err("the RSA modulus is not 2048 to 8192 bits");
                }
                if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b % 2 == 0) {
                    return Err("the RSA exponent is invalid");
                }
                (Family::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
            }
            Some("EC") => {
                let (family, verifier, size): (_, &'static _, _) = match member(jwk, "crv")? {
                    Some("P-256") => (Family::P256, &ECDSA_P256_SHA256_FIXED, 32),
                    Some("P-384") => (Family::P384, &ECDSA_P384_SHA384_FIXED, 48),
                    _ => return Err("the EC key's curve (crv) is missing or not P-256/P-384"),
                };
                let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
                if x.len() != size || y.len() != size {
                    return Err("the EC key's coordinates do not fit its curve");
                }
                let point = [&[4u8][..], &x, &y].concat();
                aws_lc_rs::signature::ParsedPublicKey::new(verifier, &point)
                    .map_err(|_| "the EC key's point is not on its curve")?;
                (family, DecodingKey::from_ec_der(&point))
            }
            Some("OKP") => {
                if member(jwk, "crv")? != Some("Ed25519") {
                    return Err("the OKP key's curve (crv) is missing or not Ed25519");
                }
                let x = bytes(jwk, "x")?;
                aws_lc_rs::signature::ParsedPublicKey::new(&ED25519, &x)
                    .map_err(|_| "the Ed25519 key is invalid")?;
                (Family::Ed25519, DecodingKey::from_ed_der(&x))
            }
            Some("oct") => return Err("symmetric keys are not accepted"),
            _ => return Err("the key type (kty) is missing or unknown"),
        };
        if let Some(alg) = alg
            && !family.fits(alg)
        {
            return Err("the key's alg does not fit its key type");
        }
        Ok(Self {
            kid,
            family,
            alg,
            decoding,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key may verify a token signed with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.family.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }

    /// The verifying key, for a token whose algorithm [`Self::fits`].
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// The usable keys of a JWK Set.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys(Vec<PublicKey>);

impl PublicKeys {
    /// Reads a JWK Set, keeping the keys that can verify signatures and skipping the
    /// rest (a provider may publish encryption keys, or key types we do not know,
    /// beside its signing keys). Not a JWK Set at all is an error.
    pub fn lenient(set: &Value) -> Result<Self, &'static str> {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWK Set (no keys array)")?;
        Ok(Self(
            keys.iter()
                .filter_map(|k| PublicKey::parse(k).ok())
                .collect(),
        ))
    }

    /// Reads a JWK Set in which every key must be usable with at least one of
    /// `algorithms`; the error names the first key that is not, by its index.
    pub fn strict(set: &Value, algorithms: &[Algorithm]) -> Result<Self, (Option<usize>, String)> {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or((None, "not a JWK Set (no keys array)".to_owned()))?;
        if keys.is_empty() {
            return Err((None, "must hold at least one key".to_owned()));
        }
        let mut out = Vec::with_capacity(keys.len());
        for (i, raw) in keys.iter().enumerate() {
            let key = PublicKey::parse(raw).map_err(|e| (Some(i), e.to_owned()))?;
            if !algorithms.iter().any(|a| key.fits(*a)) {
                return Err((
                    Some(i),
                    "the key fits none of the provider's algorithms".to_owned(),
                ));
            }
            out.push(key);
        }
        Ok(Self(out))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key a token names by `kid`; without a `kid`, only a set of exactly one key.
    pub fn pick(&self, kid: Option<&str>) -> Option<&PublicKey> {
        match kid {
            Some(kid) => self.0.iter().find(|k| k.kid() == Some(kid)),
            None if self.0.len() == 1 => self.0.first(),
            None => None,
        }
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.0.iter().any(|k| k.kid() == Some(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
    use serde_json::json;

    fn jwk(alg: SigningAlgorithm) -> Value {
        SigningKey::from_material(&KeyMaterial::generate(alg).unwrap())
            .unwrap()
            .public_jwk()
    }

    fn refused(jwk: Value) -> &'static str {
        PublicKey::parse(&jwk).expect_err("accepted")
    }

    #[test]
    fn keys_of_every_supported_type_are_read() {
        for (alg, jwt) in [
            (SigningAlgorithm::Rs256, Algorithm::RS256),
            (SigningAlgorithm::Es256, Algorithm::ES256),
            (SigningAlgorithm::EdDsa, Algorithm::EdDSA),
        ] {
            let key = PublicKey::parse(&jwk(alg)).unwrap();
            assert!(key.fits(jwt), "{alg:?}");
            assert!(!key.fits(Algorithm::ES384), "{alg:?} fits ES384");
        }
    }

    #[test]
    fn keys_not_meant_for_signatures_are_refused() {
        let base = jwk(SigningAlgorithm::Rs256);
        let with = |k: &str, v: Value| {
            let mut j = base.clone();
            j[k] = v;
            j
        };
        assert!(refused(with("use", json!("enc"))).contains("use"));
        assert!(refused(with("key_ops", json!(["encrypt"]))).contains("key_ops"));
        assert!(PublicKey::parse(&with("key_ops", json!(["verify"]))).is_ok());
        assert!(refused(with("alg", json!("RSA-OAEP"))).contains("alg"));
        assert!(refused(with("alg", json!("ES256"))).contains("alg"));
        // A key naming RS384 verifies RS384 only.
        let rs384 = PublicKey::parse(&with("alg", json!("RS384"))).unwrap();
        assert!(rs384.fits(Algorithm::RS384) && !rs384.fits(Algorithm::RS256));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let rsa = jwk(SigningAlgorithm::Rs256);
        let ec = jwk(SigningAlgorithm::Es256);
        let okp = jwk(SigningAlgorithm::EdDsa);
        let edit = |base: &Value, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
            let mut j = base.clone();
            f(j.as_object_mut().unwrap());
            j
        };
        let cases = [
            edit(&rsa, &|j| {
                j.insert("n".into(), json!("not base64url!"));
            }),
            edit(&rsa, &|j| {
                j.insert("n".into(), json!(URL_SAFE_NO_PAD.encode([0xffu8; 128])));
            }),
            edit(&ec, &|j| {
                j.remove("crv");
            }),
            edit(&ec, &|j| {
                j.remove("y");
            }),
            edit(&ec, &|j| {
                j.insert("crv".into(), json!("P-384"));
            }),
            edit(&ec, &|j| {
                j.insert("x".into(), json!(URL_SAFE_NO_PAD.encode([1u8; 32])));
            }),
            edit(&okp, &|j| {
                j.remove("x");
            }),
            edit(&okp, &|j| {
                j.insert("crv".into(), json!("X25519"));
            }),
            edit(&rsa, &|j| {
                j.insert("kty".into(), json!("XYZ"));
            }),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!("a string"),
        ];
        for case in cases {
            assert!(PublicKey::parse(&case).is_err(), "accepted {case}");
        }
    }

    #[test]
    fn a_lenient_set_skips_unusable_keys_and_a_strict_one_names_them() {
        let good = jwk(SigningAlgorithm::Es256);
        let set = json!({"keys": [{"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"}, good]});
        assert_eq!(PublicKeys::lenient(&set).unwrap().len(), 1);
        let (at, _) = PublicKeys::strict(&set, &[Algorithm::ES256]).unwrap_err();
        assert_eq!(at, Some(0));
        let only_good = json!({"keys": [good]});
        let (at, why) = PublicKeys::strict(&only_good, &[Algorithm::RS256]).unwrap_err();
        assert_eq!((at, why.contains("algorithms")), (Some(0), true));
        assert!(PublicKeys::strict(&json!({"keys": []}), &[Algorithm::ES256]).is_err());
    }
}
