//! What of a tenant each caller sees: typed views, each both the answer's body and its
//! OpenAPI schema. [`Levels::of`] takes a stored [`Tenant`] apart field by field, with no
//! `..`: a new stored field does not compile until it is placed at a level or withheld.
//! Fields without a value are left out. No view is `Debug`: most hold secrets.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::openapi::examples;
use crate::domain::{IdentityProvider, Tenant, TenantId, TenantPatch, WalletManagementType};
use crate::geo::Location;

/// What anyone may see of a tenant.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    title = "Public tenant",
    description = "A tenant as anyone sees it, without credentials: its name and public \
        profile. Fields without a value are left out."
)]
pub struct PublicTenant {
    /// The tenant's id (a UUID), by which `GET /tenants/{id}` finds it.
    #[schema(value_type = String, format = "uuid", example = examples::tenant_id)]
    pub id: TenantId,
    /// The tenant's (project's) name.
    #[schema(example = "Acme Rewards")]
    pub project_name: String,
    /// An acronym derived from the name at creation: the initials of up to five words,
    /// or the first three letters of a one-word name, upper-cased.
    #[schema(example = "AR")]
    pub acronym: String,
    /// When the tenant was created (RFC 3339, UTC, milliseconds).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2025-03-14T09:26:53.589Z")]
    pub created_at: OffsetDateTime,
    /// A description of the tenant's programme.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "Points for every coffee at Acme's shops, redeemable for rewards."
    )]
    pub project_description: Option<String>,
    /// The tenant's website.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "https://acme.example.com")]
    pub project_website: Option<String>,
    /// The tenant's contact email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = Email, example = "rewards@acme.example.com")]
    pub project_email: Option<String>,
    /// The URL of the tenant's logo or image.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "https://acme.example.com/logo.png")]
    pub project_image_url: Option<String>,
}

/// What the tenant's own project key or `apiPrivateKey` adds: its keys and its public
/// configuration.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectFields {
    /// The tenant's publishable project key, sent as `x-project-key`: random and
    /// unique, it identifies the tenant (mainnet sessions).
    #[schema(example = "pk_live_Mj7GYA-Vuy3C_vEZJazdCo7usbf9I4wozhz1_v2D9G0")]
    pub project_api_key: String,
    /// The tenant's testnet project key: sent as `x-project-key`, it opens sessions
    /// marked `network: testnet`.
    #[schema(example = "pk_test_wT1eWtgb3k7h7g-sII8zYR6oLVkKpE54DgEFqF0Vf8s")]
    pub testnet_project_api_key: String,
    #[serde(flatten)]
    pub client: ClientFields,
    /// Sandbox mode: whether `POST /auth/token` signs in unauthenticated users from
    /// `rawLoginData` without verifying a token.
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    #[schema(example = false)]
    pub allow_jwt_for_unauthenticated_users: bool,
    /// Who holds the keys of the wallets created for the tenant's users.
    #[schema(inline, example = "custodial")]
    pub default_wallet_management_type: WalletManagementType,
}

/// The publishable configuration a tenant's client-side code reads: part of the
/// project level, and of `GET /tenants/client-config`.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientFields {
    /// The tenant's Stripe publishable key, for payments from its client-side code.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "pk_test_TYooMQauvdEDq54NiTphI7jx")]
    pub stripe_publishable_key: Option<String>,
    /// The tenant's Firebase (Identity Platform) tenant id, for signing in its users
    /// with Firebase.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "acme-rewards-k3j9d")]
    pub firebase_tenant_id: Option<String>,
    /// The tenant's Infura API key, for its client-side code's web3 provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "9aa3d95b3bc440fa88ea12eaa4456161")]
    pub infura_api_key: Option<String>,
    /// The tenant's PolygonScan API key, for its client-side code.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "YZ1X9K3N7QW2E5R8T4U6I0O1P2A3S4D5F6")]
    pub poly_scan_api_key: Option<String>,
}

/// What only the tenant's admin sees: its server-side secrets and identity providers.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminFields {
    /// The tenant's Stripe secret key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "sk_test_4eC39HqLyjWDarjtT1zdp7dc")]
    pub stripe_api_key: Option<String>,
    /// The secret that signs the tenant's Stripe webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "whsec_5f8a1c2d3e4b5a6978c0d1e2f3a4b5c6")]
    pub stripe_webhook_secret: Option<String>,
    /// The tenant's extra value for its own login requirements.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "acme-login-2025")]
    pub login_token: Option<String>,
    /// The identity providers the tenant trusts besides the built-in ones (possibly
    /// none).
    #[schema(example = examples::providers)]
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
#[schema(
    title = "Project tenant",
    description = "A tenant as its own `x-project-key` (or `apiPrivateKey` in `x-api-key`) \
        sees it: the public fields, its two project keys and its public configuration. \
        Fields without a value are left out."
)]
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
#[schema(
    title = "Admin tenant",
    description = "A tenant as its admin (a tenant-admin token of that tenant) sees it: \
        everything stored but the hash of its `apiPrivateKey`, which is shown only when \
        it is generated. Fields without a value are left out."
)]
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

/// A tenant by id, at the level the caller's credentials grant: exactly one of the
/// public, project and admin views.
#[derive(Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TenantView {
    Public(PublicTenant),
    Project(ProjectTenant),
    Admin(AdminTenant),
}

/// `GET /tenants/me`: the public tenant and the project key that names it.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(title = "Current tenant")]
pub struct KeyedTenant {
    #[serde(flatten)]
    pub public: PublicTenant,
    /// The tenant's publishable project key (mainnet), also when the caller used the
    /// testnet key or the `apiPrivateKey`.
    #[schema(example = "pk_live_Mj7GYA-Vuy3C_vEZJazdCo7usbf9I4wozhz1_v2D9G0")]
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
#[schema(title = "Created tenant")]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: AdminTenant,
    /// The tenant's server-side secret, for `x-api-key` (system sessions, the project
    /// level of `GET /tenants/{id}`). Shown this once and stored only as a hash: keep
    /// it safe; `POST /tenants/api-private-key` replaces it.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, example = "sk_live_VkOolHwe2PBj1r9u4jQGuN8tBbI5LwVvRinxgI8cJRM")]
    pub api_private_key: SecretString,
    /// A tenant-admin access token, the tenant's bootstrap credential for `PUT /tenants`
    /// and the other admin routes; it lives 24 h by default. Shown this once;
    /// `POST /tenants/{id}/admin-token` issues another.
    #[schema(example = examples::admin_token)]
    pub jwt: String,
}

/// The answer to `POST /tenants/api-private-key`: the new key, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPrivateKey {
    /// The tenant's new server-side secret, for `x-api-key`. Shown this once and
    /// stored only as a hash; the old key no longer works.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, example = "sk_live_hYEHazIwXQoTk9SghuGHs7EeQLz2StHCHOZUsdQgwUM")]
    pub api_private_key: SecretString,
}

/// The answer to `POST /tenants/{id}/admin-token`.
#[derive(Serialize, ToSchema)]
pub struct AdminToken {
    /// A new tenant-admin access token with the bootstrap lifetime (24 h by default),
    /// for `Authorization: Bearer`. Shown this once.
    #[schema(example = examples::admin_token)]
    pub jwt: String,
}

fn expose<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// `GET /tenants/client-config`: what a tenant's client-side code needs.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(title = "Client configuration")]
pub struct ClientConfig {
    /// The tenant's (project's) name.
    #[schema(example = "Acme Rewards")]
    pub project_name: String,
    /// The tenant's id (a UUID).
    #[schema(value_type = String, format = "uuid", example = examples::tenant_id)]
    pub id: TenantId,
    #[serde(flatten)]
    pub client: ClientFields,
    /// Where the caller is, from its IP address: from CloudFront's viewer headers when
    /// the request came through CloudFront, else from the configured GeoIP database;
    /// `null` when neither knows.
    #[schema(required = true)]
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
///
/// It restates the fields whose absence means something else at creation than at an
/// update: the name is required, and the two settings take their defaults.
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "The new tenant: `projectName`, and any other field of \
    `PUT /tenants`. Unknown fields are refused by name.")]
#[allow(dead_code)]
pub struct NewTenantBody {
    #[serde(flatten)]
    fields: TenantPatch,
    /// The tenant's (project's) name, shown to its users; surrounding white space is
    /// trimmed, and it may hold no control characters.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$",
        example = "Acme Rewards"
    )]
    project_name: String,
    /// Sandbox mode: whether `POST /auth/token` may sign in unauthenticated users from
    /// `rawLoginData` without verifying a token.
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    #[schema(nullable = false, default = false, example = false)]
    allow_jwt_for_unauthenticated_users: Option<bool>,
    /// Who holds the keys of the wallets created for the tenant's users.
    #[schema(
        inline,
        value_type = WalletManagementType,
        required = false,
        default = "custodial",
        example = "custodial"
    )]
    default_wallet_management_type: Option<WalletManagementType>,
}

#[cfg(test)]
mod tests;
