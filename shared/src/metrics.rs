//! The service's counters (DESIGN §8), as CloudWatch Embedded Metric Format documents:
//! log lines that CloudWatch Logs turns into metrics, so that no request waits on a
//! metrics API. [`count`] emits an event of target [`TARGET`]; the Lambda functions'
//! log layer ([`crate::telemetry::json`]) writes it to stdout as one document:
//!
//! ```json
//! {"_aws": {"Timestamp": 1764629776123, "CloudWatchMetrics": [{"Namespace": "PERS",
//!   "Dimensions": [["Function"]], "Metrics": [{"Name": "Logins", "Unit": "Count"}]}]},
//!  "Function": "pers-auth", "Logins": 1, "requestId": "…", "tenantId": "…", "authType": "user"}
//! ```
//!
//! One dimension, the function's name: a metric per function and name, whatever the
//! traffic (a dimension per tenant would be a custom metric per tenant, billed each
//! month). The tenant, auth type and request ids are properties of the document: not
//! metrics, but searchable in CloudWatch Logs Insights. `pers-local` emits none.

use serde_json::{Map, Value};

/// The target of metric events.
pub const TARGET: &str = "pers::metrics";

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "PERS";

/// The one dimension (the Lambda function's name).
pub const DIMENSION: &str = "Function";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `POST /auth/token` opened a session.
    Logins,
    /// `POST /auth/refresh` rotated a refresh token.
    Refreshes,
    /// A refresh token that is no longer current was presented (at refresh or sign-out):
    /// its family is revoked.
    ReuseDetections,
    /// `POST /auth/logout` answered `204`.
    SignOuts,
    /// An identity provider's JWKS could not be fetched (unreachable, slow, not a JWK
    /// Set): its tokens are answered `503`.
    ProviderJwksFailures,
    /// An answer with a 5xx status.
    ServerErrors,
}

impl Metric {
    pub const ALL: [Self; 6] = [
        Self::Logins,
        Self::Refreshes,
        Self::ReuseDetections,
        Self::SignOuts,
        Self::ProviderJwksFailures,
        Self::ServerErrors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Logins => "Logins",
            Self::Refreshes => "Refreshes",
            Self::ReuseDetections => "ReuseDetections",
            Self::SignOuts => "SignOuts",
            Self::ProviderJwksFailures => "ProviderJwksFailures",
            Self::ServerErrors => "ServerErrors",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Counts one `metric`, in the current request's context.
pub fn count(metric: Metric) {
    tracing::info!(target: TARGET, metric = metric.name());
}

/// Counts one `metric` for sessions of `auth_type` (a property, not a dimension).
pub fn count_for(metric: Metric, auth_type: crate::domain::AuthType) {
    tracing::info!(target: TARGET, metric = metric.name(), authType = auth_type.as_str());
}

/// The EMF document of a metric event with fields `event` (`metric`, and properties),
/// or `None` if it names no metric. `context` adds properties that are set.
pub(crate) fn document<const N: usize>(
    event: &Map<String, Value>,
    function_name: Option<Value>,
    now: time::OffsetDateTime,
    context: [(&str, Option<Value>); N],
) -> Option<Map<String, Value>> {
    let metric = Metric::from_name(event.get("metric")?.as_str()?)?;
    let timestamp = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        }),
    );
    document.insert(
        DIMENSION.into(),
        function_name.unwrap_or_else(|| "unknown".into()),
    );
    document.insert(metric.name().into(), 1.into());
    for (name, value) in context {
        if let Some(value) = value {
            document.insert(name.into(), value);
        }
    }
    for (name, value) in event {
        if name != "metric" && name != "message" {
            document
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    Some(document)
}
