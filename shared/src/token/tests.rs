//! Unit tests of signing and verifying our own tokens.

use super::*;
use crate::domain::{AuthType, Network, Session, SessionOrigin, TenantId};
use crate::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
use serde_json::json;
use std::sync::Arc;

fn key(alg: SigningAlgorithm) -> SigningKey {
    SigningKey::from_material(&KeyMaterial::generate(alg).unwrap()).unwrap()
}

fn settings() -> Settings {
    Settings::from_lookup(|_| None, Some("https://auth.example.com".into())).unwrap()
}

fn claims(s: &Settings) -> AccessClaims {
    let now = crate::now_unix();
    let tenant = TenantId::generate();
    let session = Session::open(
        tenant.clone(),
        crate::token::tenant_admin_user(&tenant),
        AuthType::Tenant,
        Network::Mainnet,
        now,
        now + s.tenant_admin_token_ttl.as_secs() as i64,
    );
    AccessClaims::tenant_admin(s, &session, now)
}

/// Verifies an access token now.
fn access(keys: &KeySet, s: &Settings, token: &str) -> Result<AccessClaims, TokenError> {
    verify(keys, s, token, crate::now_unix())
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
    assert_eq!(access(&keys, &s, &token).unwrap(), c);
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
            access(&keys, &s, &token),
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
        access(&keys, &s, &sign(&keys, Kind::Access, &c).unwrap())
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
    assert!(access(&keys, &s, &raw_token(&keys, json!({}), good.clone())).is_ok());
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
            access(&keys, &s, &with("aud", bad_aud.clone())).is_err(),
            "aud {bad_aud}"
        );
    }
    assert!(access(&keys, &s, &without("aud")).is_err(), "no aud");
    assert!(access(&keys, &s, &without("iss")).is_err(), "no iss");
    assert!(access(&keys, &s, &without("iat")).is_err(), "no iat");
    assert!(
        access(&keys, &s, &with("iss", json!([s.issuer]))).is_err(),
        "iss array"
    );
    for header in [
        json!({"crit": ["exp"]}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"crit": []}),
    ] {
        assert_eq!(
            access(&keys, &s, &raw_token(&keys, header.clone(), good.clone())),
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
    let back: RefreshClaims = verify(&keys, &s, &r, now).unwrap();
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
    assert!(verify::<RefreshClaims>(&keys, &s, &a, now).is_err());
    assert!(verify::<RefreshClaims>(&keys, &s, &l, now).is_err());
    assert!(access(&keys, &s, &r).is_err());
    assert!(access(&keys, &s, &l).is_err());
    assert!(verify::<LoginClaims>(&keys, &s, &a, now).is_err());
    // Even with the access type written in, a refresh token names no published key,
    // and its audience is not the access audience.
    let retyped = {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some(ACCESS_TOKEN_TYPE.into());
        h.kid = Some(keys.signing().internal().kid().into());
        jsonwebtoken::encode(&h, &refresh, keys.signing().internal().encoding_key()).unwrap()
    };
    assert_eq!(access(&keys, &s, &retyped), Err(TokenError::UnknownKey));
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
    assert_eq!(access(&ours, &s, &token), Err(TokenError::UnknownKey));

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
    assert_eq!(access(&ours, &s, &forged), Err(TokenError::BadSignature));
}

#[test]
fn alg_none_and_hmac_confusion_are_refused() {
    let (keys, s) = (keys(), settings());
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&s)).unwrap());
    for alg in ["none", "HS256"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": keys.signing().kid()});
        let token = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert!(access(&keys, &s, &token).is_err(), "{alg} accepted");
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
    assert!(access(&rotated, &s, &token).is_ok());
    let fresh = sign(&rotated, Kind::Access, &claims(&s)).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
        Some(rotated.signing().kid())
    );
    assert_ne!(rotated.signing().kid(), before.signing().kid());
}

/// An issuer on a local key file and a clock the test moves.
fn issuer_on(clock: Arc<ManualClock>) -> (Issuer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (keys, _) = crate::keys::LocalKeySource::open_or_generate(
        &dir.path().join("keys.json"),
        SigningAlgorithm::Es256,
        std::time::Duration::ZERO,
    )
    .unwrap();
    let issuer = Issuer::new(Arc::new(keys), Arc::new(settings()), clock);
    (issuer, dir)
}

#[tokio::test]
async fn the_issuer_mints_each_kind_and_judges_them_by_its_clock() {
    let clock = Arc::new(ManualClock::starting_now());
    let (issuer, _dir) = issuer_on(clock.clone());
    let signer = issuer.signer().await.unwrap();
    let session = Session {
        session_id: new_id(),
        tenant_id: TenantId::generate(),
        user_id: "u".into(),
        auth_type: AuthType::User,
        network: Network::Testnet,
        generation: 0,
        rotated_at: signer.now(),
        revoked: false,
        created_at: signer.now(),
        expires_at: signer.session_end(),
    };
    let pair = signer
        .session_pair(&session, SessionOrigin::Sandbox)
        .unwrap();
    let login = signer.login(&session.tenant_id, Network::Testnet).unwrap();
    let admin_session = signer.open_admin_session(&session.tenant_id);
    let admin = signer.tenant_admin(&admin_session).unwrap();
    drop(signer);

    let access: AccessClaims = issuer.verify(&pair.access_token).await.unwrap().unwrap();
    assert_eq!(
        (access.sid.as_str(), access.network),
        (session.session_id.as_str(), Some(Network::Testnet))
    );
    let refresh: RefreshClaims = issuer.verify(&pair.refresh_token).await.unwrap().unwrap();
    assert_eq!(refresh.generation, 0);
    let l: LoginClaims = issuer.verify(&login).await.unwrap().unwrap();
    assert_eq!(l.tenant_id, session.tenant_id);
    let a: AccessClaims = issuer.verify(&admin).await.unwrap().unwrap();
    assert_eq!(a.auth_type, AuthType::Tenant);
    assert_eq!(a.session_key(), admin_session.key());
    assert_eq!(a.exp, admin_session.expires_at);
    // No kind passes for another.
    assert!(
        issuer
            .verify::<AccessClaims>(&pair.refresh_token)
            .await
            .unwrap()
            .is_err()
    );
    assert!(
        issuer
            .verify::<RefreshClaims>(&pair.access_token)
            .await
            .unwrap()
            .is_err()
    );
    assert!(
        issuer
            .verify::<AccessClaims>(&login)
            .await
            .unwrap()
            .is_err()
    );

    // Past the access lifetime and the leeway, by the issuer's clock alone.
    let ttl = settings().access_token_ttl.as_secs() as i64;
    clock.advance(ttl + OWN_LEEWAY_SECONDS as i64 + 1);
    assert_eq!(
        issuer
            .verify::<AccessClaims>(&pair.access_token)
            .await
            .unwrap(),
        Err(TokenError::Expired)
    );
    assert!(
        issuer
            .verify::<RefreshClaims>(&pair.refresh_token)
            .await
            .unwrap()
            .is_ok()
    );
    // And a clock moved back before the tokens were issued finds them issued later.
    clock.advance(-(ttl + 2 * OWN_LEEWAY_SECONDS as i64 + 60));
    assert_eq!(
        issuer
            .verify::<RefreshClaims>(&pair.refresh_token)
            .await
            .unwrap(),
        Err(TokenError::NotYetValid)
    );
}

#[tokio::test]
async fn a_sign_out_can_read_an_expired_refresh_token_but_nothing_forged() {
    let clock = Arc::new(ManualClock::starting_now());
    let (issuer, _dir) = issuer_on(clock.clone());
    let signer = issuer.signer().await.unwrap();
    let session = signer.open_session(
        &TenantId::generate(),
        "u".into(),
        AuthType::User,
        Network::Mainnet,
    );
    let pair = signer
        .session_pair(&session, SessionOrigin::Sandbox)
        .unwrap();
    drop(signer);
    let live = issuer
        .verify_expired_too::<RefreshClaims>(&pair.refresh_token)
        .await
        .unwrap();
    assert!(matches!(live, Ok(Checked::Live(ref c)) if c.sid == session.session_id));

    clock.advance(settings().refresh_token_ttl.as_secs() as i64 + 60);
    let expired = issuer
        .verify_expired_too::<RefreshClaims>(&pair.refresh_token)
        .await
        .unwrap();
    assert!(matches!(expired, Ok(Checked::Expired(ref c)) if c.session_key() == session.key()));
    assert_eq!(
        issuer
            .verify::<RefreshClaims>(&pair.refresh_token)
            .await
            .unwrap(),
        Err(TokenError::Expired)
    );
    // Every other rule still holds: another kind, a broken signature.
    assert!(
        issuer
            .verify_expired_too::<RefreshClaims>(&pair.access_token)
            .await
            .unwrap()
            .is_err()
    );
    let mut forged = pair.refresh_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(
        issuer
            .verify_expired_too::<RefreshClaims>(&forged)
            .await
            .unwrap()
            .is_err()
    );
}

#[test]
fn time_claims_are_whole_seconds_from_zero_judged_with_the_leeway() {
    let now = 1_800_000_000;
    let at = |claims: serde_json::Value, leeway| check_times(&claims, now, leeway, true);
    let ok = json!({"exp": now + 60, "iat": now});
    assert_eq!(at(ok, 5), Ok(()));
    // The leeway's edges, as jsonwebtoken drew them: expired once `exp < now - leeway`.
    assert_eq!(at(json!({"exp": now - 5, "iat": now}), 5), Ok(()));
    assert_eq!(
        at(json!({"exp": now - 6, "iat": now}), 5),
        Err(TokenError::Expired)
    );
    assert_eq!(
        at(json!({"exp": now + 9, "iat": now + 5, "nbf": now + 5}), 5),
        Ok(())
    );
    assert_eq!(
        at(json!({"exp": now + 9, "iat": now, "nbf": now + 6}), 5),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(
        at(json!({"exp": now + 9, "iat": now + 6}), 5),
        Err(TokenError::IssuedInFuture)
    );
    assert_eq!(
        at(json!({"exp": now + 9}), 5),
        Err(TokenError::MissingClaim)
    );
    assert_eq!(
        check_times(&json!({"exp": now + 9}), now, 5, false),
        Ok(()),
        "iat optional for providers"
    );
    assert_eq!(at(json!({"iat": now}), 5), Err(TokenError::MissingClaim));
    // Not whole seconds from zero: refused, whichever claim.
    for bad in [json!(-1), json!(1.5), json!("1"), json!(null), json!([1])] {
        for claim in ["exp", "nbf", "iat"] {
            let mut claims = json!({"exp": now + 60, "iat": now});
            claims[claim] = bad.clone();
            assert_eq!(at(claims, 5), Err(TokenError::Malformed), "{claim}: {bad}");
        }
    }
    // Far futures do not overflow.
    assert_eq!(at(json!({"exp": u64::MAX, "iat": now}), u64::MAX), Ok(()));
}
