//! Unit tests of tenants, their patches and their identity providers.

use super::*;

fn sample() -> Tenant {
    Tenant::sample()
}

fn patch(json: serde_json::Value) -> Result<TenantPatch, serde_json::Error> {
    serde_json::from_value(json)
}

fn err_field(json: serde_json::Value) -> String {
    patch(json).unwrap().apply(&sample()).unwrap_err().field
}

#[test]
fn only_json_both_stores_can_keep_is_storable() {
    use serde_json::json;
    assert!(
        storable_json(
            "x",
            &json!({"a": [1, 2.5, -3e100, 0, "s", null, {"b": true}]})
        )
        .is_ok()
    );
    let mut deep = json!(1);
    for _ in 0..16 {
        deep = json!([deep]);
    }
    assert_eq!(storable_json("x", &deep).unwrap_err().field, "x");
    assert!(storable_json("x", &json!({"n": 1e200})).is_err());
    assert!(storable_json("x", &json!({"n": 1e-200})).is_err());
    assert!(storable_json("x", &json!({"": 1})).is_err());
}

#[test]
fn tenant_ids_round_trip_and_reject_anything_else() {
    let id = TenantId::generate();
    assert_eq!(TenantId::parse(id.as_str()), Some(id.clone()));
    assert_eq!(TenantId::parse("TENANT#x"), None);
    assert_eq!(TenantId::parse(&id.as_str().to_uppercase()), None);
    assert_eq!(TenantId::parse(""), None);
}

#[test]
fn acronyms_come_from_initials_or_the_first_letters() {
    assert_eq!(derive_acronym("My Project"), "MP");
    assert_eq!(derive_acronym("acme"), "ACM");
    assert_eq!(derive_acronym("the big blue coffee shop co"), "TBBCS");
    assert_eq!(derive_acronym("  !!  "), "T");
    assert_eq!(derive_acronym("café-bar"), "CB");
}

#[test]
fn a_valid_patch_changes_only_what_it_names() {
    let before = sample();
    let after = patch(serde_json::json!({
        "projectName": "  New Name ",
        "projectEmail": "ops@example.com",
        "projectWebsite": "https://example.com",
        "allowJWTForUnauthenticatedUsers": true,
        "defaultWalletManagementType": "non-custodial"
    }))
    .unwrap()
    .apply(&before)
    .unwrap();
    assert_eq!(after.project_name, "New Name");
    assert_eq!(after.project_email.as_deref(), Some("ops@example.com"));
    assert!(after.allow_jwt_for_unauthenticated_users);
    assert_eq!(
        after.default_wallet_management_type,
        WalletManagementType::NonCustodial
    );
    assert_eq!(after.project_api_key, before.project_api_key);
    assert_eq!(after.acronym, before.acronym);
}

#[test]
fn null_clears_an_optional_field_and_absence_keeps_it() {
    let mut before = sample();
    before.project_description = Some("old".into());
    before.login_token = Some("keep".into());
    let after = patch(serde_json::json!({"projectDescription": null}))
        .unwrap()
        .apply(&before)
        .unwrap();
    assert_eq!(after.project_description, None);
    assert_eq!(after.login_token.as_deref(), Some("keep"));
}

#[test]
fn invalid_values_name_their_field() {
    use serde_json::json;
    assert_eq!(err_field(json!({"projectName": "   "})), "projectName");
    assert_eq!(
        err_field(json!({"projectEmail": "not-an-email"})),
        "projectEmail"
    );
    assert_eq!(
        err_field(json!({"projectWebsite": "ftp://x.org"})),
        "projectWebsite"
    );
    assert_eq!(
        err_field(json!({"projectImageUrl": "nope"})),
        "projectImageUrl"
    );
    assert_eq!(err_field(json!({"stripeApiKey": ""})), "stripeApiKey");
    assert_eq!(
        err_field(json!({"projectDescription": "x".repeat(2001)})),
        "projectDescription"
    );
}

#[test]
fn unknown_fields_and_wrong_types_are_rejected_by_serde() {
    let e = patch(serde_json::json!({"projectNam": "x"})).unwrap_err();
    assert!(e.to_string().contains("projectNam"), "{e}");
    assert!(patch(serde_json::json!({"allowJWTForUnauthenticatedUsers": "yes"})).is_err());
    assert!(patch(serde_json::json!({"defaultWalletManagementType": "CUSTODIAL"})).is_err());
    assert!(patch(serde_json::json!({"projectName": null})).is_err());
}

#[test]
fn identity_providers_are_validated() {
    use serde_json::json;
    let ok = json!({"identityProviders": [{
        "issuer": "https://issuer.example",
        "jwksUri": "https://issuer.example/jwks.json",
        "audience": "my-app",
        "authTypes": ["user"],
        "algorithms": ["RS256", "ES256"]
    }]});
    let t = patch(ok).unwrap().apply(&sample()).unwrap();
    assert_eq!(t.identity_providers.len(), 1);

    let both = json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "https://i/j", "jwks": {"keys": []}, "authTypes": ["user"]
    }]});
    assert_eq!(err_field(both), "identityProviders[0]");
    let hmac = json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": ["user"], "algorithms": ["HS256"]
    }]});
    let refused = patch(hmac).unwrap_err().to_string();
    assert!(
        refused.contains("HS256") && refused.contains("RS256"),
        "{refused}"
    );
    let no_types = json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": []
    }]});
    assert_eq!(err_field(no_types), "identityProviders[0].authTypes");
    let userinfo = json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "https://user:pass@issuer.example/j", "authTypes": ["user"]
    }]});
    assert_eq!(err_field(userinfo), "identityProviders[0].jwksUri");
    let plain_http = json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "http://issuer.example/j", "authTypes": ["user"]
    }]});
    assert_eq!(err_field(plain_http), "identityProviders[0].jwksUri");
    let private = json!({"identityProviders": [{
        "issuer": "https://i", "authTypes": ["user"],
        "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
    }]});
    assert!(err_field(private).starts_with("identityProviders[0].jwks"));
}

#[test]
fn loopback_http_is_allowed_for_local_development() {
    let local = serde_json::json!({"identityProviders": [{
        "issuer": "http://127.0.0.1:9999", "jwksUri": "http://127.0.0.1:9999/jwks", "authTypes": ["user"]
    }]});
    assert!(patch(local).unwrap().apply(&sample()).is_ok());
}

#[test]
fn a_provider_is_read_from_an_object_only() {
    let as_array =
        serde_json::json!({"identityProviders": [["https://i", null, null, null, ["user"]]]});
    let e = patch(as_array).unwrap_err().to_string();
    assert!(e.contains("JSON object"), "{e}");
    let typo = serde_json::json!({"identityProviders": [{
        "issuer": "https://i", "jwksUri": "https://i/j", "authTypes": ["user"], "audiences": "x"
    }]});
    assert!(patch(typo).unwrap_err().to_string().contains("audiences"));
}

#[test]
fn creation_requires_a_project_name() {
    assert_eq!(
        TenantPatch::default()
            .required_project_name()
            .unwrap_err()
            .field,
        "projectName"
    );
}
