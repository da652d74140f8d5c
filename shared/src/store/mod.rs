//! Storage behind one domain-level trait, with an embedded implementation (redb, for
//! `pers-local`) and a DynamoDB one (single table, for the Lambda functions). Both give
//! the same all-or-nothing guarantees; `tests/` runs one contract suite against each.

mod dynamo;
mod embedded;

use async_trait::async_trait;

pub use dynamo::DynamoStore;
pub use embedded::EmbeddedStore;

use crate::BoxError;
use crate::domain::{
    ApiKeyEntry, Identity, KeyHash, SandboxUser, Session, SessionKey, Tenant, TenantId, UserId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition of the write did not hold: an item already exists, or the item
    /// changed since it was read. Nothing was written.
    #[error("conflicting write")]
    Conflict,
    /// The item to update does not exist.
    #[error("item not found")]
    NotFound,
    /// The storage backend could not be reached or failed.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored item could not be read back into its domain type.
    #[error("malformed stored item")]
    Corrupt(#[source] BoxError),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the tenant, one lookup item per API key and the session of its bootstrap
    /// admin token, all or nothing: if the tenant id, any key hash or the session id is
    /// already taken, nothing is written and the answer is [`StoreError::Conflict`].
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        keys: &[ApiKeyEntry],
        admin: &Session,
    ) -> Result<(), StoreError>;

    /// A strongly consistent read of a tenant.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;

    /// A strongly consistent read of the lookup item of an API key.
    async fn api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyEntry>, StoreError>;

    /// Replaces the tenant if its stored version is still `expected_version`
    /// ([`StoreError::Conflict`] otherwise, [`StoreError::NotFound`] if it is gone).
    async fn update_tenant(&self, tenant: &Tenant, expected_version: u64)
    -> Result<(), StoreError>;

    /// Swaps the tenant's `apiPrivateKey` in one transaction: `tenant` (holding the new
    /// key's hash) replaces the stored one if its version is still `expected_version`,
    /// `new`'s lookup item is written and `old`'s removed. If the version moved (another
    /// regeneration or update won), nothing is written: [`StoreError::Conflict`].
    async fn replace_private_key(
        &self,
        tenant: &Tenant,
        expected_version: u64,
        old: KeyHash,
        new: &ApiKeyEntry,
    ) -> Result<(), StoreError>;

    /// Links a provider identity to a user unless (tenant, issuer, subject) is linked
    /// already, in one conditional write; returns the user id in force (the existing one
    /// when there was one).
    async fn link_identity(&self, identity: &Identity) -> Result<UserId, StoreError>;

    /// Stores a user created without a provider token (sandbox mode).
    async fn create_sandbox_user(&self, user: &SandboxUser) -> Result<(), StoreError>;

    /// Stores a new session ([`StoreError::Conflict`] if its id is taken).
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// A strongly consistent read of a session.
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError>;

    /// Every stored session of `user` in `tenant`, live or not, read strongly
    /// consistently by key (never a scan).
    async fn user_sessions(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<Session>, StoreError>;

    /// One conditional write: moves the session from generation `from` to `from + 1`
    /// (stamping `rotated_at = now`) if `from` is current and the session is unrevoked
    /// and unexpired. On failure, the session as it was.
    async fn rotate_session(
        &self,
        key: &SessionKey,
        from: u64,
        now: i64,
    ) -> Result<Rotation, StoreError>;

    /// One conditional write: revokes the session if generation `presented` still speaks
    /// for it at `now` ([`Session::accepts`] with `grace_seconds`), whether or not it had
    /// ended. On failure, the session as it was.
    async fn end_session(
        &self,
        key: &SessionKey,
        presented: u64,
        now: i64,
        grace_seconds: i64,
    ) -> Result<Ending, StoreError>;

    /// Revokes the whole token family (nothing when it is gone).
    async fn revoke_session(&self, key: &SessionKey) -> Result<(), StoreError>;
}

/// The outcome of [`Store::rotate_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The session after the rotation.
    Rotated(Session),
    /// The condition failed; the session as it was, if it exists.
    Failed(Option<Session>),
}

/// The outcome of [`Store::end_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The session is revoked; `was_live` when it was neither revoked nor expired before.
    Ended { was_live: bool },
    /// The presented generation no longer speaks for it; the session as it was, if it
    /// exists. Nothing was written.
    Refused(Option<Session>),
}
