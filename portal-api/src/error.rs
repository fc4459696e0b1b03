//! Errors as `application/problem+json` (RFC 9457). A refusal never says whether another tenant exists: a tenant
//! the caller may not see is "not found", exactly like one that does not exist.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use sua_db::DbError;
use utoipa::ToSchema;

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is expired, unsigned, tampered with, or for another audience or issuer.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token without the role the request needs.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("too many requests; retry after {0} s")]
    TooManyRequests(u64),
    /// The signing keys could not be fetched: the caller is not at fault.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn tenant_not_found() -> Self {
        ApiError::NotFound("no such tenant".into())
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::TooManyRequests(_) => "rate-limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not Found",
            ApiError::BadRequest(_) => "Bad Request",
            ApiError::PayloadTooLarge(_) => "Content Too Large",
            ApiError::TooManyRequests(_) => "Too Many Requests",
            ApiError::Unavailable(_) => "Service Unavailable",
            ApiError::Internal(_) => "Internal Server Error",
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        Self::from(&error)
    }
}

/// A database error several requests waited on together (one computation of a cached aggregate).
impl From<std::sync::Arc<DbError>> for ApiError {
    fn from(error: std::sync::Arc<DbError>) -> Self {
        Self::from(error.as_ref())
    }
}

impl From<&DbError> for ApiError {
    fn from(error: &DbError) -> Self {
        match error {
            // Every connection busy (overload) or the database unreachable: try again, not a bug.
            DbError::Pool(why) => {
                tracing::warn!(error = %why, "no database connection for a request");
                ApiError::Unavailable("the database is busy or unreachable; try again shortly".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            ApiError::Internal(inner) => {
                tracing::error!(error = %inner, "request failed");
                "the request could not be completed; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let problem = Problem {
            kind: format!("https://sua.dev/problems/{}", self.slug()),
            title: self.title().into(),
            status: status.as_u16(),
            detail,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            ApiError::TooManyRequests(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// Malformed query strings, paths and bodies become problems too (actix's defaults answer in plain text).
pub fn query_error(error: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query: {error}")).into()
}

pub fn path_error(error: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("invalid path: {error}")).into()
}

pub fn json_error(error: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge(error.to_string()).into()
        }
        other => ApiError::BadRequest(format!("invalid JSON body: {other}")).into(),
    }
}
