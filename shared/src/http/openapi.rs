//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request
//! and response types; `pers-local` serves it at `GET /openapi.json`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::views::{
    AdminFields, AdminTenant, AdminToken, ClientConfig, ClientFields, CreatedTenant, KeyedTenant,
    NewPrivateKey, NewTenantBody, ProjectFields, ProjectTenant, PublicTenant, TenantView,
};
use super::{auth, logout, recovery, tenants, verify};
use crate::deadlines::RETRY_AFTER_SECONDS;
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
        logout::logout,
        verify::verify,
        verify::jwks,
        verify::discovery,
        tenants::create,
        tenants::update,
        tenants::me,
        tenants::client_config,
        tenants::login_token,
        tenants::by_id,
        recovery::regenerate_private_key,
        recovery::admin_token,
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
        logout::LogoutRequest,
        logout::LogoutScope,
        TokenPair,
        NewPrivateKey,
        AdminToken,
        verify::VerifyRequest,
        verify::VerifyResponse,
        verify::Discovery,
    )),
    modifiers(&Credentials, &CommonErrors),
    tags(
        (name = "auth", description = "Provider-token exchange, refresh rotation and sign-out"),
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
                "A server-side secret: the tenant's apiPrivateKey, or the platform key for POST /tenants and POST /tenants/{id}/admin-token.",
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

/// The errors the shared edge gives on any route, added to each operation that can meet
/// them (unless it documents that status itself): a JSON body's `400`/`413`/`415`, the
/// credentials' `401`/`403`, and the `503` of a dependency, with `Retry-After`.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        let error = |description: &str, retry_after: bool| {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            );
            if retry_after {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                                .minimum(Some(0)),
                        )
                        .description(Some(format!(
                            "Seconds to wait before retrying ({RETRY_AFTER_SECONDS})"
                        )))
                        .build(),
                );
            }
            response.build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                let mut common = Vec::new();
                if op.request_body.is_some() {
                    common.push(("400", "Bad input; the message names the field", false));
                    common.push(("413", "Body over 64 KiB", false));
                    common.push(("415", "Body is not JSON", false));
                }
                if op.security.is_some() {
                    common.push(("401", "Missing or invalid credentials", false));
                    common.push(("403", "Credentials of different tenants", false));
                }
                common.push((
                    "503",
                    "A dependency is unreachable, not ready or too slow",
                    true,
                ));
                for (status, description, retry_after) in common {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description, retry_after).into());
                }
            }
        }
    }
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document's server for `pers-local` at its default address, which the served
/// document replaces with the address it was fetched from.
pub const LOCAL_DEFAULT_SERVER: &str = "http://127.0.0.1:3000";

pub(crate) fn is_local_default(url: &str) -> bool {
    url.trim_end_matches('/') == LOCAL_DEFAULT_SERVER
}
