//! The OpenAPI document: generated from the code, served by the app at `/openapi.json`,
//! covering every route, credential, body and error.

use axum::http::{Method, StatusCode};
use pers_tests::TestApp;
use serde_json::Value;

const ROUTES: &[(&str, &str)] = &[
    ("post", "/auth/token"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("post", "/auth/verify"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("post", "/tenants"),
    ("put", "/tenants"),
    ("get", "/tenants/me"),
    ("get", "/tenants/client-config"),
    ("get", "/tenants/login-token"),
    ("get", "/tenants/{id}"),
    ("post", "/tenants/api-private-key"),
    ("post", "/tenants/{id}/admin-token"),
];

async fn document(app: &TestApp) -> Value {
    let res = app.get("/openapi.json", &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    res.json
}

#[tokio::test]
async fn every_route_is_documented_with_its_credentials_and_errors() {
    let app = TestApp::embedded();
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            documented.push((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<&String> = responses
                .keys()
                .filter(|s| s.starts_with('4') || s.starts_with('5'))
                .collect();
            assert!(!errors.is_empty(), "{method} {path} documents no error");
            for status in errors {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                // 429 is API Gateway's own answer (its throttling), in its own shape.
                let expected = match status.as_str() {
                    "429" => "#/components/schemas/GatewayError",
                    _ => "#/components/schemas/ErrorBody",
                };
                assert_eq!(schema, expected, "{method} {path} {status}");
            }
            for status in ["429", "503"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
            if method != "get" || path.starts_with("/tenants") {
                assert!(
                    op.get("security").is_some(),
                    "{method} {path} names no credential"
                );
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["projectKey"]["name"], "x-project-key");
    assert_eq!(schemes["businessApiKey"]["name"], "x-api-key");
    assert_eq!(schemes["tenantAdminJWT"]["scheme"], "bearer");
    let patch = &doc["components"]["schemas"]["TenantPatch"]["properties"];
    assert!(
        patch.get("identityProviders").is_some()
            && patch.get("allowJWTForUnauthenticatedUsers").is_some(),
        "{patch}"
    );
}

#[tokio::test]
async fn every_documented_route_exists_in_the_router() {
    let app = TestApp::embedded();
    for (method, path) in ROUTES {
        let path = path.replace("{id}", &pers::domain::TenantId::generate().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.send(method.clone(), &path, &[], None).await;
        assert_ne!(
            res.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if res.status == StatusCode::NOT_FOUND {
            assert_ne!(res.json["message"], "no such route", "{method} {path}");
        }
    }
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The request body a renderer shows as the sample (Redocly, Swagger UI): a schema's
/// `example` where it has one, else one built from its properties' examples.
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(example) = schema["examples"].get(0) {
        return example.clone();
    }
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    if let Some(items) = schema["oneOf"].as_array() {
        let item = items.iter().find(|i| i["type"] != "null").unwrap();
        return sample(doc, item);
    }
    match schema.get("properties").and_then(Value::as_object) {
        Some(properties) => Value::Object(
            properties
                .iter()
                .map(|(name, property)| (name.clone(), sample(doc, property)))
                .collect(),
        ),
        None => panic!("no example to build a sample from: {schema}"),
    }
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((method.clone(), path.clone(), op.clone()));
        }
    }
    all
}

#[tokio::test]
async fn every_operation_has_a_short_summary_a_description_and_an_id() {
    let doc = document(&TestApp::embedded()).await;
    let mut ids = Vec::new();
    for (method, path, op) in operations(&doc) {
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.is_empty()
                && summary.len() <= 60
                && !summary.contains('`')
                && !summary.ends_with('.')
                && !summary.contains('\n'),
            "{method} {path}: summary {summary:?}"
        );
        let description = op["description"].as_str().unwrap_or_default();
        assert!(
            description.len() > summary.len(),
            "{method} {path}: {description:?}"
        );
        let id = op["operationId"].as_str().unwrap();
        assert!(
            id.chars().next().unwrap().is_ascii_lowercase()
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: operationId {id:?} is not camelCase"
        );
        ids.push(id.to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ROUTES.len(), "{ids:?}");
}

#[tokio::test]
async fn every_property_of_every_schema_has_a_description_and_an_example() {
    let doc = document(&TestApp::embedded()).await;
    let has_example = |schema: &Value| {
        let target = |s: &Value| {
            let s = resolve(&doc, s);
            s.get("example").is_some() || s.get("examples").is_some()
        };
        target(schema)
            || schema["oneOf"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i.get("$ref").is_some() && target(i)))
    };
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        assert!(
            schema.get("description").is_some(),
            "{name} has no description"
        );
        assert!(
            schema.get("allOf").is_none(),
            "{name} is an allOf: a flattened view should be one object"
        );
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            let description = definition["description"].as_str().unwrap_or_default();
            assert!(
                !description.is_empty(),
                "{name}.{property} has no description"
            );
            assert!(has_example(definition), "{name}.{property} has no example");
            assert!(
                definition["oneOf"]
                    .as_array()
                    .is_none_or(|items| items.len() > 1),
                "{name}.{property} is a one-item oneOf: {definition}"
            );
        }
    }
    let keys = &schemas["Jwk"]["properties"];
    for member in ["kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"] {
        assert!(keys.get(member).is_some(), "JWK member {member}");
    }
    assert_eq!(schemas["JwkSet"]["required"], serde_json::json!(["keys"]));
}

#[tokio::test]
async fn optional_enums_of_the_bodies_are_enums_with_their_default() {
    let doc = document(&TestApp::embedded()).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, property, default) in [
        ("TokenRequest", "authType", "user"),
        ("LogoutRequest", "scope", "local"),
        ("NewTenantBody", "defaultWalletManagementType", "custodial"),
    ] {
        let definition = &schemas[schema]["properties"][property];
        assert_eq!(definition["default"], default, "{schema}.{property}");
        assert_eq!(
            definition["type"], "string",
            "{schema}.{property}: {definition}"
        );
        let values = definition["enum"].as_array().unwrap();
        assert!(values.contains(&default.into()), "{schema}.{property}");
        let required = schemas[schema]["required"].as_array().unwrap();
        assert!(!required.contains(&property.into()), "{schema}.{property}");
    }
    assert_eq!(
        schemas["NewTenantBody"]["properties"]["allowJWTForUnauthenticatedUsers"]["default"],
        false
    );
    assert_eq!(
        schemas["VerifyRequest"]["properties"]["checkRevoked"]["default"],
        false
    );
    for provider in ["FetchedKeysProvider", "InlineKeysProvider"] {
        let properties = &schemas[provider]["properties"];
        assert_eq!(
            properties["authTypes"]["items"]["$ref"],
            "#/components/schemas/AuthType"
        );
        assert_eq!(
            properties["algorithms"]["items"]["$ref"],
            "#/components/schemas/ProviderAlgorithm"
        );
        assert_eq!(
            properties["algorithms"]["default"]
                .as_array()
                .unwrap()
                .len(),
            pers::domain::ProviderAlgorithm::ALL.len()
        );
    }
    // An update leaves absent fields as they are: no defaults there.
    let patch = &schemas["TenantPatch"]["properties"];
    assert!(
        patch["defaultWalletManagementType"]
            .get("default")
            .is_none()
    );
    assert!(patch["defaultWalletManagementType"]["enum"].is_array());
}

#[tokio::test]
async fn each_route_documents_its_servers_credentials_and_answer() {
    let doc = document(&TestApp::embedded()).await;
    assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:3000");
    let deployed = &doc["servers"][1];
    assert!(
        deployed["url"]
            .as_str()
            .unwrap()
            .starts_with("https://{apiId}")
    );
    for variable in ["apiId", "region"] {
        assert!(
            deployed["variables"][variable]["default"].is_string(),
            "{variable}"
        );
    }
    assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
    assert!(doc["info"]["contact"]["name"].is_string());
    assert!(!doc["info"]["version"].as_str().unwrap().is_empty());

    let op = |method: &str, path: &str| doc["paths"][path][method].clone();
    let security = |method: &str, path: &str| op(method, path)["security"].clone();
    use serde_json::json;
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(security("get", path), json!([{}]), "{path}");
        let ok = &op("get", path)["responses"]["200"];
        assert!(ok["headers"]["Cache-Control"].is_object(), "{path}");
    }
    for path in ["/auth/token", "/auth/refresh", "/auth/logout"] {
        assert_eq!(
            security("post", path),
            json!([{"projectKey": []}, {"projectKey": [], "businessApiKey": []}]),
            "{path}"
        );
    }
    assert_eq!(
        security("get", "/tenants/{id}"),
        json!([{}, {"projectKey": []}, {"businessApiKey": []}, {"tenantAdminJWT": []}])
    );
    assert_eq!(
        security("post", "/tenants"),
        json!([{"businessApiKey": []}])
    );
    assert_eq!(security("put", "/tenants"), json!([{"tenantAdminJWT": []}]));

    let body = |method: &str, path: &str, status: &str| {
        op(method, path)["responses"][status]["content"]["application/json"]["schema"].clone()
    };
    let named = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    assert_eq!(body("post", "/tenants", "201"), named("CreatedTenant"));
    assert_eq!(body("put", "/tenants", "200"), named("AdminTenant"));
    assert_eq!(body("get", "/tenants/me", "200"), named("KeyedTenant"));
    assert_eq!(body("get", "/tenants/login-token", "200")["type"], "string");
    assert_eq!(
        body("get", "/.well-known/jwks.json", "200"),
        named("JwkSet")
    );
    let views = &doc["components"]["schemas"]["TenantView"]["oneOf"];
    assert_eq!(
        views,
        &json!([
            named("PublicTenant"),
            named("ProjectTenant"),
            named("AdminTenant")
        ])
    );
    for view in ["PublicTenant", "ProjectTenant", "AdminTenant"] {
        let schema = &doc["components"]["schemas"][view];
        assert!(schema["title"].is_string(), "{view}");
        assert_eq!(schema["additionalProperties"], false, "{view}");
    }
    // Every answer of the service names its request; API Gateway's own 429 does not.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let header = &response["headers"]["x-request-id"];
                assert_eq!(
                    header.is_object(),
                    status != "429",
                    "{method} {path} {status}: {header}"
                );
            }
        }
    }
    // Token-carrying answers say `no-store`.
    for (method, path, status) in [
        ("post", "/auth/token", "201"),
        ("post", "/tenants", "201"),
        ("get", "/tenants/login-token", "200"),
        ("post", "/tenants/api-private-key", "201"),
    ] {
        let header = &op(method, path)["responses"][status]["headers"]["Cache-Control"];
        assert_eq!(
            header["schema"]["enum"],
            json!(["no-store"]),
            "{method} {path}"
        );
    }
}

/// Every member of an answer is a property of its schema, and every required property
/// is there: the schema is exactly what comes back.
fn assert_matches(doc: &Value, schema: &str, answer: &Value) {
    let schema = &doc["components"]["schemas"][schema];
    let properties = schema["properties"].as_object().unwrap();
    for member in answer.as_object().unwrap().keys() {
        assert!(
            properties.contains_key(member),
            "{member} is not in the schema"
        );
    }
    for required in schema["required"].as_array().unwrap() {
        assert!(
            answer.get(required.as_str().unwrap()).is_some(),
            "{required} is missing from {answer}"
        );
    }
}

#[tokio::test]
async fn the_sample_bodies_of_post_and_put_tenants_are_accepted() {
    let app = TestApp::embedded();
    let doc = document(&app).await;
    let request = |method: &str| {
        doc["paths"]["/tenants"][method]["requestBody"]["content"]["application/json"]["schema"]
            .clone()
    };
    let created = app.post_tenant(sample(&doc, &request("post"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_matches(&doc, "CreatedTenant", &created.json);
    let jwt = created.json["jwt"].as_str().unwrap();

    let update = sample(&doc, &request("put"));
    assert!(update.get("identityProviders").is_some(), "{update}");
    let updated = app.update_tenant(jwt, update).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_matches(&doc, "AdminTenant", &updated.json);

    let id = created.json["id"].as_str().unwrap();
    let project_key = created.json["projectApiKey"].as_str().unwrap();
    let bearer = pers_tests::bearer(jwt);
    for (headers, view) in [
        (vec![], "PublicTenant"),
        (vec![("x-project-key", project_key)], "ProjectTenant"),
        (vec![("authorization", bearer.as_str())], "AdminTenant"),
    ] {
        let res = app.tenant_by_id(id, &headers).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.json);
        assert_matches(&doc, view, &res.json);
    }
    let me = app.tenant_me(&[("x-project-key", project_key)]).await;
    assert_matches(&doc, "KeyedTenant", &me.json);
    assert_matches(
        &doc,
        "ClientConfig",
        &app.client_config(project_key).await.json,
    );
}
