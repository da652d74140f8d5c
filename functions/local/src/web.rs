//! What `pers-local` serves beside the service's own routes: `GET /health`, the
//! OpenAPI document as a page at `GET /docs` (Swagger UI, every asset from this binary:
//! there may be no network), and CORS for browser apps on the origins of
//! `PERS_CORS_ORIGINS`, answered as the template's HTTP API answers them.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, header};
use pers::config::ConfigError;
use pers::http::{AppState, app};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub const CORS_ORIGINS: &str = "PERS_CORS_ORIGINS";

/// As `template.yaml`'s `CorsConfiguration`: the methods, headers, exposed headers and
/// preflight max-age of the deployed HTTP API, and no credentials (ours are headers,
/// never cookies).
const CORS_METHODS: [Method; 4] = [Method::GET, Method::POST, Method::PUT, Method::OPTIONS];
const CORS_HEADERS: [&str; 4] = [
    "authorization",
    "content-type",
    "x-api-key",
    "x-project-key",
];
const CORS_EXPOSE: [HeaderName; 2] = [
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("x-request-id"),
];
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS policy `PERS_CORS_ORIGINS` asks for: `None` when unset (no CORS headers at
/// all, as a browser's same-origin default), `*` for any origin, else a comma-separated
/// list of origins (`scheme://host[:port]`, nothing after).
pub fn cors(value: Option<&str>) -> Result<Option<CorsLayer>, ConfigError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let origins = if value == "*" {
        AllowOrigin::any()
    } else {
        let list = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(origin)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(ConfigError {
                variable: CORS_ORIGINS,
                problem: format!("{value:?} lists no origin"),
            });
        }
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(CORS_METHODS)
            .allow_headers(CORS_HEADERS.map(HeaderName::from_static))
            .expose_headers(CORS_EXPOSE)
            .max_age(CORS_MAX_AGE),
    ))
}

/// One origin as browsers send it in `Origin`: `http(s)://host[:port]`, no path, no
/// trailing slash.
fn origin(raw: &str) -> Result<HeaderValue, ConfigError> {
    let refused = |why: &str| ConfigError {
        variable: CORS_ORIGINS,
        problem: format!("{raw:?} is not an origin ({why}); write e.g. http://localhost:5173"),
    };
    let url = url::Url::parse(raw).map_err(|e| refused(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("the scheme must be http or https"));
    }
    let serialized = url.origin().ascii_serialization();
    if serialized != raw {
        return Err(refused("an origin has no path, query or trailing slash"));
    }
    HeaderValue::from_str(&serialized).map_err(|e| refused(&e.to_string()))
}

/// Swagger UI's answers: an unknown asset is the service's JSON `404`, and no page
/// may frame the docs (their "try it" holds the keys a user enters).
async fn docs_answer(mut response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if response.status() == http::StatusCode::NOT_FOUND {
        return pers::http::ApiError::NotFound("no such route".into()).into_response();
    }
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    response
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Every route of the service, `/openapi.json`, `/health` and `/docs`, behind the CORS
/// policy when there is one.
pub fn router(state: AppState, cors: Option<CorsLayer>) -> Router {
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").config(
        utoipa_swagger_ui::Config::new(["/openapi.json"])
            .try_it_out_enabled(true)
            // Swagger UI's default asks validator.swagger.io about the document.
            .validator_url("none"),
    );
    // `app` has its request ids and lines; these routes get theirs here.
    let pages = Router::new()
        .route("/health", get(health))
        .merge(Router::from(docs).layer(axum::middleware::map_response(docs_answer)));
    let router = app(state).merge(pers::http::trace::traced(pages));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_named() {
        assert!(cors(None).unwrap().is_none());
        assert!(cors(Some(" ")).unwrap().is_none());
        assert!(cors(Some("*")).unwrap().is_some());
        assert!(
            cors(Some("http://localhost:5173, https://app.example.com"))
                .unwrap()
                .is_some()
        );
        for bad in [
            "localhost:5173",
            "http://localhost:5173/",
            "https://app.example.com/path",
            "ftp://files.example.com",
            "http://a.example, nonsense",
            ",",
        ] {
            let e = cors(Some(bad))
                .err()
                .unwrap_or_else(|| panic!("{bad} was taken"));
            assert_eq!(e.variable, CORS_ORIGINS, "{bad}");
        }
    }
}
