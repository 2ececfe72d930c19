//! The foodie-payment course's payment center endpoints, served unchanged so that a
//! "天天吃货" shop switches by changing one URL. Every answer is the course's envelope
//! `{"status", "msg", "data"}` with HTTP 200: 200 OK, 500 an error (`errorMsg`), 502 a bad
//! identity (`errorTokenMsg`). Authentication: headers `imoocUserId` and `password`, the
//! merchant's course login (`merchant legacy-login`), never its API key.

use super::read_capped;
use crate::channel::ChannelId;
use crate::core::attempts::{self, Switch};
use crate::core::legacy_logins::{self, LegacyAuthError};
use crate::core::merchants::MerchantProfile;
use crate::core::orders::{self, CreateOrder};
use crate::core::AppState;
use crate::core::CoreError;
use crate::db::{self, orders::Order};
use crate::domain::{time, Description, OrderOrigin, OrderStatus, PayMethod};
use crate::error::ApiError;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const NOT_PAYABLE: &str = "该订单不存在，或已经支付";

/// The paths where every answer is the course's envelope (the notify path speaks WeChat's XML),
/// at the root and under the course's own base path.
pub const COURSE_PATHS: [&str; 6] = [
    "/payment/createMerchantOrder",
    "/payment/getWXPayQRCode",
    "/payment/getPaymentCenterOrderInfo",
    "/foodie-payment/payment/createMerchantOrder",
    "/foodie-payment/payment/getWXPayQRCode",
    "/foodie-payment/payment/getPaymentCenterOrderInfo",
];

fn envelope(status: i32, msg: &str, data: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": status, "msg": msg, "data": data }))
}

fn ok(data: Value) -> HttpResponse {
    envelope(200, "OK", data)
}

fn error_msg(msg: &str) -> HttpResponse {
    envelope(500, msg, Value::Null)
}

/// The course's camelCase names in our messages, which name snake_case fields.
fn camel(message: &str) -> String {
    [
        ("merchant_order_id", "merchantOrderId"),
        ("merchant_user_id", "merchantUserId"),
        ("pay_method", "payMethod"),
        ("return_url", "returnUrl"),
    ]
    .iter()
    .fold(message.to_owned(), |m, (snake, camel)| {
        m.replace(snake, camel)
    })
}

fn api_error(e: ApiError) -> HttpResponse {
    match e {
        ApiError::Internal(_) | ApiError::Unavailable(_) => {
            log::warn!("legacy endpoint: {e:?}");
            error_msg("支付中心暂时不可用，请稍后再试")
        }
        other => error_msg(&camel(&other.to_string())),
    }
}

/// The merchant of the course login in the `imoocUserId` / `password` headers. A refusal is
/// the course's `errorTokenMsg` (502 in the envelope), logged with its reason and counted.
async fn merchant(state: &AppState, req: &HttpRequest) -> Result<MerchantProfile, HttpResponse> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let outcome = legacy_logins::authenticate(
        &state.pool,
        &state.snapshots,
        header("imoocUserId"),
        header("password"),
    )
    .await;
    match outcome {
        Ok(m) => {
            state.metrics.course_auth("ok");
            Ok(m)
        }
        Err(LegacyAuthError::Refused(refusal)) => {
            state.metrics.course_auth(refusal.label());
            log::warn!(
                "course login refused on {} ({}; imoocUserId {:?})",
                req.path(),
                refusal.label(),
                header("imoocUserId").map(|u| crate::api::sample_field(u, 64))
            );
            Err(envelope(
                502,
                "商户身份验证失败：请检查请求头 imoocUserId 和 password",
                Value::Null,
            ))
        }
        Err(LegacyAuthError::Db(e)) => Err(api_error(e.into())),
    }
}

/// The body, at most `MAX_JSON_BODY` bytes; a larger one is the course's error envelope too.
async fn body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, HttpResponse> {
    read_capped(req, payload).await.map_err(api_error)
}

/// Query string and, for a form body, its fields (the course sends either).
async fn params(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HashMap<String, String>, HttpResponse> {
    let body = body(req, payload).await?;
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
    if req.content_type() == "application/x-www-form-urlencoded" {
        for (k, v) in url::form_urlencoded::parse(&body).into_owned() {
            params.entry(k).or_insert(v);
        }
    }
    Ok(params)
}

/// Any other method on the course's paths: the course's envelope, like every answer there.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    api_error(crate::http::not_allowed(&req))
}

/// `POST /payment/createMerchantOrder`, JSON `{merchantOrderId, merchantUserId, amount,
/// payMethod, returnUrl}`: the rules and idempotency of `POST /v1/orders`.
pub async fn create_merchant_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let merchant = match merchant(&state, &req).await {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    let body = match body(&req, payload).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let legacy: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        _ => return error_msg("请求体必须是 JSON 对象 (the body must be a JSON object)"),
    };
    let mut v1 = Map::new();
    for (from, to) in [
        ("merchantOrderId", "merchant_order_id"),
        ("merchantUserId", "merchant_user_id"),
        ("amount", "amount"),
        ("payMethod", "pay_method"),
        ("returnUrl", "return_url"),
    ] {
        if let Some(value) = legacy.get(from) {
            v1.insert(to.to_owned(), value.clone());
        }
    }
    if let Some(user) = legacy.get("merchantUserId").and_then(Value::as_str) {
        let description = Description::truncated(&format!("天天吃货-付款用户[{user}]"));
        v1.insert("description".into(), json!(description.as_str()));
    }
    let request = match CreateOrder::parse(&Value::Object(v1), &merchant) {
        Ok(r) => CreateOrder {
            origin: OrderOrigin::Foodie,
            ..r
        },
        Err(e) => return api_error(e.into()),
    };
    if let Err(e) = request.ensure_channel_runs(&state.channels) {
        return api_error(e.into());
    }
    let livemode = state.livemode();
    match db::run(&state.pool, move |conn| {
        orders::create(conn, &merchant, &request, livemode)
    })
    .await
    {
        Ok(_) => ok(json!("商户订单创建成功！")),
        Err(e) => api_error(e.into()),
    }
}

/// The identified merchant and its order named by `merchantOrderId` + `merchantUserId` (query
/// or form); `Err` is the answer to give, `missing` the message for an order not found.
async fn identified_order(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    missing: &str,
) -> Result<(MerchantProfile, Order), HttpResponse> {
    let merchant = merchant(state, req).await?;
    let params = params(req, payload).await?;
    let (Some(order_id), Some(user_id)) =
        (params.get("merchantOrderId"), params.get("merchantUserId"))
    else {
        return Err(error_msg("merchantOrderId 和 merchantUserId 不能为空"));
    };
    match orders::get(&state.pool, &merchant, order_id).await {
        Ok(order) if &order.merchant_user_id == user_id => Ok((merchant, order)),
        Ok(_) | Err(CoreError::NotFound(_)) => Err(error_msg(missing)),
        Err(e) => Err(api_error(e.into())),
    }
}

/// `POST /payment/getWXPayQRCode?merchantOrderId=…&merchantUserId=…` (query or form).
pub async fn get_wxpay_qr_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let order = match identified_order(&req, &state, payload, NOT_PAYABLE).await {
        Ok((_, order)) => order,
        Err(answer) => return answer,
    };
    match attempts::qr_code(&state, &order, ChannelId::Wechat, Switch::Supersede).await {
        Ok(code) => ok(json!({
            "amount": order.amount,
            "merchantOrderId": order.merchant_order_id,
            "merchantUserId": order.merchant_user_id,
            "qrCodeUrl": code.code,
        })),
        Err(CoreError::OrderNotPayable(_)) => error_msg(NOT_PAYABLE),
        Err(e) => api_error(e.into()),
    }
}

/// `POST /payment/getPaymentCenterOrderInfo?merchantOrderId=…&merchantUserId=…`.
pub async fn get_payment_center_order_info(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let (merchant, order) = match identified_order(&req, &state, payload, "该订单不存在").await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let status = OrderStatus::from_stored(&order.status).unwrap_or(OrderStatus::Closed);
    let pay_method = PayMethod::from_stored(&order.pay_method).map_or(1, PayMethod::legacy_code);
    ok(json!({
        "id": order.id,
        "merchantOrderId": order.merchant_order_id,
        "merchantUserId": order.merchant_user_id,
        "amount": order.amount,
        "payMethod": pay_method,
        "payStatus": status.legacy_code(),
        "comeFrom": merchant.name,
        "returnUrl": order.return_url,
        "isDelete": 0,
        "createdTime": time::rfc3339(order.created_at),
    }))
}
