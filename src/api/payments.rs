//! Paying an order through WeChat: one endpoint per trade type, and closing.

use super::{read_json, AuthenticatedMerchant};
use crate::channel::{ChannelId, Product};
use crate::core::attempts::{self, Switch};
use crate::core::checkout;
use crate::core::lifecycle;
use crate::core::orders::{self, OrderView};
use crate::core::AppState;
use crate::domain::time::rfc3339;
use crate::error::ApiError;
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// `POST /v1/orders/{merchant_order_id}/wechat/native`.
pub async fn native(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Borrowed from the match: a hot route copies no path segment.
    let merchant_order_id = req
        .match_info()
        .get("merchant_order_id")
        .unwrap_or_default();
    let snapshot = checkout::native_view(&state, &merchant, merchant_order_id).await?;
    let body = snapshot
        .native_json()
        .ok_or_else(|| ApiError::Internal("a native snapshot without its code".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body))
}

fn string_field<'a>(body: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(ApiError::InvalidRequest(format!("{field} is required"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "{field} must be a string"
        ))),
    }
}

/// An openid is 1–128 characters of `[A-Za-z0-9_-]` (WeChat's are 28).
fn parse_openid(body: &Value) -> Result<String, ApiError> {
    let openid = string_field(body, "openid")?;
    let ok = (1..=128).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(openid.to_owned())
    } else {
        Err(ApiError::InvalidRequest(
            "openid must be 1–128 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
        ))
    }
}

/// `POST /v1/orders/{merchant_order_id}/wechat/jsapi` with `{"openid"}`: the parameters of
/// `wx.requestPayment` / `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`.
pub async fn jsapi(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let openid = parse_openid(&body)?;
    client_params(
        &state,
        &merchant,
        &path,
        ChannelId::Wechat,
        &Product::Jsapi { openid },
    )
    .await
}

/// What the payer's client takes to pay the order's trade for `product` at `channel`.
pub(super) async fn client_params(
    state: &AppState,
    merchant: &AuthenticatedMerchant,
    merchant_order_id: &str,
    channel: ChannelId,
    product: &Product,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.pool, merchant, merchant_order_id).await?;
    let credential = attempts::obtain(state, &order, channel, product, Switch::Supersede).await?;
    let params = state
        .channels
        .get(channel)
        .and_then(|c| c.client_params(product, &credential.credential))
        .ok_or_else(|| ApiError::Internal(format!("no client parameters for {product:?}")))?;
    Ok(HttpResponse::Ok().json(params))
}

/// `POST /v1/orders/{merchant_order_id}/wechat/h5` with `{"client_ip", "scene_info"}`:
/// `{"mweb_url", "expires_at"}` (an mweb_url lives five minutes).
pub async fn h5(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let client_ip = string_field(&body, "client_ip")?;
    let client_ip: std::net::IpAddr = client_ip.parse().map_err(|_| {
        ApiError::InvalidRequest("client_ip must be the shopper's IPv4 or IPv6 address".into())
    })?;
    // WeChat takes scene_info as a JSON string: `{"h5_info": {"type": "Wap", …}}`.
    let scene_info = match body.get("scene_info") {
        Some(Value::Object(o)) if o.contains_key("h5_info") => Value::Object(o.clone()).to_string(),
        None | Some(Value::Null) => return Err(ApiError::InvalidRequest("scene_info is required".into())),
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "scene_info must be an object with h5_info, e.g. {\"h5_info\": {\"type\": \"Wap\", \"wap_url\": \"https://shop.example\", \"wap_name\": \"Shop\"}}".into(),
            ))
        }
    };
    if scene_info.len() > 256 {
        return Err(ApiError::InvalidRequest(
            "scene_info must be at most 256 bytes of JSON".into(),
        ));
    }
    let order = orders::get(&state.pool, &merchant, &path).await?;
    let product = Product::H5 {
        client_ip: client_ip.to_string(),
        scene_info,
    };
    let credential = attempts::obtain(
        &state,
        &order,
        ChannelId::Wechat,
        &product,
        Switch::Supersede,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "merchant_order_id": order.merchant_order_id,
        "amount": order.amount,
        "mweb_url": credential.pay_url,
        "expires_at": rfc3339(credential.expires_at),
    })))
}

/// `POST /v1/orders/{merchant_order_id}/wechat/app`: the WeChat Open SDK's `PayReq`.
pub async fn app(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    client_params(&state, &merchant, &path, ChannelId::Wechat, &Product::App).await
}

/// `POST /v1/orders/{merchant_order_id}/close`.
pub async fn close(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = lifecycle::close(&state, &merchant, &path).await?;
    Ok(HttpResponse::Ok().json(OrderView::new(order, &state.public_base_url)))
}
