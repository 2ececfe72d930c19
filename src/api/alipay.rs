//! Paying an order through Alipay: the QR code (precreate), the signed gateway URLs of page and
//! wap pay, and the app SDK's order string.

use super::{read_capped, AuthenticatedMerchant};
use crate::channel::{ChannelId, Product};
use crate::core::attempts::{self, Switch};
use crate::core::orders;
use crate::core::AppState;
use crate::domain::time::rfc3339;
use crate::domain::ReturnUrl;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// `POST /v1/orders/{merchant_order_id}/alipay/qr`: precreate once; the `qr_code` is then
/// kept with the trade and cached like WeChat's `code_url`.
pub async fn qr(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.pool, &merchant, &path).await?;
    let code = attempts::qr_code(&state, &order, ChannelId::Alipay, Switch::Supersede).await?;
    Ok(HttpResponse::Ok().json(json!({
        "merchant_order_id": order.merchant_order_id,
        "amount": order.amount,
        "qr_code": code.code,
        "expires_at": rfc3339(code.expires_at),
    })))
}

/// The optional `{"return_url_browser": "…"}`: where Alipay sends the shopper's browser back,
/// under one of the merchant's return-URL prefixes. An empty body is no return URL.
async fn browser_return_url(
    req: &HttpRequest,
    payload: web::Payload,
    merchant: &AuthenticatedMerchant,
) -> Result<Option<String>, ApiError> {
    let body = read_capped(req, payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidRequest(format!("the request body is not valid JSON: {e}"))
    })?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::InvalidRequest("the request body must be a JSON object".into()))?;
    if let Some(unknown) = object.keys().find(|k| *k != "return_url_browser") {
        return Err(ApiError::InvalidRequest(format!(
            "unknown field {unknown}: only return_url_browser is taken"
        )));
    }
    match object.get("return_url_browser") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => ReturnUrl::parse("return_url_browser", value, &merchant.return_url_prefixes)
            .map(|url| Some(url.as_str().to_owned()))
            .map_err(ApiError::InvalidRequest),
    }
}

async fn gateway_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
    payload: web::Payload,
    product: fn(Option<String>) -> Product,
) -> Result<HttpResponse, ApiError> {
    let return_url = browser_return_url(&req, payload, &merchant).await?;
    let order = orders::get(&state.pool, &merchant, &path).await?;
    let credential = attempts::obtain(
        &state,
        &order,
        ChannelId::Alipay,
        &product(return_url),
        Switch::Supersede,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "pay_url": credential.pay_url,
        "expires_at": rfc3339(credential.expires_at),
    })))
}

/// `POST /v1/orders/{merchant_order_id}/alipay/page`: alipay.trade.page.pay (a computer's
/// browser).
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    gateway_url(req, state, merchant, path, payload, |return_url| {
        Product::Page { return_url }
    })
    .await
}

/// `POST /v1/orders/{merchant_order_id}/alipay/wap`: alipay.trade.wap.pay (a phone's browser).
pub async fn wap(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    gateway_url(req, state, merchant, path, payload, |return_url| {
        Product::Wap { return_url }
    })
    .await
}

/// `POST /v1/orders/{merchant_order_id}/alipay/app`: `{"order_string"}` for the app SDK.
pub async fn app(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    super::payments::client_params(&state, &merchant, &path, ChannelId::Alipay, &Product::App).await
}

/// `GET /v1/checkout/{checkout_token}/alipay`: the storefront's Alipay QR code (never
/// switching away from a trade the merchant opened); 409 when the order is not payable with
/// Alipay.
pub async fn checkout_qr(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = crate::core::checkout::find_order(&state, &token).await?;
    let code = attempts::qr_code(&state, &order, ChannelId::Alipay, Switch::KeepOther).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "qr_code": code.code, "expires_at": rfc3339(code.expires_at) })))
}

/// `GET /v1/checkout/{checkout_token}/alipay/qr.svg`: the Alipay QR code as SVG, cacheable
/// while the code lives.
pub async fn checkout_qr_svg(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = crate::core::checkout::find_order(&state, &token).await?;
    let code = attempts::qr_code(&state, &order, ChannelId::Alipay, Switch::KeepOther).await?;
    super::checkout::svg_response(&code)
}
