//! What the reading endpoints show (`/tenants/me`, `/tenants/client-config`,
//! `/tenants/{id}` at the level the credentials grant), and what no endpoint ever does.

use axum::http::StatusCode;
use pers_tests::{TestApp, bearer};
use serde_json::{Value, json};

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
            .tenant_me(&[("x-project-key", t[key].as_str().unwrap())])
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json["id"], t["id"]);
        assert_eq!(res.json["projectApiKey"], t["projectApiKey"]);
        assert!(res.json.get("stripeApiKey").is_none());
        assert!(res.json.get("infuraApiKey").is_none());
        assert!(res.json.get("testnetProjectApiKey").is_none());
    }
    app.tenant_me(&[]).await.error(StatusCode::UNAUTHORIZED);
    app.tenant_me(&[("x-project-key", "pk_live_unknown")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    // The private key is not a project key.
    app.tenant_me(&[("x-project-key", t["apiPrivateKey"].as_str().unwrap())])
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
    let res = app.client_config(pk).await;
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
    let id = t["id"].as_str().unwrap();
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();

    let public = app.tenant_by_id(id, &[]).await;
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
        .tenant_by_id(id, &[("x-project-key", &str_of(&t, "projectApiKey"))])
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
    let admin = app.tenant_by_id(id, &[("authorization", &auth)]).await;
    assert_eq!(admin.json["stripeApiKey"], "sk_stripe");
    assert_eq!(admin.json["loginToken"], "extra");
    assert_eq!(admin.json["projectApiKey"], t["projectApiKey"]);

    // Another tenant's credentials grant nothing beyond public.
    let foreign_key = app
        .tenant_by_id(id, &[("x-project-key", &str_of(&other, "projectApiKey"))])
        .await;
    assert_eq!(foreign_key.json, public.json);
    let foreign_admin = bearer(&str_of(&other, "jwt"));
    assert_eq!(
        app.tenant_by_id(id, &[("authorization", &foreign_admin)])
            .await
            .json,
        public.json
    );

    // Present but invalid credentials are refused rather than silently downgraded.
    app.tenant_by_id(id, &[("x-project-key", "pk_live_nope")])
        .await
        .error(StatusCode::UNAUTHORIZED);
    app.tenant_by_id(id, &[("authorization", "Bearer x.y.z")])
        .await
        .error(StatusCode::UNAUTHORIZED);

    app.tenant_by_id(&pers::domain::TenantId::generate().to_string(), &[])
        .await
        .error(StatusCode::NOT_FOUND);
    app.get("/tenants/not-a-uuid", &[])
        .await
        .error(StatusCode::NOT_FOUND);
    app.get("/tenants/%FF%FE", &[])
        .await
        .error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_endpoint_ever_returns_the_private_key_or_its_hash() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Secretive"})).await;
    let secret = t["apiPrivateKey"].as_str().unwrap();
    let hash = pers::domain::KeyHash::of(secret).to_hex();
    let pk = t["projectApiKey"].as_str().unwrap();
    let jwt = t["jwt"].as_str().unwrap();
    let id = t["id"].as_str().unwrap();
    let answers = [
        app.tenant_me(&[("x-project-key", pk)]).await.json,
        app.client_config(pk).await.json,
        app.tenant_by_id(id, &[("authorization", &bearer(jwt))])
            .await
            .json,
        app.update_tenant(jwt, json!({})).await.json,
    ];
    for answer in answers {
        let text = answer.to_string();
        assert!(!text.contains(secret) && !text.contains(&hash), "{text}");
    }
}
