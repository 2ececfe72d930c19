//! The storefront's view of an order, reached with the checkout token alone.

use crate::channel::ChannelId;
use crate::core::attempts::{self, QrCode, Switch};
use crate::core::merchants::MerchantProfile;
use crate::core::orders;
use crate::core::snapshots::OrderKeys;
use crate::core::AppState;
use crate::core::CoreError;
use crate::db::{self, orders::Order};
use crate::domain::time::{self, serde_rfc3339};
use crate::domain::OrderStatus;
use bytes::Bytes;
use chrono::NaiveDateTime;
use serde::Serialize;
use std::sync::Arc;
use std::sync::OnceLock;

#[derive(Debug, Serialize)]
pub struct CheckoutView {
    pub merchant_order_id: String,
    pub amount: i64,
    pub description: String,
    pub status: String,
    #[serde(with = "serde_rfc3339")]
    pub expires_at: NaiveDateTime,
    pub code_url: Option<String>,
    pub pay_methods: Vec<&'static str>,
}

/// An order as read, with its WeChat QR code if it had one to hand out, the channels it can be
/// paid with, and (made once, on first use) the storefront's JSON view of it.
#[derive(Debug)]
pub struct OrderSnapshot {
    pub order: Order,
    pub code: Option<QrCode>,
    pub pay_methods: Vec<ChannelId>,
    checkout_json: OnceLock<Bytes>,
    native_json: OnceLock<Option<Bytes>>,
}

impl OrderSnapshot {
    pub fn new(
        order: Order,
        code: Option<QrCode>,
        pay_methods: Vec<ChannelId>,
    ) -> Arc<OrderSnapshot> {
        Arc::new(OrderSnapshot {
            order,
            code,
            pay_methods,
            checkout_json: OnceLock::new(),
            native_json: OnceLock::new(),
        })
    }

    /// The keys its view is found by.
    pub fn keys(&self) -> OrderKeys<'_> {
        OrderKeys {
            order_id: &self.order.id,
            checkout_token: &self.order.checkout_token,
            merchant_id: &self.order.merchant_id,
            merchant_order_id: &self.order.merchant_order_id,
        }
    }

    /// The body of `GET /v1/checkout/{token}`.
    pub fn checkout_json(&self) -> Bytes {
        self.checkout_json
            .get_or_init(|| {
                let view = CheckoutView::new(&self.order, self.code.as_ref(), &self.pay_methods);
                Bytes::from(serde_json::to_vec(&view).expect("a view serializes"))
            })
            .clone()
    }

    /// The body of `POST …/wechat/native` (made once, on first use), when it has a code.
    pub fn native_json(&self) -> Option<Bytes> {
        self.native_json
            .get_or_init(|| {
                let code = self.code.as_ref()?;
                let body = serde_json::json!({
                    "merchant_order_id": self.order.merchant_order_id,
                    "amount": self.order.amount,
                    "code_url": code.code,
                    "expires_at": time::rfc3339(code.expires_at),
                });
                Some(Bytes::from(body.to_string()))
            })
            .clone()
    }
}

fn unknown_token() -> CoreError {
    CoreError::NotFound("no checkout has this token".into())
}

/// A token that could never have been issued is answered without a query.
fn is_well_formed(token: &str) -> bool {
    token.len() == 35
        && token.starts_with("ct_")
        && token[3..].bytes().all(|b| b.is_ascii_alphanumeric())
}

pub async fn find_order(state: &AppState, token: &str) -> Result<Order, CoreError> {
    if !is_well_formed(token) {
        return Err(unknown_token());
    }
    let token = token.to_owned();
    db::run(&state.pool, move |conn| {
        crate::db::orders::find_by_checkout_token(conn, &token).map_err(CoreError::from)
    })
    .await?
    .ok_or_else(unknown_token)
}

/// The order's QR code at `channel` while it can be paid there (never switching from another
/// kind of trade the merchant opened); `None` when there is nothing to pay.
pub async fn code_for(
    state: &AppState,
    order: &Order,
    channel: ChannelId,
) -> Result<Option<QrCode>, CoreError> {
    let payable = OrderStatus::from_stored(&order.status) == Some(OrderStatus::WaitPay)
        && order.expires_at > time::now();
    if !payable {
        return Ok(None);
    }
    if !attempts::payable_channels(state, order).contains(&channel) {
        return Ok(None);
    }
    match attempts::qr_code(state, order, channel, Switch::KeepOther).await {
        Ok(code) => Ok(Some(code)),
        Err(CoreError::OrderNotPayable(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl CheckoutView {
    pub fn new(order: &Order, code: Option<&QrCode>, pay_methods: &[ChannelId]) -> CheckoutView {
        CheckoutView {
            merchant_order_id: order.merchant_order_id.clone(),
            amount: order.amount,
            description: order.description.clone(),
            status: order.status.clone(),
            expires_at: order.expires_at,
            code_url: code.map(|c| c.code.clone()),
            pay_methods: pay_methods.iter().map(|c| c.as_str()).collect(),
        }
    }
}

/// The order as the shopper sees it, with its `code_url` while it can be paid; kept a moment
/// (see `snapshots`) because every open cashier page asks for it every second or so.
pub async fn view(state: &Arc<AppState>, token: &str) -> Result<Arc<OrderSnapshot>, CoreError> {
    // A kept token was well formed when it was kept: only a miss is checked before a read.
    if let Some(kept) = state.snapshots.by_token(token) {
        return Ok(kept.serve(|| {
            let (state, token) = (state.clone(), token.to_owned());
            async move {
                let _ = read_view(&state, &token).await;
            }
        }));
    }
    if !is_well_formed(token) {
        return Err(unknown_token());
    }
    state
        .snapshots
        .flights
        .read_once(
            &format!("token:{token}"),
            || state.snapshots.by_token(token).map(|kept| kept.value),
            || read_view(state, token),
        )
        .await
}

/// One query when the order's WeChat QR trade is open and fresh (every refresh of a kept view
/// but the first): the order and its trade together, no cache, no second read.
async fn read_view(state: &AppState, token: &str) -> Result<Arc<OrderSnapshot>, CoreError> {
    let read_at = std::time::Instant::now();
    let channel = ChannelId::Wechat;
    let owned_token = token.to_owned();
    let (order, open) = db::run(&state.pool, move |conn| {
        db::orders::find_by_checkout_token_with_open_trade(conn, &owned_token, channel.as_str())
            .map_err(CoreError::from)
    })
    .await?
    .ok_or_else(unknown_token)?;
    let code = match attempts::open_qr_code(state, &order, channel, open.as_ref(), time::now()) {
        Some(code) => Some(code),
        None => code_for(state, &order, channel).await?,
    };
    Ok(keep(state, order, code, read_at))
}

/// The merchant's order with its WeChat QR code (`POST …/wechat/native`), opening the trade
/// if it has none; kept a moment like the checkout, because shops repeat the call.
pub async fn native_view(
    state: &Arc<AppState>,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Arc<OrderSnapshot>, CoreError> {
    let kept = || {
        state
            .snapshots
            .by_merchant_order(&merchant.id, merchant_order_id)
            .filter(|kept| kept.value.code.is_some())
    };
    if let Some(kept) = kept() {
        return Ok(kept.serve(|| {
            let (state, merchant) = (state.clone(), merchant.clone());
            let merchant_order_id = merchant_order_id.to_owned();
            async move {
                let _ = read_native_view(&state, &merchant, &merchant_order_id).await;
            }
        }));
    }
    state
        .snapshots
        .flights
        .read_once(
            &format!("native:{}:{merchant_order_id}", merchant.id),
            || kept().map(|kept| kept.value),
            || read_native_view(state, merchant, merchant_order_id),
        )
        .await
}

async fn read_native_view(
    state: &AppState,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Arc<OrderSnapshot>, CoreError> {
    let read_at = std::time::Instant::now();
    let channel = ChannelId::Wechat;
    let (order, open) =
        orders::get_with_open_trade(&state.pool, merchant, merchant_order_id, channel).await?;
    let code = match attempts::open_qr_code(state, &order, channel, open.as_ref(), time::now()) {
        Some(code) => code,
        None => attempts::qr_code(state, &order, channel, Switch::Supersede).await?,
    };
    Ok(keep(state, order, Some(code), read_at))
}

/// The snapshot of an order read from the stores at `read_at`, kept for the next callers.
fn keep(
    state: &AppState,
    order: Order,
    code: Option<QrCode>,
    read_at: std::time::Instant,
) -> Arc<OrderSnapshot> {
    let pay_methods = attempts::payable_channels(state, &order);
    let snapshot = OrderSnapshot::new(order, code, pay_methods);
    state
        .snapshots
        .remember(snapshot.keys(), snapshot.clone(), read_at);
    snapshot
}

/// The QR code of `code_url`, as SVG.
pub fn qr_svg(code_url: &str) -> Result<String, CoreError> {
    let code = qrcode::QrCode::new(code_url.as_bytes())
        .map_err(|e| CoreError::Internal(format!("QR encoding failed: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(is_well_formed("ct_Egw8luyvtRPR0xpWR1e3isTaBo1P4RPb"));
        assert!(!is_well_formed("ct_short"));
        assert!(!is_well_formed("xx_Egw8luyvtRPR0xpWR1e3isTaBo1P4RPb"));
        assert!(!is_well_formed("ct_Egw8luyvtRPR0xpWR1e3isTaBo1P4R/b"));
    }

    #[test]
    fn qr_is_an_svg() {
        let svg = qr_svg("weixin://wxpay/bizpayurl?pr=abcdefg").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
