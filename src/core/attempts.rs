//! Opening a trade for an order at a channel, and handing out what the shopper pays with.
//! One opening call per trade: the claim is a row in `channel_trades` (one OPEN trade per
//! order and channel, enforced by a unique index), so concurrent requests on any number of
//! instances make one call; the answer is kept with the trade and cached (`credentials`).
//! Asking a channel for another product supersedes that channel's open trade: it is given up on
//! our side at once and closed at the channel by the reconcile worker. Trades at different
//! channels stand side by side (the cashier offers WeChat and Alipay); the first payment
//! closes the others (`order_state`).

use crate::channel::{Channel, ChannelId, Product, TradeRequest};
use crate::core::credentials::{self, Credential};
use crate::core::AppState;
use crate::core::{timeline, CoreError};
use crate::db::channel_trades::{self, ChannelTrade, NewChannelTrade};
use crate::db::orders::{self, Order};
use crate::db::{self, AnyConnection, DbError};
use crate::domain::{time, OrderStatus, PayMethod};
use chrono::{Duration, NaiveDateTime};
use std::sync::Arc;

/// A claim without an answer after this long belongs to a request that died: take it over.
/// Longer than a live holder can take (10 s HTTP timeout + 5 s pool wait + margin).
const CLAIM_STALE_AFTER: Duration = Duration::seconds(30);
/// How long a request waits for another request's opening call before giving up (502).
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(35);
const CLAIM_POLL: std::time::Duration = std::time::Duration::from_millis(25);
/// The first active query of a trade without a notify (the reconcile worker backs off after).
pub const FIRST_QUERY_AFTER: Duration = Duration::minutes(1);

/// 409 unless the order can still be paid.
pub fn ensure_payable(order: &Order, now: NaiveDateTime) -> Result<(), CoreError> {
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::WaitPay) if order.expires_at > now => Ok(()),
        Some(OrderStatus::WaitPay) => {
            Err(CoreError::OrderNotPayable("the order has expired".into()))
        }
        _ => Err(CoreError::OrderNotPayable(format!(
            "the order is {}, not WAIT_PAY",
            order.status
        ))),
    }
}

/// 409 unless the order may be paid through `channel` (its `pay_method`, and the channel
/// configured here).
pub fn ensure_channel_allowed<'a>(
    state: &'a AppState,
    order: &Order,
    channel: ChannelId,
) -> Result<&'a Arc<dyn Channel>, CoreError> {
    if !PayMethod::from_stored(&order.pay_method).is_none_or(|m| m.allows(channel)) {
        return Err(CoreError::OrderNotPayable(format!(
            "the order is to be paid with {}, not {}",
            order.pay_method,
            channel.as_str()
        )));
    }
    state.channels.get(channel).ok_or_else(|| {
        CoreError::OrderNotPayable(format!(
            "{} is not configured on this payment center",
            channel.display_name()
        ))
    })
}

/// The channels an order can be paid with here, in `ChannelId` order.
pub fn payable_channels(state: &AppState, order: &Order) -> Vec<ChannelId> {
    state
        .channels
        .ids()
        .into_iter()
        .filter(|id| PayMethod::from_stored(&order.pay_method).is_none_or(|m| m.allows(*id)))
        .collect()
}

fn too_late(channel: ChannelId) -> CoreError {
    CoreError::OrderNotPayable(format!(
        "the order expires in less than a minute, too soon to pay with {}",
        channel.display_name()
    ))
}

/// Whether asking for a trade may give up the channel's open trade of another product. The
/// merchant's explicit request may; the storefront's read of the checkout may not (a GET that
/// switched the shopper's payment away would be a surprise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Supersede,
    KeepOther,
}

/// The credential of the order's trade for `product` at `channel`: from the cache, else from
/// the database, else from one opening call.
pub async fn obtain(
    state: &AppState,
    order: &Order,
    channel: ChannelId,
    product: &Product,
    switch: Switch,
) -> Result<Credential, CoreError> {
    let now = time::now();
    ensure_payable(order, now)?;
    let adapter = ensure_channel_allowed(state, order, channel)?;
    if !adapter.supports(product) {
        return Err(CoreError::InvalidRequest(format!(
            "{} has no {} payment",
            channel.display_name(),
            product.as_str()
        )));
    }
    let key = credentials::key_for(&order.id, channel, product);
    if let Some(credential) = credentials::cached(&state.cache, &key, now).await {
        // The cache saves the channel a call, never the check that the trade is still the
        // order's open one (another instance may have switched or closed it). What is handed
        // out is the database's credential: a cache anyone else can write to never puts its
        // own code in front of a shopper.
        let out_trade_no = credential.out_trade_no.clone();
        let trade = db::run(&state.pool, move |conn| {
            channel_trades::find(conn, channel.as_str(), &out_trade_no).map_err(CoreError::from)
        })
        .await?;
        let stored = trade
            .filter(|t| t.status == channel_trades::OPEN && t.order_id == order.id)
            .as_ref()
            .and_then(Credential::of);
        match stored {
            Some(stored) if stored == credential => return Ok(credential),
            Some(_) => log::warn!(
                "the cached credential of {} differs from the database's: dropped",
                order.id
            ),
            None => {}
        }
        credentials::forget(&state.cache, &key).await;
    }
    let credential = obtain_uncached(state, adapter, order, product, switch).await?;
    credentials::remember(&state.cache, &key, &credential, time::now()).await;
    Ok(credential)
}

enum Claim {
    Ready(Credential),
    /// This request holds the claim on `out_trade_no`, made at `claimed_at` (the claim's
    /// token: a holder whose claim was taken over changes nothing).
    Mine {
        out_trade_no: String,
        claimed_at: NaiveDateTime,
        superseded: Option<ChannelTrade>,
    },
}

enum ClaimFailure {
    /// Another request holds the claim: wait for its answer.
    Busy,
    Core(CoreError),
}

impl From<diesel::result::Error> for ClaimFailure {
    fn from(e: diesel::result::Error) -> Self {
        ClaimFailure::Core(e.into())
    }
}

async fn obtain_uncached(
    state: &AppState,
    adapter: &Arc<dyn Channel>,
    order: &Order,
    product: &Product,
    switch: Switch,
) -> Result<Credential, CoreError> {
    let waited_since = std::time::Instant::now();
    let channel = adapter.id();
    let rules = ClaimRules {
        channel,
        min_time_to_open: adapter.min_time_to_open(),
    };
    loop {
        let order_id = order.id.clone();
        let expires_at = order.expires_at;
        let wanted = product.clone();
        let claim = db::run(&state.pool, move |conn| {
            let result = db::write_transaction(conn, |c| {
                claim_or_read(
                    c,
                    &rules,
                    &order_id,
                    expires_at,
                    &wanted,
                    switch,
                    time::now(),
                )
            });
            match result {
                Ok(claim) => Ok(Some(claim)),
                Err(ClaimFailure::Busy) => Ok(None),
                Err(ClaimFailure::Core(e)) => Err(e),
            }
        })
        .await?;
        match claim {
            Some(Claim::Ready(credential)) => return Ok(credential),
            Some(Claim::Mine {
                out_trade_no,
                claimed_at,
                superseded,
            }) => {
                if let Some(old) = superseded {
                    credentials::forget(&state.cache, &credentials::key_of(&old)).await;
                }
                return open_trade(state, adapter, order, product, &out_trade_no, claimed_at).await;
            }
            None if waited_since.elapsed() > CLAIM_WAIT => {
                return Err(CoreError::Channel(format!(
                    "{} is slow to open the payment; try again",
                    channel.display_name()
                )))
            }
            None => tokio::time::sleep(CLAIM_POLL).await,
        }
    }
}

/// What a claim needs to know of its channel.
#[derive(Clone, Copy)]
struct ClaimRules {
    channel: ChannelId,
    min_time_to_open: Duration,
}

/// Gives an open trade up on our side (CLOSING): the reconcile worker closes it at its channel
/// as soon as the channel allows (WeChat: five minutes after opening). Every door that drops a
/// trade (another product, a payment through another channel, a close) goes through here.
pub fn give_up(
    conn: &mut AnyConnection,
    trade: &ChannelTrade,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    let close_at = close_at(trade, now);
    channel_trades::mark_closing(conn, &trade.channel, &trade.out_trade_no, close_at)
}

/// When a trade given up at `now` may be closed at its channel (WeChat refuses a close in the
/// first minutes of a trade).
pub fn close_at(trade: &ChannelTrade, now: NaiveDateTime) -> NaiveDateTime {
    let wait = ChannelId::parse(&trade.channel)
        .map_or(Duration::zero(), crate::channel::close_allowed_after);
    (trade.created_at + wait).max(now)
}

fn claim_or_read(
    conn: &mut AnyConnection,
    rules: &ClaimRules,
    order_id: &str,
    order_expires_at: NaiveDateTime,
    product: &Product,
    switch: Switch,
    now: NaiveDateTime,
) -> Result<Claim, ClaimFailure> {
    let channel = rules.channel.as_str();
    // Payable still, as of this transaction (a close or a payment may have come since the order
    // was read): checked with an update that, on Postgres, also locks the order row first, in
    // the order every transition locks (order, then trade).
    if !orders::hold_if_payable(conn, order_id, now)? {
        return Err(ClaimFailure::Core(CoreError::OrderNotPayable(
            "the order can no longer be paid".into(),
        )));
    }
    let params = product.params();
    let mut superseded = None;
    if let Some(open) = channel_trades::find_open_for_order(conn, order_id, channel)? {
        let same = open.product == product.as_str() && open.params == params;
        match Credential::of(&open) {
            Some(credential) if same && credential.is_fresh(now) => {
                return Ok(Claim::Ready(credential))
            }
            Some(_) if same && order_expires_at - now < rules.min_time_to_open => {
                return Err(ClaimFailure::Core(too_late(rules.channel)))
            }
            None if now - open.created_at <= CLAIM_STALE_AFTER => return Err(ClaimFailure::Busy),
            None if same => {
                let mine = channel_trades::take_over_claim(
                    conn,
                    channel,
                    &open.out_trade_no,
                    open.created_at,
                    now,
                )?;
                return if mine {
                    Ok(Claim::Mine {
                        out_trade_no: open.out_trade_no,
                        claimed_at: now,
                        superseded: None,
                    })
                } else {
                    Err(ClaimFailure::Busy)
                };
            }
            Some(credential)
                if !same && switch == Switch::KeepOther && credential.is_fresh(now) =>
            {
                return Err(ClaimFailure::Core(CoreError::OrderNotPayable(format!(
                    "the order is being paid through a {} {} trade",
                    channel, open.product
                ))))
            }
            // Another product (or an expired credential, or a dead claim of another product):
            // give it up here, close it at the channel as soon as the channel allows.
            _ => {
                give_up(conn, &open, now)?;
                superseded = Some(open);
            }
        }
    }
    if order_expires_at - now < rules.min_time_to_open {
        return Err(ClaimFailure::Core(too_late(rules.channel)));
    }
    let out_trade_no = next_out_trade_no(conn, channel, order_id)?;
    let claim = NewChannelTrade {
        out_trade_no: &out_trade_no,
        order_id,
        product: product.as_str(),
        status: channel_trades::OPEN,
        params: params.as_deref(),
        created_at: now,
        channel,
    };
    match channel_trades::insert(conn, &claim).map_err(DbError::from) {
        Ok(()) => Ok(Claim::Mine {
            out_trade_no,
            claimed_at: now,
            superseded,
        }),
        Err(e) if e.is_unique_violation() => Err(ClaimFailure::Busy),
        Err(e) => Err(ClaimFailure::Core(e.into())),
    }
}

/// The order's id for its first trade at a channel (what API.md promises the channel sees),
/// then `<id>-2`, `<id>-3`…
fn next_out_trade_no(
    conn: &mut AnyConnection,
    channel: &str,
    order_id: &str,
) -> Result<String, ClaimFailure> {
    if channel_trades::find(conn, channel, order_id)?.is_none() {
        return Ok(order_id.to_owned());
    }
    for n in 2..100 {
        let candidate = format!("{order_id}-{n}");
        if channel_trades::find(conn, channel, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(ClaimFailure::Core(CoreError::OrderNotPayable(
        "the order has had too many trades".into(),
    )))
}

async fn open_trade(
    state: &AppState,
    adapter: &Arc<dyn Channel>,
    order: &Order,
    product: &Product,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
) -> Result<Credential, CoreError> {
    let channel = adapter.id();
    let request = TradeRequest {
        out_trade_no,
        order_id: &order.id,
        description: &order.description,
        amount: order.amount,
        expires_at: order.expires_at,
        product,
    };
    let reply = adapter.open(&request).await;
    timeline::record(
        &state.pool,
        &order.id,
        "channel.pay",
        serde_json::json!({
            "channel": channel.as_str(),
            "call": adapter.open_call(product),
            "product": product.as_str(),
            "out_trade_no": out_trade_no,
            "outcome": timeline::call_outcome(&reply),
        }),
    )
    .await;
    let out_trade_no = out_trade_no.to_owned();
    let opened = match reply {
        Ok(opened) => opened,
        Err(e) => {
            log::warn!(
                "opening {} trade {out_trade_no} failed: {e}",
                channel.as_str()
            );
            db::run(&state.pool, move |conn| {
                channel_trades::release_claim(conn, channel.as_str(), &out_trade_no, claimed_at)
                    .map_err(DbError::from)
            })
            .await?;
            return Err(CoreError::Channel(e.public_message()));
        }
    };
    let now = time::now();
    let credential = Credential {
        out_trade_no: out_trade_no.clone(),
        credential: opened.credential,
        pay_url: opened.pay_url,
        expires_at: (now + opened.lifetime).min(order.expires_at),
    };
    // Another trade now stands for the order: its cached view (and code) must be read again.
    state.snapshots.forget_order(&order.id);
    let stored = credential.clone();
    let first_query = (now + FIRST_QUERY_AFTER).min(order.expires_at);
    let stored_rows = db::run(&state.pool, move |conn| {
        let answered = channel_trades::Answered {
            pay_url: stored.pay_url.as_deref(),
            credential: &stored.credential,
            credential_expires_at: stored.expires_at,
            next_query_at: first_query,
        };
        channel_trades::set_credentials(
            conn,
            channel.as_str(),
            &out_trade_no,
            claimed_at,
            &answered,
        )
        .map_err(DbError::from)
    })
    .await?;
    if stored_rows == 0 {
        // The claim was given up (the order closed, or switched to another trade) or taken
        // over while the channel answered: this credential must not be handed out.
        return Err(CoreError::OrderNotPayable(
            "the order changed while its payment was being opened; read it again".into(),
        ));
    }
    Ok(credential)
}

/// The order's QR code at a channel and when it stops being handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub channel: ChannelId,
    pub code: String,
    pub expires_at: NaiveDateTime,
}

/// What `qr_code` would hand out without a call, a claim or the cache: the order's open QR
/// trade at `channel`, read with the order, while the order can be paid there and the code is
/// fresh. `None` whenever anything else is the case: then `qr_code` decides.
pub fn open_qr_code(
    state: &AppState,
    order: &Order,
    channel: ChannelId,
    open: Option<&ChannelTrade>,
    now: NaiveDateTime,
) -> Option<QrCode> {
    let open = open.filter(|t| {
        t.status == channel_trades::OPEN
            && t.order_id == order.id
            && t.product == Product::Qr.as_str()
            && t.params.is_none()
    })?;
    ensure_payable(order, now).ok()?;
    ensure_channel_allowed(state, order, channel).ok()?;
    let credential = Credential::of(open).filter(|c| c.is_fresh(now))?;
    Some(QrCode {
        channel,
        code: credential.pay_url?,
        expires_at: credential.expires_at,
    })
}

pub async fn qr_code(
    state: &AppState,
    order: &Order,
    channel: ChannelId,
    switch: Switch,
) -> Result<QrCode, CoreError> {
    let credential = obtain(state, order, channel, &Product::Qr, switch).await?;
    Ok(QrCode {
        channel,
        code: credential
            .pay_url
            .ok_or_else(|| CoreError::Internal("a QR trade without its code".into()))?,
        expires_at: credential.expires_at,
    })
}
