//! The Secrets Manager rotation protocol for the signing-key secret (the `rotate-keys`
//! function): `createSecret` stages a fresh key as `AWSPENDING` (from then on it is
//! published in the JWKS), `setSecret` has nothing to do (no other system holds the
//! key), `testSecret` proves the staged key signs and verifies, `finishSecret` moves
//! `AWSCURRENT` to it (Secrets Manager moves `AWSPREVIOUS` to the old key, which keeps
//! verifying). Every step is idempotent: a repeated step changes nothing.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{KeyError, KeyMaterial, KeySet, SigningAlgorithm, SigningKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RotationStep {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

/// The event Secrets Manager sends a rotation function.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub secret_id: String,
    pub client_request_token: String,
    pub step: RotationStep,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Unavailable(Box::new(e))
}

/// Runs one step of a rotation, generating keys of `alg`.
pub async fn rotate(
    client: &Client,
    event: &RotationEvent,
    alg: SigningAlgorithm,
) -> Result<(), KeyError> {
    let (id, token) = (
        event.secret_id.as_str(),
        event.client_request_token.as_str(),
    );
    let described = client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(unavailable)?;
    let versions = described.version_ids_to_stages.unwrap_or_default();
    let stages = versions.get(token);
    if stages.is_some_and(|s| s.iter().any(|s| s == "AWSCURRENT")) {
        tracing::info!(step = ?event.step, "version is already current; nothing to do");
        return Ok(());
    }
    if event.step != RotationStep::CreateSecret
        && !stages.is_some_and(|s| s.iter().any(|s| s == "AWSPENDING"))
    {
        return Err(KeyError::Invalid(format!(
            "version {token} is not staged AWSPENDING"
        )));
    }
    match event.step {
        RotationStep::CreateSecret => {
            if pending(client, id, token).await?.is_some() {
                return Ok(());
            }
            let material = KeyMaterial::generate(alg)?;
            client
                .put_secret_value()
                .secret_id(id)
                .client_request_token(token)
                .secret_string(material.to_json().to_string())
                .version_stages("AWSPENDING")
                .send()
                .await
                .map_err(unavailable)?;
            tracing::info!(
                kid = SigningKey::from_material(&material)?.kid(),
                "staged a new signing key"
            );
            Ok(())
        }
        RotationStep::SetSecret => Ok(()),
        RotationStep::TestSecret => {
            let material = pending(client, id, token)
                .await?
                .ok_or_else(|| KeyError::Invalid(format!("version {token} has no value")))?;
            prove(&material)
        }
        RotationStep::FinishSecret => {
            let current = versions
                .iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(version, _)| version.clone());
            client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage("AWSCURRENT")
                .move_to_version_id(token)
                .set_remove_from_version_id(current)
                .send()
                .await
                .map_err(unavailable)?;
            tracing::info!("the staged signing key is now current");
            Ok(())
        }
    }
}

/// The key material of version `token` staged `AWSPENDING`, if it has a value yet.
async fn pending(client: &Client, id: &str, token: &str) -> Result<Option<KeyMaterial>, KeyError> {
    match client
        .get_secret_value()
        .secret_id(id)
        .version_id(token)
        .version_stage("AWSPENDING")
        .send()
        .await
    {
        Ok(out) => match out.secret_string {
            Some(raw) => {
                KeyMaterial::from_json(secrecy::SecretString::from(raw).expose_secret()).map(Some)
            }
            None => Ok(None),
        },
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetSecretValueError::ResourceNotFoundException(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// A key passes if a token it signs verifies with its published public key.
fn prove(material: &KeyMaterial) -> Result<(), KeyError> {
    let key = SigningKey::from_material(material)?;
    let set = KeySet::new(key, vec![]);
    let probe = serde_json::json!({"sub": "rotation-test", "exp": crate::now_unix() + 60});
    let token = crate::token::sign(&set, crate::token::Kind::Login, &probe)
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let signer = set.signing();
    let mut validation = jsonwebtoken::Validation::new(signer.algorithm().jwt());
    validation.validate_aud = false;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(signer.public_jwk())
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let decoding =
        jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| KeyError::Invalid(e.to_string()))?;
    jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
        .map(|_| ())
        .map_err(|e| KeyError::Invalid(format!("the staged key does not verify: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_as_secrets_manager_sends_them() {
        let event: RotationEvent = serde_json::from_str(
            r#"{"SecretId":"arn:aws:secretsmanager:us-east-1:1:secret:k","ClientRequestToken":"t-1","Step":"finishSecret"}"#,
        )
        .unwrap();
        assert_eq!(event.step, RotationStep::FinishSecret);
        assert_eq!(event.client_request_token, "t-1");
    }

    #[test]
    fn a_generated_key_proves_itself() {
        for alg in [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ] {
            prove(&KeyMaterial::generate(alg).unwrap()).unwrap();
        }
    }
}
