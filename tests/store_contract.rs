//! One contract, two stores: every case runs on the embedded store and on DynamoDB (the
//! real API, served by moto on 127.0.0.1).

use pers::domain::{
    ApiKeyEntry, AuthType, KeyHash, KeyKind, Network, ProviderAlgorithm, Session, Tenant, TenantId,
    TenantKeys, WalletManagementType,
};
use pers::store::{Ending, Rotation, Store, StoreError};
use time::OffsetDateTime;

fn tenant(name: &str) -> Tenant {
    let mut t = Tenant::new(
        TenantId::generate(),
        name.into(),
        &TenantKeys::generate(),
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
    );
    t.project_description = Some("a description".into());
    t.project_email = Some("ops@example.com".into());
    t
}

const NOW: i64 = 1_700_000_000;

fn session_of(tenant: &TenantId, user: &str) -> Session {
    Session::open(
        tenant.clone(),
        user.into(),
        AuthType::User,
        Network::Mainnet,
        NOW,
        NOW + 3600,
    )
}

/// The session of a tenant's bootstrap admin token.
fn admin_of(t: &Tenant) -> Session {
    Session {
        auth_type: AuthType::Tenant,
        ..session_of(&t.id, &format!("tenant-admin:{}", t.id))
    }
}

/// Creates `t` with its keys and admin session.
async fn create(store: &dyn Store, t: &Tenant) {
    store
        .create_tenant(t, &keys_of(t), &admin_of(t))
        .await
        .unwrap();
}

fn keys_of(t: &Tenant) -> Vec<ApiKeyEntry> {
    vec![
        ApiKeyEntry {
            hash: KeyHash::of(&t.project_api_key),
            tenant_id: t.id.clone(),
            kind: KeyKind::Project,
        },
        ApiKeyEntry {
            hash: KeyHash::of(&t.testnet_project_api_key),
            tenant_id: t.id.clone(),
            kind: KeyKind::TestnetProject,
        },
        ApiKeyEntry {
            hash: t.api_private_key_hash,
            tenant_id: t.id.clone(),
            kind: KeyKind::Private,
        },
    ]
}

async fn created_tenant_reads_back_with_its_keys(store: &dyn Store) {
    let t = tenant("Acme");
    let admin = admin_of(&t);
    store.create_tenant(&t, &keys_of(&t), &admin).await.unwrap();
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(t.clone()));
    for entry in keys_of(&t) {
        assert_eq!(store.api_key(&entry.hash).await.unwrap(), Some(entry));
    }
    assert_eq!(store.session(&admin.key()).await.unwrap(), Some(admin));
}

async fn unknown_ids_and_keys_are_absent(store: &dyn Store) {
    assert_eq!(store.tenant(&TenantId::generate()).await.unwrap(), None);
    assert_eq!(store.api_key(&KeyHash::of("nobody")).await.unwrap(), None);
}

async fn a_taken_key_fails_the_whole_creation_and_leaves_nothing(store: &dyn Store) {
    let first = tenant("First");
    create(store, &first).await;

    // A second tenant whose last key collides with the first tenant's project key.
    let second = tenant("Second");
    let mut keys = keys_of(&second);
    keys[2].hash = KeyHash::of(&first.project_api_key);
    let admin = admin_of(&second);
    let result = store.create_tenant(&second, &keys, &admin).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert_eq!(
        store.session(&admin.key()).await.unwrap(),
        None,
        "admin session left behind"
    );

    assert_eq!(
        store.tenant(&second.id).await.unwrap(),
        None,
        "tenant item left behind"
    );
    for entry in &keys[..2] {
        assert_eq!(
            store.api_key(&entry.hash).await.unwrap(),
            None,
            "key item left behind"
        );
    }
    // The first tenant's key still points at the first tenant.
    let owner = store
        .api_key(&KeyHash::of(&first.project_api_key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.tenant_id, first.id);
}

async fn a_taken_tenant_id_fails_the_creation(store: &dyn Store) {
    let first = tenant("First");
    create(store, &first).await;
    let mut clash = tenant("Clash");
    clash.id = first.id.clone();
    let keys = keys_of(&clash);
    assert!(matches!(
        store.create_tenant(&clash, &keys, &admin_of(&clash)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.tenant(&first.id).await.unwrap().unwrap().project_name,
        "First"
    );
    assert_eq!(store.api_key(&keys[0].hash).await.unwrap(), None);
}

async fn updates_are_conditional_on_the_version(store: &dyn Store) {
    let t = tenant("Versioned");
    create(store, &t).await;

    let mut v2 = t.clone();
    v2.project_name = "Renamed".into();
    v2.version = 2;
    store.update_tenant(&v2, 1).await.unwrap();
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(v2.clone()));

    // A writer that read version 1 loses: nothing it sent is applied.
    let mut stale = t.clone();
    stale.project_name = "Stale".into();
    stale.version = 2;
    assert!(matches!(
        store.update_tenant(&stale, 1).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(v2));

    let ghost = tenant("Ghost");
    assert!(matches!(
        store.update_tenant(&ghost, 1).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.tenant(&ghost.id).await.unwrap(),
        None,
        "update must not create"
    );
}

async fn optional_fields_and_providers_round_trip(store: &dyn Store) {
    let mut t = tenant("Full");
    t.identity_providers = vec![pers::domain::IdentityProvider {
        issuer: "https://issuer.example".into(),
        jwks_uri: None,
        jwks: Some(serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc"}]})),
        audience: Some("app".into()),
        auth_types: vec![pers::domain::AuthType::User, pers::domain::AuthType::Tenant],
        algorithms: Some(vec![ProviderAlgorithm::EdDSA]),
    }];
    t.stripe_api_key = Some("sk_stripe".into());
    t.allow_jwt_for_unauthenticated_users = true;
    t.default_wallet_management_type = WalletManagementType::NonCustodial;
    create(store, &t).await;
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(t));
}

async fn a_private_key_is_replaced_in_one_transaction_at_the_version(store: &dyn Store) {
    let t = tenant("Keyed");
    create(store, &t).await;
    let old = t.api_private_key_hash;
    let new_entry = |key: &str| ApiKeyEntry {
        hash: KeyHash::of(key),
        tenant_id: t.id.clone(),
        kind: KeyKind::Private,
    };
    let with = |entry: &ApiKeyEntry, version| Tenant {
        api_private_key_hash: entry.hash,
        version,
        ..t.clone()
    };

    let first = new_entry("sk_live_first");
    store
        .replace_private_key(&with(&first, 2), 1, old, &first)
        .await
        .unwrap();
    assert_eq!(
        store.api_key(&old).await.unwrap(),
        None,
        "old key item removed"
    );
    assert_eq!(
        store.api_key(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(with(&first, 2)));

    // A writer that read version 1 loses, and writes nothing.
    let late = new_entry("sk_live_late");
    assert!(matches!(
        store
            .replace_private_key(&with(&late, 2), 1, old, &late)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.api_key(&late.hash).await.unwrap(), None);
    assert_eq!(
        store.api_key(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(with(&first, 2)));

    // A new key whose hash is taken (another tenant's project key) fails it all.
    let other = tenant("Other");
    create(store, &other).await;
    let taken = ApiKeyEntry {
        hash: KeyHash::of(&other.project_api_key),
        ..first.clone()
    };
    assert!(matches!(
        store
            .replace_private_key(&with(&taken, 3), 2, first.hash, &taken)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.api_key(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(with(&first, 2)));
}

async fn sessions_are_listed_by_user_and_end_only_by_a_generation_that_speaks_for_them(
    store: &dyn Store,
) {
    let tenant = TenantId::generate();
    let mine: Vec<Session> = (0..3).map(|_| session_of(&tenant, "alice")).collect();
    let others = [
        session_of(&tenant, "alice2"),
        session_of(&tenant, "bob"),
        session_of(&TenantId::generate(), "alice"),
    ];
    for s in mine.iter().chain(&others) {
        store.create_session(s).await.unwrap();
    }
    let by_id = |mut v: Vec<Session>| {
        v.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        v
    };
    assert_eq!(
        by_id(store.user_sessions(&tenant, "alice").await.unwrap()),
        by_id(mine.clone()),
        "exactly alice's sessions in this tenant"
    );
    assert!(
        store
            .user_sessions(&tenant, "carol")
            .await
            .unwrap()
            .is_empty()
    );

    // Generation 0 → 1 at NOW + 100.
    let (a, b, c) = (&mine[0], &mine[1], &mine[2]);
    let rotated = store.rotate_session(&a.key(), 0, NOW + 100).await.unwrap();
    assert!(matches!(rotated, Rotation::Rotated(ref s) if s.generation == 1));
    // The parent speaks for it within the grace interval, not after.
    let at = |s| NOW + 100 + s;
    assert!(matches!(
        store.end_session(&a.key(), 0, at(11), 10).await.unwrap(),
        Ending::Refused(Some(ref s)) if s.generation == 1 && !s.revoked
    ));
    assert_eq!(
        store.end_session(&a.key(), 0, at(10), 10).await.unwrap(),
        Ending::Ended { was_live: true }
    );
    assert!(store.session(&a.key()).await.unwrap().unwrap().revoked);
    // The current generation ends its session, again and again (idempotent), and says
    // whether it was live.
    for was_live in [true, false] {
        assert_eq!(
            store.end_session(&b.key(), 0, at(0), 10).await.unwrap(),
            Ending::Ended { was_live }
        );
    }
    assert!(store.session(&b.key()).await.unwrap().unwrap().revoked);
    // A generation that never was: refused, the session as it was.
    assert!(matches!(
        store.end_session(&c.key(), 5, at(0), 10).await.unwrap(),
        Ending::Refused(Some(ref s)) if !s.revoked
    ));
    // A session that is not there: refused, and neither ending nor revoking creates it.
    let gone = session_of(&tenant, "alice");
    assert_eq!(
        store.end_session(&gone.key(), 0, at(0), 10).await.unwrap(),
        Ending::Refused(None)
    );
    store.revoke_session(&gone.key()).await.unwrap();
    assert_eq!(
        store.session(&gone.key()).await.unwrap(),
        None,
        "nothing created"
    );
    assert_eq!(
        store.user_sessions(&tenant, "alice").await.unwrap().len(),
        3
    );
    // A revoked session rotates no more.
    store.revoke_session(&c.key()).await.unwrap();
    assert!(matches!(
        store.rotate_session(&c.key(), 0, at(0)).await.unwrap(),
        Rotation::Failed(Some(ref s)) if s.revoked
    ));
    for s in &others {
        assert!(!store.session(&s.key()).await.unwrap().unwrap().revoked);
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = pers::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
                    super::$case(&store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let moto = pers_tests::Moto::start().await;
                    let store = moto.dynamo_store().await;
                    super::$case(&store).await;
                }
            )*
        }
    };
}

contract!(
    created_tenant_reads_back_with_its_keys,
    unknown_ids_and_keys_are_absent,
    a_taken_key_fails_the_whole_creation_and_leaves_nothing,
    a_taken_tenant_id_fails_the_creation,
    updates_are_conditional_on_the_version,
    optional_fields_and_providers_round_trip,
    a_private_key_is_replaced_in_one_transaction_at_the_version,
    sessions_are_listed_by_user_and_end_only_by_a_generation_that_speaks_for_them,
);

#[tokio::test]
async fn an_unreachable_dynamodb_is_unavailable_not_absent() {
    // A port with nothing listening: the store must say so, never answer "no such item".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = pers_tests::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let store = pers::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "t");
    assert!(matches!(
        store.tenant(&TenantId::generate()).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn warming_up_reads_the_table_once_and_reports_a_missing_one() {
    let moto = pers_tests::Moto::start().await;
    let (store, calls) = moto.counted_dynamo_store().await;
    store.warm_up().await.expect("an empty table answers");
    assert_eq!(calls.take(), 1, "one read opens the connection");

    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let missing = pers::store::DynamoStore::new(client, "no-such-table");
    assert!(matches!(
        missing.warm_up().await,
        Err(StoreError::Unavailable(_))
    ));
}
