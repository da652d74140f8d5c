//! The request id and the request line (DESIGN §8), from tower-http's `request-id` and
//! `trace` middleware.
//!
//! Every response carries `x-request-id`: under API Gateway the id the platform gave
//! the request (`requestContext.requestId`, the `requestId` of its access log), in
//! `pers-local` a fresh UUID. An `x-request-id` the client sent is dropped first: the ids
//! in our logs are ours, so a client cannot make two requests look like one.
//!
//! Each request runs in a span `request` (`xRequestId`, `method`, `route`, `tenantId`
//! once a credential names the tenant, `coldStart`) and ends with one line of target
//! `pers::request`: its status and latency, and for a 5xx its cause. A 5xx also counts
//! [`Metric::ServerErrors`]. The route is the matched template (`/tenants/{id}`), never
//! the raw path, which would carry ids and whatever a client sends.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Span;

use crate::metrics::{self, Metric};

/// Why a 5xx answer failed, put in its extensions by [`ApiError`](super::ApiError) so
/// that the request line can name it.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// The id of a request: the platform's, when API Gateway (or the Lambda runtime's
/// function URL) gave one, else a new UUID.
#[derive(Debug, Clone, Copy, Default)]
struct PlatformOrNewId;

impl MakeRequestId for PlatformOrNewId {
    fn make_request_id<B>(&mut self, request: &Request<B>) -> Option<RequestId> {
        let platform = request
            .extensions()
            .get::<lambda_http::request::RequestContext>()
            .and_then(|context| match context {
                lambda_http::request::RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
                _ => None,
            })
            .and_then(|id| HeaderValue::try_from(id).ok());
        let id =
            platform.or_else(|| HeaderValue::try_from(uuid::Uuid::new_v4().to_string()).ok())?;
        Some(RequestId::new(id))
    }
}

const X_REQUEST_ID: &str = "x-request-id";

/// Drops a client's `x-request-id`, so that [`PlatformOrNewId`] always decides.
async fn drop_client_id(mut request: Request) -> Request {
    request.headers_mut().remove(X_REQUEST_ID);
    request
}

fn request_span(request: &Request) -> Span {
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        target: "pers::request",
        "request",
        xRequestId = id,
        method = %request.method(),
        route,
        tenantId = tracing::field::Empty,
        coldStart = crate::telemetry::begin_request(),
    )
}

fn request_line<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let latency_ms = (latency_ms * 1000.0).round() / 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            metrics::count(Metric::ServerErrors);
            let cause = response
                .extensions()
                .get::<ErrorCause>()
                .map_or("", |c| c.0.as_str());
            tracing::error!(target: "pers::request", status, latencyMs = latency_ms, cause, "request failed");
        } else {
            tracing::info!(target: "pers::request", status, latencyMs = latency_ms, "request");
        }
    });
}

/// Names the request's tenant in its span (and so in its request line).
pub fn record_tenant(tenant: &crate::domain::TenantId) {
    Span::current().record("tenantId", tenant.as_str());
}

/// `router` with a request id on every response and one line per request.
pub fn traced(router: Router) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    // Outermost last: drop the client's id, set ours, open the span, and on the way out
    // copy the id onto the response.
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(request_line)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(PlatformOrNewId))
        .layer(axum::middleware::map_request(drop_client_id))
}
