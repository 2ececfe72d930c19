//! The storefront API: no secret, the checkout token is the capability. Every answer carries
//! `Access-Control-Allow-Origin: *` (see `api::configure`) so a shop's page on its own domain
//! can call it; no cookie or credential is involved.

use crate::core::checkout;
use crate::core::AppState;
use crate::domain::time;
use crate::error::ApiError;
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};

/// `GET /v1/checkout/{checkout_token}`.
pub async fn view(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Borrowed from the match: the hottest route copies no path segment.
    let token = req.match_info().get("checkout_token").unwrap_or_default();
    let snapshot = checkout::view(&state, token).await?;
    // Static header values: the hottest answer parses no header name or value.
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(snapshot.checkout_json()))
}

/// `GET /v1/checkout/{checkout_token}/qr.svg`: cacheable while the code_url lives.
pub async fn qr_svg(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = checkout::view(&state, &token).await?;
    let code = snapshot.code.clone().ok_or_else(|| {
        ApiError::OrderNotPayable(format!(
            "the order is {} and has no QR code to pay",
            snapshot.order.status
        ))
    })?;
    svg_response(&code)
}

/// A QR code as SVG, cacheable while its code lives (a new code is a new URL).
pub(super) fn svg_response(code: &crate::core::attempts::QrCode) -> Result<HttpResponse, ApiError> {
    let svg = checkout::qr_svg(&code.code)?;
    let max_age = (code.expires_at - time::now()).num_seconds().clamp(0, 7200) - 60;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            "Cache-Control",
            format!("private, max-age={}", max_age.max(0)),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(svg))
}
