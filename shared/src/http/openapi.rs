//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request
//! and response types; `pers-local` serves it at `GET /openapi.json`.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, GatewayError};
use super::views::{
    AdminTenant, AdminToken, ClientConfig, CreatedTenant, KeyedTenant, NewPrivateKey,
    NewTenantBody, ProjectTenant, PublicTenant, TenantView,
};
use super::{auth, logout, recovery, tenants, verify};
use crate::deadlines::RETRY_AFTER_SECONDS;
use crate::domain::{AuthType, IdentityProvider, ProviderAlgorithm, TenantPatch};
use crate::geo::Location;
use crate::token::TokenPair;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PERS auth & tenants",
        description = "Authentication and tenant management of the PERS loyalty platform: \
            provider tokens exchanged for PERS sessions (RS256 access tokens that any \
            OIDC-aware verifier can check against the published JWKS, rotating refresh \
            tokens with reuse detection), token verification, and the tenants themselves.\n\n\
            **Credentials.** `x-project-key` (projectKey) is a tenant's publishable \
            `projectApiKey`, or its `testnetProjectApiKey` for testnet sessions. \
            `x-api-key` (businessApiKey) is a server-side secret: the tenant's \
            `apiPrivateKey`, or the platform operator key where a route says so. \
            `Authorization: Bearer` (tenantAdminJWT) is a PERS access token whose \
            `authType` is `tenant`. Header names are case-insensitive. A request speaks \
            for one tenant at most: valid credentials of two different tenants are `403`; \
            a credential the route reads and cannot accept is `401`.\n\n\
            **Errors.** Every error is JSON, `{statusCode, error, message}`: `400` bad \
            input (the message names the field), `401`, `403`, `404` (also an unknown \
            route), `405` a wrong method, `409` a conflict, `413` a body over 64 KiB, \
            `415` a body that is not JSON, `503` a dependency that is unreachable, not \
            ready or too slow (within 3 s, with `Retry-After`). Answers that carry a \
            token or a secret are sent with `Cache-Control: no-store`.",
        contact(name = "PERS auth & tenants maintainers"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers(
        (
            url = "http://127.0.0.1:3000",
            description = "pers-local at its default address (PERS_LISTEN)"
        ),
        (
            url = "https://{apiId}.execute-api.{region}.amazonaws.com",
            description = "The deployed API Gateway HTTP API (the stack's ApiUrl output)",
            variables(
                ("apiId" = (
                    default = "a1b2c3d4e5",
                    description = "The HTTP API's id, as in the stack's ApiUrl output"
                )),
                ("region" = (
                    default = "eu-west-1",
                    description = "The AWS region the stack is deployed in"
                )),
            )
        ),
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
        GatewayError,
        AuthType,
        IdentityProvider,
        ProviderAlgorithm,
        TenantPatch,
        NewTenantBody,
        PublicTenant,
        ProjectTenant,
        AdminTenant,
        TenantView,
        KeyedTenant,
        CreatedTenant,
        ClientConfig,
        Location,
        auth::TokenRequest,
        auth::RefreshRequest,
        logout::LogoutRequest,
        TokenPair,
        NewPrivateKey,
        AdminToken,
        verify::VerifyRequest,
        verify::VerifyResponse,
        verify::Discovery,
        verify::JwkSet,
        verify::Jwk,
    )),
    modifiers(&Credentials, &FlatObjects, &Tidy, &CommonResponses),
    tags(
        (name = "auth", description = "Provider-token exchange, refresh rotation and sign-out"),
        (name = "verify", description = "Token verification and the well-known documents"),
        (name = "tenants", description = "Tenant management"),
    )
)]
pub struct ApiDoc;

/// The three credentials of the contract (DESIGN §2).
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "projectKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-project-key",
                "A tenant's projectApiKey, or its testnetProjectApiKey (the session is then \
                 testnet). Publishable: it identifies the tenant, like a Firebase web API key.",
            ))),
        );
        components.add_security_scheme(
            "businessApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A server-side secret: the tenant's apiPrivateKey (system sessions, and the \
                 project level of GET /tenants/{id} and GET /tenants/me), or the platform \
                 operator key (POST /tenants and POST /tenants/{id}/admin-token only). \
                 Stored only as a hash and compared in constant time.",
            ))),
        );
        components.add_security_scheme(
            "tenantAdminJWT",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A PERS access token whose authType is tenant: the jwt of POST /tenants \
                         or of POST /tenants/{id}/admin-token, or a session opened at \
                         POST /auth/token with authType tenant.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The parts that views and bodies are assembled from with `#[serde(flatten)]`: merged
/// into the schemas that use them by [`FlatObjects`], and no schemas of their own.
const PARTS: [&str; 4] = [
    "ClientFields",
    "ProjectFields",
    "AdminFields",
    "ProviderTerms",
];

/// Views with no parts that are closed all the same, like the assembled ones: the
/// public tenant, so that it excludes the other views of `GET /tenants/{id}`.
const CLOSED: [&str; 1] = ["PublicTenant"];

/// utoipa renders a struct with `#[serde(flatten)]` fields as an `allOf` of its parts.
/// Each such component becomes one object here, with every property and `required` of
/// its parts (a later part's property wins, so a body can restate a field), and no
/// others (`additionalProperties: false`): what the service sends or reads is exactly
/// that object, and the views of `GET /tenants/{id}` stay mutually exclusive in its
/// `oneOf`.
struct FlatObjects;

impl Modify for FlatObjects {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let all = components.schemas.clone();
        for schema in components.schemas.values_mut() {
            let RefOr::T(Schema::AllOf(parts)) = schema else {
                continue;
            };
            let mut flat = ObjectBuilder::new().schema_type(Type::Object).build();
            for part in &parts.items {
                merge(&mut flat, part, &all);
            }
            flat.title = parts.title.take();
            flat.description = parts.description.take();
            flat.example = parts.example.take();
            flat.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            *schema = RefOr::T(Schema::Object(flat));
        }
        for part in PARTS {
            components.schemas.remove(part);
        }
        for name in CLOSED {
            if let Some(RefOr::T(Schema::Object(view))) = components.schemas.get_mut(name) {
                view.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

fn merge(into: &mut Object, part: &RefOr<Schema>, all: &BTreeMap<String, RefOr<Schema>>) {
    match part {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(schema) = all.get(name) {
                merge(into, schema, all);
            }
        }
        RefOr::T(Schema::AllOf(parts)) => {
            for part in &parts.items {
                merge(into, part, all);
            }
        }
        RefOr::T(Schema::Object(object)) => {
            for (name, property) in &object.properties {
                into.properties.insert(name.clone(), property.clone());
            }
            for name in &object.required {
                if !into.required.contains(name) {
                    into.required.push(name.clone());
                }
            }
        }
        RefOr::T(_) => {}
    }
}

/// Two habits of utoipa that read badly, undone: it wraps a field's schema in a one-item
/// `oneOf` to give it the field's description and default (an inlined enum, which
/// linters flag), and it puts the description of a nullable reference on the reference
/// inside `oneOf [null, $ref]`. The one-item `oneOf` becomes its item, with the field's
/// description and default; the description moves up to the `oneOf`.
struct Tidy;

impl Modify for Tidy {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for schema in openapi
            .components
            .iter_mut()
            .flat_map(|c| c.schemas.values_mut())
        {
            tidy(schema);
        }
    }
}

fn tidy(schema: &mut RefOr<Schema>) {
    let RefOr::T(inner) = schema else {
        return;
    };
    let unwrapped = match inner {
        Schema::Object(object) => {
            object.properties.values_mut().for_each(tidy);
            None
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                tidy(items);
            }
            None
        }
        Schema::AllOf(all) => {
            all.items.iter_mut().for_each(tidy);
            None
        }
        Schema::OneOf(one) => {
            one.items.iter_mut().for_each(tidy);
            if let [RefOr::T(Schema::Object(item))] = one.items.as_slice() {
                let mut item = item.clone();
                item.description = one.description.take().or(item.description);
                item.default = one.default.take().or(item.default);
                Some(item)
            } else {
                for item in &mut one.items {
                    if let RefOr::Ref(r) = item
                        && one.description.is_none()
                        && !r.description.is_empty()
                    {
                        one.description = Some(std::mem::take(&mut r.description));
                    }
                }
                None
            }
        }
        _ => None,
    };
    if let Some(item) = unwrapped {
        *schema = RefOr::T(Schema::Object(item));
    }
}

/// The schema of a JSON object that a client sends or gets as it is (`rawLoginData`,
/// decoded claims): any members; `null` when absent.
pub(crate) fn free_object(description: &str, example: serde_json::Value) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(description))
        .examples([example])
        .build()
}

/// `rawLoginData` of `POST /auth/token`.
pub(crate) fn raw_login_data_schema() -> Object {
    let mut schema = free_object(
        "Sandbox mode: when the tenant allows unauthenticated users \
         (`allowJWTForUnauthenticatedUsers`) and `authType` is `user`, a new unauthenticated \
         user holding this object is created and signed in without verifying `authToken`; \
         otherwise it is ignored. At most 16 levels deep, no empty member names, and numbers \
         that DynamoDB can store (0, or a magnitude from 1e-130 to below 1e125).",
        examples::raw_login_data(),
    );
    schema.property_names = Some(Box::new(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .into(),
    ));
    schema
}

/// `payload` of the answer of `POST /auth/verify`.
pub(crate) fn claims_schema() -> Object {
    free_object(
        "The token's decoded claims when it is valid (for a PERS access token: `iss`, \
         `sub`, `aud`, `client_id`, `scope`, `tenantId`, `authType`, `sid`, `jti`, `iat`, \
         `exp`, and `network` in testnet sessions); `null` otherwise.",
        examples::access_claims(),
    )
}

/// What every operation may answer besides its own outcomes (unless it documents that
/// status itself): a JSON body's `400`/`413`/`415`, the credentials' `401`/`403`, the
/// deployed API's throttling `429`, and the `503` of a dependency, with `Retry-After`;
/// and the `Cache-Control: no-store` of every answer but the public documents'.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str, schema: &str, retry_after: bool| {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
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
                                .minimum(Some(0))
                                .examples([RETRY_AFTER_SECONDS]),
                        )
                        .description(Some(format!(
                            "Seconds to wait before retrying ({RETRY_AFTER_SECONDS})"
                        )))
                        .build(),
                );
            }
            response.build()
        };
        let no_store = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["no-store"]))
                    .examples(["no-store"]),
            )
            .description(Some(
                "Always no-store: the answer may carry a token, a key or tenant data",
            ))
            .build();
        let request_id = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples(["Cx7pQhZ07oAMEbRw="]),
            )
            .description(Some(
                "The request's id, as the service's logs name it: API Gateway's request id                  (pers-local: a UUID). Quote it when reporting a problem; an x-request-id                  sent by the client is not used",
            ))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = path.starts_with("/.well-known/");
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                let mut common = Vec::new();
                if op.request_body.is_some() {
                    common.push(("400", "Bad input; the message names the field"));
                    common.push(("413", "Body over 64 KiB"));
                    common.push(("415", "Body is not JSON (Content-Type application/json)"));
                }
                if reads_credentials(op) {
                    common.push(("401", "Missing, unknown, invalid or expired credentials"));
                    common.push(("403", "Valid credentials of two different tenants"));
                }
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description, "ErrorBody", false).into());
                }
                op.responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| {
                        error(
                            "Throttled by the deployed API Gateway (its route throttling \
                         settings); pers-local never answers 429",
                            "GatewayError",
                            false,
                        )
                        .into()
                    });
                op.responses
                    .responses
                    .entry("503".to_owned())
                    .or_insert_with(|| {
                        error(
                            "A dependency is unreachable, not ready or too slow",
                            "ErrorBody",
                            true,
                        )
                        .into()
                    });
                // Every answer of the service names its request (API Gateway's own 429
                // does not: it never reaches a function).
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (false, RefOr::T(response)) = (status == "429", response) {
                        response
                            .headers
                            .entry("x-request-id".to_owned())
                            .or_insert_with(|| request_id.clone());
                    }
                }
                if public {
                    continue;
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                        response
                            .headers
                            .entry("Cache-Control".to_owned())
                            .or_insert_with(|| no_store.clone());
                    }
                }
            }
        }
    }
}

/// Whether an operation names a credential (an empty requirement alone is "none").
fn reads_credentials(op: &Operation) -> bool {
    op.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .ok()
            .and_then(|v| v.as_object().map(|m| !m.is_empty()))
            .unwrap_or(false)
    })
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Example values of the document, in one place: realistic, and accepted by the service
/// where a client sends them (tokens look like ours, ids are UUIDs, URLs are https).
pub(crate) mod examples {
    use serde_json::{Value, json};

    /// The tenant id of every example.
    pub const TENANT_ID: &str = "3f2b8c1e-6d4a-4b7e-9a51-2c0d8e7f6a13";
    /// A PERS access token (RS256, `typ: at+jwt`) of a `user` session, 15 minutes.
    pub const ACCESS_TOKEN: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1fQjZKOEVuQlo5WUpXSDl5UWNLQWZpSnhnTG5EZ3A3d041OEhQT3lLMkkifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiI4ZDFjNGU3YS0yYjVmLTRhOWUtYjNjNi0wZjdkMmUxYTliNTgiLCJhdWQiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJjbGllbnRfaWQiOiIzZjJiOGMxZS02ZDRhLTRiN2UtOWE1MS0yYzBkOGU3ZjZhMTMiLCJzY29wZSI6InBlcnM6dXNlciBwZXJzOnVzZXI6M2YyYjhjMWUtNmQ0YS00YjdlLTlhNTEtMmMwZDhlN2Y2YTEzIiwidGVuYW50SWQiOiIzZjJiOGMxZS02ZDRhLTRiN2UtOWE1MS0yYzBkOGU3ZjZhMTMiLCJhdXRoVHlwZSI6InVzZXIiLCJzaWQiOiI1ZTBjOGExZjJiM2Q0YzZlOWY3YThiMGMxZDJlM2Y0YSIsImp0aSI6ImExYjJjM2Q0ZTVmNjA3MTgyOTNhNGI1YzZkN2U4ZjkwIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjY1MDB9.Z5AO-meR64GjSR0LExbGPMb4Ugqs43edfdEb_qHWjeDNgjybCQzcKzsvPZwZPZ2azjHvyGYldYoEiJwwNclzqGLI6RLmtD0_xWWqvrhOXOJRosd7BJVRRvdrT0rVqw1_o907YEIu0FMMwqyMHsfeHcRhOMM7vZk2IHvEQe_ALyAVhI5BmtgF9Dr31nxzP78xJF04fx_E-IUHvZEEcqw42HdGVJp-jOQn6DqrQT0rd8u5vKsJB2cS17sG1qvzIb4s6SAZgWacRBZ5kR20P6feheUwZCVqFVmKhOruOXPTRqWTSFOcHuHmBJz1HXchq07ef7hf5YVqzZiwRPQ7o4CuLQ";
    /// A refresh token (HS256 with the internal key, `typ: refresh+jwt`).
    pub const REFRESH_TOKEN: &str = "eyJ0eXAiOiJyZWZyZXNoK2p3dCIsImFsZyI6IkhTMjU2Iiwia2lkIjoiaW50LVFtM3hWOGMyTGtQMHNUN3daMXlONGcifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiI4ZDFjNGU3YS0yYjVmLTRhOWUtYjNjNi0wZjdkMmUxYTliNTgiLCJhdWQiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vYXV0aC9yZWZyZXNoIiwidGVuYW50SWQiOiIzZjJiOGMxZS02ZDRhLTRiN2UtOWE1MS0yYzBkOGU3ZjZhMTMiLCJhdXRoVHlwZSI6InVzZXIiLCJ2aWEiOnsia2luZCI6InByb3ZpZGVyIiwiaXNzdWVyIjoiaHR0cHM6Ly9zaWduZXIuZXhhbXBsZS5jb20ifSwic2lkIjoiNWUwYzhhMWYyYjNkNGM2ZTlmN2E4YjBjMWQyZTNmNGEiLCJnZW4iOjEsImp0aSI6IjBmOWU4ZDdjNmI1YTQ5MzgyNzE2YTViNGMzZDJlMWYwIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3Njk4MTc2MDB9.1PsWkSORJrGkhTkqIN6Im9Irt2dGq4HKwQ6PhKmDaqE";
    /// A tenant-admin access token (`authType: tenant`), the bootstrap lifetime.
    pub const ADMIN_TOKEN: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1fQjZKOEVuQlo5WUpXSDl5UWNLQWZpSnhnTG5EZ3A3d041OEhQT3lLMkkifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiJ0ZW5hbnQtYWRtaW46M2YyYjhjMWUtNmQ0YS00YjdlLTlhNTEtMmMwZDhlN2Y2YTEzIiwiYXVkIjoiaHR0cHM6Ly9hdXRoLmV4YW1wbGUuY29tIiwiY2xpZW50X2lkIjoiM2YyYjhjMWUtNmQ0YS00YjdlLTlhNTEtMmMwZDhlN2Y2YTEzIiwic2NvcGUiOiJwZXJzOnRlbmFudCBwZXJzOnRlbmFudDozZjJiOGMxZS02ZDRhLTRiN2UtOWE1MS0yYzBkOGU3ZjZhMTMiLCJ0ZW5hbnRJZCI6IjNmMmI4YzFlLTZkNGEtNGI3ZS05YTUxLTJjMGQ4ZTdmNmExMyIsImF1dGhUeXBlIjoidGVuYW50Iiwic2lkIjoiMzMyNDhiMjYzZmFkNGYxZWIyN2MxZDY1MjE1ZDY3YTMiLCJqdGkiOiIyYzllY2QzM2U4M2Q0YTI0OTMyMTU4ZTAzZTZmYzZlNyIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MzEyMDAwfQ.gZ9tr9y5puqYR99DX4aGRFcB8zmhCJwQfTH7uM2HbNDMZajaEJAEvsgOpDiXOeI_WK_1NWLsHHv0n3xteXTYLY87PiEDqJ92CfSkc-41qfNkDSxtiXfd69Tcgqrf4hU3TyXG3OArhlSiox47vDUxTPYk2qrQoU2aHiF1dcyno90TQtOGpBwTIRGoMJj3T1FDjyGdUIGF47nvKU72QesqDjHraoZZVVEVjeE2DzCs_KGHOtoEnDOJoJKPCO0BaO4RBtPQXpwojdetE_Ewz2ToMHMLE5o_Wga3a_p3B-t1VKg4k9ncBxwrxGkThxEC-8dUSg6HqY4XOMurxkGd0gt7VQ";
    /// A login token (`typ: login+jwt`), five minutes.
    pub const LOGIN_TOKEN: &str = "eyJ0eXAiOiJsb2dpbitqd3QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1fQjZKOEVuQlo5WUpXSDl5UWNLQWZpSnhnTG5EZ3A3d041OEhQT3lLMkkifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiIzZjJiOGMxZS02ZDRhLTRiN2UtOWE1MS0yYzBkOGU3ZjZhMTMiLCJhdWQiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vbG9naW4iLCJ0ZW5hbnRJZCI6IjNmMmI4YzFlLTZkNGEtNGI3ZS05YTUxLTJjMGQ4ZTdmNmExMyIsImp0aSI6ImY2MzdjNjdmZTMzZDRjMWViNDJlMjI4NjUyZjBjY2JjIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjU5MDB9.eLoeA6kkh2v0U5co30uZHyzSh4qw-Hxxx-iuFIvTTSge3ZFanzXehaPsESIbvlWaJeT_avyX4V7SD_K7MFNtCDV20vt_tQc0XmEl3gY-0h9mkrgjK_HeqXL10aa4qwqpqk3BKh_KLKtgmMMkZ8U8AaJNiEEQHqDFZccjSkk4n4_17bJp1mMhNmpwrDoo28k5BogAerakAgVZvRvol7g1tIBTYcwf2U2bHbGbxrB9mHy150h-Vvxkypwi-8s9k8q-uhtWHahFMqYRssDX9WTlewjMXJ7Z42fpX1-IfIZNW7zv4luvYPi7uFmGzAOQRm3HbjHGYhHKL84sHDKQL93eoQ";
    /// A token of an identity provider (here an EdDSA signer service).
    pub const PROVIDER_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6InNpZ25lci0yMDI1LTAxIn0.eyJpc3MiOiJodHRwczovL3NpZ25lci5leGFtcGxlLmNvbSIsInN1YiI6ImRpZDprZXk6ejZNa2hhWGdCWkR2b3REa0w1MjU3ZmFpenRpR2lDMlF0S0xHcGJubkVHdGEyZG9LIiwiYXVkIjoicGVycyIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MjI1OTAwfQ.NSp57UlX5_xgYiigl06ahnRm3FwoTmZnrtze69mtHGG-dPYu3jT3J7hucnyZWOV7oyisDJutqBGMHchAFAE9Pw";

    /// The RSA modulus of the example signing key (2048 bits, base64url).
    const RSA_N: &str = "5Ccizm2aFaoRIBMMvIcBLIhQ8c0VXT1YbkOmWvU513l22oEPUjuA8HKJX8knpwsoSb2TsPnld4gRxzq7xunMMtepabaukmxQduImV3Pf1if2QvefkLhZSDDphdMZWVr3Rya90b_e3o6iy7Tf-YkDJmtfbpJNKr5Ez4qsIWZlVkXwd_SahTqCex5zah8Gjrnq-VHWhHUWSxdoDpVLwZos6hhmr-7fK3C4yZ_vXu0BfOzbmH0f_IMp_EMQUpwX9LNDWyX2zeSWLTSLprhftgpXN2xmN6V9hk6mL2Ex6oBevexLSOi44Bkz5gD5bZ-LR1HpVOiSXSDJhGwayXzLN0hXcw";
    /// The `kid` of the example signing key: its RFC 7638 thumbprint.
    pub const KID: &str = "M_B6J8EnBZ9YJWH9yQcKAfiJxgLnDgp7wN58HPOyK2I";

    pub fn kid() -> Value {
        json!(KID)
    }

    pub fn tenant_id() -> Value {
        json!(TENANT_ID)
    }

    pub fn access_token() -> Value {
        json!(ACCESS_TOKEN)
    }

    pub fn refresh_token() -> Value {
        json!(REFRESH_TOKEN)
    }

    pub fn admin_token() -> Value {
        json!(ADMIN_TOKEN)
    }

    pub fn login_token() -> Value {
        json!(LOGIN_TOKEN)
    }

    pub fn provider_token() -> Value {
        json!(PROVIDER_TOKEN)
    }

    pub fn rsa_modulus() -> Value {
        json!(RSA_N)
    }

    /// The public key of our example signing key, as the JWKS publishes it.
    pub fn signing_jwk() -> Value {
        json!({"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": RSA_N, "e": "AQAB"})
    }

    /// A provider's inline JWK Set: one P-256 public key for ES256 signatures.
    pub fn provider_jwks() -> Value {
        json!({"keys": [{
            "kty": "EC",
            "crv": "P-256",
            "kid": "acme-2025-01",
            "alg": "ES256",
            "use": "sig",
            "x": "piINYBMlABbYwgQC7j5IubpVeMid_YfYV-yquhnU29c",
            "y": "lYG9MrmBsTMfva_b5BMoHYHP951pyhplEY6y4D88CG8"
        }]})
    }

    /// An identity provider whose keys are fetched from its `jwksUri`.
    pub fn provider() -> Value {
        json!({
            "issuer": "https://login.acme.example.com/",
            "jwksUri": "https://login.acme.example.com/.well-known/jwks.json",
            "audience": "acme-rewards",
            "authTypes": ["user"],
            "algorithms": ["RS256"]
        })
    }

    pub fn providers() -> Value {
        json!([provider()])
    }

    /// The decoded claims of [`ACCESS_TOKEN`], as `/auth/verify` shows them.
    pub fn access_claims() -> Value {
        json!({
            "iss": "https://auth.example.com",
            "sub": "8d1c4e7a-2b5f-4a9e-b3c6-0f7d2e1a9b58",
            "aud": "https://auth.example.com",
            "client_id": TENANT_ID,
            "scope": format!("pers:user pers:user:{TENANT_ID}"),
            "tenantId": TENANT_ID,
            "authType": "user",
            "sid": "5e0c8a1f2b3d4c6e9f7a8b0c1d2e3f4a",
            "jti": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "iat": 1767225600,
            "exp": 1767226500
        })
    }

    pub fn claims_supported() -> Value {
        json!(super::super::verify::CLAIMS)
    }

    pub fn scopes_supported() -> Value {
        json!(crate::domain::AuthType::ALL.map(crate::token::scope_of))
    }

    pub fn signing_algorithms() -> Value {
        json!(["RS256"])
    }

    pub fn auth_types() -> Value {
        json!(["user"])
    }

    pub fn algorithms() -> Value {
        json!(["RS256"])
    }

    /// A `clientIpLocation` from a GeoIP City database.
    pub fn location() -> Value {
        json!({
            "country_code": "GB",
            "country_name": "United Kingdom",
            "region_code": "ENG",
            "region_name": "England",
            "city_name": "London",
            "postal_code": "EC1A",
            "latitude": 51.5142,
            "longitude": -0.0931,
            "accuracy_radius": 50
        })
    }

    pub fn raw_login_data() -> Value {
        json!({"nickname": "guest-4821", "locale": "en-GB"})
    }
}

/// The document's server for `pers-local` at its default address, which the served
/// document replaces with the address it was fetched from.
pub const LOCAL_DEFAULT_SERVER: &str = "http://127.0.0.1:3000";

pub(crate) fn is_local_default(url: &str) -> bool {
    url.trim_end_matches('/') == LOCAL_DEFAULT_SERVER
}
