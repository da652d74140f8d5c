//! Domain types: invalid values cannot be constructed, so handlers need not re-check them.

mod credentials;
mod session;
mod tenant;

pub use credentials::{
    ApiKeyEntry, KeyHash, KeyKind, Network, TenantKeys, generate_api_key, hash_secret,
};
pub use session::{
    AuthType, Identity, SandboxUser, Session, SessionKey, SessionOrigin, Standing, UserId, Verdict,
    judge_failed_rotation, standing,
};
pub use tenant::{
    FieldError, IdentityProvider, ProviderAlgorithm, Tenant, TenantId, TenantPatch,
    WalletManagementType, derive_acronym, storable_json,
};
