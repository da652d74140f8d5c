//! Signing keys and the platform key from Secrets Manager (moto on 127.0.0.1), a whole
//! rotation through the `rotate-keys` protocol, the activation of a new key against
//! verifier caches (both key sources: Secrets Manager and the local file), and the
//! compromised-key procedure.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use axum::http::StatusCode;
use pers::config::{self, Settings};
use pers::domain::{Network, SessionOrigin, TenantId};
use pers::keys::rotation::{RotationEvent, RotationStep, rotate};
use pers::keys::{
    KeyError, KeyMaterial, KeySet, KeySource, LocalKeySource, SecretsManagerKeySource,
    SigningAlgorithm, SigningKey,
};
use pers::store::EmbeddedStore;
use pers::token::{self, AccessClaims, RefreshClaims, TokenError};
use pers_tests::{Moto, TestApp};
use serde_json::json;

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

// Key activation against verifier caches (README, Operations, "Signing keys"): a new key is in every JWKS any function serves for the whole activation
// delay before any token carries it, for both key sources. Each function has its own
// key source (its own cache): a "verify" instance serving the JWKS again and again, an
// "idle" one that loaded its keys before the rotation and serves nothing until late in
// the delay, and an "auth" one signing tokens again and again.

/// Seconds since the Unix epoch, with sub-seconds: the clock of `createdAt`/`CreatedDate`.
fn wall() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Settings with these key intervals, as the functions read them.
fn key_settings(refresh: Duration, delay: Duration) -> Settings {
    let (refresh, delay) = (refresh.as_secs().to_string(), delay.as_secs().to_string());
    Settings::from_lookup(
        |k| match k {
            config::KEY_REFRESH => Some(refresh.clone()),
            config::KEY_ACTIVATION_DELAY => Some(delay.clone()),
            _ => None,
        },
        Some("http://127.0.0.1:3000".into()),
    )
    .unwrap()
}

/// One function: the app on a key source of its own (and a store of its own).
fn instance(keys: Arc<dyn KeySource>, settings: Settings) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).unwrap();
    TestApp::with_settings(Arc::new(store), keys, dir, settings)
}

/// One JWKS answer: when it was answered, its kids and its `Cache-Control`.
struct Served {
    at: f64,
    kids: Vec<String>,
    cache_control: String,
}

async fn served(app: &TestApp) -> Served {
    let res = app.jwks().await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    Served {
        at: wall(),
        kids: res.json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect(),
        cache_control: res.headers["cache-control"].to_str().unwrap().to_owned(),
    }
}

/// The `kid` of a token the instance signs now (a login token: signed like an access
/// token, by the key that signs).
async fn signs_with(app: &TestApp) -> String {
    let signer = app.state.issuer.signer().await.unwrap();
    let token = signer
        .login(&TenantId::generate(), Network::Mainnet)
        .unwrap();
    jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
}

/// A rotation done: the new current key's `kid` and the wall clock just before it.
struct Rotated {
    kid: String,
    at: f64,
}

/// Watches `rotate` from three instances and checks the invariant both ways: the new key
/// signs no earlier than `delay` after its rotation, every JWKS answered from `delay`
/// before its first token on lists it (with the settings' `max-age`), and it does start
/// signing (within a bound, given the source's publication `lag`).
async fn the_new_key_is_published_for_the_whole_delay_before_it_signs(
    [verify, idle, auth]: [&TestApp; 3],
    lag: Duration,
    rotate: impl std::future::Future<Output = Rotated>,
) {
    let delay = verify.state.settings.key_activation_delay;
    let max_age = verify.state.settings.key_refresh_interval;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Every instance has its keys before the rotation.
    let old_kid = signs_with(auth).await;
    for app in [verify, idle] {
        assert_eq!(served(app).await.kids, std::slice::from_ref(&old_kid));
    }
    let rotated: Mutex<Option<Rotated>> = Mutex::new(None);
    let rotated_at = || rotated.lock().unwrap().as_ref().map(|r| r.at);
    let new_kid = || rotated.lock().unwrap().as_ref().map(|r| r.kid.clone());
    let done = AtomicBool::new(false);
    let pause = || tokio::time::sleep(Duration::from_millis(40));
    // Activation at the latest: the rotation + a second of rounding + the lag + the delay
    // (+ the auth instance's own reload and a generous allowance).
    let bound = 1.0 + lag.as_secs_f64() + delay.as_secs_f64() + 6.0;

    let rotation = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        *rotated.lock().unwrap() = Some(rotate.await);
    };
    let verify_serves = async {
        let mut all = Vec::new();
        while !done.load(Ordering::SeqCst) {
            all.push(served(verify).await);
            pause().await;
        }
        all
    };
    let auth_signs = async {
        let mut first_new = None;
        loop {
            let asked = wall();
            let kid = signs_with(auth).await;
            if let (Some(at), Some(new)) = (rotated_at(), new_kid()) {
                if first_new.is_none() && kid == new {
                    first_new = Some(asked);
                }
                let settled = first_new.is_some_and(|first| asked > first + 0.5);
                if settled || asked > at + bound {
                    done.store(true, Ordering::SeqCst);
                    return first_new;
                }
            } else {
                assert_eq!(kid, old_kid, "nothing rotated yet");
            }
            pause().await;
        }
    };
    // Idle since before the rotation, until half a second before the end of the delay
    // that starts with it: its first JWKS since then.
    let idle_serves = async {
        let at = loop {
            if let Some(at) = rotated_at() {
                break at;
            }
            pause().await;
        };
        let wake = at + delay.as_secs_f64() - 0.5;
        tokio::time::sleep(Duration::from_secs_f64((wake - wall()).max(0.0))).await;
        served(idle).await
    };
    let ((), from_verify, first_new, from_idle) =
        tokio::join!(rotation, verify_serves, auth_signs, idle_serves);

    let Rotated { kid: new_kid, at } = rotated.into_inner().unwrap().unwrap();
    let first_new = first_new
        .unwrap_or_else(|| panic!("the new key never signed within {bound} s of its rotation"));
    let since = |t: f64| t - at;
    let window = first_new - delay.as_secs_f64();
    let max_age = format!("public, max-age={}", max_age.as_secs());
    for s in from_verify.iter().chain([&from_idle]) {
        assert_eq!(
            s.cache_control,
            max_age,
            "a JWKS {:.2} s after",
            since(s.at)
        );
        assert!(
            s.at < window || s.kids.contains(&new_kid),
            "a JWKS answered {:.2} s after the rotation lacks the new key, which signed from \
             {:.2} s: {:?}",
            since(s.at),
            since(first_new),
            s.kids
        );
    }
    // The checks above covered the delay: many answers inside it, the idle one's too.
    let inside = from_verify
        .iter()
        .filter(|s| s.at >= window && s.at <= first_new)
        .count();
    assert!(inside >= 10, "only {inside} JWKS answers inside the delay");
    assert!(
        from_idle.at >= window && from_idle.at <= first_new,
        "the idle instance served at {:.2} s, outside the delay ({:.2} s to {:.2} s)",
        since(from_idle.at),
        since(window),
        since(first_new)
    );
    assert!(
        from_verify
            .iter()
            .any(|s| s.kids.contains(&old_kid) && s.kids.contains(&new_kid))
    );
    // And so, with the rotation itself in every JWKS at once, no sooner than the delay.
    assert!(
        first_new - at >= delay.as_secs_f64(),
        "the new key signed {:.2} s after its rotation, inside the {delay:?} delay",
        first_new - at
    );
}

#[tokio::test]
async fn secrets_manager_a_new_key_is_in_every_jwks_for_the_whole_delay_before_it_signs() {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, _) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    let (refresh, delay) = (Duration::from_secs(1), Duration::from_secs(3));
    let [verify, idle, auth] = [(); 3].map(|()| {
        instance(
            Arc::new(source(&sm, refresh, delay)),
            key_settings(refresh, delay),
        )
    });
    let rotate = async {
        let (next, kid) = material_json(SigningAlgorithm::Es256);
        let at = wall();
        sm.put_secret_value()
            .secret_id("signing")
            .secret_string(next)
            .send()
            .await
            .unwrap();
        Rotated { kid, at }
    };
    // The source's publication lag: its refresh interval.
    the_new_key_is_published_for_the_whole_delay_before_it_signs(
        [&verify, &idle, &auth],
        refresh,
        rotate,
    )
    .await;
}

#[tokio::test]
async fn local_file_a_new_key_is_in_every_jwks_for_the_whole_delay_before_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing-keys.json");
    let delay = Duration::from_secs(3);
    let open = || {
        let (keys, _) =
            LocalKeySource::open_or_generate(&path, SigningAlgorithm::Es256, delay).unwrap();
        instance(
            Arc::new(keys),
            key_settings(Duration::from_secs(300), delay),
        )
    };
    let (verify, idle, auth) = (open(), open(), open());
    let rotate = async {
        // Late in a second: the file's `createdAt`, whole seconds, is then most of a
        // second before the rotation.
        let fraction = wall().fract();
        let to = if fraction < 0.6 { 0.6 } else { 1.6 };
        tokio::time::sleep(Duration::from_secs_f64(to - fraction)).await;
        let at = wall();
        let kid = LocalKeySource::rotate(&path, SigningAlgorithm::Es256).unwrap();
        Rotated { kid, at }
    };
    // The file is re-read when it changes: no publication lag.
    the_new_key_is_published_for_the_whole_delay_before_it_signs(
        [&verify, &idle, &auth],
        Duration::ZERO,
        rotate,
    )
    .await;
}

/// The compromised-key procedure of the README's runbook: `rotate-secret` (here the
/// `rotate-keys` steps Secrets Manager runs), then the compromised version loses its
/// `AWSPREVIOUS` stage. Until then the compromised key goes on signing for the whole
/// activation delay; after it the set has no previous key: the new key signs at once,
/// and the functions refuse every token of the old key, access and refresh tokens
/// alike (every session ends), at their next reload (within the refresh interval) or
/// at once when a token they cannot verify forces one.
#[tokio::test]
async fn a_compromised_key_stops_verifying_and_its_successor_signs_at_once_without_its_previous_stage()
 {
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (first, old_kid) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    let old_version = sm
        .get_secret_value()
        .secret_id("signing")
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    // The deployed delay; a short refresh interval, so that reloads show in the test.
    let (refresh, delay) = (Duration::from_secs(1), Duration::from_secs(7800));
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn pers::store::Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let function = |refresh: Duration| {
        TestApp::with_settings(
            store.clone(),
            Arc::new(source(&sm, refresh, delay)),
            tempfile::tempdir().unwrap(),
            key_settings(refresh, delay),
        )
    };
    let (auth, verify) = (function(refresh), function(refresh));
    // A function whose set is not due for a reload: only a token it cannot verify
    // makes it reload.
    let forced = function(Duration::from_secs(300));

    let tenant = auth.create_tenant(json!({"projectName": "Leaky"})).await;
    let (pk, admin) = (
        tenant["projectApiKey"].as_str().unwrap(),
        tenant["jwt"].as_str().unwrap(),
    );
    let res = auth
        .update_tenant(admin, json!({"allowJWTForUnauthenticatedUsers": true}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let sign_in = || async {
        let res = auth
            .login(pk, json!({"authToken": "-", "rawLoginData": {"name": "a"}}))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
        res.json
    };
    let old_session = sign_in().await;
    let old_access = old_session["accessToken"].as_str().unwrap();
    let kid_of = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    assert_eq!(kid_of(old_access), old_kid);
    for app in [&verify, &forced] {
        assert_eq!(app.verify(pk, admin).await.json["valid"], true);
    }

    // 1. rotate-secret: the new key is current, the compromised one previous...
    let rotation = "5f1c3f0e-0000-4000-8000-00000000c0de";
    for s in [
        RotationStep::CreateSecret,
        RotationStep::SetSecret,
        RotationStep::TestSecret,
        RotationStep::FinishSecret,
    ] {
        step(&sm, rotation, s).await;
    }
    let new_kid = SigningKey::from_material(
        &KeyMaterial::from_json(
            &sm.get_secret_value()
                .secret_id("signing")
                .version_stage("AWSCURRENT")
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
    .kid()
    .to_owned();
    // ...and, as any rotation, held back for the delay: the compromised key signs on.
    tokio::time::sleep(refresh).await;
    let held = sign_in().await;
    assert_eq!(kid_of(held["accessToken"].as_str().unwrap()), old_kid);

    // 2. The compromised version loses AWSPREVIOUS.
    sm.update_secret_version_stage()
        .secret_id("signing")
        .version_stage("AWSPREVIOUS")
        .remove_from_version_id(&old_version)
        .send()
        .await
        .unwrap();

    // The function that reloads only when forced: a token of the new key forces it, and
    // from then on the old key's tokens are refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let fresh = loop {
        let session = sign_in().await;
        if kid_of(session["accessToken"].as_str().unwrap()) == new_kid {
            break session;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fresh_access = fresh["accessToken"].as_str().unwrap();
    assert_eq!(forced.verify(pk, fresh_access).await.json["valid"], true);
    for token in [admin, old_access] {
        let res = forced.verify(pk, token).await;
        assert_eq!(res.json["valid"], false, "{}", res.json);
    }

    // Every function refuses them after its next reload, within the refresh interval
    // (the deadline is far from it).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while verify.verify(pk, admin).await.json["valid"] == true {
        assert!(
            std::time::Instant::now() < deadline,
            "the compromised key still verifies"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for token in [admin, old_access, held["accessToken"].as_str().unwrap()] {
        let res = verify.verify(pk, token).await;
        assert_eq!(res.json["valid"], false, "{}", res.json);
    }
    assert_eq!(verify.verify(pk, fresh_access).await.json["valid"], true);
    assert_eq!(served(&verify).await.kids, std::slice::from_ref(&new_kid));
    assert_eq!(signs_with(&auth).await, new_kid, "signs at once, no delay");
    // Every session of the old key is over: its refresh tokens verify no more.
    for session in [&old_session, &held] {
        let res = auth
            .refresh(pk, session["refreshToken"].as_str().unwrap())
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.json);
    }
    let res = auth
        .refresh(pk, fresh["refreshToken"].as_str().unwrap())
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
    // The tenant admin gets a new token from the platform operator.
    let res = auth
        .admin_token(
            tenant["id"].as_str().unwrap(),
            &[("x-api-key", pers_tests::PLATFORM_KEY)],
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.json);
}

/// A reload in the background of a request logs in that request's span, so that its
/// failure is read with the request that started it.
#[tokio::test]
async fn a_background_reload_logs_in_the_span_of_its_request() {
    use tracing::Instrument as _;
    let log = pers_tests::captured_log();
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (material, _) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(material)
        .send()
        .await
        .unwrap();
    let source = source(&sm, Duration::ZERO, Duration::ZERO);
    source.key_set().await.unwrap();
    drop(moto);

    let request = pers_tests::unique();
    async { source.key_set().await.unwrap() }
        .instrument(tracing::info_span!("request", id = %request))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let line = loop {
        let text = log.text();
        let found = text
            .lines()
            .find(|l| l.contains("reloading signing keys failed") && l.contains(&request))
            .map(str::to_owned);
        if let Some(line) = found {
            break line;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed reload logged in the request's span: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["span"]["name"], "request", "{line}");
    assert_eq!(line["span"]["id"], request.as_str(), "{line}");
}

/// A JWKS older than the refresh interval is reloaded before the answer; when Secrets
/// Manager cannot be read, the set held is answered, not to be cached, with a warning.
#[tokio::test]
async fn a_jwks_that_cannot_be_reloaded_is_served_with_no_cache() {
    let log = pers_tests::captured_log();
    let moto = Moto::start().await;
    let sm = client(&moto).await;
    let (material, kid) = material_json(SigningAlgorithm::Es256);
    sm.create_secret()
        .name("signing")
        .secret_string(material)
        .send()
        .await
        .unwrap();
    let refresh = Duration::from_secs(1);
    let app = instance(
        Arc::new(source(&sm, refresh, Duration::ZERO)),
        key_settings(refresh, Duration::ZERO),
    );
    let fresh = served(&app).await;
    assert_eq!(fresh.cache_control, "public, max-age=1");
    assert_eq!(fresh.kids, std::slice::from_ref(&kid));

    drop(moto);
    tokio::time::sleep(refresh).await;
    // The reload fails: the set held, marked; and again, without waiting on Secrets
    // Manager, until another interval has passed.
    for _ in 0..2 {
        let stale = served(&app).await;
        assert_eq!(stale.cache_control, "no-cache");
        assert_eq!(stale.kids, std::slice::from_ref(&kid));
    }
    let text = log.text();
    assert!(
        text.contains("serving the JWKS held, not to be cached"),
        "no warning: {text}"
    );
}
