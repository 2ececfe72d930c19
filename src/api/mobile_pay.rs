//! The cashier's mobile flows: a phone cannot scan its own screen, so the cashier's buttons
//! lead here, and here to the channel's own page (Alipay wap pay, WeChat H5), by redirect.
//! The checkout token is the capability, as on the rest of the storefront.

use crate::channel::{ChannelId, Product};
use crate::core::attempts::{self, Switch};
use crate::core::checkout;
use crate::core::AppState;
use crate::core::CoreError;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};

fn redirect(url: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", url))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish()
}

/// `GET /checkout/{checkout_token}/alipay/wap`: to Alipay's wap pay, which returns the
/// shopper to this cashier (which then shows the payment).
pub async fn alipay_wap(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = checkout::find_order(&state, &token).await?;
    let cashier = format!(
        "{}/checkout/{}",
        state.public_base_url, order.checkout_token
    );
    let product = Product::Wap {
        return_url: Some(cashier),
    };
    let credential = attempts::obtain(
        &state,
        &order,
        ChannelId::Alipay,
        &product,
        Switch::Supersede,
    )
    .await?;
    let url = credential
        .pay_url
        .ok_or_else(|| CoreError::Internal("a wap trade without its URL".into()))?;
    Ok(redirect(&url))
}

/// `GET /checkout/{checkout_token}/wechat/h5`: to WeChat's H5 payment page (MWEB), opened for
/// the shopper's own IP address, as WeChat checks it.
pub async fn wechat_h5(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = checkout::find_order(&state, &token).await?;
    let client_ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .ok_or_else(|| CoreError::Internal("no peer address".into()))?;
    let scene_info = serde_json::json!({
        "h5_info": {"type": "Wap", "wap_url": state.public_base_url, "wap_name": "收银台"}
    })
    .to_string();
    let product = Product::H5 {
        client_ip,
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
    let url = credential
        .pay_url
        .ok_or_else(|| CoreError::Internal("an H5 trade without its mweb_url".into()))?;
    Ok(redirect(&url))
}
