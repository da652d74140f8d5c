//! PERS tokens: issuing and verifying the service's own JWTs (RFC 9068 access tokens and
//! the tenant login token). Everything is pinned: the key comes from our own set by
//! `kid`, the algorithm must be that key's, `typ` must be the one expected, `iss` and
//! `aud` must be ours, `exp` is required, 60 s leeway on time claims. Header members that
//! point at keys (`jku`, `x5u`, `jwk`) are never read.

pub mod provider;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::domain::{AuthType, Network, TenantId};
use crate::keys::KeySet;

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
pub const LOGIN_TOKEN_TYPE: &str = "login+jwt";
pub const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
pub const LEEWAY_SECONDS: u64 = 60;

/// Claims of a PERS access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub tenant_id: TenantId,
    pub auth_type: AuthType,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// Claims of a PERS refresh token: its session (token family) and generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub tenant_id: TenantId,
    /// The session's kind: a `system` session refreshes only with the tenant's
    /// `apiPrivateKey`, which this claim lets the refresh check before it rotates.
    pub auth_type: AuthType,
    pub sid: String,
    #[serde(rename = "gen")]
    pub generation: u64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Claims of the short-lived token of `GET /tenants/login-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub tenant_id: TenantId,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is too large")]
    TooLarge,
    #[error("token is malformed")]
    Malformed,
    #[error("token type is not {0}")]
    WrongType(&'static str),
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token algorithm does not match its key")]
    WrongAlgorithm,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token lacks a required claim")]
    MissingClaim,
    #[error("token could not be signed")]
    Signing,
}

/// A fresh random id for `jti` and `sid`.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Signs `claims` with the current key, with `typ` and `kid` in the header.
pub fn sign(keys: &KeySet, typ: &str, claims: &impl Serialize) -> Result<String, TokenError> {
    let key = keys.signing();
    let mut header = Header::new(key.algorithm().jwt());
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding_key()).map_err(|_| TokenError::Signing)
}

/// Verifies one of our own tokens of type `typ` and returns its claims.
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    settings: &Settings,
    typ: &'static str,
    token: &str,
) -> Result<T, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if !header.typ.is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
        return Err(TokenError::WrongType(typ));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.find(kid))
        .ok_or(TokenError::UnknownKey)?;
    let alg = key.algorithm().jwt();
    if header.alg != alg {
        return Err(TokenError::WrongAlgorithm);
    }
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
            ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
            _ => TokenError::Malformed,
        })
}

/// Verifies a PERS access token.
pub fn verify_access(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = verify(keys, settings, ACCESS_TOKEN_TYPE, token)?;
    if claims.sub.is_empty() {
        return Err(TokenError::MissingClaim);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn key(alg: SigningAlgorithm) -> SigningKey {
        SigningKey::from_material(&KeyMaterial::generate(alg).unwrap()).unwrap()
    }

    fn settings() -> Settings {
        Settings::from_lookup(|_| None, Some("https://auth.example.com".into())).unwrap()
    }

    fn claims(s: &Settings) -> AccessClaims {
        let now = crate::now_unix();
        AccessClaims {
            iss: s.issuer.clone(),
            sub: "user-1".into(),
            aud: s.audience.clone(),
            tenant_id: TenantId::generate(),
            auth_type: AuthType::Tenant,
            sid: new_id(),
            jti: new_id(),
            iat: now,
            exp: now + 900,
            network: None,
        }
    }

    fn keys() -> KeySet {
        KeySet::new(key(SigningAlgorithm::Es256), vec![])
    }

    #[test]
    fn a_signed_access_token_verifies_and_carries_kid_and_typ() {
        let (keys, s) = (keys(), settings());
        let c = claims(&s);
        let token = sign(&keys, ACCESS_TOKEN_TYPE, &c).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(keys.signing().kid()));
        assert_eq!(verify_access(&keys, &s, &token).unwrap(), c);
    }

    #[test]
    fn each_broken_rule_is_refused() {
        let (keys, s) = (keys(), settings());
        let good = claims(&s);
        let with = |f: &dyn Fn(&mut AccessClaims)| {
            let mut c = good.clone();
            f(&mut c);
            sign(&keys, ACCESS_TOKEN_TYPE, &c).unwrap()
        };
        let now = crate::now_unix();
        let cases: Vec<(String, TokenError)> = vec![
            (with(&|c| c.exp = now - 61), TokenError::Expired),
            (
                with(&|c| c.iss = "https://evil.example".into()),
                TokenError::WrongIssuer,
            ),
            (
                with(&|c| c.aud = "someone-else".into()),
                TokenError::WrongAudience,
            ),
            (with(&|c| c.sub = String::new()), TokenError::MissingClaim),
            (
                sign(&keys, LOGIN_TOKEN_TYPE, &good).unwrap(),
                TokenError::WrongType(ACCESS_TOKEN_TYPE),
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), TokenError::TooLarge),
            ("not.a.jwt".into(), TokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(
                verify_access(&keys, &s, &token),
                Err(expected.clone()),
                "{expected}"
            );
        }
    }

    #[test]
    fn expiry_within_the_leeway_is_accepted() {
        let (keys, s) = (keys(), settings());
        let mut c = claims(&s);
        c.exp = crate::now_unix() - 30;
        let token = sign(&keys, ACCESS_TOKEN_TYPE, &c).unwrap();
        assert!(verify_access(&keys, &s, &token).is_ok());
    }

    #[test]
    fn a_token_from_another_key_or_with_no_kid_is_refused() {
        let (ours, s) = (keys(), settings());
        let theirs = KeySet::new(key(SigningAlgorithm::Es256), vec![]);
        let token = sign(&theirs, ACCESS_TOKEN_TYPE, &claims(&s)).unwrap();
        assert_eq!(
            verify_access(&ours, &s, &token),
            Err(TokenError::UnknownKey)
        );

        // Same kid as ours but signed by another key: the signature fails.
        let (_, rest) = token.split_once('.').unwrap();
        let mut header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        header["kid"] = ours.signing().kid().into();
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert_eq!(
            verify_access(&ours, &s, &forged),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_hmac_confusion_are_refused() {
        let (keys, s) = (keys(), settings());
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&s)).unwrap());
        for alg in ["none", "HS256"] {
            let header =
                serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": keys.signing().kid()});
            let token = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(header.to_string()));
            assert!(verify_access(&keys, &s, &token).is_err(), "{alg} accepted");
        }
    }

    #[test]
    fn previous_keys_still_verify() {
        let s = settings();
        let old = KeyMaterial::generate(SigningAlgorithm::Rs256).unwrap();
        let before = KeySet::new(SigningKey::from_material(&old).unwrap(), vec![]);
        let token = sign(&before, ACCESS_TOKEN_TYPE, &claims(&s)).unwrap();
        // A rotated set: a new current key, the old one kept for verification only.
        let rotated = KeySet::new(
            key(SigningAlgorithm::EdDsa),
            vec![SigningKey::from_material(&old).unwrap()],
        );
        assert!(verify_access(&rotated, &s, &token).is_ok());
        let fresh = sign(&rotated, ACCESS_TOKEN_TYPE, &claims(&s)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some(rotated.signing().kid())
        );
        assert_ne!(rotated.signing().kid(), before.signing().kid());
    }
}
