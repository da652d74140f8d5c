//! Domain types: invalid values cannot be constructed, so handlers need not re-check them.

mod credentials;
mod session;
mod tenant;

pub use credentials::{ApiKeyEntry, KeyHash, KeyKind, Network, generate_api_key, hash_secret};
pub use session::{
    Identity, SandboxUser, Session, SessionOrigin, UserId, Verdict, judge_failed_rotation,
};
pub use tenant::{
    AuthType, FieldError, IdentityProvider, Tenant, TenantId, TenantPatch, WalletManagementType,
    derive_acronym, storable_json,
};
