//! Closing orders, at the merchant's request and at expiry, and finding payments whose notify
//! never came: the channel side of the order lifecycle. State changes go through
//! `order_state`, like a notify's.

use crate::channel::{Channel, ChannelError, ChannelId, Closing, ReportedPayment, TradeState};
use crate::core::effects::{self, EffectTargets};
use crate::core::merchants::MerchantProfile;
use crate::core::order_state::{self, StateError};
use crate::core::orders;
use crate::core::timeline;
use crate::core::AppState;
use crate::core::CoreError;
use crate::db::orders::Order;
use crate::db::{self, channel_trades, DbPool};
use crate::domain::OrderStatus;
use serde_json::json;

/// What a channel says of a trade we want closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseVerdict {
    /// Closed (or never existed): nothing can be paid through it any more.
    Closed,
    /// It was paid: record the payment.
    Paid(ReportedPayment),
    /// Not now (the channel refused for the moment, or did not answer).
    Retry(String),
}

/// Close, then query: once the close succeeds the channel takes no more money for the trade,
/// and the query then tells whether it took some before. Both calls go on the order's
/// timeline.
pub async fn close_then_query(
    channel: &dyn Channel,
    pool: &DbPool,
    order_id: &str,
    out_trade_no: &str,
) -> CloseVerdict {
    let closed = channel.close(out_trade_no).await;
    timeline::record(
        pool,
        order_id,
        "channel.close",
        json!({
            "channel": channel.id().as_str(),
            "call": channel.call_names().close,
            "out_trade_no": out_trade_no,
            "outcome": timeline::call_outcome(&closed),
        }),
    )
    .await;
    match closed {
        Ok(Closing::Closed | Closing::AlreadyFinal) => {}
        Ok(Closing::NotFound) => return CloseVerdict::Closed,
        Err(e) => return CloseVerdict::Retry(e.to_string()),
    }
    let queried = channel.query(out_trade_no).await;
    record_query(pool, channel, order_id, out_trade_no, &queried).await;
    match queried {
        Ok(TradeState::Paid(payment)) => CloseVerdict::Paid(payment),
        Ok(TradeState::Closed | TradeState::NotFound | TradeState::Waiting) => CloseVerdict::Closed,
        Ok(TradeState::Paying) => CloseVerdict::Retry("a shopper is paying".into()),
        Err(e) => CloseVerdict::Retry(e.to_string()),
    }
}

/// A query on the order's timeline, with the trade's state when the channel answered.
pub async fn record_query(
    pool: &DbPool,
    channel: &dyn Channel,
    order_id: &str,
    out_trade_no: &str,
    queried: &Result<TradeState, ChannelError>,
) {
    let outcome = match queried {
        Ok(state) => json!(trade_state_name(state)),
        Err(_) => timeline::call_outcome(queried),
    };
    timeline::record(
        pool,
        order_id,
        "channel.query",
        json!({
            "channel": channel.id().as_str(),
            "call": channel.call_names().query,
            "out_trade_no": out_trade_no,
            "outcome": outcome,
        }),
    )
    .await;
}

pub fn trade_state_name(state: &TradeState) -> &'static str {
    match state {
        TradeState::NotFound => "not_found",
        TradeState::Waiting => "waiting",
        TradeState::Paying => "paying",
        TradeState::Paid(_) => "paid",
        TradeState::Closed => "closed",
    }
}

pub fn state_error(e: StateError) -> CoreError {
    match e {
        StateError::Db(e) => e.into(),
        StateError::Rejected(reason) => CoreError::Internal(format!(
            "the channel's answer does not fit the order: {reason}"
        )),
    }
}

fn not_closable(order: &Order) -> CoreError {
    CoreError::Conflict(format!(
        "the order is {} and cannot be closed",
        order.status
    ))
}

/// Records a payment a query found (a close's, or the reconcile worker's) and applies what
/// it changed.
pub async fn record_payment(
    pool: &DbPool,
    targets: &EffectTargets,
    payment: ReportedPayment,
) -> Result<(), StateError> {
    let (outcome, changed) = db::run(pool, move |conn| {
        order_state::record_payment(conn, &payment)
    })
    .await?;
    log::info!("a query found a payment: {outcome:?}");
    effects::apply(targets, changed).await;
    Ok(())
}

/// `POST /v1/orders/{id}/close`: closes the order's open trade at every channel (or leaves
/// that to the worker while a channel refuses), then the order; CLOSED again is fine, PAID is
/// 409.
pub async fn close(
    state: &AppState,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Order, CoreError> {
    let order = orders::get(&state.pool, merchant, merchant_order_id).await?;
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::Closed) => return Ok(order),
        Some(OrderStatus::WaitPay) => {}
        _ => return Err(not_closable(&order)),
    }
    let order_id = order.id.clone();
    let open = db::run(&state.pool, move |conn| {
        channel_trades::open_for_order(conn, &order_id).map_err(CoreError::from)
    })
    .await?;
    let mut confirmed: Vec<(ChannelId, String)> = Vec::new();
    for trade in open.into_iter().filter(|t| t.credential.is_some()) {
        let Some(channel) = ChannelId::parse(&trade.channel).and_then(|id| state.channels.get(id))
        else {
            continue;
        };
        match close_then_query(
            channel.as_ref(),
            &state.pool,
            &order.id,
            &trade.out_trade_no,
        )
        .await
        {
            CloseVerdict::Closed => confirmed.push((channel.id(), trade.out_trade_no)),
            CloseVerdict::Paid(payment) => {
                record_payment(&state.pool, &state.effect_targets(), payment)
                    .await
                    .map_err(state_error)?
            }
            CloseVerdict::Retry(reason) => {
                log::info!(
                    "closing {} trade {} postponed: {reason}",
                    trade.channel,
                    trade.out_trade_no
                );
            }
        }
    }
    let order_id = order.id.clone();
    let (closed_now, changed) = db::run(&state.pool, move |conn| {
        order_state::close(conn, &order_id, &confirmed)
    })
    .await
    .map_err(state_error)?;
    effects::apply(&state.effect_targets(), changed).await;
    if let Some(closed) = closed_now {
        return Ok(closed);
    }
    // Not WAIT_PAY any more: another close got there first (200 again), or a payment (409).
    let order = orders::get(&state.pool, merchant, merchant_order_id).await?;
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::Closed) => Ok(order),
        _ => Err(not_closable(&order)),
    }
}
