//! The SDK baseline of `scripts/bench-lambda`: a hello-world function that does at init
//! the round trips our functions must make (the platform-key secret, the three stages
//! of the signing-key secret and one `GetItem`, all at once, through clients built with
//! the same SDK configuration, `pers::runtime::lambda_sdk_config`), and serves:
//!
//! - `GET /hello`: nothing but the answer (the HTTP edge);
//! - `GET /get`: one `GetItem` of the item `HELLO_ITEM_PK`/`HELLO_ITEM_SK`, the bare
//!   cost of one DynamoDB call through that client;
//! - `GET /crypto`: the cryptography of one login — one RS256 (RSA-2048) signature, one
//!   HS256 signature and one ES256 verification of a provider token — through
//!   `jsonwebtoken` on AWS-LC, as our functions do it, and nothing else.

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use pers::deadlines::Deadlines;
use pers::keys::{KeyMaterial, SigningAlgorithm, SigningKey};
use serde_json::{Value, json};

struct Hello {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    item: (String, String),
    /// Generated on the first `/crypto` (an RSA key takes far longer than the rest of
    /// init, and is no part of what the baseline measures).
    keys: OnceLock<Keys>,
}

struct Keys {
    rsa: SigningKey,
    hmac: EncodingKey,
    provider: SigningKey,
    provider_token: String,
}

fn keys() -> Result<Keys, lambda_http::Error> {
    let key = |alg| SigningKey::from_material(&KeyMaterial::generate(alg)?);
    let rsa = key(SigningAlgorithm::Rs256)?;
    let provider = key(SigningAlgorithm::Es256)?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(provider.kid().to_owned());
    let provider_token = jsonwebtoken::encode(
        &header,
        &json!({"iss": "https://idp.bench.example", "aud": "bench", "sub": "alice",
                "exp": 4_000_000_000u64}),
        provider.encoding_key(),
    )?;
    Ok(Keys {
        rsa,
        hmac: EncodingKey::from_secret(b"a baseline's internal key, 32 b"),
        provider,
        provider_token,
    })
}

fn setting(name: &str) -> Result<String, lambda_http::Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let table = setting("TABLE_NAME")?;
    let signing = setting("SIGNING_KEY_SECRET_ID")?;
    let platform = setting("PLATFORM_SECRET_ID")?;
    let item = (
        std::env::var("HELLO_ITEM_PK").unwrap_or_else(|_| "WARMUP".into()),
        std::env::var("HELLO_ITEM_SK").unwrap_or_else(|_| "WARMUP".into()),
    );
    // The configuration our functions build, from the same environment.
    let env = |k: &str| std::env::var(k).ok();
    let aws = pers::runtime::lambda_sdk_config(&env, Deadlines::PRODUCTION)?;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let read = |id: &str, stage: &str| {
        secrets
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
    };
    let warm_up = dynamo
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("WARMUP".into()))
        .key("sk", AttributeValue::S("WARMUP".into()))
        .send();
    let (platform_key, current, _previous, _pending, warm) = tokio::join!(
        read(&platform, "AWSCURRENT"),
        read(&signing, "AWSCURRENT"),
        read(&signing, "AWSPREVIOUS"),
        read(&signing, "AWSPENDING"),
        warm_up,
    );
    platform_key?;
    current?;
    warm?;

    let hello = Arc::new(Hello {
        dynamo,
        table,
        item,
        keys: OnceLock::new(),
    });
    let app = axum::Router::new()
        .route("/hello", get(|| async { Json(json!({"hello": "world"})) }))
        .route("/get", get(get_item))
        .route("/crypto", get(crypto))
        .with_state(hello);
    lambda_http::run(app).await
}

async fn get_item(State(hello): State<Arc<Hello>>) -> (StatusCode, Json<Value>) {
    let got = hello
        .dynamo
        .get_item()
        .table_name(&hello.table)
        .key("pk", AttributeValue::S(hello.item.0.clone()))
        .key("sk", AttributeValue::S(hello.item.1.clone()))
        .consistent_read(true)
        .send()
        .await;
    match got {
        Ok(out) => (
            StatusCode::OK,
            Json(json!({"attributes": out.item().map_or(0, |i| i.len())})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn crypto(State(hello): State<Arc<Hello>>) -> (StatusCode, Json<Value>) {
    if hello.keys.get().is_none() {
        match keys() {
            Ok(keys) => {
                let _ = hello.keys.set(keys);
            }
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": e.to_string()})),
                );
            }
        }
    }
    let Some(keys) = hello.keys.get() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["bench"]);
    validation.set_issuer(&["https://idp.bench.example"]);
    let verified = jsonwebtoken::decode::<Value>(
        &keys.provider_token,
        keys.provider.decoding_key(),
        &validation,
    );
    let claims = json!({"iss": "https://auth.bench.example", "sub": "alice", "aud": "bench",
                        "exp": 4_000_000_000u64, "tenantId": "t", "sid": "s"});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(keys.rsa.kid().to_owned());
    let access = jsonwebtoken::encode(&header, &claims, keys.rsa.encoding_key());
    let refresh = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.hmac);
    match (verified, access, refresh) {
        (Ok(_), Ok(access), Ok(refresh)) => (
            StatusCode::OK,
            Json(json!({"length": access.len() + refresh.len()})),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "crypto failed"})),
        ),
    }
}
