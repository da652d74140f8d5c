//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request
//! and response types; `pers-local` serves it at `GET /openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::views::{
    AdminFields, AdminTenant, ClientConfig, ClientFields, CreatedTenant, KeyedTenant,
    NewTenantBody, ProjectFields, ProjectTenant, PublicTenant, TenantView,
};
use super::{auth, tenants, verify};
use crate::domain::{
    AuthType, IdentityProvider, Network, ProviderAlgorithm, TenantPatch, WalletManagementType,
};
use crate::geo::Location;
use crate::token::TokenPair;

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
        ProviderAlgorithm,
        TenantPatch,
        NewTenantBody,
        PublicTenant,
        ClientFields,
        ProjectFields,
        ProjectTenant,
        AdminFields,
        AdminTenant,
        TenantView,
        KeyedTenant,
        CreatedTenant,
        ClientConfig,
        Location,
        auth::TokenRequest,
        auth::RefreshRequest,
        TokenPair,
        verify::VerifyRequest,
        verify::VerifyResponse,
        verify::Discovery,
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

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
