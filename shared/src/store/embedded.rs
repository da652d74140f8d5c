//! The embedded store: a redb database file, one table per item kind, every write in one
//! ACID transaction.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Rotation, Store, StoreError};
use crate::domain::{
    ApiKeyEntry, Identity, KeyHash, SandboxUser, Session, Tenant, TenantId, UserId,
};

const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
const IDENTITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("identities");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn unavailable(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(Box::new(e.into()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

/// Creates `path` (empty, mode 0600) if it is absent and makes it mode 0600 if not.
fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`, readable by its owner only (it
    /// holds project keys and tenants' Stripe secrets), also when it already existed.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        owner_only(path).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let db = Database::create(path).map_err(unavailable)?;
        let tx = db.begin_write().map_err(unavailable)?;
        for table in [TENANTS, API_KEYS, IDENTITIES, USERS, SESSIONS] {
            tx.open_table(table).map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs blocking database work off the async executor.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?
    }

    /// Inserts `value` under `key` unless the key is taken; returns what was there.
    fn insert_new<T: Serialize + DeserializeOwned>(
        db: &Database,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<Option<T>, StoreError> {
        let bytes = encode(value)?;
        let tx = db.begin_write().map_err(unavailable)?;
        let existing = {
            let mut t = tx.open_table(table).map_err(unavailable)?;
            let existing = t
                .get(key)
                .map_err(unavailable)?
                .map(|v| decode(v.value()))
                .transpose()?;
            if existing.is_none() {
                t.insert(key, bytes.as_slice()).map_err(unavailable)?;
            }
            existing
        };
        tx.commit().map_err(unavailable)?;
        Ok(existing)
    }

    /// Reads, changes and writes back one session in one transaction.
    fn modify_session<R>(
        db: &Database,
        id: &str,
        change: impl FnOnce(Option<Session>) -> (Option<Session>, R),
    ) -> Result<R, StoreError> {
        let tx = db.begin_write().map_err(unavailable)?;
        let result = {
            let mut t = tx.open_table(SESSIONS).map_err(unavailable)?;
            let stored: Option<Session> = t
                .get(id)
                .map_err(unavailable)?
                .map(|v| decode(v.value()))
                .transpose()?;
            let (write, result) = change(stored);
            if let Some(session) = write {
                t.insert(id, encode(&session)?.as_slice())
                    .map_err(unavailable)?;
            }
            result
        };
        tx.commit().map_err(unavailable)?;
        Ok(result)
    }

    fn get<T: DeserializeOwned>(
        db: &Database,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = db.begin_read().map_err(unavailable)?;
        let table = tx.open_table(table).map_err(unavailable)?;
        match table.get(key).map_err(unavailable)? {
            Some(v) => decode(v.value()).map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_tenant(&self, tenant: &Tenant, keys: &[ApiKeyEntry]) -> Result<(), StoreError> {
        let id = tenant.id.to_string();
        let tenant_bytes = encode(tenant)?;
        let key_rows = keys
            .iter()
            .map(|k| Ok((k.hash.to_hex(), encode(k)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |db| {
            let tx = db.begin_write().map_err(unavailable)?;
            {
                let mut tenants = tx.open_table(TENANTS).map_err(unavailable)?;
                let mut api_keys = tx.open_table(API_KEYS).map_err(unavailable)?;
                if tenants.get(id.as_str()).map_err(unavailable)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                tenants
                    .insert(id.as_str(), tenant_bytes.as_slice())
                    .map_err(unavailable)?;
                for (hash, row) in &key_rows {
                    // `insert` returns the previous value: any means the key is taken,
                    // and returning before commit drops (aborts) the whole transaction.
                    if api_keys
                        .insert(hash.as_str(), row.as_slice())
                        .map_err(unavailable)?
                        .is_some()
                    {
                        return Err(StoreError::Conflict);
                    }
                }
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let id = id.to_string();
        self.run(move |db| Self::get(db, TENANTS, &id)).await
    }

    async fn api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyEntry>, StoreError> {
        let hash = hash.to_hex();
        self.run(move |db| Self::get(db, API_KEYS, &hash)).await
    }

    async fn update_tenant(
        &self,
        tenant: &Tenant,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let id = tenant.id.to_string();
        let bytes = encode(tenant)?;
        self.run(move |db| {
            let tx = db.begin_write().map_err(unavailable)?;
            {
                let mut tenants = tx.open_table(TENANTS).map_err(unavailable)?;
                let stored: Tenant = match tenants.get(id.as_str()).map_err(unavailable)? {
                    Some(v) => decode(v.value())?,
                    None => return Err(StoreError::NotFound),
                };
                if stored.version != expected_version {
                    return Err(StoreError::Conflict);
                }
                tenants
                    .insert(id.as_str(), bytes.as_slice())
                    .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn link_identity(&self, identity: &Identity) -> Result<UserId, StoreError> {
        let identity = identity.clone();
        self.run(move |db| {
            let existing = Self::insert_new(db, IDENTITIES, &identity.lookup_key(), &identity)?;
            Ok(existing.map_or(identity.user_id, |found| found.user_id))
        })
        .await
    }

    async fn create_sandbox_user(&self, user: &SandboxUser) -> Result<(), StoreError> {
        let user = user.clone();
        self.run(
            move |db| match Self::insert_new(db, USERS, &user.user_id, &user)? {
                None => Ok(()),
                Some(_) => Err(StoreError::Conflict),
            },
        )
        .await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let session = session.clone();
        self.run(
            move |db| match Self::insert_new(db, SESSIONS, &session.session_id, &session)? {
                None => Ok(()),
                Some(_) => Err(StoreError::Conflict),
            },
        )
        .await
    }

    async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let id = session_id.to_owned();
        self.run(move |db| Self::get(db, SESSIONS, &id)).await
    }

    async fn rotate_session(
        &self,
        session_id: &str,
        tenant: &TenantId,
        from: u64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let (id, tenant) = (session_id.to_owned(), tenant.clone());
        self.run(move |db| {
            Self::modify_session(db, &id, |stored| match stored {
                Some(s)
                    if s.generation == from
                        && !s.revoked
                        && s.tenant_id == tenant
                        && s.expires_at > now =>
                {
                    let next = Session {
                        generation: from + 1,
                        rotated_at: now,
                        ..s
                    };
                    (Some(next.clone()), Rotation::Rotated(next))
                }
                other => (None, Rotation::Failed(other)),
            })
        })
        .await
    }

    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        let id = session_id.to_owned();
        self.run(move |db| {
            Self::modify_session(db, &id, |stored| {
                (stored.map(|s| Session { revoked: true, ..s }), ())
            })
        })
        .await
    }
}
