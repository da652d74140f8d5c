//! Provider tokens at `/auth/token` and `/auth/verify` alike: audience pins whatever
//! the type of `aud`, `iss` required, no `crit` header, only keys meant for signatures,
//! the same rules of size and whitespace at both doors (defects 1–3, 8).

use axum::http::StatusCode;
use pers::config::Settings;
use pers::keys::SigningAlgorithm;
use pers_tests::{JwksServer, TestApp, TestIssuer};
use serde_json::{Value, json};

use super::{AUD, JwkEdit, both_accept, both_refuse, raw_token, trusting, update};

// 1. Audience pins hold whatever the JSON type of `aud`; `iss` is required.
#[tokio::test]
async fn a_named_audience_is_required_and_must_be_a_matching_string() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let with_aud = |aud: Option<Value>| {
        let mut c = issuer.claims("alice", AUD);
        match aud {
            Some(v) => c["aud"] = v,
            None => {
                c.as_object_mut().unwrap().remove("aud");
            }
        }
        issuer.token(&c)
    };
    for bad in [
        None,
        Some(json!(1)),
        Some(json!(true)),
        Some(json!(null)),
        Some(json!({})),
        Some(json!([1])),
        Some(json!([null])),
        Some(json!([])),
        Some(json!("")),
        Some(json!([AUD, 7])),
        Some(json!(["someone-else"])),
    ] {
        both_refuse(
            &app,
            &tenant,
            &with_aud(bad.clone()),
            &format!("aud {bad:?}"),
        )
        .await;
    }
    both_accept(&app, &tenant, &with_aud(Some(json!(AUD))), "aud string").await;
    both_accept(
        &app,
        &tenant,
        &with_aud(Some(json!(["x", AUD]))),
        "aud array",
    )
    .await;

    let mut no_iss = issuer.claims("alice", AUD);
    no_iss.as_object_mut().unwrap().remove("iss");
    both_refuse(&app, &tenant, &issuer.token(&no_iss), "no iss").await;
    let mut iss_array = issuer.claims("alice", AUD);
    iss_array["iss"] = json!([issuer.issuer]);
    both_refuse(&app, &tenant, &issuer.token(&iss_array), "iss array").await;
}

#[tokio::test]
async fn the_built_in_signers_audience_is_required_too() {
    let signer = TestIssuer::new("https://signer.example", SigningAlgorithm::Es256);
    let jwks = JwksServer::start(signer.jwks(), "max-age=300").await;
    let vars = [
        ("PERS_SIGNER_ISSUER", signer.issuer.clone()),
        ("PERS_SIGNER_JWKS_URI", jwks.uri.clone()),
        ("PERS_SIGNER_AUDIENCE", AUD.to_owned()),
    ];
    let settings = Settings::from_lookup(
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
        Some("http://127.0.0.1:3000".into()),
    )
    .unwrap();
    let app = TestApp::embedded_with(settings);
    let tenant = app.create_tenant(json!({"projectName": "Signer"})).await;
    let mut no_aud = signer.claims("alice", AUD);
    no_aud.as_object_mut().unwrap().remove("aud");
    both_refuse(&app, &tenant, &signer.token(&no_aud), "signer without aud").await;
    let mut number = signer.claims("alice", AUD);
    number["aud"] = json!(1);
    both_refuse(&app, &tenant, &signer.token(&number), "signer aud 1").await;
    both_accept(
        &app,
        &tenant,
        &signer.token(&signer.claims("alice", AUD)),
        "signer",
    )
    .await;
}

// 2. A `crit` header is refused.
#[tokio::test]
async fn a_critical_header_extension_is_refused() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let claims = issuer.claims("alice", AUD);
    both_accept(
        &app,
        &tenant,
        &raw_token(&issuer, json!({}), &claims),
        "plain",
    )
    .await;
    for header in [
        json!({"crit": ["anything"], "anything": 1}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"crit": []}),
    ] {
        let token = raw_token(&issuer, header.clone(), &claims);
        both_refuse(&app, &tenant, &token, &header.to_string()).await;
    }
}

// 3. Only keys meant for signatures verify them.
#[tokio::test]
async fn keys_not_meant_for_signatures_never_verify_one() {
    let app = TestApp::embedded();
    let edits: [JwkEdit; 4] = [
        ("use enc", |k| k["use"] = json!("enc")),
        ("key_ops without verify", |k| {
            k["key_ops"] = json!(["encrypt", "wrapKey"])
        }),
        ("another alg", |k| k["alg"] = json!("ES384")),
        ("curve that does not fit", |k| k["crv"] = json!("P-384")),
    ];
    for (what, edit) in edits {
        let issuer = TestIssuer::new("https://remote.example", SigningAlgorithm::Es256);
        let mut jwk = issuer.key.public_jwk();
        edit(&mut jwk);
        let server = JwksServer::start(json!({"keys": [jwk]}), "max-age=300").await;
        let tenant = app.create_tenant(json!({"projectName": "Remote"})).await;
        let res = update(
            &app,
            &tenant,
            json!({"identityProviders": [{
                "issuer": issuer.issuer, "jwksUri": server.uri, "audience": AUD, "authTypes": ["user"]
            }]}),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.json);
        let token = issuer.token(&issuer.claims("alice", AUD));
        both_refuse(&app, &tenant, &token, what).await;
    }
}

// 8. `/auth/verify` judges provider tokens by exactly the rules of `/auth/token`.
#[tokio::test]
async fn verify_and_exchange_agree_on_size_and_whitespace() {
    let app = TestApp::embedded();
    let issuer = TestIssuer::new("https://idp.example", SigningAlgorithm::Es256);
    let tenant = trusting(&app, &issuer).await;
    let mut padded = issuer.claims("alice", AUD);
    padded["pad"] = json!("x".repeat(8 * 1024));
    both_refuse(&app, &tenant, &issuer.token(&padded), "over 8 KiB").await;
    let good = issuer.token(&issuer.claims("alice", AUD));
    for spaced in [
        format!(" {good}"),
        format!("{good}\n"),
        format!("\t{good} "),
    ] {
        both_refuse(&app, &tenant, &spaced, "surrounding whitespace").await;
    }
    both_accept(&app, &tenant, &good, "as issued").await;
}
