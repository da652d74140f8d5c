//! Unit tests of key material: generation, parsing, JWKs and internal keys.

use super::*;

/// Test-only keys written by another tool (`openssl genpkey`, OpenSSL 3.0), as an
/// operator might put their own key into the secret.
const OPENSSL_KEYS: [(SigningAlgorithm, &str); 3] = [
    (
        SigningAlgorithm::Rs256,
        include_str!("../../../tests/fixtures/openssl-keys/rs256.pem"),
    ),
    (
        SigningAlgorithm::Es256,
        include_str!("../../../tests/fixtures/openssl-keys/es256.pem"),
    ),
    (
        SigningAlgorithm::EdDsa,
        include_str!("../../../tests/fixtures/openssl-keys/eddsa.pem"),
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
    let other = SigningKey::from_material(&KeyMaterial::generate(SigningAlgorithm::Es256).unwrap())
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
        jsonwebtoken::decode::<serde_json::Value>(&token, k.internal().decoding_key(), &validation)
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
