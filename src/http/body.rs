use crate::error::ApiError;
use actix_web::{mime, web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// Larger than any order or notify we accept; a bigger body is refused before it is read.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Reads a JSON body ourselves (instead of the `Json` extractor) so that a handler checks
/// the API key first, and every body error is the API's error envelope.
pub async fn read_json(req: &HttpRequest, payload: web::Payload) -> Result<Value, ApiError> {
    let content_type = req.mime_type().ok().flatten();
    let is_json = content_type.as_ref().is_some_and(|m| {
        m.type_() == mime::APPLICATION
            && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    });
    if !is_json {
        return Err(ApiError::InvalidRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    let body = read_capped(req, payload).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("the request body is not valid JSON: {e}")))
}

/// An optional text field of a JSON body: absent or `null` is `None`; anything but a
/// non-empty string is a 400 naming it.
pub fn optional_text(body: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "{field} must be a non-empty string"
        ))),
    }
}

/// How long a request body may take to arrive (`REQUEST_TIMEOUT`), as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// How long a body may take to arrive when the server sets no `BodyTimeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a body of at most `MAX_JSON_BODY` bytes; a larger one (declared or sent) is a 413
/// in the API's error envelope, not the framework's plain text. A body that has not arrived
/// within the request timeout is a 408: a client sending a byte a minute cannot hold a
/// connection and a worker's attention for long.
pub async fn read_capped(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let limit = req
        .app_data::<web::Data<BodyTimeout>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    match tokio::time::timeout(limit, read_all(req, payload)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "the request body did not arrive within {limit:?}"
        ))),
    }
}

async fn read_all(req: &HttpRequest, mut payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the request body must be at most {MAX_JSON_BODY} bytes"
        ))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_JSON_BODY) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::InvalidRequest(format!("the request body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > MAX_JSON_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
