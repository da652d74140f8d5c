//! PERS tokens: issuing and verifying the service's own JWTs. Three kinds, none of which
//! can pass for another here or at any standard verifier configured with our issuer and
//! audience (DESIGN §4):
//! - **access** (RFC 9068, `typ: at+jwt`, `aud` = the issuer, `client_id`, `scope`),
//!   signed with the published key;
//! - **refresh** (`typ: refresh+jwt`, `aud` = `<issuer>/auth/refresh`), signed HS256 with
//!   the internal key derived from the signing key, which is never published;
//! - **login** (`typ: login+jwt`, `aud` = `<issuer>/login`, no `client_id`/`scope`).
//!
//! Everything is pinned on the way in: the key comes from our own set by `kid` (the
//! published set for access and login tokens, the internal keys for refresh tokens),
//! the algorithm must be that key's, `typ`, `iss` and `aud` must be the kind's, `exp`,
//! `iat`, `iss`, `aud` and a non-empty `sub` are required, a `crit` header is refused,
//! and our own clocks get at most 5 s of leeway. Header members that point at keys
//! (`jku`, `x5u`, `jwk`) are never read.

mod claims;
mod issuer;
pub mod jwk;
pub mod provider;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Serialize;
use serde_json::Value;

pub use claims::{AccessClaims, LoginClaims, OwnClaims, RefreshClaims, scope_of, scopes};
pub use issuer::{
    Checked, Clock, Issuer, ManualClock, Signer, SystemClock, TokenPair, tenant_admin_user,
};

use crate::config::Settings;
use crate::keys::KeySet;

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
pub const LOGIN_TOKEN_TYPE: &str = "login+jwt";
pub const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";
/// Tokens longer than this are refused before any parsing, ours and providers' alike.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock leeway for our own tokens: our functions' clocks agree to well within this.
pub const OWN_LEEWAY_SECONDS: u64 = 5;
/// Clock leeway for identity providers' tokens, whose clocks are not ours.
pub const PROVIDER_LEEWAY_SECONDS: u64 = 60;

/// The kinds of token this service issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
    Login,
}

impl Kind {
    pub fn typ(self) -> &'static str {
        match self {
            Self::Access => ACCESS_TOKEN_TYPE,
            Self::Refresh => REFRESH_TOKEN_TYPE,
            Self::Login => LOGIN_TOKEN_TYPE,
        }
    }

    /// The `aud` tokens of this kind carry, and the only one they are accepted with.
    pub fn audience(self, settings: &Settings) -> &str {
        match self {
            Self::Access => &settings.audience,
            Self::Refresh => &settings.refresh_audience,
            Self::Login => &settings.login_audience,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is too large")]
    TooLarge,
    #[error("token is malformed")]
    Malformed,
    #[error("token header names a critical extension, which is not supported")]
    CriticalExtension,
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
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token lacks a required claim")]
    MissingClaim,
}

/// Signing failed: the key in force could not sign (a bug, never the client's doing).
#[derive(Debug, thiserror::Error)]
#[error("token could not be signed")]
pub struct SigningFailed(#[source] jsonwebtoken::errors::Error);

/// A fresh random id for `jti` and `sid`.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The JOSE header of a compact JWS, refusing what no verifier here implements: a
/// `crit` member (RFC 7515 §4.1.11: we understand no extension, so any is fatal) and
/// an unencoded payload (`b64`, RFC 7797). The one header parser for our tokens and
/// providers' alike.
pub fn read_header(token: &str) -> Result<Header, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let encoded = token.split('.').next().ok_or(TokenError::Malformed)?;
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let members: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
    if members.contains_key("crit") || members.contains_key("b64") {
        return Err(TokenError::CriticalExtension);
    }
    jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)
}

/// Signs `claims` as a token of `kind`: access and login tokens with the published key
/// that signs now, refresh tokens with its internal key. The service signs through its
/// [`Issuer`] only; this is the primitive under it.
pub fn sign(keys: &KeySet, kind: Kind, claims: &impl Serialize) -> Result<String, SigningFailed> {
    let key = keys.signing();
    let (alg, kid, encoding) = match kind {
        Kind::Refresh => (
            Algorithm::HS256,
            key.internal().kid(),
            key.internal().encoding_key(),
        ),
        Kind::Access | Kind::Login => (key.algorithm().jwt(), key.kid(), key.encoding_key()),
    };
    let mut header = Header::new(alg);
    header.typ = Some(kind.typ().to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, encoding).map_err(SigningFailed)
}

/// Checks the time claims at `now` (Unix seconds) with `leeway`: `exp` required and not
/// past, `nbf` (if present) reached, `iat` (required when `iat_required`) not in the
/// future. Each must be a whole number of seconds from 0, as jsonwebtoken reads them.
/// Read from the JSON, so that the time is the caller's clock, not the library's.
pub(crate) fn check_times(
    claims: &Value,
    now: i64,
    leeway: u64,
    iat_required: bool,
) -> Result<(), TokenError> {
    let (now, leeway) = (i128::from(now), i128::from(leeway));
    let read = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .map(|t| Some(i128::from(t)))
            .ok_or(TokenError::Malformed),
    };
    let exp = read("exp")?.ok_or(TokenError::MissingClaim)?;
    if exp + leeway < now {
        return Err(TokenError::Expired);
    }
    if read("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(TokenError::NotYetValid);
    }
    match read("iat")? {
        None if iat_required => Err(TokenError::MissingClaim),
        Some(iat) if iat > now + leeway => Err(TokenError::IssuedInFuture),
        _ => Ok(()),
    }
}

/// Verifies one of our own tokens, of the kind its claims type names, at `now`.
pub fn verify<C: OwnClaims>(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
    now: i64,
) -> Result<C, TokenError> {
    verify_at(keys, settings, token, now, Expiry::Refuse).map(|(claims, _)| claims)
}

/// What [`verify_at`] does with a token past its `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Refuse,
    /// Accept it, and say so: the second member of the answer is `true`.
    Allow,
}

/// [`verify`], with a choice about expired tokens; the answer says whether the token had
/// expired.
pub fn verify_at<C: OwnClaims>(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
    now: i64,
    expiry: Expiry,
) -> Result<(C, bool), TokenError> {
    let kind = C::KIND;
    let header = read_header(token)?;
    if !header
        .typ
        .is_some_and(|t| t.eq_ignore_ascii_case(kind.typ()))
    {
        return Err(TokenError::WrongType(kind.typ()));
    }
    let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
    let (alg, decoding): (Algorithm, &DecodingKey) = match kind {
        Kind::Refresh => {
            let key = keys.find_internal(kid).ok_or(TokenError::UnknownKey)?;
            (Algorithm::HS256, key.decoding_key())
        }
        Kind::Access | Kind::Login => {
            let key = keys.find(kid).ok_or(TokenError::UnknownKey)?;
            (key.algorithm().jwt(), key.decoding_key())
        }
    };
    if header.alg != alg {
        return Err(TokenError::WrongAlgorithm);
    }
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[kind.audience(settings)]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Times are checked below against our clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims: Value = jsonwebtoken::decode(token, decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
            ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
            _ => TokenError::Malformed,
        })?;
    // What jsonwebtoken lets through when a claim is not the type it expects (an array
    // `iss` with ours in it, an `aud` array), and what it does not check at all.
    if claims["iss"].as_str() != Some(settings.issuer.as_str()) {
        return Err(TokenError::WrongIssuer);
    }
    if claims["aud"].as_str() != Some(kind.audience(settings)) {
        return Err(TokenError::WrongAudience);
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err(TokenError::MissingClaim);
    }
    let expired = match check_times(&claims, now, OWN_LEEWAY_SECONDS, true) {
        Ok(()) => false,
        // The signature and every other claim have been checked; a token of ours that
        // has expired was issued before it expired, so its `nbf`/`iat` need no look.
        Err(TokenError::Expired) if expiry == Expiry::Allow => true,
        Err(TokenError::IssuedInFuture) => return Err(TokenError::NotYetValid),
        Err(other) => return Err(other),
    };
    let claims: C = serde_json::from_value(claims).map_err(|_| TokenError::Malformed)?;
    claims.check()?;
    Ok((claims, expired))
}

#[cfg(test)]
mod tests;
