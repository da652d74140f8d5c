//! What each view shows of a tenant.

use super::*;
use serde_json::Value;

/// The member names of a view's JSON, sorted.
fn names(view: impl Serialize) -> Vec<String> {
    let Value::Object(members) = serde_json::to_value(view).unwrap() else {
        panic!("a view is an object");
    };
    let mut names: Vec<String> = members.keys().cloned().collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// A tenant with every optional field set.
fn full() -> Tenant {
    let mut t = Tenant::sample();
    for slot in [
        &mut t.project_description,
        &mut t.project_website,
        &mut t.project_email,
        &mut t.project_image_url,
        &mut t.stripe_api_key,
        &mut t.stripe_webhook_secret,
        &mut t.stripe_publishable_key,
        &mut t.login_token,
        &mut t.firebase_tenant_id,
        &mut t.infura_api_key,
        &mut t.poly_scan_api_key,
    ] {
        *slot = Some("x".into());
    }
    t
}

const PUBLIC: [&str; 8] = [
    "id",
    "projectName",
    "acronym",
    "createdAt",
    "projectDescription",
    "projectWebsite",
    "projectEmail",
    "projectImageUrl",
];
const PROJECT: [&str; 8] = [
    "projectApiKey",
    "testnetProjectApiKey",
    "stripePublishableKey",
    "firebaseTenantId",
    "infuraApiKey",
    "polyScanApiKey",
    "allowJWTForUnauthenticatedUsers",
    "defaultWalletManagementType",
];
const ADMIN: [&str; 4] = [
    "stripeApiKey",
    "stripeWebhookSecret",
    "loginToken",
    "identityProviders",
];

#[test]
fn each_level_sees_its_fields_and_those_below_it_only() {
    let t = full();
    assert_eq!(names(PublicTenant::from(&t)), sorted(&PUBLIC));
    assert_eq!(
        names(ProjectTenant::from(&t)),
        sorted(&[PUBLIC, PROJECT].concat())
    );
    assert_eq!(
        names(AdminTenant::from(&t)),
        sorted(&[&PUBLIC[..], &PROJECT, &ADMIN].concat())
    );
    assert_eq!(
        names(KeyedTenant::from(&t)),
        sorted(&[&PUBLIC[..], &["projectApiKey"]].concat())
    );
    assert_eq!(
        names(ClientConfig::of(&t, None)),
        sorted(&[
            "projectName",
            "id",
            "stripePublishableKey",
            "firebaseTenantId",
            "infuraApiKey",
            "polyScanApiKey",
            "clientIpLocation"
        ])
    );
}

#[test]
fn empty_fields_are_left_out_and_no_view_shows_the_hash_or_version() {
    let t = Tenant::sample();
    let admin = serde_json::to_value(AdminTenant::from(&t)).unwrap();
    assert!(admin.get("projectDescription").is_none(), "{admin}");
    assert!(admin.get("stripeApiKey").is_none(), "{admin}");
    assert_eq!(admin["identityProviders"], serde_json::json!([]));
    let text = admin.to_string();
    assert!(!text.contains(&t.api_private_key_hash.to_hex()));
    assert!(admin.get("version").is_none() && admin.get("apiPrivateKeyHash").is_none());
    assert_eq!(
        admin["createdAt"], "1970-01-01T00:00:00Z",
        "RFC 3339, as stored"
    );
}
