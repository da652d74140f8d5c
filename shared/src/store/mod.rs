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
    ApiKeyEntry, Identity, KeyHash, SandboxUser, Session, Tenant, TenantId, UserId,
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
    /// Writes the tenant and one lookup item per API key, all or nothing: if the tenant
    /// id or any key hash is already taken, nothing is written and the answer is
    /// [`StoreError::Conflict`].
    async fn create_tenant(&self, tenant: &Tenant, keys: &[ApiKeyEntry]) -> Result<(), StoreError>;

    /// A strongly consistent read of a tenant.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;

    /// A strongly consistent read of the lookup item of an API key.
    async fn api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyEntry>, StoreError>;

    /// Replaces the tenant if its stored version is still `expected_version`
    /// ([`StoreError::Conflict`] otherwise, [`StoreError::NotFound`] if it is gone).
    async fn update_tenant(&self, tenant: &Tenant, expected_version: u64)
    -> Result<(), StoreError>;

    /// Links a provider identity to a user unless (tenant, issuer, subject) is linked
    /// already, in one conditional write; returns the user id in force (the existing one
    /// when there was one).
    async fn link_identity(&self, identity: &Identity) -> Result<UserId, StoreError>;

    /// Stores a user created without a provider token (sandbox mode).
    async fn create_sandbox_user(&self, user: &SandboxUser) -> Result<(), StoreError>;

    /// Stores a new session ([`StoreError::Conflict`] if its id is taken).
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// A strongly consistent read of a session.
    async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError>;

    /// One conditional write: moves the session from generation `from` to `from + 1`
    /// (stamping `rotated_at = now`) if `from` is current and the session is the
    /// tenant's, unrevoked and unexpired. On failure, the session as it was.
    async fn rotate_session(
        &self,
        session_id: &str,
        tenant: &TenantId,
        from: u64,
        now: i64,
    ) -> Result<Rotation, StoreError>;

    /// Revokes the whole token family.
    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError>;
}

/// The outcome of [`Store::rotate_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The session after the rotation.
    Rotated(Session),
    /// The condition failed; the session as it was, if it exists.
    Failed(Option<Session>),
}
