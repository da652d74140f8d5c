//! One contract, two stores: every case runs on the embedded store and on DynamoDB (the
//! real API, served by moto on 127.0.0.1).

use pers::domain::{
    ApiKeyEntry, KeyHash, KeyKind, ProviderAlgorithm, Tenant, TenantId, TenantKeys,
    WalletManagementType,
};
use pers::store::{Store, StoreError};
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
    store.create_tenant(&t, &keys_of(&t)).await.unwrap();
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(t.clone()));
    for entry in keys_of(&t) {
        assert_eq!(store.api_key(&entry.hash).await.unwrap(), Some(entry));
    }
}

async fn unknown_ids_and_keys_are_absent(store: &dyn Store) {
    assert_eq!(store.tenant(&TenantId::generate()).await.unwrap(), None);
    assert_eq!(store.api_key(&KeyHash::of("nobody")).await.unwrap(), None);
}

async fn a_taken_key_fails_the_whole_creation_and_leaves_nothing(store: &dyn Store) {
    let first = tenant("First");
    store.create_tenant(&first, &keys_of(&first)).await.unwrap();

    // A second tenant whose last key collides with the first tenant's project key.
    let second = tenant("Second");
    let mut keys = keys_of(&second);
    keys[2].hash = KeyHash::of(&first.project_api_key);
    let result = store.create_tenant(&second, &keys).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

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
    store.create_tenant(&first, &keys_of(&first)).await.unwrap();
    let mut clash = tenant("Clash");
    clash.id = first.id.clone();
    let keys = keys_of(&clash);
    assert!(matches!(
        store.create_tenant(&clash, &keys).await,
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
    store.create_tenant(&t, &keys_of(&t)).await.unwrap();

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
    store.create_tenant(&t, &keys_of(&t)).await.unwrap();
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(t));
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
