//! Settings, typed and validated once at start. A missing or invalid setting is an
//! error naming the variable, so a function stops at init instead of failing requests.

use std::path::PathBuf;
use std::time::Duration;

use crate::keys::SigningAlgorithm;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Where the service runs. The binary says so (the Lambda functions through
/// [`crate::runtime`], `pers-local` itself); no setting can change it. It decides what
/// tenants' URLs may reach ([`crate::net::Reach`]) and whether they may be plain `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// `pers-local`, on a developer's machine: its tenants are its own developer.
    Local,
    /// A Lambda function behind API Gateway.
    Lambda,
}

/// How the service issues and checks its own tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `iss` of every token issued, and the only issuer our own tokens are accepted from.
    pub issuer: String,
    /// `aud` of our access tokens: the issuer itself, so API Gateway's JWT authorizer
    /// can be configured with one value.
    pub audience: String,
    /// `aud` of our refresh tokens (`<issuer>/auth/refresh`, the one route that takes
    /// them), so that no verifier configured with [`Self::audience`] accepts one.
    pub refresh_audience: String,
    /// `aud` of the tokens of `GET /tenants/login-token` (`<issuer>/login`), likewise.
    pub login_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_grace: Duration,
    /// Lifetime of the tenant-admin token handed out once by `POST /tenants`.
    pub tenant_admin_token_ttl: Duration,
    /// Lifetime of `GET /tenants/login-token` tokens (fixed by the contract).
    pub login_token_ttl: Duration,
    /// Algorithm of newly generated signing keys.
    pub signing_algorithm: SigningAlgorithm,
    /// The platform's built-in identity providers (deploy-time configuration).
    pub builtin_providers: BuiltinProviders,
    /// How long a function uses its cached signing keys before reloading them (in the
    /// background of a request that signs or verifies; before answering, for the JWKS,
    /// which is never older than this while Secrets Manager answers, and is sent
    /// `no-cache` when it could not be reloaded); also the JWKS `Cache-Control: max-age`. With
    /// Secrets Manager it is the keys' publication lag: a key is in every function's
    /// JWKS this long after its creation.
    pub key_refresh_interval: Duration,
    /// How long a newly current key is in every JWKS before it signs (counted after
    /// its publication lag, [`crate::keys::activation_time`]): longer than any
    /// verifier's view of the JWKS may be old, so every verifier knows a key before any
    /// token carries it. The default is [`default_activation_delay`].
    pub key_activation_delay: Duration,
    /// A GeoIP database (MaxMind DB format) for `clientIpLocation`, when configured.
    pub geoip_database: Option<PathBuf>,
}

/// The signer service (trusted for `user` sessions) and Firebase (trusted for `tenant`
/// admin sessions), each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinProviders {
    pub signer: Option<SignerProvider>,
    pub firebase: Option<FirebaseProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerProvider {
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirebaseProvider {
    pub project_id: String,
    pub jwks_uri: String,
}

/// Where Firebase Auth publishes the keys of its ID tokens.
pub const FIREBASE_JWKS_URI: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

pub const SIGNER_ISSUER: &str = "PERS_SIGNER_ISSUER";
pub const SIGNER_JWKS_URI: &str = "PERS_SIGNER_JWKS_URI";
pub const SIGNER_AUDIENCE: &str = "PERS_SIGNER_AUDIENCE";
pub const FIREBASE_PROJECT_ID: &str = "PERS_FIREBASE_PROJECT_ID";
pub const FIREBASE_JWKS: &str = "PERS_FIREBASE_JWKS_URI";

fn jwks_url(variable: &'static str, raw: String) -> Result<String, ConfigError> {
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(raw),
        _ => Err(ConfigError {
            variable,
            problem: format!("must be an http(s) URL, got {raw:?}"),
        }),
    }
}

impl BuiltinProviders {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let signer = match (lookup(SIGNER_ISSUER), lookup(SIGNER_JWKS_URI)) {
            (None, None) => None,
            (Some(issuer), Some(uri)) => Some(SignerProvider {
                issuer,
                jwks_uri: jwks_url(SIGNER_JWKS_URI, uri)?,
                audience: lookup(SIGNER_AUDIENCE),
            }),
            (Some(_), None) => required(lookup, SIGNER_JWKS_URI).map(|_| None)?,
            (None, Some(_)) => required(lookup, SIGNER_ISSUER).map(|_| None)?,
        };
        let firebase = match lookup(FIREBASE_PROJECT_ID) {
            None => None,
            Some(project_id) => Some(FirebaseProvider {
                project_id,
                jwks_uri: jwks_url(
                    FIREBASE_JWKS,
                    lookup(FIREBASE_JWKS).unwrap_or_else(|| FIREBASE_JWKS_URI.to_owned()),
                )?,
            }),
        };
        Ok(Self { signer, firebase })
    }
}

pub const ISSUER: &str = "PERS_ISSUER";
pub const ACCESS_TTL: &str = "PERS_ACCESS_TOKEN_TTL_SECONDS";
pub const REFRESH_TTL: &str = "PERS_REFRESH_TOKEN_TTL_SECONDS";
pub const REFRESH_GRACE: &str = "PERS_REFRESH_GRACE_SECONDS";
pub const TENANT_ADMIN_TTL: &str = "PERS_TENANT_ADMIN_TOKEN_TTL_SECONDS";
pub const SIGNING_ALGORITHM: &str = "PERS_SIGNING_ALGORITHM";
pub const KEY_REFRESH: &str = "PERS_KEY_REFRESH_SECONDS";
pub const KEY_ACTIVATION_DELAY: &str = "PERS_KEY_ACTIVATION_DELAY_SECONDS";
pub const GEOIP_DATABASE: &str = "PERS_GEOIP_DATABASE";

/// How long API Gateway's HTTP API JWT authorizer may cache the public keys it fetched
/// ("can cache public keys for two hours"), ignoring the JWKS's `Cache-Control`.
pub const API_GATEWAY_JWKS_CACHE: Duration = Duration::from_secs(2 * 3600);

/// What the default activation delay adds for what the arithmetic cannot see: the
/// clocks of Secrets Manager (`CreatedDate`) and of the functions, Secrets Manager's
/// eventual consistency after a rotation, a load's duration, and the looseness of
/// "two hours".
pub const ACTIVATION_MARGIN: Duration = Duration::from_secs(300);

/// The default activation delay: the oldest view of our JWKS a verifier may hold (API
/// Gateway's two-hour cache, filled from a shared HTTP cache that may itself hold the
/// document for its `max-age`, the key refresh interval) plus [`ACTIVATION_MARGIN`]:
/// 7200 + 300 + 300 = 7800 s with the default interval.
pub fn default_activation_delay(key_refresh_interval: Duration) -> Duration {
    API_GATEWAY_JWKS_CACHE + key_refresh_interval + ACTIVATION_MARGIN
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    (min, max): (u64, u64),
) -> Result<Duration, ConfigError> {
    let Some(raw) = lookup(variable) else {
        return Ok(Duration::from_secs(default));
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(ConfigError {
            variable,
            problem: format!("must be a whole number of seconds from {min} to {max}, got {raw:?}"),
        }),
    }
}

/// Reads a required variable.
pub fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<String, ConfigError> {
    match lookup(variable) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError {
            variable,
            problem: "is required".into(),
        }),
    }
}

impl Settings {
    /// Reads the settings through `lookup` (the process environment in production).
    /// `default_issuer` applies when `PERS_ISSUER` is unset; without one it is required.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_issuer: Option<String>,
    ) -> Result<Self, ConfigError> {
        let issuer = match (lookup(ISSUER), default_issuer) {
            (Some(v), _) if !v.trim().is_empty() => v,
            (_, Some(default)) => default,
            _ => required(&lookup, ISSUER)?,
        };
        let parsed = url::Url::parse(&issuer).ok();
        if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
            return Err(ConfigError {
                variable: ISSUER,
                problem: format!("must be an http(s) URL, got {issuer:?}"),
            });
        }
        let issuer = issuer.trim_end_matches('/').to_owned();
        const DAY: u64 = 86_400;
        let access_token_ttl = seconds(&lookup, ACCESS_TTL, 900, (1, DAY))?;
        let refresh_token_ttl = seconds(&lookup, REFRESH_TTL, 30 * DAY, (1, 365 * DAY))?;
        if refresh_token_ttl < access_token_ttl {
            return Err(ConfigError {
                variable: REFRESH_TTL,
                problem: format!("must not be shorter than {ACCESS_TTL}"),
            });
        }
        let signing_algorithm = match lookup(SIGNING_ALGORITHM) {
            None => SigningAlgorithm::Rs256,
            Some(raw) => raw.parse().map_err(|problem| ConfigError {
                variable: SIGNING_ALGORITHM,
                problem,
            })?,
        };
        let key_refresh_interval = seconds(&lookup, KEY_REFRESH, 300, (1, 3600))?;
        let key_activation_delay = seconds(
            &lookup,
            KEY_ACTIVATION_DELAY,
            default_activation_delay(key_refresh_interval).as_secs(),
            (0, DAY),
        )?;
        Ok(Self {
            audience: issuer.clone(),
            refresh_audience: format!("{issuer}/auth/refresh"),
            login_audience: format!("{issuer}/login"),
            issuer,
            access_token_ttl,
            refresh_token_ttl,
            refresh_grace: seconds(&lookup, REFRESH_GRACE, 10, (1, 300))?,
            tenant_admin_token_ttl: seconds(&lookup, TENANT_ADMIN_TTL, DAY, (1, 30 * DAY))?,
            login_token_ttl: Duration::from_secs(300),
            signing_algorithm,
            builtin_providers: BuiltinProviders::from_lookup(&lookup)?,
            key_refresh_interval,
            key_activation_delay,
            // Empty means unset, so a template can pass an empty parameter through.
            geoip_database: lookup(GEOIP_DATABASE)
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from),
        })
    }

    /// Settings from the process environment.
    pub fn from_env(default_issuer: Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok(), default_issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], default: Option<&str>) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| vars.get(k).cloned(), default.map(str::to_owned))
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[], Some("http://127.0.0.1:3000")).unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:3000");
        assert_eq!(s.audience, s.issuer);
        assert_eq!(s.refresh_audience, "http://127.0.0.1:3000/auth/refresh");
        assert_eq!(s.login_audience, "http://127.0.0.1:3000/login");
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(s.refresh_grace, Duration::from_secs(10));
        assert_eq!(s.tenant_admin_token_ttl, Duration::from_secs(86_400));
        assert_eq!(s.signing_algorithm, SigningAlgorithm::Rs256);
        assert_eq!(s.key_refresh_interval, Duration::from_secs(300));
        // Two hours of API Gateway cache + 300 s of JWKS max-age + 300 s of margin.
        assert_eq!(s.key_activation_delay, Duration::from_secs(7800));
        assert_eq!(s.geoip_database, None);
        let s = settings(&[(GEOIP_DATABASE, " ")], Some("http://x")).unwrap();
        assert_eq!(s.geoip_database, None, "empty is unset");
    }

    #[test]
    fn the_issuer_is_required_without_a_default() {
        let e = settings(&[], None).unwrap_err();
        assert_eq!(e.variable, ISSUER);
        let e = settings(&[(ISSUER, "not a url")], None).unwrap_err();
        assert_eq!(e.variable, ISSUER);
        let s = settings(&[(ISSUER, "https://auth.example.com/")], None).unwrap();
        assert_eq!(s.issuer, "https://auth.example.com");
    }

    #[test]
    fn bad_numbers_name_their_variable() {
        for var in [ACCESS_TTL, REFRESH_TTL, REFRESH_GRACE, TENANT_ADMIN_TTL] {
            for bad in ["", "0", "-5", "ten", "99999999999"] {
                let e = settings(&[(var, bad)], Some("http://x")).unwrap_err();
                assert_eq!(e.variable, var, "{var}={bad}");
                assert!(e.to_string().contains(var));
            }
        }
        let e = settings(&[(SIGNING_ALGORITHM, "HS256")], Some("http://x")).unwrap_err();
        assert_eq!(e.variable, SIGNING_ALGORITHM);
    }

    #[test]
    fn refresh_must_outlive_access() {
        let e = settings(
            &[(ACCESS_TTL, "600"), (REFRESH_TTL, "60")],
            Some("http://x"),
        )
        .unwrap_err();
        assert_eq!(e.variable, REFRESH_TTL);
    }

    #[test]
    fn builtin_providers_are_read_whole_or_refused() {
        let s = settings(&[], Some("http://x")).unwrap();
        assert_eq!(s.builtin_providers, BuiltinProviders::default());
        let e = settings(&[(SIGNER_ISSUER, "https://signer")], Some("http://x")).unwrap_err();
        assert_eq!(e.variable, SIGNER_JWKS_URI);
        let e = settings(
            &[(SIGNER_JWKS_URI, "https://signer/jwks")],
            Some("http://x"),
        )
        .unwrap_err();
        assert_eq!(e.variable, SIGNER_ISSUER);
        let e = settings(
            &[(SIGNER_ISSUER, "https://signer"), (SIGNER_JWKS_URI, "nope")],
            Some("http://x"),
        )
        .unwrap_err();
        assert_eq!(e.variable, SIGNER_JWKS_URI);
        let s = settings(&[(FIREBASE_PROJECT_ID, "proj")], Some("http://x")).unwrap();
        let fb = s.builtin_providers.firebase.unwrap();
        assert_eq!(
            (fb.project_id.as_str(), fb.jwks_uri.as_str()),
            ("proj", FIREBASE_JWKS_URI)
        );
    }

    #[test]
    fn overrides_apply() {
        let s = settings(
            &[
                (ACCESS_TTL, "60"),
                (REFRESH_GRACE, "3"),
                (SIGNING_ALGORITHM, "EdDSA"),
            ],
            Some("http://x"),
        )
        .unwrap();
        assert_eq!(s.access_token_ttl, Duration::from_secs(60));
        assert_eq!(s.refresh_grace, Duration::from_secs(3));
        assert_eq!(s.signing_algorithm, SigningAlgorithm::EdDsa);
    }

    #[test]
    fn the_default_activation_delay_follows_the_key_refresh_interval() {
        let s = settings(&[(KEY_REFRESH, "600")], Some("http://x")).unwrap();
        assert_eq!(s.key_refresh_interval, Duration::from_secs(600));
        assert_eq!(
            s.key_activation_delay,
            Duration::from_secs(7200 + 600 + 300)
        );
        let s = settings(
            &[(KEY_REFRESH, "1"), (KEY_ACTIVATION_DELAY, "0")],
            Some("http://x"),
        )
        .unwrap();
        assert_eq!(s.key_activation_delay, Duration::ZERO);
        for bad in ["", "-1", "86401"] {
            let e = settings(&[(KEY_ACTIVATION_DELAY, bad)], Some("http://x")).unwrap_err();
            assert_eq!(e.variable, KEY_ACTIVATION_DELAY, "{bad}");
        }
    }
}
