//! The tests' one door to the product's token API through a [`TestApp`]: the claims of
//! the tokens the app issued, read with its keys and settings, and access tokens signed
//! by its key. When that API changes, this file changes, not the tests.
//!
//! (Tests of a bare `KeySet`, as `secrets_manager_keys.rs`, call the API themselves.)

use std::sync::Arc;

use pers::keys::KeySet;
use pers::token::{self, AccessClaims, LoginClaims, OwnClaims, RefreshClaims};

use crate::TestApp;

impl TestApp {
    /// The app's current key set (as its key source has it cached).
    pub async fn key_set(&self) -> Arc<KeySet> {
        self.state
            .issuer
            .key_set()
            .await
            .expect("the app's key set")
    }

    /// The claims of a token of this app of the kind `C` names; the test fails if it
    /// does not verify.
    pub async fn claims<C: OwnClaims>(&self, token: &str) -> C {
        let keys = self.key_set().await;
        token::verify(&keys, &self.state.settings, token, self.state.issuer.now())
            .unwrap_or_else(|e| panic!("not a valid {:?} token: {e}", C::KIND))
    }

    pub async fn access_claims(&self, token: &str) -> AccessClaims {
        self.claims(token).await
    }

    pub async fn refresh_claims(&self, token: &str) -> RefreshClaims {
        self.claims(token).await
    }

    pub async fn login_claims(&self, token: &str) -> LoginClaims {
        self.claims(token).await
    }

    /// An access token with these claims, signed by the app's current key.
    pub async fn sign_access(&self, claims: &AccessClaims) -> String {
        let keys = self.key_set().await;
        token::sign(&keys, token::Kind::Access, claims).expect("signed")
    }
}
