//! The one error type at the HTTP edge. Every error renders as
//! `{"statusCode": 401, "error": "Unauthorized", "message": "…"}`; server-side failures
//! are logged with their source chain and never described to the caller.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::BoxError;
use crate::domain::FieldError;
use crate::keys::KeyError;
use crate::store::StoreError;
use crate::token::TokenError;

/// The body of every error answer: the shape NestJS clients of the original API parse.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code again.
    #[schema(example = 401)]
    pub status_code: u16,
    /// The status's reason phrase.
    #[schema(example = "Unauthorized")]
    pub error: String,
    /// What went wrong; for bad input, it names the field.
    #[schema(example = "missing or invalid project key (x-project-key)")]
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

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Unavailable(_) => {
                tracing::error!(error = %source_chain(&self), "dependency unavailable");
                "a dependency is unavailable; try again shortly".to_owned()
            }
            Self::Internal(_) => {
                tracing::error!(error = %source_chain(&self), "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = Json(ErrorBody {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
            message,
        });
        if status == StatusCode::UNAUTHORIZED {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict("the resource was changed concurrently; retry"),
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Unavailable(_) => Self::Unavailable(Box::new(e)),
            StoreError::Corrupt(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unavailable(_) => Self::Unavailable(Box::new(e)),
            KeyError::Invalid(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<TokenError> for ApiError {
    /// Only for signing: a token a client presents is judged where it is read.
    fn from(e: TokenError) -> Self {
        Self::Internal(Box::new(e))
    }
}
