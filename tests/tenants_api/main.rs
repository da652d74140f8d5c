//! `/tenants…` through the router, on the embedded store.
//!
//! One test binary, a module per feature.

mod create;
mod errors;
mod login_token;
mod update;
mod views;
