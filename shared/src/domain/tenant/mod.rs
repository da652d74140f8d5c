//! Tenants: the stored record ([`Tenant`]), the update that changes it ([`TenantPatch`],
//! validated field by field in [`patch`]) and the identity providers it trusts
//! ([`provider`]).

mod patch;
mod provider;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{KeyHash, TenantKeys};

pub use patch::{FieldError, TenantPatch, storable_json};
pub use provider::{IdentityProvider, ProviderAlgorithm};

/// A tenant's id: a UUID in its hyphenated lowercase form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Accepts only what [`TenantId::generate`] produces, so a path segment can never
    /// smuggle anything into a storage key.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = uuid::Uuid::try_parse(raw).ok()?.hyphenated().to_string();
        (id == raw).then_some(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("not a tenant id: {raw:?}"))
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

/// Who holds the keys of the wallets created for the tenant's users: the platform
/// (`custodial`) or the users themselves (`non-custodial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = "custodial")]
pub enum WalletManagementType {
    #[default]
    #[serde(rename = "custodial")]
    Custodial,
    #[serde(rename = "non-custodial")]
    NonCustodial,
}

/// A tenant as stored. The HTTP layer decides which parts a caller may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub project_name: String,
    pub acronym: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub project_description: Option<String>,
    pub project_website: Option<String>,
    pub project_email: Option<String>,
    pub project_image_url: Option<String>,
    pub project_api_key: String,
    pub testnet_project_api_key: String,
    pub stripe_api_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_publishable_key: Option<String>,
    pub login_token: Option<String>,
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    pub allow_jwt_for_unauthenticated_users: bool,
    pub firebase_tenant_id: Option<String>,
    pub infura_api_key: Option<String>,
    pub poly_scan_api_key: Option<String>,
    pub default_wallet_management_type: WalletManagementType,
    #[serde(default)]
    pub identity_providers: Vec<IdentityProvider>,
    /// Hash of `apiPrivateKey`; the key itself is shown once, at creation.
    pub api_private_key_hash: KeyHash,
    /// Optimistic-concurrency counter: every update moves it by one.
    pub version: u64,
}

impl Tenant {
    /// A new tenant named `project_name` (already validated), holding `keys`, created at
    /// `created_at` (kept to the millisecond, as both stores keep it); every other field
    /// at its default, to be set by a [`TenantPatch`].
    pub fn new(
        id: TenantId,
        project_name: String,
        keys: &TenantKeys,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            acronym: derive_acronym(&project_name),
            project_name,
            created_at: created_at
                .replace_nanosecond(created_at.millisecond() as u32 * 1_000_000)
                .unwrap_or(created_at),
            project_description: None,
            project_website: None,
            project_email: None,
            project_image_url: None,
            project_api_key: keys.project_key().to_owned(),
            testnet_project_api_key: keys.testnet_project_key().to_owned(),
            stripe_api_key: None,
            stripe_webhook_secret: None,
            stripe_publishable_key: None,
            login_token: None,
            allow_jwt_for_unauthenticated_users: false,
            firebase_tenant_id: None,
            infura_api_key: None,
            poly_scan_api_key: None,
            default_wallet_management_type: WalletManagementType::Custodial,
            identity_providers: Vec::new(),
            api_private_key_hash: keys.private_key_hash(),
            version: 1,
        }
    }
}

/// An acronym from the name: initials of up to five words, or the first three letters
/// of a one-word name, upper-cased; `T` when the name has no letters or digits.
pub fn derive_acronym(name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let acronym: String = match words.as_slice() {
        [] => "T".to_owned(),
        [one] => one.chars().take(3).collect(),
        many => many
            .iter()
            .take(5)
            .filter_map(|w| w.chars().next())
            .collect(),
    };
    acronym.to_uppercase()
}

#[cfg(test)]
impl Tenant {
    /// A valid tenant, for unit tests elsewhere in the crate.
    pub(crate) fn sample() -> Self {
        let mut t = Self::new(
            TenantId::generate(),
            "Acme Rewards".into(),
            &TenantKeys::generate(),
            OffsetDateTime::UNIX_EPOCH,
        );
        t.api_private_key_hash = KeyHash::of("sk");
        t
    }
}

#[cfg(test)]
mod tests;
