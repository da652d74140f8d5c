//! Signing keys and the platform key from Secrets Manager (moto on 127.0.0.1), and a whole
//! rotation through the `rotate-keys` protocol.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use pers::domain::SessionOrigin;
use pers::keys::rotation::{RotationEvent, RotationStep, rotate};
use pers::keys::{
    KeyError, KeyMaterial, KeySet, KeySource, SecretsManagerKeySource, SigningAlgorithm, SigningKey,
};
use pers::token::{self, AccessClaims, RefreshClaims, TokenError};
use pers_tests::Moto;

async fn client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

fn material_json(alg: SigningAlgorithm) -> (String, String) {
    let m = KeyMaterial::generate(alg).unwrap();
    let kid = SigningKey::from_material(&m).unwrap().kid().to_owned();
    (m.to_json().to_string(), kid)
}

fn source(sm: &Client, refresh: Duration, activation: Duration) -> SecretsManagerKeySource {
    SecretsManagerKeySource::new(sm.clone(), "signing", refresh, activation)
}

fn access_token(keys: &KeySet) -> String {
    let s = pers_tests::settings();
    let now = pers::now_unix();
    let tenant = pers::domain::TenantId::generate();
    let session = pers::domain::Session::open(
        tenant.clone(),
        token::tenant_admin_user(&tenant),
        pers::domain::AuthType::Tenant,
        pers::domain::Network::Mainnet,
        now,
        now + 3600,
    );
    let claims = AccessClaims::tenant_admin(&s, &session, now);
    token::sign(keys, token::Kind::Access, &claims).unwrap()
}

/// A refresh token, signed with the internal key of the set's signing key.
fn refresh_token(keys: &KeySet) -> String {
    let s = pers_tests::settings();
    let now = pers::now_unix();
    let session = pers::domain::Session {
        session_id: token::new_id(),
        tenant_id: pers::domain::TenantId::generate(),
        user_id: "user".into(),
        auth_type: pers::domain::AuthType::User,
        network: pers::domain::Network::Mainnet,
        generation: 0,
        rotated_at: now,
        revoked: false,
        created_at: now,
        expires_at: now + 3600,
    };
    let claims = RefreshClaims::for_session(&s, &session, SessionOrigin::Sandbox, now);
    token::sign(keys, token::Kind::Refresh, &claims).unwrap()
}

fn refreshes(keys: &KeySet, jwt: &str) -> Result<RefreshClaims, TokenError> {
    token::verify(keys, &pers_tests::settings(), jwt, pers::now_unix())
}

fn verifies(keys: &KeySet, jwt: &str) -> Result<AccessClaims, TokenError> {
    token::verify(keys, &pers_tests::settings(), jwt, pers::now_unix())
}

async fn step(sm: &Client, token: &str, step: RotationStep) {
    let event = RotationEvent {
        secret_id: "signing".into(),
        client_request_token: token.into(),
        step,
    };
    rotate(sm, &event, SigningAlgorithm::Es256)
        .await
        .unwrap_or_else(|e| panic!("{step:?}: {e}"));
}

#[tokio::test]
async fn current_signs_and_pending_and_previous_verify() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, first_kid) = material_json(SigningAlgorithm::Rs256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();

    // No publication lag and no activation delay: a new current key signs at once.
    let source = source(&sm, Duration::ZERO, Duration::ZERO);
    let set = source.key_set().await.unwrap();
    assert_eq!(set.signing().kid(), first_kid);
    assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 1);

    // Stage a new version as AWSPENDING: published and verifying, not yet signing.
    let (second, second_kid) = material_json(SigningAlgorithm::Es256);
    sm.put_secret_value()
        .secret_id("signing")
        .secret_string(second)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let set = source.refresh_now().await.unwrap();
    assert_eq!(set.signing().kid(), first_kid);
    assert!(set.find(&second_kid).is_some());

    // Promote a new current: it signs, the old one still verifies.
    let (third, third_kid) = material_json(SigningAlgorithm::EdDsa);
    sm.put_secret_value()
        .secret_id("signing")
        .secret_string(third)
        .send()
        .await
        .unwrap();
    let set = source.refresh_now().await.unwrap();
    assert_eq!(set.signing().kid(), third_kid);
    assert!(
        set.find(&first_kid).is_some(),
        "AWSPREVIOUS must still verify"
    );
}

#[tokio::test]
async fn a_stale_set_is_served_at_once_and_reloaded_in_the_background() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, first_kid) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    let source = source(&sm, Duration::ZERO, Duration::ZERO);
    assert_eq!(source.key_set().await.unwrap().signing().kid(), first_kid);

    let (next, next_kid) = material_json(SigningAlgorithm::Es256);
    sm.put_secret_value()
        .secret_id("signing")
        .secret_string(next)
        .send()
        .await
        .unwrap();
    // The request that finds the set stale is not kept waiting for Secrets Manager...
    assert_eq!(source.key_set().await.unwrap().signing().kid(), first_kid);
    // ...and a moment later the background reload has landed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if source.key_set().await.unwrap().signing().kid() == next_kid {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "background reload never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cached_keys_keep_serving_when_secrets_manager_goes_away() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (material, kid) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(material)
        .send()
        .await
        .unwrap();
    let source = source(&sm, Duration::ZERO, Duration::ZERO);
    assert_eq!(source.key_set().await.unwrap().signing().kid(), kid);

    drop(moto);
    // A reload now fails; the cached set answers.
    assert_eq!(source.refresh_now().await.unwrap().signing().kid(), kid);
    assert_eq!(source.key_set().await.unwrap().signing().kid(), kid);
}

#[tokio::test]
async fn cold_with_no_reachable_secret_is_unavailable() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    drop(moto);
    let source = source(&sm, Duration::from_secs(300), Duration::ZERO);
    assert!(matches!(
        source.key_set().await,
        Err(KeyError::Unavailable(_))
    ));
}

#[tokio::test]
async fn malformed_key_material_is_invalid() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    sm.create_secret()
        .name("signing")
        .secret_string(r#"{"alg":"RS256"}"#)
        .send()
        .await
        .unwrap();
    let source = source(&sm, Duration::from_secs(300), Duration::ZERO);
    assert!(matches!(source.key_set().await, Err(KeyError::Invalid(_))));
}

#[tokio::test]
async fn a_whole_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, first_kid) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    // No publication lag and no activation delay: a new current key signs at once.
    let source = source(&sm, Duration::ZERO, Duration::ZERO);
    let first_set = source.refresh_now().await.unwrap();
    let before = access_token(&first_set);
    let refresh_before = refresh_token(&first_set);
    let first_internal = first_set.signing().internal().kid().to_owned();

    let rotation = "5f1c3f0e-0000-4000-8000-000000000001";
    step(&sm, rotation, RotationStep::CreateSecret).await;
    let staged = source.refresh_now().await.unwrap();
    assert_eq!(
        staged.signing().kid(),
        first_kid,
        "a staged key does not sign yet"
    );
    let jwks = staged.jwks();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "…but it is published: {jwks}"
    );
    let new_kid = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .find(|k| k != &first_kid)
        .unwrap();

    // Every step may be repeated without changing anything.
    for s in [
        RotationStep::CreateSecret,
        RotationStep::SetSecret,
        RotationStep::TestSecret,
    ] {
        step(&sm, rotation, s).await;
        step(&sm, rotation, s).await;
    }
    assert!(
        source.refresh_now().await.unwrap().find(&new_kid).is_some(),
        "repeated createSecret kept the same key"
    );
    step(&sm, rotation, RotationStep::FinishSecret).await;
    step(&sm, rotation, RotationStep::FinishSecret).await;

    let after = source.refresh_now().await.unwrap();
    assert_eq!(
        after.signing().kid(),
        new_kid,
        "new tokens carry the new kid"
    );
    assert!(
        verifies(&after, &before).is_ok(),
        "a token signed before still verifies"
    );
    let fresh = access_token(&after);
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
        Some(new_kid.as_str())
    );
    // The internal key rotated with it: old refresh tokens still refresh, new ones are
    // signed with the new key's internal key, which is published nowhere.
    assert!(refreshes(&after, &refresh_before).is_ok());
    let fresh_refresh = refresh_token(&after);
    let internal_kid = jsonwebtoken::decode_header(&fresh_refresh)
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(internal_kid, first_internal);
    assert_eq!(internal_kid, after.signing().internal().kid());
    assert!(!after.jwks().to_string().contains(&internal_kid));

    // With an activation delay, the new key is published first and the old one signs on.
    let delayed = SecretsManagerKeySource::new(
        sm.clone(),
        "signing",
        Duration::from_secs(300),
        Duration::from_secs(600),
    );
    let set = delayed.refresh_now().await.unwrap();
    assert_eq!(set.signing().kid(), first_kid);
    assert!(set.find(&new_kid).is_some());

    // A second rotation retires the first key: its tokens stop verifying.
    let second = "5f1c3f0e-0000-4000-8000-000000000002";
    for s in [
        RotationStep::CreateSecret,
        RotationStep::SetSecret,
        RotationStep::TestSecret,
        RotationStep::FinishSecret,
    ] {
        step(&sm, second, s).await;
    }
    let later = source.refresh_now().await.unwrap();
    assert!(
        later.find(&new_kid).is_some(),
        "the previous key still verifies"
    );
    assert_eq!(verifies(&later, &before), Err(TokenError::UnknownKey));
    assert!(refreshes(&later, &fresh_refresh).is_ok());
    assert_eq!(
        refreshes(&later, &refresh_before),
        Err(TokenError::UnknownKey)
    );
}

#[tokio::test]
async fn test_secret_refuses_a_broken_staged_key() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, _) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    let token = "5f1c3f0e-0000-4000-8000-000000000003";
    sm.put_secret_value()
        .secret_id("signing")
        .client_request_token(token)
        .secret_string(r#"{"alg":"ES256","privateKeyPem":"not a key"}"#)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let event = RotationEvent {
        secret_id: "signing".into(),
        client_request_token: token.into(),
        step: RotationStep::TestSecret,
    };
    assert!(rotate(&sm, &event, SigningAlgorithm::Es256).await.is_err());
}

#[tokio::test]
async fn the_platform_key_is_read_from_its_secret_and_kept_as_a_hash() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    sm.create_secret()
        .name("platform")
        .secret_string(r#"{"apiKey":"pl_0123456789abcdef"}"#)
        .send()
        .await
        .unwrap();
    let hash = pers::keys::fetch_platform_key(&sm, "platform")
        .await
        .unwrap();
    assert!(hash.matches("pl_0123456789abcdef"));
    assert!(!hash.matches("pl_0123456789abcdeF"));

    sm.create_secret()
        .name("short")
        .secret_string(r#"{"apiKey":"x"}"#)
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("plain")
        .secret_string("pl_0123456789abcdef")
        .send()
        .await
        .unwrap();
    for bad in ["short", "plain"] {
        assert!(matches!(
            pers::keys::fetch_platform_key(&sm, bad).await,
            Err(KeyError::Invalid(_))
        ));
    }
}
