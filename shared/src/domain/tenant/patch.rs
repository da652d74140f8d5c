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
///
/// In the schema: a text field must hold a character other than white space (send
/// `null` to clear it), URLs are `https` (or `http` on a loopback host) without user
/// name or password, and lengths count characters.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPatch {
    /// The tenant's (project's) name, shown to its users; surrounding white space is
    /// trimmed, and it may hold no control characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$",
        example = "Acme Rewards"
    )]
    pub project_name: Option<String>,
    /// A description of the tenant's programme, shown publicly; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 2000,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "Points for every coffee at Acme's shops, redeemable for rewards."
    )]
    pub project_description: Option<Option<String>>,
    /// The tenant's website, shown publicly; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"^(https://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*|http://(localhost|127\.0\.0\.1|\[::1\]))(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s\u0000-\u001f\u007f-\u009f]*)?$",
        example = "https://acme.example.com"
    )]
    pub project_website: Option<Option<String>>,
    /// The tenant's contact email address, shown publicly; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(format = Email, max_length = 1024, example = "rewards@acme.example.com")]
    pub project_email: Option<Option<String>>,
    /// The URL of the tenant's logo or image, shown publicly; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"^(https://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*|http://(localhost|127\.0\.0\.1|\[::1\]))(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s\u0000-\u001f\u007f-\u009f]*)?$",
        example = "https://acme.example.com/logo.png"
    )]
    pub project_image_url: Option<Option<String>>,
    /// The tenant's Stripe secret key, for payments; only its admin sees it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
    )]
    pub stripe_api_key: Option<Option<String>>,
    /// The secret that signs the tenant's Stripe webhooks; only its admin sees it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "whsec_5f8a1c2d3e4b5a6978c0d1e2f3a4b5c6"
    )]
    pub stripe_webhook_secret: Option<Option<String>>,
    /// The tenant's Stripe publishable key, for its client-side code.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "pk_test_TYooMQauvdEDq54NiTphI7jx"
    )]
    pub stripe_publishable_key: Option<Option<String>>,
    /// An optional extra value for the tenant's own login requirements; only its admin sees it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "acme-login-2025"
    )]
    pub login_token: Option<Option<String>>,
    /// Sandbox mode: whether `POST /auth/token` may sign in unauthenticated users from
    /// `rawLoginData` without verifying a token. Turning it off ends the refresh of the
    /// sandbox sessions.
    #[serde(
        rename = "allowJWTForUnauthenticatedUsers",
        default,
        deserialize_with = "present"
    )]
    #[schema(nullable = false, example = false)]
    pub allow_jwt_for_unauthenticated_users: Option<bool>,
    /// The tenant's Firebase (Identity Platform) tenant id: when set, admin tokens of the built-in Firebase provider must carry it as `firebase.tenant`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "acme-rewards-k3j9d"
    )]
    pub firebase_tenant_id: Option<Option<String>>,
    /// The tenant's Infura API key, for its client-side code's web3 provider.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "9aa3d95b3bc440fa88ea12eaa4456161"
    )]
    pub infura_api_key: Option<Option<String>>,
    /// The tenant's PolygonScan API key, for its client-side code.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        max_length = 1024,
        pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "YZ1X9K3N7QW2E5R8T4U6I0O1P2A3S4D5F6"
    )]
    pub poly_scan_api_key: Option<Option<String>>,
    /// Who holds the keys of the wallets created for the tenant's users.
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, value_type = WalletManagementType, example = "custodial")]
    pub default_wallet_management_type: Option<WalletManagementType>,
    /// The identity providers the tenant trusts at `POST /auth/token`, besides the
    /// platform's built-in ones: at most 10, each with a distinct `issuer`. The list
    /// replaces the current one; removing a provider, or an auth type from it, ends the
    /// refresh of the sessions it opened.
    #[serde(default, deserialize_with = "present_objects")]
    #[schema(
        nullable = false,
        max_items = 10,
        example = crate::http::openapi::examples::providers
    )]
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
