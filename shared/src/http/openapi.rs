//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request
//! and response types; `pers-local` serves it at `GET /openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ErrorBody;
use super::{auth, tenants, verify};
use crate::domain::{AuthType, IdentityProvider, Network, TenantPatch, WalletManagementType};
use crate::geo::Location;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PERS auth & tenants",
        description = "Authentication and tenant management of the PERS loyalty platform. \
            Every error is `{statusCode, error, message}`; an unknown route is 404 and a \
            wrong method 405 in the same shape; bodies over 64 KiB are 413, non-JSON 415.",
    ),
    paths(
        auth::exchange,
        auth::refresh,
        verify::verify,
        verify::jwks,
        verify::discovery,
        tenants::create,
        tenants::update,
        tenants::me,
        tenants::client_config,
        tenants::login_token,
        tenants::by_id,
    ),
    components(schemas(
        ErrorBody,
        AuthType,
        Network,
        WalletManagementType,
        IdentityProvider,
        TenantPatch,
        TenantCreateDoc,
        TenantDoc,
        CreatedTenantDoc,
        ClientConfigDoc,
        Location,
        auth::TokenRequest,
        auth::RefreshRequest,
        auth::TokenPair,
        verify::VerifyRequest,
        verify::VerifyResponse,
    )),
    modifiers(&Credentials),
    tags(
        (name = "auth", description = "Provider-token exchange and refresh rotation"),
        (name = "verify", description = "Token verification and the well-known documents"),
        (name = "tenants", description = "Tenant management"),
    )
)]
pub struct ApiDoc;

/// The three credentials of the contract.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "projectKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-project-key",
                "A tenant's projectApiKey (or testnetProjectApiKey: the session is testnet).",
            ))),
        );
        components.add_security_scheme(
            "businessApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A server-side secret: the tenant's apiPrivateKey, or the platform key for POST /tenants.",
            ))),
        );
        components.add_security_scheme(
            "tenantAdminJWT",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A PERS access token whose authType is tenant."))
                    .build(),
            ),
        );
    }
}

/// A tenant as the API shows it. Which fields appear depends on who asks: the public
/// level (id, projectName, acronym, createdAt, description, website, email, image), the
/// tenant's project key (plus keys and public configuration), or its admin (everything).
/// Fields without a value are left out.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDoc {
    id: String,
    project_name: String,
    acronym: String,
    #[schema(format = DateTime)]
    created_at: String,
    project_description: Option<String>,
    project_website: Option<String>,
    project_email: Option<String>,
    project_image_url: Option<String>,
    project_api_key: Option<String>,
    testnet_project_api_key: Option<String>,
    stripe_api_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_publishable_key: Option<String>,
    login_token: Option<String>,
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    allow_jwt_for_unauthenticated_users: Option<bool>,
    firebase_tenant_id: Option<String>,
    infura_api_key: Option<String>,
    poly_scan_api_key: Option<String>,
    default_wallet_management_type: Option<WalletManagementType>,
    identity_providers: Option<Vec<IdentityProvider>>,
}

/// The answer to `POST /tenants`: the full tenant plus two secrets shown this once.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenantDoc {
    #[serde(flatten)]
    tenant: TenantDoc,
    /// The tenant's server-side secret; stored only as a hash.
    api_private_key: String,
    /// A tenant-admin access token (the bootstrap credential), 24 h by default.
    jwt: String,
}

/// The body of `POST /tenants`: `projectName`, and any other field of an update.
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // a schema only: the handler reads a `TenantPatch`
pub struct TenantCreateDoc {
    #[schema(min_length = 1, max_length = 120)]
    project_name: String,
    #[serde(flatten)]
    fields: TenantPatch,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfigDoc {
    project_name: String,
    id: String,
    stripe_publishable_key: Option<String>,
    firebase_tenant_id: Option<String>,
    infura_api_key: Option<String>,
    poly_scan_api_key: Option<String>,
    /// From CloudFront's viewer headers, else the configured GeoIP database; null
    /// when neither knows.
    client_ip_location: Option<Location>,
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
