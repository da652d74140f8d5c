//! The identity providers a tenant trusts, and what makes one acceptable.

use serde::{Deserialize, Serialize};

use super::patch::{FieldError, MAX_TEXT, storable_json, web_url};
use crate::domain::AuthType;

const MAX_PROVIDERS: usize = 10;

/// A signature algorithm a tenant may allow for its identity provider: asymmetric only,
/// so that no provider's public key can be used as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

/// An identity provider a tenant trusts, as stored and as an admin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityProvider {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// An inline JWK Set (`{"keys": [...]}`), public keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub auth_types: Vec<AuthType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<ProviderAlgorithm>>,
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
