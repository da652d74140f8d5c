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

pub mod jwk;
pub mod provider;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::domain::{AuthType, Network, Session, SessionOrigin, TenantId};
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

/// The platform-wide scope of an auth type: `pers:user`, `pers:tenant`, …
pub fn scope_of(auth_type: AuthType) -> String {
    let name = match auth_type {
        AuthType::User => "user",
        AuthType::Business => "business",
        AuthType::Tenant => "tenant",
        AuthType::System => "system",
        AuthType::External => "external",
    };
    format!("pers:{name}")
}

/// The `scope` of an access token: the auth type, platform-wide and for its tenant
/// (`pers:tenant pers:tenant:<tenant id>`), so that an API Gateway route can require an
/// auth type with `authorizationScopes` — of any tenant, or of one: every tenant's
/// tokens share `iss` and `aud`, and API Gateway reads `client_id` only without `aud`.
pub fn scopes(auth_type: AuthType, tenant: &TenantId) -> String {
    let platform = scope_of(auth_type);
    format!("{platform} {platform}:{tenant}")
}

/// Claims of a PERS access token (RFC 9068).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    /// RFC 9068 §2.2: the client the token was issued to, here the tenant.
    #[serde(rename = "client_id")]
    pub client_id: TenantId,
    /// RFC 9068 §2.2.3: space-separated; `pers:<authType> pers:<authType>:<tenant id>`.
    pub scope: String,
    pub tenant_id: TenantId,
    pub auth_type: AuthType,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

impl AccessClaims {
    /// An access token of `session`, issued at `now`; it never outlives the session.
    pub fn for_session(settings: &Settings, session: &Session, now: i64) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: settings.audience.clone(),
            client_id: session.tenant_id.clone(),
            scope: scopes(session.auth_type, &session.tenant_id),
            tenant_id: session.tenant_id.clone(),
            auth_type: session.auth_type,
            sid: session.session_id.clone(),
            jti: new_id(),
            iat: now,
            exp: (now + settings.access_token_ttl.as_secs() as i64).min(session.expires_at),
            network: (session.network == Network::Testnet).then_some(Network::Testnet),
        }
    }

    /// A tenant-admin token of `tenant` with the bootstrap lifetime.
    pub fn tenant_admin(settings: &Settings, tenant: &TenantId, now: i64) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: format!("tenant-admin:{tenant}"),
            aud: settings.audience.clone(),
            client_id: tenant.clone(),
            scope: scopes(AuthType::Tenant, tenant),
            tenant_id: tenant.clone(),
            auth_type: AuthType::Tenant,
            sid: new_id(),
            jti: new_id(),
            iat: now,
            exp: now + settings.tenant_admin_token_ttl.as_secs() as i64,
            network: None,
        }
    }
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
    /// How the session was opened, so that a refresh can tell, from the tenant alone,
    /// whether the tenant still allows it (DESIGN §3).
    pub via: SessionOrigin,
    pub sid: String,
    #[serde(rename = "gen")]
    pub generation: u64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl RefreshClaims {
    /// The refresh token of `session`'s current generation.
    pub fn for_session(
        settings: &Settings,
        session: &Session,
        via: SessionOrigin,
        now: i64,
    ) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: settings.refresh_audience.clone(),
            tenant_id: session.tenant_id.clone(),
            auth_type: session.auth_type,
            via,
            sid: session.session_id.clone(),
            generation: session.generation,
            jti: new_id(),
            iat: now,
            exp: session.expires_at,
        }
    }
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

impl LoginClaims {
    pub fn new(settings: &Settings, tenant: &TenantId, network: Network, now: i64) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: tenant.to_string(),
            aud: settings.login_audience.clone(),
            tenant_id: tenant.clone(),
            jti: new_id(),
            iat: now,
            exp: now + settings.login_token_ttl.as_secs() as i64,
            network: (network == Network::Testnet).then_some(Network::Testnet),
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
/// that signs now, refresh tokens with its internal key.
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

/// Verifies one of our own tokens of `kind` and returns its claims.
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    settings: &Settings,
    kind: Kind,
    token: &str,
) -> Result<T, TokenError> {
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
    validation.leeway = OWN_LEEWAY_SECONDS;
    validation.validate_nbf = true;
    let claims: serde_json::Value = jsonwebtoken::decode(token, decoding, &validation)
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
    match claims["iat"].as_i64() {
        Some(iat) if iat <= crate::now_unix() + OWN_LEEWAY_SECONDS as i64 => {}
        Some(_) => return Err(TokenError::NotYetValid),
        None => return Err(TokenError::MissingClaim),
    }
    serde_json::from_value(claims).map_err(|_| TokenError::Malformed)
}

/// Verifies a PERS access token.
pub fn verify_access(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = verify(keys, settings, Kind::Access, token)?;
    if claims.client_id != claims.tenant_id {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
    use serde_json::json;

    fn key(alg: SigningAlgorithm) -> SigningKey {
        SigningKey::from_material(&KeyMaterial::generate(alg).unwrap()).unwrap()
    }

    fn settings() -> Settings {
        Settings::from_lookup(|_| None, Some("https://auth.example.com".into())).unwrap()
    }

    fn claims(s: &Settings) -> AccessClaims {
        AccessClaims::tenant_admin(s, &TenantId::generate(), crate::now_unix())
    }

    fn keys() -> KeySet {
        KeySet::new(key(SigningAlgorithm::Es256), vec![])
    }

    #[test]
    fn a_signed_access_token_verifies_and_carries_kid_and_typ() {
        let (keys, s) = (keys(), settings());
        let c = claims(&s);
        let token = sign(&keys, Kind::Access, &c).unwrap();
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
            sign(&keys, Kind::Access, &c).unwrap()
        };
        let now = crate::now_unix();
        let cases: Vec<(String, TokenError)> = vec![
            (with(&|c| c.exp = now - 6), TokenError::Expired),
            (with(&|c| c.iat = now + 60), TokenError::NotYetValid),
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
                sign(&keys, Kind::Login, &good).unwrap(),
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
    fn our_own_tokens_get_five_seconds_of_leeway_not_sixty() {
        let (keys, s) = (keys(), settings());
        let at = |exp_offset: i64| {
            let mut c = claims(&s);
            c.exp = crate::now_unix() + exp_offset;
            verify_access(&keys, &s, &sign(&keys, Kind::Access, &c).unwrap())
        };
        assert!(at(-2).is_ok());
        assert_eq!(at(-30), Err(TokenError::Expired));
    }

    /// Signs raw claims and header members with the published key, as a forger who
    /// somehow held it, or a bug, would.
    fn raw_token(keys: &KeySet, header: serde_json::Value, claims: serde_json::Value) -> String {
        let key = keys.signing();
        let mut h =
            serde_json::json!({"alg": key.algorithm().name(), "kid": key.kid(), "typ": "at+jwt"});
        h.as_object_mut()
            .unwrap()
            .extend(header.as_object().unwrap().clone());
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            key.encoding_key(),
            key.algorithm().jwt(),
        )
        .unwrap();
        format!("{signing_input}.{signature}")
    }

    #[test]
    fn audience_issuer_and_crit_hold_whatever_their_json_type() {
        let (keys, s) = (keys(), settings());
        let good = serde_json::to_value(claims(&s)).unwrap();
        assert!(verify_access(&keys, &s, &raw_token(&keys, json!({}), good.clone())).is_ok());
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            raw_token(&keys, json!({}), c)
        };
        let without = |k: &str| {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(k);
            raw_token(&keys, json!({}), c)
        };
        for bad_aud in [
            json!(1),
            json!(true),
            json!(null),
            json!({}),
            json!([1]),
            json!([null]),
            json!([s.audience]),
        ] {
            assert!(
                verify_access(&keys, &s, &with("aud", bad_aud.clone())).is_err(),
                "aud {bad_aud}"
            );
        }
        assert!(verify_access(&keys, &s, &without("aud")).is_err(), "no aud");
        assert!(verify_access(&keys, &s, &without("iss")).is_err(), "no iss");
        assert!(verify_access(&keys, &s, &without("iat")).is_err(), "no iat");
        assert!(
            verify_access(&keys, &s, &with("iss", json!([s.issuer]))).is_err(),
            "iss array"
        );
        for header in [
            json!({"crit": ["exp"]}),
            json!({"crit": ["b64"], "b64": false}),
            json!({"crit": []}),
        ] {
            assert_eq!(
                verify_access(&keys, &s, &raw_token(&keys, header.clone(), good.clone())),
                Err(TokenError::CriticalExtension),
                "{header}"
            );
        }
    }

    #[test]
    fn refresh_tokens_use_the_internal_key_and_no_kind_passes_for_another() {
        let (keys, s) = (keys(), settings());
        let session = Session {
            session_id: new_id(),
            tenant_id: TenantId::generate(),
            user_id: "u".into(),
            auth_type: AuthType::User,
            network: Network::Mainnet,
            generation: 3,
            rotated_at: 0,
            revoked: false,
            created_at: 0,
            expires_at: crate::now_unix() + 3600,
        };
        let now = crate::now_unix();
        let refresh = RefreshClaims::for_session(&s, &session, SessionOrigin::Sandbox, now);
        let r = sign(&keys, Kind::Refresh, &refresh).unwrap();
        let header = jsonwebtoken::decode_header(&r).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some(keys.signing().internal().kid()));
        assert!(
            keys.find(header.kid.as_deref().unwrap()).is_none(),
            "never published"
        );
        let back: RefreshClaims = verify(&keys, &s, Kind::Refresh, &r).unwrap();
        assert_eq!(back, refresh);

        let a = sign(
            &keys,
            Kind::Access,
            &AccessClaims::for_session(&s, &session, now),
        )
        .unwrap();
        let l = sign(
            &keys,
            Kind::Login,
            &LoginClaims::new(&s, &session.tenant_id, Network::Mainnet, now),
        )
        .unwrap();
        assert!(verify::<RefreshClaims>(&keys, &s, Kind::Refresh, &a).is_err());
        assert!(verify::<RefreshClaims>(&keys, &s, Kind::Refresh, &l).is_err());
        assert!(verify_access(&keys, &s, &r).is_err());
        assert!(verify_access(&keys, &s, &l).is_err());
        assert!(verify::<LoginClaims>(&keys, &s, Kind::Login, &a).is_err());
        // Even with the access type written in, a refresh token names no published key,
        // and its audience is not the access audience.
        let retyped = {
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some(ACCESS_TOKEN_TYPE.into());
            h.kid = Some(keys.signing().internal().kid().into());
            jsonwebtoken::encode(&h, &refresh, keys.signing().internal().encoding_key()).unwrap()
        };
        assert_eq!(
            verify_access(&keys, &s, &retyped),
            Err(TokenError::UnknownKey)
        );
        let access = AccessClaims::for_session(&s, &session, now);
        assert_eq!(
            access.scope,
            format!("pers:user pers:user:{}", session.tenant_id)
        );
        assert_eq!(access.client_id, session.tenant_id);
    }

    #[test]
    fn a_token_from_another_key_or_with_no_kid_is_refused() {
        let (ours, s) = (keys(), settings());
        let theirs = KeySet::new(key(SigningAlgorithm::Es256), vec![]);
        let token = sign(&theirs, Kind::Access, &claims(&s)).unwrap();
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
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": keys.signing().kid()});
            let token = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(header.to_string()));
            assert!(verify_access(&keys, &s, &token).is_err(), "{alg} accepted");
        }
    }

    #[test]
    fn previous_keys_still_verify() {
        let s = settings();
        let old = KeyMaterial::generate(SigningAlgorithm::Rs256).unwrap();
        let before = KeySet::new(SigningKey::from_material(&old).unwrap(), vec![]);
        let token = sign(&before, Kind::Access, &claims(&s)).unwrap();
        // A rotated set: a new current key, the old one kept for verification only.
        let rotated = KeySet::new(
            key(SigningAlgorithm::EdDsa),
            vec![SigningKey::from_material(&old).unwrap()],
        );
        assert!(verify_access(&rotated, &s, &token).is_ok());
        let fresh = sign(&rotated, Kind::Access, &claims(&s)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some(rotated.signing().kid())
        );
        assert_ne!(rotated.signing().kid(), before.signing().kid());
    }
}
