//! What of a tenant each caller sees: typed views, each both the answer's body and its
//! OpenAPI schema. [`Levels::of`] takes a stored [`Tenant`] apart field by field, with no
//! `..`: a new stored field does not compile until it is placed at a level or withheld.
//! Fields without a value are left out. No view is `Debug`: most hold secrets.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::{IdentityProvider, Tenant, TenantId, TenantPatch, WalletManagementType};
use crate::geo::Location;

/// What anyone may see of a tenant.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicTenant {
    #[schema(value_type = String, example = "3f2b8c1e-6d4a-4b7e-9a51-2c0d8e7f6a13")]
    pub id: TenantId,
    pub project_name: String,
    pub acronym: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_image_url: Option<String>,
}

/// What the tenant's own project key or `apiPrivateKey` adds: its keys and its public
/// configuration.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectFields {
    pub project_api_key: String,
    pub testnet_project_api_key: String,
    #[serde(flatten)]
    pub client: ClientFields,
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    pub allow_jwt_for_unauthenticated_users: bool,
    pub default_wallet_management_type: WalletManagementType,
}

/// The publishable configuration a tenant's client-side code reads: part of the
/// project level, and of `GET /tenants/client-config`.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_publishable_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firebase_tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infura_api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poly_scan_api_key: Option<String>,
}

/// What only the tenant's admin sees: its server-side secrets and identity providers.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_webhook_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_token: Option<String>,
    pub identity_providers: Vec<IdentityProvider>,
}

/// A stored tenant taken apart by level.
struct Levels {
    public: PublicTenant,
    project: ProjectFields,
    admin: AdminFields,
}

impl Levels {
    fn of(tenant: &Tenant) -> Self {
        let Tenant {
            id,
            project_name,
            acronym,
            created_at,
            project_description,
            project_website,
            project_email,
            project_image_url,
            project_api_key,
            testnet_project_api_key,
            stripe_api_key,
            stripe_webhook_secret,
            stripe_publishable_key,
            login_token,
            allow_jwt_for_unauthenticated_users,
            firebase_tenant_id,
            infura_api_key,
            poly_scan_api_key,
            default_wallet_management_type,
            identity_providers,
            // Never shown: a hash, and the storage's concurrency counter.
            api_private_key_hash: _,
            version: _,
        } = tenant.clone();
        Self {
            public: PublicTenant {
                id,
                project_name,
                acronym,
                created_at,
                project_description,
                project_website,
                project_email,
                project_image_url,
            },
            project: ProjectFields {
                project_api_key,
                testnet_project_api_key,
                client: ClientFields {
                    stripe_publishable_key,
                    firebase_tenant_id,
                    infura_api_key,
                    poly_scan_api_key,
                },
                allow_jwt_for_unauthenticated_users,
                default_wallet_management_type,
            },
            admin: AdminFields {
                stripe_api_key,
                stripe_webhook_secret,
                login_token,
                identity_providers,
            },
        }
    }
}

impl From<&Tenant> for PublicTenant {
    fn from(tenant: &Tenant) -> Self {
        Levels::of(tenant).public
    }
}

/// A tenant as its own project key or `apiPrivateKey` sees it.
#[derive(Clone, Serialize, ToSchema)]
pub struct ProjectTenant {
    #[serde(flatten)]
    pub public: PublicTenant,
    #[serde(flatten)]
    pub project: ProjectFields,
}

impl From<&Tenant> for ProjectTenant {
    fn from(tenant: &Tenant) -> Self {
        let Levels {
            public,
            project,
            admin: _,
        } = Levels::of(tenant);
        Self { public, project }
    }
}

/// A tenant as its admin sees it: everything but its `apiPrivateKey`, which is shown
/// only once.
#[derive(Clone, Serialize, ToSchema)]
pub struct AdminTenant {
    #[serde(flatten)]
    pub project: ProjectTenant,
    #[serde(flatten)]
    pub admin: AdminFields,
}

impl From<&Tenant> for AdminTenant {
    fn from(tenant: &Tenant) -> Self {
        let Levels {
            public,
            project,
            admin,
        } = Levels::of(tenant);
        Self {
            project: ProjectTenant { public, project },
            admin,
        }
    }
}

/// A tenant by id, at the level the caller's credentials grant.
#[derive(Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TenantView {
    Admin(AdminTenant),
    Project(ProjectTenant),
    Public(PublicTenant),
}

/// `GET /tenants/me`: the public tenant and the project key that names it.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyedTenant {
    #[serde(flatten)]
    pub public: PublicTenant,
    pub project_api_key: String,
}

impl From<&Tenant> for KeyedTenant {
    fn from(tenant: &Tenant) -> Self {
        let Levels {
            public,
            project,
            admin: _,
        } = Levels::of(tenant);
        Self {
            public,
            project_api_key: project.project_api_key,
        }
    }
}

/// The answer to `POST /tenants`: the tenant as its admin sees it, and two credentials
/// shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: AdminTenant,
    /// The tenant's server-side secret; stored only as a hash.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub api_private_key: SecretString,
    /// A tenant-admin access token (the bootstrap credential), 24 h by default.
    pub jwt: String,
}

/// The answer to `POST /tenants/api-private-key`: the new key, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPrivateKey {
    /// The tenant's new server-side secret; stored only as a hash. The old one no
    /// longer works.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub api_private_key: SecretString,
}

/// The answer to `POST /tenants/{id}/admin-token`.
#[derive(Serialize, ToSchema)]
pub struct AdminToken {
    /// A tenant-admin access token with the bootstrap lifetime (24 h by default).
    pub jwt: String,
}

fn expose<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// `GET /tenants/client-config`: what a tenant's client-side code needs.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    pub project_name: String,
    #[schema(value_type = String, example = "3f2b8c1e-6d4a-4b7e-9a51-2c0d8e7f6a13")]
    pub id: TenantId,
    #[serde(flatten)]
    pub client: ClientFields,
    /// From CloudFront's viewer headers, else the configured GeoIP database; null
    /// when neither knows.
    pub client_ip_location: Option<Location>,
}

impl ClientConfig {
    pub fn of(tenant: &Tenant, client_ip_location: Option<Location>) -> Self {
        let ProjectTenant { public, project } = tenant.into();
        Self {
            project_name: public.project_name,
            id: public.id,
            client: project.client,
            client_ip_location,
        }
    }
}

/// The body of `POST /tenants`: `projectName`, and any other field of an update. A
/// schema only: the handler reads a [`TenantPatch`] and requires the name.
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct NewTenantBody {
    #[schema(min_length = 1, max_length = 120)]
    project_name: String,
    #[serde(flatten)]
    fields: TenantPatch,
}

#[cfg(test)]
mod tests;
