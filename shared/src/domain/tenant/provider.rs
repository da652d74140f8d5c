//! The identity providers a tenant trusts, and what makes one acceptable.

use serde::{Deserialize, Serialize};

use super::patch::{FieldError, MAX_TEXT, storable_json, web_url};
use crate::domain::AuthType;

const MAX_PROVIDERS: usize = 10;

/// A signature algorithm a tenant may allow for its identity provider: asymmetric only,
/// so that no provider's public key can be used as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = "RS256")]
pub enum ProviderAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl ProviderAlgorithm {
    /// Every algorithm, which is also what a provider that names none allows.
    pub const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

/// An identity provider a tenant trusts, as stored and as an admin sees it. Its
/// OpenAPI schema is [`ProviderSchema`]'s, which can say that exactly one of `jwksUri`
/// and `jwks` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityProvider {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// An inline JWK Set (`{"keys": [...]}`), public keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub auth_types: Vec<AuthType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<ProviderAlgorithm>>,
}

impl utoipa::PartialSchema for IdentityProvider {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ProviderSchema::schema()
    }
}

impl utoipa::ToSchema for IdentityProvider {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <ProviderSchema as utoipa::ToSchema>::schemas(schemas);
    }
}

/// Schema only: an identity provider that the tenant trusts, whose keys are either
/// fetched from a URL or given inline (exactly one of `jwksUri` and `jwks`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(
    description = "An identity provider that the tenant trusts: its keys are fetched from \
        `jwksUri` or given inline in `jwks` (exactly one of the two).",
    example = crate::http::openapi::examples::provider
)]
#[allow(dead_code)]
enum ProviderSchema {
    Fetched(FetchedKeysProvider),
    Inline(InlineKeysProvider),
}

/// Schema only: a provider whose keys the service fetches from `jwksUri`, and caches
/// as the answer's `Cache-Control` allows (refetched on an unknown `kid` at most once a
/// minute).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    title = "Provider with a JWKS URL",
    description = "A provider whose keys the service fetches from `jwksUri` and caches as \
        the answer's `Cache-Control` allows (refetched on an unknown `kid` at most once a \
        minute).",
    example = crate::http::openapi::examples::provider
)]
#[allow(dead_code)]
struct FetchedKeysProvider {
    #[serde(flatten)]
    terms: ProviderTerms,
    /// The URL of the provider's JWK Set: `https` (a public host, once deployed), or
    /// `http` on a loopback host for local development.
    #[schema(
        pattern = r"^(https://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*|http://(localhost|127\.0\.0\.1|\[::1\]))(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s\u0000-\u001f\u007f-\u009f]*)?$",
        example = "https://login.acme.example.com/.well-known/jwks.json"
    )]
    jwks_uri: String,
}

/// Schema only: a provider whose public keys are given here.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(title = "Provider with inline keys", description = "A provider whose public keys are given here.", example = json!({
    "issuer": "https://login.acme.example.com/",
    "jwks": crate::http::openapi::examples::provider_jwks(),
    "audience": "acme-rewards",
    "authTypes": ["user"],
    "algorithms": ["ES256"]
}))]
#[allow(dead_code)]
struct InlineKeysProvider {
    #[serde(flatten)]
    terms: ProviderTerms,
    /// The provider's JWK Set, `{"keys": [...]}`: at least one key, and every key a
    /// public key meant for signatures (`use` absent or `sig`, `key_ops` absent or
    /// with `verify`) that can verify one of the provider's algorithms.
    #[schema(example = crate::http::openapi::examples::provider_jwks)]
    jwks: InlineJwks,
}

/// Schema only: an inline JWK Set (RFC 7517 §5).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(
    description = "An inline JWK Set (RFC 7517 §5) of public keys.",
    example = crate::http::openapi::examples::provider_jwks
)]
#[allow(dead_code)]
struct InlineJwks {
    /// The provider's public keys (JWKs: `kty` and the members of its type, and
    /// optionally `kid`, `alg`, `use`, `key_ops`).
    #[schema(min_items = 1, value_type = Vec<Object>, example = json!([
        crate::http::openapi::examples::provider_jwks()["keys"][0]
    ]))]
    keys: Vec<serde_json::Value>,
}

/// Schema only: what every provider names besides its keys.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ProviderTerms {
    /// The provider's `iss`, exactly as its tokens carry it; unique among the tenant's
    /// providers, and neither this service's issuer nor a built-in provider's. At most
    /// 1024 bytes.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "https://login.acme.example.com/"
    )]
    issuer: String,
    /// The `aud` the provider's tokens must carry (as a string, or in an array); when
    /// absent, `aud` is not checked. At most 1024 bytes.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "acme-rewards"
    )]
    audience: Option<String>,
    /// The kinds of session this provider's tokens may open at `POST /auth/token`; at
    /// least one.
    #[schema(min_items = 1, example = crate::http::openapi::examples::auth_types)]
    auth_types: Vec<AuthType>,
    /// The algorithms the provider's tokens may be signed with; when absent, every
    /// algorithm listed here.
    #[schema(
        min_items = 1,
        default = json!(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]),
        example = crate::http::openapi::examples::algorithms
    )]
    algorithms: Option<Vec<ProviderAlgorithm>>,
}

impl IdentityProvider {
    /// The algorithms this provider's tokens may use.
    pub fn allowed_algorithms(&self) -> Vec<jsonwebtoken::Algorithm> {
        self.algorithms
            .as_deref()
            .unwrap_or(&ProviderAlgorithm::ALL)
            .iter()
            .map(|a| a.jwt())
            .collect()
    }
}

pub(super) fn identity_providers(
    list: Vec<IdentityProvider>,
) -> Result<Vec<IdentityProvider>, FieldError> {
    if list.len() > MAX_PROVIDERS {
        return Err(FieldError::new(
            "identityProviders",
            format!("at most {MAX_PROVIDERS} providers"),
        ));
    }
    for (i, p) in list.iter().enumerate() {
        if list[..i].iter().any(|q| q.issuer == p.issuer) {
            return Err(FieldError::new(
                format!("identityProviders[{i}].issuer"),
                "is already the issuer of another provider",
            ));
        }
    }
    list.into_iter()
        .enumerate()
        .map(|(i, p)| identity_provider(&format!("identityProviders[{i}]"), p))
        .collect()
}

fn identity_provider(at: &str, p: IdentityProvider) -> Result<IdentityProvider, FieldError> {
    if p.issuer.trim().is_empty() || p.issuer.len() > MAX_TEXT {
        return Err(FieldError::new(
            format!("{at}.issuer"),
            "must be a non-empty string",
        ));
    }
    match (&p.jwks_uri, &p.jwks) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(FieldError::new(
                at,
                "exactly one of jwksUri and jwks is required",
            ));
        }
        (Some(uri), None) => {
            web_url(&format!("{at}.jwksUri"), uri)?;
        }
        (None, Some(_)) => {}
    }
    if let Some(aud) = &p.audience
        && (aud.trim().is_empty() || aud.len() > MAX_TEXT)
    {
        return Err(FieldError::new(
            format!("{at}.audience"),
            "must be a non-empty string",
        ));
    }
    if p.auth_types.is_empty() {
        return Err(FieldError::new(
            format!("{at}.authTypes"),
            "must name at least one auth type",
        ));
    }
    // An unknown name never gets here: it is not a `ProviderAlgorithm`.
    if p.algorithms.as_ref().is_some_and(Vec::is_empty) {
        return Err(FieldError::new(
            format!("{at}.algorithms"),
            "must not be empty (omit it for the default)",
        ));
    }
    if let Some(jwks) = &p.jwks {
        inline_jwks(&format!("{at}.jwks"), jwks, &p.allowed_algorithms())?;
    }
    Ok(p)
}

/// An inline JWK Set must hold at least one key, and every key must be able to verify a
/// token of one of the provider's algorithms: public, meant for signatures, well formed
/// ([`crate::token::jwk`]). A key that never could would make every login fail later.
fn inline_jwks(
    field: &str,
    jwks: &serde_json::Value,
    algorithms: &[jsonwebtoken::Algorithm],
) -> Result<(), FieldError> {
    storable_json(field, jwks)?;
    crate::token::jwk::PublicKeys::strict(jwks, algorithms)
        .map(|_| ())
        .map_err(|(at, why)| match at {
            Some(i) => FieldError::new(format!("{field}.keys[{i}]"), why),
            None => FieldError::new(field, why),
        })
}
