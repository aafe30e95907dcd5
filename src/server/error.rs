//! API errors as JSON `{ "error": … }` with the right status; internal causes are logged in
//! full and answered opaquely.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::error;

/// An error answered by the API.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a message for the caller.
    BadRequest(String),
    /// 401: a token is required and was missing or wrong.
    Unauthorized,
    /// 404 with what was not found.
    NotFound(String),
    /// 409: the request is valid but refused in the current state (a blocked sign-off).
    Conflict(String, serde_json::Value),
    /// 500: logged, answered without detail.
    Internal(String),
    /// 503: the store cannot be reached right now; the client may retry.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required".to_string(),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m, detail) => {
                return (
                    StatusCode::CONFLICT,
                    Json(json!({ "error": m, "detail": detail })),
                )
                    .into_response()
            }
            ApiError::Unavailable(cause) => {
                error!(error = %cause, "API request failed: the store is unavailable.");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; retry later".to_string(),
                )
            }
            ApiError::Internal(cause) => {
                error!(error = %cause, "API request failed.");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the daemon's log".to_string(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::Unavailable(_) => ApiError::Unavailable(error.to_string()),
            _ => ApiError::Internal(error.to_string()),
        }
    }
}
