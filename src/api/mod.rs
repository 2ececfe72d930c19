//! HTTP handlers, thin: parse the request, call `crate::core`, map the error once.

mod alipay;
mod auth;
mod cashier;
mod checkout;
mod cors;
mod health;
mod legacy;
mod mobile_pay;
mod notify;
mod openapi;
mod orders;
mod payments;
mod webhooks;

pub use crate::core::notify::{
    sample_field, RefusalSampler, KEPT_BODY_BYTES, SAMPLES_PER_MINUTE, SAMPLE_FIELD_BYTES,
};
pub use crate::http::body::{read_capped, read_json, MAX_JSON_BODY};
pub use auth::AuthenticatedMerchant;
pub use cors::{cors, StorefrontOrigins};
pub use openapi::{served as served_openapi, OPENAPI_JSON};

use crate::error::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::routes;

// Routes are matched in this order: the hottest first (the storefront polls its checkout).
routes! {
    get "/healthz" => health::healthz;
    get "/v1/checkout/{checkout_token}" => checkout::view;
    post "/v1/orders/{merchant_order_id}/wechat/native" => payments::native;
    get "/v1/checkout/{checkout_token}/qr.svg" => checkout::qr_svg;
    get "/readyz" => health::readyz;
    get "/metrics" => health::metrics;
    get "/openapi.json" => openapi::document;
    post "/v1/orders" => orders::create;
    get "/v1/orders" => orders::list;
    get "/v1/orders/{merchant_order_id}" => orders::get;
    post "/v1/orders/{merchant_order_id}/wechat/jsapi" => payments::jsapi;
    post "/v1/orders/{merchant_order_id}/wechat/h5" => payments::h5;
    post "/v1/orders/{merchant_order_id}/wechat/app" => payments::app;
    post "/v1/orders/{merchant_order_id}/alipay/qr" => alipay::qr;
    post "/v1/orders/{merchant_order_id}/alipay/page" => alipay::page;
    post "/v1/orders/{merchant_order_id}/alipay/wap" => alipay::wap;
    post "/v1/orders/{merchant_order_id}/alipay/app" => alipay::app;
    get "/v1/checkout/{checkout_token}/alipay" => alipay::checkout_qr;
    post "/v1/orders/{merchant_order_id}/close" => payments::close;
    get "/v1/orders/{merchant_order_id}/webhooks" => webhooks::list;
    get "/v1/orders/{merchant_order_id}/events" => orders::events;
    post "/v1/orders/{merchant_order_id}/webhooks/redeliver" => webhooks::redeliver;
    post "/v1/webhook-endpoints" => webhooks::create_endpoint;
    get "/v1/webhook-endpoints" => webhooks::list_endpoints;
    delete "/v1/webhook-endpoints/{id}" => webhooks::delete_endpoint;
    get "/checkout/{checkout_token}" => cashier::page;
    get "/checkout/{checkout_token}/alipay/wap" => mobile_pay::alipay_wap;
    get "/checkout/{checkout_token}/wechat/h5" => mobile_pay::wechat_h5;
    get "/v1/checkout/{checkout_token}/alipay/qr.svg" => alipay::checkout_qr_svg;
    get "/assets/cashier.js" => cashier::script;
    get "/assets/cashier.css" => cashier::stylesheet;
    get "/favicon.ico" => cashier::favicon;
    post "/notify/wechat" => notify::wechat;
    post "/notify/alipay" => notify::alipay;
    post "/payment/notice/wxpay" => notify::wechat;
    post "/payment/createMerchantOrder" => legacy::create_merchant_order;
    post "/payment/getWXPayQRCode" => legacy::get_wxpay_qr_code;
    post "/payment/getPaymentCenterOrderInfo" => legacy::get_payment_center_order_info;
    post "/foodie-payment/payment/notice/wxpay" => notify::wechat;
    post "/foodie-payment/payment/createMerchantOrder" => legacy::create_merchant_order;
    post "/foodie-payment/payment/getWXPayQRCode" => legacy::get_wxpay_qr_code;
    post "/foodie-payment/payment/getPaymentCenterOrderInfo" => legacy::get_payment_center_order_info;
}

/// The wrong-method answer: the JSON error envelope like every other error, or on the
/// foodie-payment course's paths the course's envelope, like every answer there.
fn wrong_method(path: &str) -> actix_web::Route {
    if legacy::COURSE_PATHS.contains(&path) {
        web::to(legacy::method_not_allowed)
    } else {
        crate::http::wrong_method(path)
    }
}

/// Every path that matches no route.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}

/// Counts every request by route pattern (never by id) and status, and times it by route
/// (until the handler answered; the body's sending is not counted).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    let request = response.request();
    if let Some(state) = request.app_data::<web::Data<crate::core::AppState>>() {
        // Every route of a table carries its own pattern; what none took (a 404) has none.
        let route = request
            .app_data::<crate::http::RoutePattern>()
            .map_or("unmatched", |pattern| pattern.0);
        state.metrics.http_request(
            route,
            request.method().as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}
