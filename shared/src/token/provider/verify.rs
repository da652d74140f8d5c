//! The one rule set every provider token is judged by (DESIGN §3).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::Value;

use super::{KeySource, ProviderClaims, ProviderError, Providers, TrustedProvider};
use crate::net::Reach;
use crate::token::jwk::PublicKeys;
use crate::token::{Clock, PROVIDER_LEEWAY_SECONDS, TokenError, check_times, read_header};

impl Providers {
    /// Verifies `token` against one provider: the one rule set of DESIGN §3.
    pub async fn verify_with(
        &self,
        provider: &TrustedProvider,
        token: &str,
        clock: &dyn Clock,
    ) -> Result<ProviderClaims, ProviderError> {
        let header = read_header(token).map_err(|e| match e {
            TokenError::TooLarge => ProviderError::Invalid("token is too large"),
            TokenError::CriticalExtension => ProviderError::Invalid(
                "token header names a critical extension, which is not supported",
            ),
            _ => ProviderError::Invalid("token is malformed"),
        })?;
        if !provider.algorithms.contains(&header.alg) {
            return Err(ProviderError::Invalid("token algorithm is not allowed"));
        }
        let kid = header.kid.as_deref();
        let set = match &provider.keys {
            KeySource::Inline(value) => Arc::new(
                PublicKeys::lenient(value)
                    .map_err(|_| ProviderError::Invalid("the provider's JWKS is unusable"))?,
            ),
            KeySource::Uri(uri) => self.jwks.get(uri, kid, Reach::Any).await?,
            KeySource::TenantUri(uri) => self.jwks.get(uri, kid, self.tenant_reach).await?,
        };
        let key = set
            .pick(kid)
            .ok_or(ProviderError::Invalid("token is signed by an unknown key"))?;
        if !key.fits(header.alg) {
            return Err(ProviderError::Invalid(
                "token algorithm does not match its key",
            ));
        }

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&provider.issuer]);
        match &provider.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        // Times are checked in `check_claims`, against our clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation)
            .map_err(|e| ProviderError::Invalid(reason(e.kind())))?
            .claims;
        // The time is read now that the keys are in hand: a fetch may take a while.
        check_claims(provider, &claims, clock.now())?;
        Ok(ProviderClaims {
            issuer: provider.issuer.clone(),
            subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
            firebase_tenant: provider.firebase_tenant.clone(),
            claims,
        })
    }
}

/// The claim rules jsonwebtoken leaves to its caller, checked on the JSON itself so that
/// no claim of an unexpected type slips through: `iss` exactly the provider's; when the
/// provider names an audience, `aud` that string or an array of strings holding it; a
/// non-empty string `sub`; `iat`, if present, a number not in the future; Firebase's
/// tenant; the time claims at `now` with 60 s of leeway.
fn check_claims(provider: &TrustedProvider, claims: &Value, now: i64) -> Result<(), ProviderError> {
    if claims["iss"].as_str() != Some(provider.issuer.as_str()) {
        return Err(ProviderError::Invalid("token issuer is not accepted"));
    }
    if let Some(expected) = &provider.audience {
        let holds = match &claims["aud"] {
            Value::String(aud) => aud == expected,
            Value::Array(auds) => {
                auds.iter().all(Value::is_string)
                    && auds.iter().any(|a| a.as_str() == Some(expected))
            }
            _ => false,
        };
        if !holds {
            return Err(ProviderError::Invalid("token audience is not accepted"));
        }
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err(ProviderError::Invalid("token has an empty subject"));
    }
    check_times(claims, now, PROVIDER_LEEWAY_SECONDS, false).map_err(|e| {
        ProviderError::Invalid(match e {
            TokenError::Expired => "token has expired",
            TokenError::NotYetValid => "token is not yet valid",
            TokenError::IssuedInFuture => "token was issued in the future",
            TokenError::MissingClaim => "token lacks a required claim",
            _ => "token has a time claim that is not a whole number of seconds",
        })
    })?;
    if let Some(expected) = &provider.firebase_tenant
        && claims["firebase"]["tenant"].as_str() != Some(expected)
    {
        return Err(ProviderError::Invalid(
            "token is for another Firebase tenant",
        ));
    }
    Ok(())
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "token signature is invalid",
        ErrorKind::ExpiredSignature => "token has expired",
        ErrorKind::ImmatureSignature => "token is not yet valid",
        ErrorKind::InvalidIssuer => "token issuer is not accepted",
        ErrorKind::InvalidAudience => "token audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
        ErrorKind::InvalidAlgorithm => "token algorithm does not match its key",
        _ => "token is invalid",
    }
}

/// The `iss` of a token before verification, only to choose which provider verifies it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["iss"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_without_trusting_anything_else() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://i","sub":"x"}"#);
        assert_eq!(
            unverified_issuer(&format!("h.{payload}.s")).as_deref(),
            Some("https://i")
        );
        assert_eq!(unverified_issuer("garbage"), None);
    }
}
