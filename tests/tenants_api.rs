//! `/tenants…` through the router, on the embedded store.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use pers::token::{self, AccessClaims, LoginClaims};
use pers_tests::{PLATFORM_KEY, TestApp};
use serde_json::{Value, json};

async fn admin_key_set(app: &TestApp) -> std::sync::Arc<pers::keys::KeySet> {
    app.state.keys.key_set().await.unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn creating_a_tenant_needs_the_platform_key() {
    let app = TestApp::embedded();
    let body = Some(json!({"projectName": "Acme"}));
    for headers in [vec![], vec![("x-api-key", "wrong-key-of-some-length")]] {
        let res = app
            .send(Method::POST, "/tenants", &headers, body.clone())
            .await;
        res.error(StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers["www-authenticate"], "Bearer");
    }
    // Header names are case-insensitive.
    let res = app
        .send(
            Method::POST,
            "/tenants",
            &[("X-Api-Key", PLATFORM_KEY)],
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_created_tenant_comes_with_defaults_keys_and_one_time_secrets() {
    let app = TestApp::embedded();
    let t = app
        .create_tenant(json!({"projectName": "My Project", "projectEmail": "a@b.co"}))
        .await;
    assert_eq!(t["projectName"], "My Project");
    assert_eq!(t["acronym"], "MP");
    assert_eq!(t["projectEmail"], "a@b.co");
    assert_eq!(t["defaultWalletManagementType"], "custodial");
    assert_eq!(t["allowJWTForUnauthenticatedUsers"], false);
    assert!(t["createdAt"].as_str().unwrap().ends_with('Z'));
    let pk = t["projectApiKey"].as_str().unwrap();
    let tk = t["testnetProjectApiKey"].as_str().unwrap();
    let sk = t["apiPrivateKey"].as_str().unwrap();
    assert!(pk.starts_with("pk_live_") && tk.starts_with("pk_test_") && sk.starts_with("sk_live_"));
    assert!(t.get("apiPrivateKeyHash").is_none() && t.get("version").is_none());

    // The jwt is a tenant-admin access token for this tenant, signed by our key.
    let keys = admin_key_set(&app).await;
    let claims =
        token::verify_access(&keys, &app.state.settings, t["jwt"].as_str().unwrap()).unwrap();
    assert_eq!(claims.tenant_id.as_str(), t["id"]);
    assert_eq!(claims.auth_type, pers::domain::AuthType::Tenant);
    assert_eq!(claims.exp - claims.iat, 86_400);

    // Two tenants never share keys or ids.
    let other = app.create_tenant(json!({"projectName": "Other"})).await;
    for field in [
        "id",
        "projectApiKey",
        "testnetProjectApiKey",
        "apiPrivateKey",
    ] {
        assert_ne!(t[field], other[field], "{field}");
    }
}

#[tokio::test]
async fn creation_validates_its_body_and_names_the_field() {
    let app = TestApp::embedded();
    let cases = [
        (json!({}), "projectName"),
        (json!({"projectName": ""}), "projectName"),
        (json!({"projectName": 7}), "projectName"),
        (json!({"projectName": "A", "colour": "red"}), "colour"),
        (
            json!({"projectName": "A", "projectEmail": "nope"}),
            "projectEmail",
        ),
        (
            json!({"projectName": "A", "projectWebsite": "javascript:alert(1)"}),
            "projectWebsite",
        ),
        (
            json!({"projectName": "A", "defaultWalletManagementType": "CUSTODIAL"}),
            "defaultWalletManagementType",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .send(
                Method::POST,
                "/tenants",
                &[("x-api-key", PLATFORM_KEY)],
                Some(body.clone()),
            )
            .await;
        let message = res.error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{body} → {message}");
    }
}

#[tokio::test]
async fn bodies_must_be_json_of_at_most_64_kib() {
    let app = TestApp::embedded();
    let key = ("x-api-key", PLATFORM_KEY);
    let res = app
        .raw(
            Method::POST,
            "/tenants",
            &[key],
            Body::from(r#"{"projectName":"A"}"#),
        )
        .await;
    res.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = app
        .raw(
            Method::POST,
            "/tenants",
            &[key, ("content-type", "text/plain")],
            Body::from("{}"),
        )
        .await;
    res.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let json_type = ("content-type", "application/json; charset=utf-8");
    let big = json!({"projectName": "A", "projectDescription": "x".repeat(70 * 1024)}).to_string();
    app.raw(Method::POST, "/tenants", &[key, json_type], Body::from(big))
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    for broken in [
        "{",
        "",
        "[]",
        "null",
        "{\"projectName\":\"A\"} trailing",
        "\u{feff}{}",
    ] {
        app.raw(
            Method::POST,
            "/tenants",
            &[key, json_type],
            Body::from(broken),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    }
    app.raw(
        Method::POST,
        "/tenants",
        &[key, json_type],
        Body::from(vec![0xff, 0xfe, 0x00]),
    )
    .await
    .error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::embedded();
    app.get("/nope", &[]).await.error(StatusCode::NOT_FOUND);
    app.send(Method::DELETE, "/tenants", &[], None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
    app.send(Method::POST, "/tenants/me", &[], None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_admin_updates_the_tenant_and_unknown_fields_change_nothing() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Before"})).await;
    let auth = bearer(t["jwt"].as_str().unwrap());
    let headers = [("authorization", auth.as_str())];

    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &headers,
            Some(json!({"projectName": "After", "unknownThing": 1})),
        )
        .await;
    assert!(res.error(StatusCode::BAD_REQUEST).contains("unknownThing"));
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &headers,
            Some(json!({"projectName": "After", "projectEmail": "bad"})),
        )
        .await;
    assert!(res.error(StatusCode::BAD_REQUEST).contains("projectEmail"));
    let id = t["id"].as_str().unwrap();
    let pk = t["projectApiKey"].as_str().unwrap();
    let seen = app
        .get(&format!("/tenants/{id}"), &[("x-project-key", pk)])
        .await;
    assert_eq!(
        seen.json["projectName"], "Before",
        "a rejected update must change nothing"
    );

    let providers = json!([{
        "issuer": "https://signer.example",
        "jwksUri": "https://signer.example/.well-known/jwks.json",
        "authTypes": ["user"],
        "algorithms": ["EdDSA"]
    }]);
    let res = app
        .send(
            Method::PUT,
            "/tenants",
            &headers,
            Some(json!({
                "projectName": "After",
                "stripeApiKey": "sk_stripe_123",
                "allowJWTForUnauthenticatedUsers": true,
                "identityProviders": providers
            })),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(res.json["projectName"], "After");
    assert_eq!(res.json["stripeApiKey"], "sk_stripe_123");
    assert_eq!(res.json["identityProviders"], providers);
    assert_eq!(res.json["allowJWTForUnauthenticatedUsers"], true);
    assert!(res.json.get("apiPrivateKey").is_none());

    let admin = app.get(&format!("/tenants/{id}"), &headers).await;
    assert_eq!(
        admin.json["identityProviders"], providers,
        "providers are stored"
    );
}

#[tokio::test]
async fn updating_needs_a_valid_tenant_admin_token() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Guarded"})).await;
    let body = Some(json!({"projectName": "Hacked"}));
    app.send(Method::PUT, "/tenants", &[], body.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);
    for auth in ["Bearer", "Basic abc", "Bearer not.a.token", "bearer"] {
        app.send(
            Method::PUT,
            "/tenants",
            &[("authorization", auth)],
            body.clone(),
        )
        .await
        .error(StatusCode::UNAUTHORIZED);
    }

    let keys = admin_key_set(&app).await;
    let admin =
        token::verify_access(&keys, &app.state.settings, t["jwt"].as_str().unwrap()).unwrap();
    let sign = |claims: &AccessClaims| token::sign(&keys, token::Kind::Access, claims).unwrap();

    // Authenticated but not an admin: 403.
    let user = AccessClaims {
        auth_type: pers::domain::AuthType::User,
        ..admin.clone()
    };
    let auth = bearer(&sign(&user));
    app.send(
        Method::PUT,
        "/tenants",
        &[("authorization", &auth)],
        body.clone(),
    )
    .await
    .error(StatusCode::FORBIDDEN);

    // Expired beyond the leeway: 401.
    let expired = AccessClaims {
        exp: pers::now_unix() - 120,
        ..admin.clone()
    };
    let auth = bearer(&sign(&expired));
    app.send(
        Method::PUT,
        "/tenants",
        &[("authorization", &auth)],
        body.clone(),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);

    // The login token is not an access token.
    let pk = t["projectApiKey"].as_str().unwrap();
    let login = app
        .get("/tenants/login-token", &[("x-project-key", pk)])
        .await;
    let auth = bearer(login.json.as_str().unwrap());
    app.send(
        Method::PUT,
        "/tenants",
        &[("authorization", &auth)],
        body.clone(),
    )
    .await
    .error(StatusCode::UNAUTHORIZED);

    // A token for a tenant that does not exist: 404, and nothing is created.
    let ghost_id = pers::domain::TenantId::generate();
    let ghost = AccessClaims {
        client_id: ghost_id.clone(),
        tenant_id: ghost_id,
        ..admin
    };
    let auth = bearer(&sign(&ghost));
    app.send(Method::PUT, "/tenants", &[("authorization", &auth)], body)
        .await
        .error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn me_answers_public_information_and_the_project_key() {
    let app = TestApp::embedded();
    let t = app
        .create_tenant(
            json!({"projectName": "Me", "stripeApiKey": "sk_secret", "infuraApiKey": "inf"}),
        )
        .await;
    for key in ["projectApiKey", "testnetProjectApiKey"] {
        let res = app
            .get(
                "/tenants/me",
                &[("x-project-key", t[key].as_str().unwrap())],
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json["id"], t["id"]);
        assert_eq!(res.json["projectApiKey"], t["projectApiKey"]);
        assert!(res.json.get("stripeApiKey").is_none());
        assert!(res.json.get("infuraApiKey").is_none());
        assert!(res.json.get("testnetProjectApiKey").is_none());
    }
    app.get("/tenants/me", &[])
        .await
        .error(StatusCode::UNAUTHORIZED);
    app.get("/tenants/me", &[("x-project-key", "pk_live_unknown")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    // The private key is not a project key.
    app.get(
        "/tenants/me",
        &[("x-project-key", t["apiPrivateKey"].as_str().unwrap())],
    )
    .await
    .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_config_carries_public_configuration_and_the_viewer_location() {
    let app = TestApp::embedded();
    let t = app
        .create_tenant(json!({
            "projectName": "Config",
            "stripePublishableKey": "pk_stripe",
            "stripeApiKey": "sk_stripe",
            "firebaseTenantId": "fb-1",
            "polyScanApiKey": "poly"
        }))
        .await;
    let pk = t["projectApiKey"].as_str().unwrap();
    let res = app
        .get("/tenants/client-config", &[("x-project-key", pk)])
        .await;
    assert_eq!(
        res.json,
        json!({
            "projectName": "Config",
            "id": t["id"],
            "stripePublishableKey": "pk_stripe",
            "firebaseTenantId": "fb-1",
            "polyScanApiKey": "poly",
            "clientIpLocation": null
        })
    );
    let res = app
        .get(
            "/tenants/client-config",
            &[
                ("x-project-key", pk),
                ("CloudFront-Viewer-Country", "PT"),
                ("CloudFront-Viewer-Country-Name", "Portugal"),
                ("CloudFront-Viewer-City", "Lisbon"),
                ("CloudFront-Viewer-Latitude", "38.72"),
                ("CloudFront-Viewer-Longitude", "-9.14"),
            ],
        )
        .await;
    let loc = &res.json["clientIpLocation"];
    assert_eq!(loc["country_code"], "PT");
    assert_eq!(loc["country_name"], "Portugal");
    assert_eq!(loc["city_name"], "Lisbon");
    assert_eq!(loc["latitude"], 38.72);
    assert_eq!(loc["longitude"], -9.14);
    assert_eq!(loc["postal_code"], Value::Null);
}

#[tokio::test]
async fn login_tokens_are_short_lived_and_bound_to_the_tenant() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Login"})).await;
    let keys = admin_key_set(&app).await;
    for (key, testnet) in [("projectApiKey", false), ("testnetProjectApiKey", true)] {
        let res = app
            .get(
                "/tenants/login-token",
                &[("x-project-key", t[key].as_str().unwrap())],
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
        let jwt = res.json.as_str().expect("a JSON string");
        let claims: LoginClaims =
            token::verify(&keys, &app.state.settings, token::Kind::Login, jwt).unwrap();
        assert_eq!(claims.tenant_id.as_str(), t["id"]);
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(claims.network.is_some(), testnet);
    }
    app.get("/tenants/login-token", &[])
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn get_by_id_answers_at_the_level_the_credentials_grant() {
    let app = TestApp::embedded();
    let t = app
        .create_tenant(json!({
            "projectName": "Levels",
            "projectWebsite": "https://levels.example",
            "stripeApiKey": "sk_stripe",
            "stripePublishableKey": "pk_stripe",
            "loginToken": "extra"
        }))
        .await;
    let other = app.create_tenant(json!({"projectName": "Other"})).await;
    let path = format!("/tenants/{}", t["id"].as_str().unwrap());
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();

    let public = app.get(&path, &[]).await;
    assert_eq!(public.status, StatusCode::OK);
    let mut keys: Vec<&String> = public.json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "acronym",
            "createdAt",
            "id",
            "projectName",
            "projectWebsite"
        ]
    );

    let project = app
        .get(&path, &[("x-project-key", &str_of(&t, "projectApiKey"))])
        .await;
    assert_eq!(project.json["projectApiKey"], t["projectApiKey"]);
    assert_eq!(
        project.json["testnetProjectApiKey"],
        t["testnetProjectApiKey"]
    );
    assert_eq!(project.json["stripePublishableKey"], "pk_stripe");
    assert!(project.json.get("stripeApiKey").is_none());
    assert!(project.json.get("loginToken").is_none());

    let auth = bearer(&str_of(&t, "jwt"));
    let admin = app.get(&path, &[("authorization", &auth)]).await;
    assert_eq!(admin.json["stripeApiKey"], "sk_stripe");
    assert_eq!(admin.json["loginToken"], "extra");
    assert_eq!(admin.json["projectApiKey"], t["projectApiKey"]);

    // Another tenant's credentials grant nothing beyond public.
    let foreign_key = app
        .get(
            &path,
            &[("x-project-key", &str_of(&other, "projectApiKey"))],
        )
        .await;
    assert_eq!(foreign_key.json, public.json);
    let foreign_admin = bearer(&str_of(&other, "jwt"));
    assert_eq!(
        app.get(&path, &[("authorization", &foreign_admin)])
            .await
            .json,
        public.json
    );

    // Present but invalid credentials are refused rather than silently downgraded.
    app.get(&path, &[("x-project-key", "pk_live_nope")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    app.get(&path, &[("authorization", "Bearer x.y.z")])
        .await
        .error(StatusCode::UNAUTHORIZED);

    app.get(
        &format!("/tenants/{}", pers::domain::TenantId::generate()),
        &[],
    )
    .await
    .error(StatusCode::NOT_FOUND);
    app.get("/tenants/not-a-uuid", &[])
        .await
        .error(StatusCode::NOT_FOUND);
    app.get("/tenants/%FF%FE", &[])
        .await
        .error(StatusCode::NOT_FOUND);
}

/// An app whose issuer is a public https URL (as deployed), with the signer service and
/// Firebase configured as built-in providers.
fn deployed_app() -> TestApp {
    let settings = pers::config::Settings::from_lookup(
        |k| match k {
            "PERS_ISSUER" => Some("https://auth.example.com".into()),
            "PERS_SIGNER_ISSUER" => Some("https://signer.pers.example".into()),
            "PERS_SIGNER_JWKS_URI" => Some("https://signer.pers.example/jwks.json".into()),
            "PERS_FIREBASE_PROJECT_ID" => Some("pers-platform".into()),
            _ => None,
        },
        None,
    )
    .unwrap();
    TestApp::embedded_with(settings)
}

#[tokio::test]
async fn identity_providers_cannot_shadow_built_in_ones_or_hide_a_typo() {
    let app = deployed_app();
    let t = app.create_tenant(json!({"projectName": "Guarded"})).await;
    let auth = bearer(t["jwt"].as_str().unwrap());
    let put = |providers: Value| {
        let app = &app;
        let auth = auth.clone();
        async move {
            app.send(
                Method::PUT,
                "/tenants",
                &[("authorization", &auth)],
                Some(json!({ "identityProviders": providers })),
            )
            .await
        }
    };
    let idp =
        pers_tests::TestIssuer::new("https://idp.example", pers::keys::SigningAlgorithm::Es256);
    let jwks = idp.jwks();
    let provider = |issuer: &str| json!({"issuer": issuer, "jwks": jwks, "authTypes": ["user"]});

    // A misspelt member would silently drop the audience pin: refused, by name.
    let mut typo = provider("https://idp.example");
    typo["audiences"] = json!("my-app");
    assert!(
        put(json!([typo]))
            .await
            .error(StatusCode::BAD_REQUEST)
            .contains("audiences")
    );

    // One provider per issuer.
    let dup = put(json!([
        provider("https://idp.example"),
        provider("https://idp.example")
    ]))
    .await;
    assert!(
        dup.error(StatusCode::BAD_REQUEST)
            .contains("identityProviders[1].issuer")
    );

    // Our own issuer, the signer service's and the platform's Firebase project are not a
    // tenant's to claim; another Firebase project is an ordinary provider.
    for reserved in [
        "https://auth.example.com",
        "https://signer.pers.example/",
        "https://securetoken.google.com/pers-platform",
    ] {
        let res = put(json!([provider("https://idp.example"), provider(reserved)])).await;
        assert!(
            res.error(StatusCode::BAD_REQUEST)
                .contains("identityProviders[1].issuer"),
            "{reserved}"
        );
    }
    let own_firebase = put(json!([provider(
        "https://securetoken.google.com/tenant-app"
    )]))
    .await;
    assert_eq!(own_firebase.status, StatusCode::OK, "{}", own_firebase.json);

    // Deployed, a JWKS is fetched over https from a public host only: never plain http,
    // never an address of the function's own network.
    for uri in [
        "http://127.0.0.1:9001/jwks.json",
        "http://idp.example/jwks.json",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/jwks.json",
        "https://[::1]/jwks.json",
        "https://localhost/jwks.json",
        "https://localhost./jwks.json",
        "https://jwks.localhost/jwks.json",
        "https://[::ffff:10.0.0.8]/jwks.json",
        "https://100.64.0.1/jwks.json",
    ] {
        let res =
            put(json!([{"issuer": "https://idp.example", "jwksUri": uri, "authTypes": ["user"]}]))
                .await;
        assert!(
            res.error(StatusCode::BAD_REQUEST)
                .contains("identityProviders[0].jwksUri"),
            "{uri}"
        );
    }
    let admin = app
        .get(
            &format!("/tenants/{}", t["id"].as_str().unwrap()),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        admin.json["identityProviders"],
        json!([provider("https://securetoken.google.com/tenant-app")]),
        "refused updates changed nothing"
    );
}

#[tokio::test]
async fn no_endpoint_ever_returns_the_private_key_or_its_hash() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Secretive"})).await;
    let secret = t["apiPrivateKey"].as_str().unwrap();
    let hash = pers::domain::KeyHash::of(secret).to_hex();
    let pk = t["projectApiKey"].as_str().unwrap();
    let auth = bearer(t["jwt"].as_str().unwrap());
    let id = t["id"].as_str().unwrap();
    let answers = [
        app.get("/tenants/me", &[("x-project-key", pk)]).await.json,
        app.get("/tenants/client-config", &[("x-project-key", pk)])
            .await
            .json,
        app.get(&format!("/tenants/{id}"), &[("authorization", &auth)])
            .await
            .json,
        app.send(
            Method::PUT,
            "/tenants",
            &[("authorization", &auth)],
            Some(json!({})),
        )
        .await
        .json,
    ];
    for answer in answers {
        let text = answer.to_string();
        assert!(!text.contains(secret) && !text.contains(&hash), "{text}");
    }
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_and_unavailable_keys_too() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = pers_tests::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let store = pers::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "t");
    let app = TestApp::with_store(std::sync::Arc::new(store));
    let res = app
        .get("/tenants/me", &[("x-project-key", "pk_live_anything")])
        .await;
    let message = res.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !message.contains("127.0.0.1"),
        "internals leaked: {message}"
    );

    // Keys from a Secrets Manager that cannot be reached, with nothing cached.
    let dir = tempfile::tempdir().unwrap();
    let embedded = pers::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
    let secrets = pers::keys::SecretsManagerKeySource::new(
        aws_sdk_secretsmanager::Client::new(&config),
        "signing",
        std::time::Duration::from_secs(300),
        std::time::Duration::ZERO,
    );
    let app = TestApp::with(
        std::sync::Arc::new(embedded),
        std::sync::Arc::new(secrets),
        dir,
    );
    let res = app
        .send(
            Method::POST,
            "/tenants",
            &[("x-api-key", PLATFORM_KEY)],
            Some(json!({"projectName": "X"})),
        )
        .await;
    res.error(StatusCode::SERVICE_UNAVAILABLE);
}
