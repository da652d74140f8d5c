use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::KeyHash;

/// A tenant's id: a UUID in its hyphenated lowercase form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Accepts only what [`TenantId::generate`] produces, so a path segment can never
    /// smuggle anything into a storage key.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = uuid::Uuid::try_parse(raw).ok()?.hyphenated().to_string();
        (id == raw).then_some(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("not a tenant id: {raw:?}"))
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum WalletManagementType {
    #[default]
    #[serde(rename = "custodial")]
    Custodial,
    #[serde(rename = "non-custodial")]
    NonCustodial,
}

/// The kind of session a caller asks for at `POST /auth/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    User,
    Business,
    Tenant,
    System,
    External,
}

/// Signature algorithms a tenant may allow for its identity provider: asymmetric only.
const PROVIDER_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

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
    pub algorithms: Option<Vec<String>>,
}

/// A tenant as stored. The HTTP layer decides which parts a caller may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub project_name: String,
    pub acronym: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub project_description: Option<String>,
    pub project_website: Option<String>,
    pub project_email: Option<String>,
    pub project_image_url: Option<String>,
    pub project_api_key: String,
    pub testnet_project_api_key: String,
    pub stripe_api_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_publishable_key: Option<String>,
    pub login_token: Option<String>,
    #[serde(rename = "allowJWTForUnauthenticatedUsers")]
    pub allow_jwt_for_unauthenticated_users: bool,
    pub firebase_tenant_id: Option<String>,
    pub infura_api_key: Option<String>,
    pub poly_scan_api_key: Option<String>,
    pub default_wallet_management_type: WalletManagementType,
    #[serde(default)]
    pub identity_providers: Vec<IdentityProvider>,
    /// Hash of `apiPrivateKey`; the key itself is shown once, at creation.
    pub api_private_key_hash: KeyHash,
    /// Optimistic-concurrency counter: every update moves it by one.
    pub version: u64,
}

/// A field that failed validation, named as the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
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
const MAX_TEXT: usize = 1024;
const MAX_PROVIDERS: usize = 10;

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
fn web_url(field: &str, raw: &str) -> Result<Url, FieldError> {
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

fn identity_providers(list: Vec<IdentityProvider>) -> Result<Vec<IdentityProvider>, FieldError> {
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
    if let Some(algs) = &p.algorithms {
        if algs.is_empty() {
            return Err(FieldError::new(
                format!("{at}.algorithms"),
                "must not be empty (omit it for the default)",
            ));
        }
        if let Some(bad) = algs
            .iter()
            .find(|a| !PROVIDER_ALGORITHMS.contains(&a.as_str()))
        {
            return Err(FieldError::new(
                format!("{at}.algorithms"),
                format!(
                    "{bad:?} is not allowed; use one of {}",
                    PROVIDER_ALGORITHMS.join(", ")
                ),
            ));
        }
    }
    if let Some(jwks) = &p.jwks {
        inline_jwks(&format!("{at}.jwks"), jwks, p.algorithms.as_deref())?;
    }
    Ok(p)
}

/// An inline JWK Set must parse, hold at least one key, and hold no private or
/// symmetric key material.
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

/// An inline JWK Set must hold at least one key, and every key must be able to verify a
/// token of one of the provider's algorithms: public, meant for signatures, well formed
/// ([`crate::token::jwk`]). A key that never could would make every login fail later.
fn inline_jwks(
    field: &str,
    jwks: &serde_json::Value,
    algorithms: Option<&[String]>,
) -> Result<(), FieldError> {
    storable_json(field, jwks)?;
    let names: Vec<&str> = match algorithms {
        Some(named) => named.iter().map(String::as_str).collect(),
        None => PROVIDER_ALGORITHMS.to_vec(),
    };
    let algorithms: Vec<jsonwebtoken::Algorithm> =
        names.iter().filter_map(|name| name.parse().ok()).collect();
    crate::token::jwk::PublicKeys::strict(jwks, &algorithms)
        .map(|_| ())
        .map_err(|(at, why)| match at {
            Some(i) => FieldError::new(format!("{field}.keys[{i}]"), why),
            None => FieldError::new(field, why),
        })
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

/// An acronym from the name: initials of up to five words, or the first three letters
/// of a one-word name, upper-cased; `T` when the name has no letters or digits.
pub fn derive_acronym(name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let acronym: String = match words.as_slice() {
        [] => "T".to_owned(),
        [one] => one.chars().take(3).collect(),
        many => many
            .iter()
            .take(5)
            .filter_map(|w| w.chars().next())
            .collect(),
    };
    acronym.to_uppercase()
}

#[cfg(test)]
impl Tenant {
    /// A valid tenant, for unit tests elsewhere in the crate.
    pub(crate) fn sample() -> Self {
        tests::sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Tenant {
        Tenant {
            id: TenantId::generate(),
            project_name: "Acme Rewards".into(),
            acronym: "AR".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            project_description: None,
            project_website: None,
            project_email: None,
            project_image_url: None,
            project_api_key: "pk_live_x".into(),
            testnet_project_api_key: "pk_test_x".into(),
            stripe_api_key: None,
            stripe_webhook_secret: None,
            stripe_publishable_key: None,
            login_token: None,
            allow_jwt_for_unauthenticated_users: false,
            firebase_tenant_id: None,
            infura_api_key: None,
            poly_scan_api_key: None,
            default_wallet_management_type: WalletManagementType::Custodial,
            identity_providers: vec![],
            api_private_key_hash: KeyHash::of("sk"),
            version: 1,
        }
    }

    fn patch(json: serde_json::Value) -> Result<TenantPatch, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn err_field(json: serde_json::Value) -> String {
        patch(json).unwrap().apply(&sample()).unwrap_err().field
    }

    #[test]
    fn only_json_both_stores_can_keep_is_storable() {
        use serde_json::json;
        assert!(
            storable_json(
                "x",
                &json!({"a": [1, 2.5, -3e100, 0, "s", null, {"b": true}]})
            )
            .is_ok()
        );
        let mut deep = json!(1);
        for _ in 0..16 {
            deep = json!([deep]);
        }
        assert_eq!(storable_json("x", &deep).unwrap_err().field, "x");
        assert!(storable_json("x", &json!({"n": 1e200})).is_err());
        assert!(storable_json("x", &json!({"n": 1e-200})).is_err());
        assert!(storable_json("x", &json!({"": 1})).is_err());
    }

    #[test]
    fn tenant_ids_round_trip_and_reject_anything_else() {
        let id = TenantId::generate();
        assert_eq!(TenantId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(TenantId::parse("TENANT#x"), None);
        assert_eq!(TenantId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(TenantId::parse(""), None);
    }

    #[test]
    fn acronyms_come_from_initials_or_the_first_letters() {
        assert_eq!(derive_acronym("My Project"), "MP");
        assert_eq!(derive_acronym("acme"), "ACM");
        assert_eq!(derive_acronym("the big blue coffee shop co"), "TBBCS");
        assert_eq!(derive_acronym("  !!  "), "T");
        assert_eq!(derive_acronym("café-bar"), "CB");
    }

    #[test]
    fn a_valid_patch_changes_only_what_it_names() {
        let before = sample();
        let after = patch(serde_json::json!({
            "projectName": "  New Name ",
            "projectEmail": "ops@example.com",
            "projectWebsite": "https://example.com",
            "allowJWTForUnauthenticatedUsers": true,
            "defaultWalletManagementType": "non-custodial"
        }))
        .unwrap()
        .apply(&before)
        .unwrap();
        assert_eq!(after.project_name, "New Name");
        assert_eq!(after.project_email.as_deref(), Some("ops@example.com"));
        assert!(after.allow_jwt_for_unauthenticated_users);
        assert_eq!(
            after.default_wallet_management_type,
            WalletManagementType::NonCustodial
        );
        assert_eq!(after.project_api_key, before.project_api_key);
        assert_eq!(after.acronym, before.acronym);
    }

    #[test]
    fn null_clears_an_optional_field_and_absence_keeps_it() {
        let mut before = sample();
        before.project_description = Some("old".into());
        before.login_token = Some("keep".into());
        let after = patch(serde_json::json!({"projectDescription": null}))
            .unwrap()
            .apply(&before)
            .unwrap();
        assert_eq!(after.project_description, None);
        assert_eq!(after.login_token.as_deref(), Some("keep"));
    }

    #[test]
    fn invalid_values_name_their_field() {
        use serde_json::json;
        assert_eq!(err_field(json!({"projectName": "   "})), "projectName");
        assert_eq!(
            err_field(json!({"projectEmail": "not-an-email"})),
            "projectEmail"
        );
        assert_eq!(
            err_field(json!({"projectWebsite": "ftp://x.org"})),
            "projectWebsite"
        );
        assert_eq!(
            err_field(json!({"projectImageUrl": "nope"})),
            "projectImageUrl"
        );
        assert_eq!(err_field(json!({"stripeApiKey": ""})), "stripeApiKey");
        assert_eq!(
            err_field(json!({"projectDescription": "x".repeat(2001)})),
            "projectDescription"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_rejected_by_serde() {
        let e = patch(serde_json::json!({"projectNam": "x"})).unwrap_err();
        assert!(e.to_string().contains("projectNam"), "{e}");
        assert!(patch(serde_json::json!({"allowJWTForUnauthenticatedUsers": "yes"})).is_err());
        assert!(patch(serde_json::json!({"defaultWalletManagementType": "CUSTODIAL"})).is_err());
        assert!(patch(serde_json::json!({"projectName": null})).is_err());
    }

    #[test]
    fn identity_providers_are_validated() {
        use serde_json::json;
        let ok = json!({"identityProviders": [{
            "issuer": "https://issuer.example",
            "jwksUri": "https://issuer.example/jwks.json",
            "audience": "my-app",
            "authTypes": ["user"],
            "algorithms": ["RS256", "ES256"]
        }]});
        let t = patch(ok).unwrap().apply(&sample()).unwrap();
        assert_eq!(t.identity_providers.len(), 1);

        let both = json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "https://i/j", "jwks": {"keys": []}, "authTypes": ["user"]
        }]});
        assert_eq!(err_field(both), "identityProviders[0]");
        let hmac = json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": ["user"], "algorithms": ["HS256"]
        }]});
        assert_eq!(err_field(hmac), "identityProviders[0].algorithms");
        let no_types = json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": []
        }]});
        assert_eq!(err_field(no_types), "identityProviders[0].authTypes");
        let userinfo = json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "https://user:pass@issuer.example/j", "authTypes": ["user"]
        }]});
        assert_eq!(err_field(userinfo), "identityProviders[0].jwksUri");
        let plain_http = json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "http://issuer.example/j", "authTypes": ["user"]
        }]});
        assert_eq!(err_field(plain_http), "identityProviders[0].jwksUri");
        let private = json!({"identityProviders": [{
            "issuer": "https://i", "authTypes": ["user"],
            "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
        }]});
        assert!(err_field(private).starts_with("identityProviders[0].jwks"));
    }

    #[test]
    fn loopback_http_is_allowed_for_local_development() {
        let local = serde_json::json!({"identityProviders": [{
            "issuer": "http://127.0.0.1:9999", "jwksUri": "http://127.0.0.1:9999/jwks", "authTypes": ["user"]
        }]});
        assert!(patch(local).unwrap().apply(&sample()).is_ok());
    }

    #[test]
    fn a_provider_is_read_from_an_object_only() {
        let as_array =
            serde_json::json!({"identityProviders": [["https://i", null, null, null, ["user"]]]});
        let e = patch(as_array).unwrap_err().to_string();
        assert!(e.contains("JSON object"), "{e}");
        let typo = serde_json::json!({"identityProviders": [{
            "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": ["user"], "audiences": "x"
        }]});
        assert!(patch(typo).unwrap_err().to_string().contains("audiences"));
    }

    #[test]
    fn creation_requires_a_project_name() {
        assert_eq!(
            TenantPatch::default()
                .required_project_name()
                .unwrap_err()
                .field,
            "projectName"
        );
    }
}
