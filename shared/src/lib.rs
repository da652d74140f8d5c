//! PERS auth & tenants: the domain crate shared by every function and by `pers-local`.
//!
//! One folder per concern: [`domain`] (tenants, credentials, ids), [`store`] (the storage
//! trait with its embedded and DynamoDB implementations), [`keys`] (signing key sets),
//! [`token`] (issuing and verifying PERS tokens), [`http`] (one router per endpoint group),
//! [`geo`] (where a client is).

pub mod audit;
pub mod config;
pub mod deadlines;
pub mod domain;
pub mod geo;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod token;

/// The error type carried as a `source` by infrastructure failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An error and its causes on one line (`outer: cause: root cause`), for logs: the
/// `Display` of an SDK error alone ("dispatch failure") says nothing of why.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
