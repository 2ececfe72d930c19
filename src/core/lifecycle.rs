//! Closing orders, at the merchant's request and at expiry, and finding payments whose notify
//! never came: the WeChat side of the order lifecycle. State changes go through
//! `order_state`, like a notify's.

use crate::channel::wechat::{parse_beijing_time, ChannelError, TradeQuery, WechatClient};
use crate::core::merchants::MerchantProfile;
use crate::core::order_state::{self, PaymentSource, ReportedPayment, StateError};
use crate::core::orders;
use crate::core::timeline;
use crate::db::orders::Order;
use crate::db::{self, wechat_trades, DbPool};
use crate::domain::{time, OrderStatus};
use crate::error::ApiError;
use crate::state::AppState;
use serde_json::json;

/// What WeChat says of a trade we want closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseVerdict {
    /// Closed (or never existed): nothing can be paid through it any more.
    Closed,
    /// It was paid: record the payment.
    Paid(ReportedPayment),
    /// Not now (WeChat refused within five minutes of creation, or did not answer).
    Retry(String),
}

/// A payment from an orderquery answer, if it reports one (REFUND: paid, then refunded).
pub fn payment_of(out_trade_no: &str, query: &TradeQuery) -> Option<ReportedPayment> {
    if !matches!(query.trade_state.as_str(), "SUCCESS" | "REFUND") {
        return None;
    }
    Some(ReportedPayment {
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: query.transaction_id.clone()?,
        total_fee: query.total_fee?,
        paid_at: query
            .time_end
            .as_deref()
            .and_then(parse_beijing_time)
            .unwrap_or_else(time::now),
        source: PaymentSource::Query,
    })
}

/// Close, then query: once closeorder succeeds WeChat takes no more money for the trade, and
/// the query then tells whether it took some before. Both calls go on the order's timeline.
pub async fn close_then_query(
    wechat: &WechatClient,
    pool: &DbPool,
    order_id: &str,
    out_trade_no: &str,
) -> CloseVerdict {
    let closed = wechat.close_order(out_trade_no).await;
    timeline::record(
        pool,
        order_id,
        "channel.close",
        json!({"call": "closeorder", "out_trade_no": out_trade_no, "outcome": timeline::call_outcome(&closed)}),
    )
    .await;
    match closed {
        Ok(()) => {}
        Err(e) => match e.err_code() {
            Some("ORDERCLOSED" | "ORDERPAID") => {}
            Some("ORDERNOTEXIST") => return CloseVerdict::Closed,
            _ => return CloseVerdict::Retry(e.to_string()),
        },
    }
    let queried = wechat.order_query(out_trade_no).await;
    record_query(pool, order_id, out_trade_no, &queried).await;
    match queried {
        Ok(query) => match payment_of(out_trade_no, &query) {
            Some(payment) => CloseVerdict::Paid(payment),
            None if matches!(
                query.trade_state.as_str(),
                "CLOSED" | "REVOKED" | "PAYERROR" | "NOTPAY"
            ) =>
            {
                CloseVerdict::Closed
            }
            None => CloseVerdict::Retry(format!("trade_state {}", query.trade_state)),
        },
        Err(ChannelError::Business { err_code, .. }) if err_code == "ORDERNOTEXIST" => {
            CloseVerdict::Closed
        }
        Err(e) => CloseVerdict::Retry(e.to_string()),
    }
}

/// An orderquery on the order's timeline, with the trade's state when WeChat answered.
pub async fn record_query(
    pool: &DbPool,
    order_id: &str,
    out_trade_no: &str,
    queried: &Result<TradeQuery, ChannelError>,
) {
    let outcome = match queried {
        Ok(query) => json!(query.trade_state),
        Err(_) => timeline::call_outcome(queried),
    };
    timeline::record(
        pool,
        order_id,
        "channel.query",
        json!({"call": "orderquery", "out_trade_no": out_trade_no, "outcome": outcome}),
    )
    .await;
}

fn state_error(e: StateError) -> ApiError {
    match e {
        StateError::Db(e) => e.into(),
        StateError::Rejected(reason) => {
            ApiError::Internal(format!("WeChat's answer does not fit the order: {reason}"))
        }
    }
}

fn not_closable(order: &Order) -> ApiError {
    ApiError::Conflict(format!(
        "the order is {} and cannot be closed",
        order.status
    ))
}

/// `POST /v1/orders/{id}/close`: closes the trade at WeChat (or leaves that to the worker
/// while WeChat refuses), then the order; CLOSED again is fine, PAID is 409.
pub async fn close(
    state: &AppState,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Order, ApiError> {
    let order = orders::get(&state.pool, merchant, merchant_order_id).await?;
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::Closed) => return Ok(order),
        Some(OrderStatus::WaitPay) => {}
        _ => return Err(not_closable(&order)),
    }
    let order_id = order.id.clone();
    let open = db::run(&state.pool, move |conn| {
        wechat_trades::find_open_for_order(conn, &order_id).map_err(ApiError::from)
    })
    .await?;
    let mut confirmed = None;
    if let Some(trade) = open.filter(|t| t.prepay_id.is_some()) {
        match close_then_query(&state.wechat, &state.pool, &order.id, &trade.out_trade_no).await {
            CloseVerdict::Closed => confirmed = Some(trade.out_trade_no),
            CloseVerdict::Paid(payment) => {
                let outcome = db::run(&state.pool, move |conn| {
                    order_state::record_payment(conn, &payment)
                })
                .await
                .map_err(state_error)?;
                if outcome.wrote_event() {
                    state.webhook_wakeup.notify_one();
                }
            }
            CloseVerdict::Retry(reason) => {
                log::info!("closeorder {} postponed: {reason}", trade.out_trade_no);
            }
        }
    }
    let order_id = order.id.clone();
    let closed_now = db::run(&state.pool, move |conn| {
        order_state::close(conn, &order_id, confirmed.as_deref())
    })
    .await
    .map_err(state_error)?;
    if let Some(closed) = closed_now {
        state.webhook_wakeup.notify_one();
        return Ok(closed);
    }
    // Not WAIT_PAY any more: another close got there first (200 again), or a payment (409).
    let order = orders::get(&state.pool, merchant, merchant_order_id).await?;
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::Closed) => Ok(order),
        _ => Err(not_closable(&order)),
    }
}
