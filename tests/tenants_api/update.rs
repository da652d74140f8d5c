//! `PUT /tenants`: by a tenant admin only; validated, all or nothing; identity
//! providers that cannot shadow built-in ones, hide a typo or point inward.

use axum::http::{Method, StatusCode};
use pers::config::{Deployment, Settings};
use pers::token::AccessClaims;
use pers_tests::{TestApp, bearer};
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_updates_the_tenant_and_unknown_fields_change_nothing() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Before"})).await;
    let jwt = t["jwt"].as_str().unwrap();
    let auth = bearer(jwt);
    let headers = [("authorization", auth.as_str())];

    let res = app
        .update_tenant(jwt, json!({"projectName": "After", "unknownThing": 1}))
        .await;
    assert!(res.error(StatusCode::BAD_REQUEST).contains("unknownThing"));
    let res = app
        .update_tenant(jwt, json!({"projectName": "After", "projectEmail": "bad"}))
        .await;
    assert!(res.error(StatusCode::BAD_REQUEST).contains("projectEmail"));
    let id = t["id"].as_str().unwrap();
    let pk = t["projectApiKey"].as_str().unwrap();
    let seen = app.tenant_by_id(id, &[("x-project-key", pk)]).await;
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
        .update_tenant(
            jwt,
            json!({
                "projectName": "After",
                "stripeApiKey": "sk_stripe_123",
                "allowJWTForUnauthenticatedUsers": true,
                "identityProviders": providers
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(res.json["projectName"], "After");
    assert_eq!(res.json["stripeApiKey"], "sk_stripe_123");
    assert_eq!(res.json["identityProviders"], providers);
    assert_eq!(res.json["allowJWTForUnauthenticatedUsers"], true);
    assert!(res.json.get("apiPrivateKey").is_none());

    let admin = app.tenant_by_id(id, &headers).await;
    assert_eq!(
        admin.json["identityProviders"], providers,
        "providers are stored"
    );
}

#[tokio::test]
async fn updating_needs_a_valid_tenant_admin_token() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Guarded"})).await;
    let patch = json!({"projectName": "Hacked"});
    let body = Some(patch.clone());
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

    let admin = app.access_claims(t["jwt"].as_str().unwrap()).await;

    // Authenticated but not an admin: 403.
    let user = AccessClaims {
        auth_type: pers::domain::AuthType::User,
        ..admin.clone()
    };
    app.update_tenant(&app.sign_access(&user).await, patch.clone())
        .await
        .error(StatusCode::FORBIDDEN);

    // Expired beyond the leeway: 401.
    let expired = AccessClaims {
        exp: pers::now_unix() - 120,
        ..admin.clone()
    };
    app.update_tenant(&app.sign_access(&expired).await, patch.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);

    // The login token is not an access token.
    let pk = t["projectApiKey"].as_str().unwrap();
    let login = app.login_token(pk).await;
    app.update_tenant(login.json.as_str().unwrap(), patch.clone())
        .await
        .error(StatusCode::UNAUTHORIZED);

    // A token for a tenant that does not exist: 404, and nothing is created.
    let ghost_id = pers::domain::TenantId::generate();
    let ghost = AccessClaims {
        client_id: ghost_id.clone(),
        tenant_id: ghost_id,
        ..admin
    };
    app.update_tenant(&app.sign_access(&ghost).await, patch)
        .await
        .error(StatusCode::NOT_FOUND);
}

/// An app whose issuer is a public https URL (as deployed), with the signer service and
/// Firebase configured as built-in providers.
fn deployed_app() -> TestApp {
    let settings = Settings::from_lookup(
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
    TestApp::embedded_in(Deployment::Lambda, settings)
}

#[tokio::test]
async fn identity_providers_cannot_shadow_built_in_ones_or_hide_a_typo() {
    let app = deployed_app();
    let t = app.create_tenant(json!({"projectName": "Guarded"})).await;
    let jwt = t["jwt"].as_str().unwrap();
    let put = |providers: Value| app.update_tenant(jwt, json!({ "identityProviders": providers }));
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
    // Nor may a tenant be created with one (POST /tenants takes the same fields).
    for providers in [
        json!([provider("https://signer.pers.example")]),
        json!([{"issuer": "https://idp.example", "jwksUri": "https://10.0.0.8/jwks.json", "authTypes": ["user"]}]),
    ] {
        let res = app
            .post_tenant(json!({"projectName": "Shadow", "identityProviders": providers}))
            .await;
        assert!(
            res.error(StatusCode::BAD_REQUEST)
                .contains("identityProviders[0]"),
            "{providers}"
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
        .tenant_by_id(
            t["id"].as_str().unwrap(),
            &[("authorization", &bearer(jwt))],
        )
        .await;
    assert_eq!(
        admin.json["identityProviders"],
        json!([provider("https://securetoken.google.com/tenant-app")]),
        "refused updates changed nothing"
    );
}

/// The binary says where it runs; the issuer's scheme does not. A Lambda function with a
/// plain-http issuer (a test stand, a misconfiguration) still refuses internal JWKS URIs,
/// and `pers-local` behind an https issuer (a tunnel) still lets its developer use one.
#[tokio::test]
async fn the_deployment_not_the_issuer_decides_where_a_jwks_uri_may_point() {
    let loopback = json!({"identityProviders": [{
        "issuer": "https://idp.example", "jwksUri": "http://127.0.0.1:9001/jwks.json",
        "authTypes": ["user"]
    }]});
    let issuer = |url: &str| Settings::from_lookup(|_| None, Some(url.into())).unwrap();
    let lambda = TestApp::embedded_in(Deployment::Lambda, issuer("http://127.0.0.1:3000"));
    let t = lambda.create_tenant(json!({"projectName": "Stand"})).await;
    let res = lambda
        .update_tenant(t["jwt"].as_str().unwrap(), loopback.clone())
        .await;
    assert!(
        res.error(StatusCode::BAD_REQUEST)
            .contains("identityProviders[0].jwksUri")
    );
    let local = TestApp::embedded_in(Deployment::Local, issuer("https://dev.example"));
    let t = local.create_tenant(json!({"projectName": "Tunnel"})).await;
    let res = local
        .update_tenant(t["jwt"].as_str().unwrap(), loopback)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}
