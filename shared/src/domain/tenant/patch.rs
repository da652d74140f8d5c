//! The update of a tenant (`PUT /tenants`, and the optional part of `POST /tenants`)
//! and the validation of every field it sets.

use std::fmt;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::provider::{IdentityProvider, identity_providers};
use super::{Tenant, WalletManagementType};

/// A field that failed validation, named as the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub(super) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Present-and-null is `Some(None)` (clear the field); absent is `None` (leave it).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be omitted but not sent as null.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A struct read from a JSON object only: serde's derive reads one from an array too
/// (`[["https://i", …]]` as a provider), which no client means.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

/// A list of objects that may be omitted but not sent as null.
fn present_objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::<ObjectOnly<T>>::deserialize(d).map(|items| Some(items.into_iter().map(|o| o.0).collect()))
}

/// The body of `PUT /tenants` (and the optional part of `POST /tenants`): every field
/// optional, unknown fields rejected by name.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 120)]
    pub project_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub project_description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub project_website: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub project_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub project_image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub stripe_api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub stripe_webhook_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub stripe_publishable_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub login_token: Option<Option<String>>,
    #[serde(
        rename = "allowJWTForUnauthenticatedUsers",
        default,
        deserialize_with = "present"
    )]
    #[schema(nullable = false)]
    pub allow_jwt_for_unauthenticated_users: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub firebase_tenant_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub infura_api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub poly_scan_api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub default_wallet_management_type: Option<WalletManagementType>,
    #[serde(default, deserialize_with = "present_objects")]
    #[schema(nullable = false)]
    pub identity_providers: Option<Vec<IdentityProvider>>,
}

const MAX_NAME: usize = 120;
const MAX_DESCRIPTION: usize = 2000;
pub(super) const MAX_TEXT: usize = 1024;

fn project_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new("projectName", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(FieldError::new(
            "projectName",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "projectName",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Err(FieldError::new(
            field,
            "must not be empty (send null to clear it)",
        )),
        Some(v) if v.chars().count() > max => Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}

/// An absolute `https` URL, or `http` on a loopback host (local development only).
pub(super) fn web_url(field: &str, raw: &str) -> Result<Url, FieldError> {
    let url = Url::parse(raw).map_err(|e| FieldError::new(field, format!("not a URL ({e})")))?;
    // A URL is stored, shown to admins and logged: it must carry no credentials.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            "must not hold a user name or password",
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(FieldError::new(field, "must be an https URL")),
    }
}

fn optional_url(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match text(field, value, MAX_TEXT)? {
        None => Ok(None),
        Some(v) => web_url(field, &v).map(|_| Some(v)),
    }
}

fn email(value: Option<String>) -> Result<Option<String>, FieldError> {
    match text("projectEmail", value, MAX_TEXT)? {
        Some(v) if !email_address::EmailAddress::is_valid(&v) => {
            Err(FieldError::new("projectEmail", "not a valid email address"))
        }
        other => Ok(other),
    }
}

/// Nesting deeper than this is refused in client JSON that is stored as it is.
const MAX_JSON_DEPTH: usize = 16;

/// Checks JSON that a client sends to be stored as it is (`rawLoginData`, inline JWKS)
/// against what both stores can keep, so that it is a `400` here rather than a write
/// that DynamoDB refuses: at most 16 levels deep, no empty member names, and numbers
/// within DynamoDB's range (zero, or a magnitude from 1e-130 to below 1e125).
pub fn storable_json(field: &str, value: &serde_json::Value) -> Result<(), FieldError> {
    fn walk(field: &str, value: &serde_json::Value, depth: usize) -> Result<(), FieldError> {
        use serde_json::Value;
        if depth > MAX_JSON_DEPTH {
            return Err(FieldError::new(
                field,
                format!("must be nested at most {MAX_JSON_DEPTH} levels deep"),
            ));
        }
        match value {
            Value::Number(n) => match n.as_f64() {
                Some(x) if x == 0.0 || (1e-130..1e125).contains(&x.abs()) => Ok(()),
                _ => Err(FieldError::new(field, "holds a number out of range")),
            },
            Value::Array(items) => items.iter().try_for_each(|v| walk(field, v, depth + 1)),
            Value::Object(members) => members.iter().try_for_each(|(k, v)| {
                if k.is_empty() {
                    Err(FieldError::new(field, "holds an empty member name"))
                } else {
                    walk(field, v, depth + 1)
                }
            }),
            Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        }
    }
    walk(field, value, 1)
}

impl TenantPatch {
    /// Applies the patch to a copy of `tenant`: either every field is valid and the
    /// updated tenant is returned, or nothing changes and the first bad field is named.
    pub fn apply(self, tenant: &Tenant) -> Result<Tenant, FieldError> {
        let mut t = tenant.clone();
        if let Some(name) = self.project_name {
            t.project_name = project_name(&name)?;
        }
        if let Some(v) = self.project_description {
            t.project_description = text("projectDescription", v, MAX_DESCRIPTION)?;
        }
        if let Some(v) = self.project_website {
            t.project_website = optional_url("projectWebsite", v)?;
        }
        if let Some(v) = self.project_email {
            t.project_email = email(v)?;
        }
        if let Some(v) = self.project_image_url {
            t.project_image_url = optional_url("projectImageUrl", v)?;
        }
        let texts = [
            ("stripeApiKey", self.stripe_api_key, &mut t.stripe_api_key),
            (
                "stripeWebhookSecret",
                self.stripe_webhook_secret,
                &mut t.stripe_webhook_secret,
            ),
            (
                "stripePublishableKey",
                self.stripe_publishable_key,
                &mut t.stripe_publishable_key,
            ),
            ("loginToken", self.login_token, &mut t.login_token),
            (
                "firebaseTenantId",
                self.firebase_tenant_id,
                &mut t.firebase_tenant_id,
            ),
            ("infuraApiKey", self.infura_api_key, &mut t.infura_api_key),
            (
                "polyScanApiKey",
                self.poly_scan_api_key,
                &mut t.poly_scan_api_key,
            ),
        ];
        for (field, patch, slot) in texts {
            if let Some(v) = patch {
                *slot = text(field, v, MAX_TEXT)?;
            }
        }
        if let Some(v) = self.allow_jwt_for_unauthenticated_users {
            t.allow_jwt_for_unauthenticated_users = v;
        }
        if let Some(v) = self.default_wallet_management_type {
            t.default_wallet_management_type = v;
        }
        if let Some(list) = self.identity_providers {
            t.identity_providers = identity_providers(list)?;
        }
        Ok(t)
    }

    /// The validated project name of a creation request, which requires one.
    pub fn required_project_name(&self) -> Result<String, FieldError> {
        match &self.project_name {
            Some(name) => project_name(name),
            None => Err(FieldError::new("projectName", "is required")),
        }
    }
}
