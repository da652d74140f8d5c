//! The embedded store: a redb database file, one table per item kind, every write in one
//! ACID transaction.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ending, Rotation, Store, StoreError};
use crate::domain::{
    ApiKeyEntry, Identity, KeyHash, SandboxUser, Session, SessionKey, Tenant, TenantId, UserId,
};

const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
const IDENTITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("identities");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Sessions keyed `<tenant>\0<user>\0<session>` (see [`session_row`]), so that one user's
/// are one key range. (The `sessions` table of earlier versions, keyed by session id
/// alone, is no longer read: those sessions sign in again.)
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("user_sessions");

/// The row key of a session. Tenant ids are UUIDs and user ids are ours (UUIDs, or
/// `tenant-admin:<tenant id>`): none holds a NUL, so each user's rows are exactly the
/// keys starting with [`user_prefix`].
fn session_row(key: &SessionKey) -> String {
    format!(
        "{}{}",
        user_prefix(&key.tenant_id, &key.user_id),
        key.session_id
    )
}

fn user_prefix(tenant: &TenantId, user: &str) -> String {
    format!("{tenant}\0{user}\0")
}

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
        key: &SessionKey,
        change: impl FnOnce(Option<Session>) -> (Option<Session>, R),
    ) -> Result<R, StoreError> {
        let id = session_row(key);
        let id = id.as_str();
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

    /// Within `tx`, replaces tenant `id` with `bytes` if its stored version is still
    /// `expected` (the optimistic lock of every tenant write).
    fn put_tenant_at(
        tx: &redb::WriteTransaction,
        id: &str,
        bytes: &[u8],
        expected: u64,
    ) -> Result<(), StoreError> {
        let mut tenants = tx.open_table(TENANTS).map_err(unavailable)?;
        let stored: Tenant = match tenants.get(id).map_err(unavailable)? {
            Some(v) => decode(v.value())?,
            None => return Err(StoreError::NotFound),
        };
        if stored.version != expected {
            return Err(StoreError::Conflict);
        }
        tenants.insert(id, bytes).map_err(unavailable)?;
        Ok(())
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
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        keys: &[ApiKeyEntry],
        admin: &Session,
    ) -> Result<(), StoreError> {
        let id = tenant.id.to_string();
        let tenant_bytes = encode(tenant)?;
        let (admin_row, admin_bytes) = (session_row(&admin.key()), encode(admin)?);
        let key_rows = keys
            .iter()
            .map(|k| Ok((k.hash.to_hex(), encode(k)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |db| {
            let tx = db.begin_write().map_err(unavailable)?;
            {
                let mut tenants = tx.open_table(TENANTS).map_err(unavailable)?;
                let mut api_keys = tx.open_table(API_KEYS).map_err(unavailable)?;
                let mut sessions = tx.open_table(SESSIONS).map_err(unavailable)?;
                if tenants.get(id.as_str()).map_err(unavailable)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                if sessions
                    .insert(admin_row.as_str(), admin_bytes.as_slice())
                    .map_err(unavailable)?
                    .is_some()
                {
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
            Self::put_tenant_at(&tx, &id, &bytes, expected_version)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn replace_private_key(
        &self,
        tenant: &Tenant,
        expected_version: u64,
        old: KeyHash,
        new: &ApiKeyEntry,
    ) -> Result<(), StoreError> {
        let id = tenant.id.to_string();
        let bytes = encode(tenant)?;
        let (new_hash, new_bytes) = (new.hash.to_hex(), encode(new)?);
        let old_hash = old.to_hex();
        self.run(move |db| {
            let tx = db.begin_write().map_err(unavailable)?;
            Self::put_tenant_at(&tx, &id, &bytes, expected_version)?;
            {
                let mut api_keys = tx.open_table(API_KEYS).map_err(unavailable)?;
                // Returning before commit aborts the whole transaction.
                if api_keys
                    .insert(new_hash.as_str(), new_bytes.as_slice())
                    .map_err(unavailable)?
                    .is_some()
                {
                    return Err(StoreError::Conflict);
                }
                api_keys.remove(old_hash.as_str()).map_err(unavailable)?;
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
        self.run(move |db| {
            match Self::insert_new(db, SESSIONS, &session_row(&session.key()), &session)? {
                None => Ok(()),
                Some(_) => Err(StoreError::Conflict),
            }
        })
        .await
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let row = session_row(key);
        self.run(move |db| Self::get(db, SESSIONS, &row)).await
    }

    async fn user_sessions(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<Session>, StoreError> {
        let start = user_prefix(tenant, user);
        // The first key past the prefix: its last byte (NUL) plus one.
        let end = format!("{}\u{1}", &start[..start.len() - 1]);
        self.run(move |db| {
            let tx = db.begin_read().map_err(unavailable)?;
            let table = tx.open_table(SESSIONS).map_err(unavailable)?;
            let mut sessions = Vec::new();
            for row in table
                .range::<&str>(start.as_str()..end.as_str())
                .map_err(unavailable)?
            {
                let (_, value) = row.map_err(unavailable)?;
                sessions.push(decode(value.value())?);
            }
            Ok(sessions)
        })
        .await
    }

    async fn rotate_session(
        &self,
        key: &SessionKey,
        from: u64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let key = key.clone();
        self.run(move |db| {
            Self::modify_session(db, &key, |stored| match stored {
                Some(s) if s.generation == from && s.is_live(now) => {
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

    async fn end_session(
        &self,
        key: &SessionKey,
        presented: u64,
        now: i64,
        grace_seconds: i64,
    ) -> Result<Ending, StoreError> {
        let key = key.clone();
        self.run(move |db| {
            Self::modify_session(db, &key, |stored| match stored {
                Some(s) if s.accepts(presented, now, grace_seconds) => {
                    let was_live = s.is_live(now);
                    (
                        Some(Session { revoked: true, ..s }),
                        Ending::Ended { was_live },
                    )
                }
                other => (None, Ending::Refused(other)),
            })
        })
        .await
    }

    async fn revoke_session(&self, key: &SessionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.run(move |db| {
            Self::modify_session(db, &key, |stored| {
                (stored.map(|s| Session { revoked: true, ..s }), ())
            })
        })
        .await
    }
}
