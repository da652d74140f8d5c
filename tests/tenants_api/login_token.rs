//! `GET /tenants/login-token`: short-lived, bound to the tenant and its network.

use axum::http::StatusCode;
use pers::token::LoginClaims;
use pers_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn login_tokens_are_short_lived_and_bound_to_the_tenant() {
    let app = TestApp::embedded();
    let t = app.create_tenant(json!({"projectName": "Login"})).await;
    for (key, testnet) in [("projectApiKey", false), ("testnetProjectApiKey", true)] {
        let res = app.login_token(t[key].as_str().unwrap()).await;
        assert_eq!(res.status, StatusCode::OK);
        let jwt = res.json.as_str().expect("a JSON string");
        let claims: LoginClaims = app.login_claims(jwt).await;
        assert_eq!(claims.tenant_id.as_str(), t["id"]);
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(claims.network.is_some(), testnet);
    }
    app.get("/tenants/login-token", &[])
        .await
        .error(StatusCode::UNAUTHORIZED);
}
