//! The exchange, `POST /auth/token`: a provider token becomes a PERS session of one
//! user per tenant, issuer and subject; system sessions need the private key, testnet
//! keys mark the session, sandbox users only where the tenant allows; bad input.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use pers_tests::TestApp;
use serde_json::json;

use super::{AUD, access_claims, refresh_claims, token_of, trust, update_tenant, world, world_on};

#[tokio::test]
async fn a_provider_token_becomes_a_pers_session() {
    let w = world().await;
    let res = w.login_as("alice").await;
    let access = access_claims(&w.app, &res).await;
    assert_eq!(access.tenant_id.as_str(), w.tenant["id"]);
    assert_eq!(access.auth_type, pers::domain::AuthType::User);
    assert_eq!(access.exp - access.iat, 900);
    assert_eq!(access.network, None);
    let header = jsonwebtoken::decode_header(token_of(&res, "accessToken")).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());

    let refresh = refresh_claims(&w.app, &res).await;
    assert_eq!(refresh.sid, access.sid);
    assert_eq!(refresh.generation, 0);
    assert_eq!(refresh.exp - refresh.iat, 2_592_000);
}

#[tokio::test]
async fn one_user_per_tenant_issuer_and_subject() {
    let w = world().await;
    let first = access_claims(&w.app, &w.login_as("alice").await).await;
    let again = access_claims(&w.app, &w.login_as("alice").await).await;
    let bob = access_claims(&w.app, &w.login_as("bob").await).await;
    assert_eq!(first.sub, again.sub, "same subject, same user");
    assert_ne!(first.sid, again.sid, "each login is its own session");
    assert_ne!(first.sub, bob.sub);

    // The same subject in another tenant is another user.
    let other = w.app.create_tenant(json!({"projectName": "Other"})).await;
    let providers = json!([{"issuer": w.issuer.issuer, "jwks": w.issuer.jwks(), "audience": AUD, "authTypes": ["user"]}]);
    trust(&w.app, &other, providers).await;
    let token = w.issuer.token(&w.issuer.claims("alice", AUD));
    let elsewhere = w
        .app
        .login(
            other["projectApiKey"].as_str().unwrap(),
            json!({"authToken": token}),
        )
        .await;
    assert_ne!(access_claims(&w.app, &elsewhere).await.sub, first.sub);
}

#[tokio::test]
async fn system_sessions_need_the_private_key_and_testnet_keys_mark_the_session() {
    let w = world().await;
    let token = w.issuer.token(&w.issuer.claims("svc", AUD));
    let body = json!({"authToken": token, "authType": "system"});
    let pk = w.pk();
    let send = |headers: Vec<(&'static str, String)>| {
        let app = w.app.clone();
        let body = body.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send(Method::POST, "/auth/token", &h, Some(body)).await
        }
    };
    send(vec![("x-project-key", pk.to_owned())])
        .await
        .error(StatusCode::UNAUTHORIZED);
    send(vec![
        ("x-project-key", pk.to_owned()),
        ("x-api-key", "sk_live_wrong".into()),
    ])
    .await
    .error(StatusCode::UNAUTHORIZED);
    let sk = w.tenant["apiPrivateKey"].as_str().unwrap().to_owned();
    let res = send(vec![
        ("x-project-key", pk.to_owned()),
        ("x-api-key", sk.clone()),
    ])
    .await;
    assert_eq!(
        access_claims(&w.app, &res).await.auth_type,
        pers::domain::AuthType::System
    );

    // Refreshing a system session needs the private key too; refused, it rotates nothing.
    w.app
        .refresh(pk, token_of(&res, "refreshToken"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    let refresh_body = json!({"refreshToken": token_of(&res, "refreshToken")});
    let refreshed = w
        .app
        .send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", pk), ("x-api-key", &sk)],
            Some(refresh_body),
        )
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::CREATED,
        "the refused attempt did not use the token up: {}",
        refreshed.json
    );

    let testnet = w.tenant["testnetProjectApiKey"].as_str().unwrap();
    let res = w
        .app
        .login(
            testnet,
            json!({"authToken": w.issuer.token(&w.issuer.claims("t", AUD))}),
        )
        .await;
    assert_eq!(
        access_claims(&w.app, &res).await.network,
        Some(pers::domain::Network::Testnet)
    );
    let rotated = w.refresh(token_of(&res, "refreshToken")).await;
    assert_eq!(
        access_claims(&w.app, &rotated).await.network,
        Some(pers::domain::Network::Testnet)
    );
}

#[tokio::test]
async fn sandbox_users_come_from_raw_login_data_only_when_the_tenant_allows() {
    let w = world().await;
    let body = json!({"authToken": "anything", "rawLoginData": {"nickname": "guest"}});
    w.app
        .login(w.pk(), body.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);

    update_tenant(
        &w.app,
        &w.tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    let first = access_claims(&w.app, &w.app.login(w.pk(), body.clone()).await).await;
    let second = access_claims(&w.app, &w.app.login(w.pk(), body.clone()).await).await;
    assert_ne!(
        first.sub, second.sub,
        "each sandbox login is a new unauthenticated user"
    );

    // Never a privileged session without verification.
    let admin = json!({"authToken": "anything", "authType": "tenant", "rawLoginData": {"a": 1}});
    w.app
        .login(w.pk(), admin)
        .await
        .error(StatusCode::UNAUTHORIZED);
    let not_object = json!({"authToken": "x", "rawLoginData": [1, 2]});
    w.app
        .login(w.pk(), not_object)
        .await
        .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_requests_and_missing_keys() {
    let w = world().await;
    w.app
        .login(w.pk(), json!({}))
        .await
        .error(StatusCode::BAD_REQUEST);
    w.app
        .login(w.pk(), json!({"authToken": 5}))
        .await
        .error(StatusCode::BAD_REQUEST);
    w.app
        .login(w.pk(), json!({"authToken": "x", "authType": "root"}))
        .await
        .error(StatusCode::BAD_REQUEST);
    // `null` is not an auth type (absent means `user`).
    assert!(
        w.app
            .login(w.pk(), json!({"authToken": "x", "authType": null}))
            .await
            .error(StatusCode::BAD_REQUEST)
            .contains("authType")
    );
    w.app
        .login("pk_live_nope", json!({"authToken": "x"}))
        .await
        .error(StatusCode::UNAUTHORIZED);
    w.app
        .send(
            Method::POST,
            "/auth/refresh",
            &[("x-project-key", w.pk())],
            Some(json!({})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn dynamodb_sandbox_data_it_cannot_keep_is_bad_input_not_an_outage() {
    let moto = pers_tests::Moto::start().await;
    let store = moto.dynamo_store().await;
    let table = store.table().to_owned();
    let w = world_on(TestApp::with_store(Arc::new(store))).await;
    update_tenant(
        &w.app,
        &w.tenant,
        json!({"allowJWTForUnauthenticatedUsers": true}),
    )
    .await;
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    for raw in [json!({"score": 1e200}), deep, json!({"": "anonymous"})] {
        let msg = w
            .app
            .login(w.pk(), json!({"authToken": "x", "rawLoginData": raw}))
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("rawLoginData"), "{msg}");
    }
    let ok = w
        .app
        .login(
            w.pk(),
            json!({"authToken": "x", "rawLoginData": {"score": 1e100, "tags": ["a"]}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);

    // The one sandbox user written expires with its session (DynamoDB TTL).
    let session_end = refresh_claims(&w.app, &ok).await.exp;
    let scan = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await)
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let attr =
        |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
         name: &str| item[name].as_s().cloned().unwrap_or_default();
    let users: Vec<_> = scan
        .items()
        .iter()
        .filter(|i| attr(i, "pk").starts_with("USER#"))
        .collect();
    assert_eq!(users.len(), 1, "refused logins wrote no user");
    let expires: i64 = users[0]["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, session_end);
}
