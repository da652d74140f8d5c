//! The one error type at the HTTP edge. Every error renders as
//! `{"statusCode": 401, "error": "Unauthorized", "message": "…"}`; server-side failures
//! are never described to the caller: their source chain goes into the request line.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::BoxError;
use crate::deadlines::RETRY_AFTER_SECONDS;
use crate::domain::FieldError;
use crate::keys::KeyError;
use crate::store::StoreError;
use crate::token::SigningFailed;

/// The body of every error answer: the shape NestJS clients of the original API parse.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code of the answer, repeated in the body.
    #[schema(example = 401, minimum = 400, maximum = 599)]
    pub status_code: u16,
    /// The status code's reason phrase.
    #[schema(example = "Unauthorized")]
    pub error: String,
    /// What went wrong, for a person to read; for bad input it starts with the field's
    /// name (`projectEmail: not a valid email address`). Never a token, key or secret.
    #[schema(example = "missing or invalid project key (x-project-key)")]
    pub message: String,
}

/// The body of an answer that API Gateway gives itself, before any function runs (its
/// `429` when the route's throttling limits are exceeded). A schema only: the service
/// never sends it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(
    description = "An answer of API Gateway itself, before any function runs: \
    its 429 when the route's throttling limits are exceeded."
)]
pub struct GatewayError {
    /// API Gateway's message.
    #[schema(example = "Too Many Requests")]
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut cause = None;
        let message = match &self {
            Self::Unavailable(_) => {
                cause = Some(crate::error_chain(&self));
                "a dependency is unavailable; try again shortly".to_owned()
            }
            Self::Internal(_) => {
                cause = Some(crate::error_chain(&self));
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = Json(ErrorBody {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
            message,
        });
        let mut response = match status {
            StatusCode::UNAUTHORIZED => {
                (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
            }
            StatusCode::SERVICE_UNAVAILABLE => (
                status,
                [(header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string())],
                body,
            )
                .into_response(),
            _ => (status, body).into_response(),
        };
        // Logged once, by the request line (`super::trace`), with the request's ids.
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(super::trace::ErrorCause(cause));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict("the resource was changed concurrently; retry"),
            StoreError::NotFound => Self::NotFound("not found".into()),
            // A stored item this code cannot read is the table's state (written by
            // another version, or by hand), not the client's doing: 503 (DESIGN §7).
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => Self::Unavailable(Box::new(e)),
        }
    }
}

impl From<KeyError> for ApiError {
    /// Every key error is the key store's state: unreachable, not ready (a secret with no
    /// key yet) or holding a key this code cannot use. None is the client's doing.
    fn from(e: KeyError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<SigningFailed> for ApiError {
    /// A key that loaded but cannot sign is a bug. (A token a client presents is judged
    /// where it is read: a verification error has no `From` here, so a stray `?` on one
    /// does not compile.)
    fn from(e: SigningFailed) -> Self {
        Self::Internal(Box::new(e))
    }
}
