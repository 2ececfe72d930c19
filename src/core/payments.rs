//! Opening a WeChat trade for an order and handing out what the shopper pays with: a NATIVE
//! `code_url`, a JSAPI / APP `prepay_id`, an MWEB `mweb_url`. One unifiedorder per trade: the
//! claim is a row in `wechat_trades` (one OPEN trade per order, enforced by a unique index), so
//! concurrent requests on any number of instances make one call; the answer is kept with the
//! trade and cached (Redis or in-process) until shortly before it expires. Asking for another
//! kind of trade supersedes the open one: it is given up on our side at once and closed at
//! WeChat by the reconcile worker, so an order is payable through one trade at a time.

use crate::channel::wechat::{TradeType, UnifiedOrder};
use crate::core::timeline;
use crate::db::orders::{self, Order};
use crate::db::wechat_trades::{self, NewWechatTrade, WechatTrade};
use crate::db::{self, AnyConnection, DbError};
use crate::domain::{time, OrderStatus};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A credential is handed out until this long before it expires, so a shopper never gets a
/// dead one.
const CREDENTIAL_MARGIN: Duration = Duration::seconds(60);
/// WeChat wants `time_expire` at least a minute ahead; leave room for the call itself.
const MIN_TIME_LEFT_TO_OPEN: Duration = Duration::seconds(65);
/// A claim without an answer after this long belongs to a request that died: take it over.
/// Longer than a live holder can take (10 s HTTP timeout + 5 s pool wait + margin).
const CLAIM_STALE_AFTER: Duration = Duration::seconds(30);
/// How long a request waits for another request's unifiedorder before giving up (502).
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(35);
const CLAIM_POLL: std::time::Duration = std::time::Duration::from_millis(25);
/// The first active query of a trade without a notify (the reconcile worker backs off after).
pub const FIRST_QUERY_AFTER: Duration = Duration::minutes(1);
/// WeChat refuses closeorder within five minutes of unifiedorder.
pub const CLOSE_ALLOWED_AFTER: Duration = Duration::minutes(5);

/// What the merchant or storefront asks to pay with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeRequest {
    Native,
    /// Official account or mini-program: the payer's openid.
    Jsapi {
        openid: String,
    },
    /// H5 in a phone browser: the shopper's IP (WeChat checks it) and the scene.
    Mweb {
        client_ip: String,
        scene_info: String,
    },
    App,
}

impl TradeRequest {
    pub fn trade_type(&self) -> TradeType {
        match self {
            TradeRequest::Native => TradeType::Native,
            TradeRequest::Jsapi { .. } => TradeType::Jsapi,
            TradeRequest::Mweb { .. } => TradeType::Mweb,
            TradeRequest::App => TradeType::App,
        }
    }

    /// What makes two requests of one type need two trades.
    fn params(&self) -> Option<String> {
        match self {
            TradeRequest::Jsapi { openid } => {
                Some(serde_json::json!({ "openid": openid }).to_string())
            }
            TradeRequest::Mweb {
                client_ip,
                scene_info,
            } => Some(
                serde_json::json!({ "client_ip": client_ip, "scene_info": scene_info }).to_string(),
            ),
            TradeRequest::Native | TradeRequest::App => None,
        }
    }

    /// prepay_id and code_url live two hours; an mweb_url five minutes.
    fn lifetime(&self) -> Duration {
        match self {
            TradeRequest::Mweb { .. } => Duration::minutes(5),
            _ => Duration::hours(2),
        }
    }
}

fn cache_key(order_id: &str, trade_type: &str, params: Option<&str>) -> String {
    let params = params.map_or_else(|| "-".to_owned(), |p| hex::encode(&Sha256::digest(p)[..8]));
    format!("credential:{order_id}:{trade_type}:{params}")
}

/// What a trade gives the payer: its prepay_id and, for NATIVE / MWEB, the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub out_trade_no: String,
    pub prepay_id: String,
    /// NATIVE: the code_url; MWEB: the mweb_url.
    pub url: Option<String>,
    pub expires_at: NaiveDateTime,
}

impl Credential {
    fn is_fresh(&self, now: NaiveDateTime) -> bool {
        self.expires_at - CREDENTIAL_MARGIN > now
    }

    fn of(trade: &WechatTrade) -> Option<Credential> {
        Some(Credential {
            out_trade_no: trade.out_trade_no.clone(),
            prepay_id: trade.prepay_id.clone()?,
            url: trade.code_url.clone(),
            expires_at: trade.credential_expires_at?,
        })
    }
}

/// 409 unless the order can still be paid.
pub fn ensure_payable(order: &Order, now: NaiveDateTime) -> Result<(), ApiError> {
    match OrderStatus::from_stored(&order.status) {
        Some(OrderStatus::WaitPay) if order.expires_at > now => Ok(()),
        Some(OrderStatus::WaitPay) => {
            Err(ApiError::OrderNotPayable("the order has expired".into()))
        }
        _ => Err(ApiError::OrderNotPayable(format!(
            "the order is {}, not WAIT_PAY",
            order.status
        ))),
    }
}

fn too_late() -> ApiError {
    ApiError::OrderNotPayable(
        "the order expires in less than a minute, too soon to pay with WeChat \
         (it needs time_expire a minute ahead)"
            .into(),
    )
}

/// Whether asking for a trade may give up the order's open trade of another kind. The
/// merchant's explicit request may; the storefront's read of the checkout may not (a GET that
/// switched the shopper's payment away would be a surprise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Supersede,
    KeepOther,
}

/// The credential of the order's trade for `request`: from the cache, else from the
/// database, else from one unifiedorder. A cache that fails is logged and bypassed.
pub async fn obtain(
    state: &AppState,
    order: &Order,
    request: &TradeRequest,
) -> Result<Credential, ApiError> {
    obtain_with(state, order, request, Switch::Supersede).await
}

pub async fn obtain_with(
    state: &AppState,
    order: &Order,
    request: &TradeRequest,
    switch: Switch,
) -> Result<Credential, ApiError> {
    let now = time::now();
    ensure_payable(order, now)?;
    let trade_type = request.trade_type().as_str();
    let params = request.params();
    let key = cache_key(&order.id, trade_type, params.as_deref());
    match state.cache.get(&key).await {
        Ok(Some(value)) => {
            if let Some(credential) = serde_json::from_str::<Credential>(&value)
                .ok()
                .filter(|c| c.is_fresh(now))
            {
                // The cache saves WeChat a call, never the check that the trade is still the
                // order's open one (another instance may have switched or closed it). What is
                // handed out is the database's credential: a cache anyone else can write to
                // never puts its own code_url in front of a shopper.
                let out_trade_no = credential.out_trade_no.clone();
                let trade = db::run(&state.pool, move |conn| {
                    wechat_trades::find(conn, &out_trade_no).map_err(ApiError::from)
                })
                .await?;
                let stored = trade
                    .filter(|t| t.status == wechat_trades::OPEN && t.order_id == order.id)
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
                let _ = state.cache.delete(&key).await;
            }
        }
        Ok(None) => {}
        Err(e) => log::warn!("cache unavailable, serving from the database: {e}"),
    }
    let credential = obtain_uncached(state, order, request, switch).await?;
    let ttl = credential.expires_at - CREDENTIAL_MARGIN - time::now();
    if let (Ok(ttl), Ok(value)) = (ttl.to_std(), serde_json::to_string(&credential)) {
        if let Err(e) = state.cache.set(&key, &value, ttl).await {
            log::warn!("cache unavailable, credential kept in the database only: {e}");
        }
    }
    Ok(credential)
}

enum Claim {
    Ready(Credential),
    /// This request holds the claim on `out_trade_no`, made at `claimed_at` (the claim's
    /// token: a holder whose claim was taken over changes nothing).
    Mine {
        out_trade_no: String,
        claimed_at: NaiveDateTime,
        superseded: Option<WechatTrade>,
    },
}

enum ClaimFailure {
    /// Another request holds the claim: wait for its answer.
    Busy,
    Api(ApiError),
}

impl From<diesel::result::Error> for ClaimFailure {
    fn from(e: diesel::result::Error) -> Self {
        ClaimFailure::Api(e.into())
    }
}

async fn obtain_uncached(
    state: &AppState,
    order: &Order,
    request: &TradeRequest,
    switch: Switch,
) -> Result<Credential, ApiError> {
    let waited_since = std::time::Instant::now();
    loop {
        let order_id = order.id.clone();
        let expires_at = order.expires_at;
        let wanted = request.clone();
        let claim = db::run(&state.pool, move |conn| {
            let result = db::write_transaction(conn, |c| {
                claim_or_read(c, &order_id, expires_at, &wanted, switch, time::now())
            });
            match result {
                Ok(claim) => Ok(Some(claim)),
                Err(ClaimFailure::Busy) => Ok(None),
                Err(ClaimFailure::Api(e)) => Err(e),
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
                    forget(state, &old).await;
                }
                return open_trade(state, order, request, &out_trade_no, claimed_at).await;
            }
            None if waited_since.elapsed() > CLAIM_WAIT => {
                return Err(ApiError::Channel(
                    "WeChat Pay is slow to open the payment; try again".into(),
                ))
            }
            None => tokio::time::sleep(CLAIM_POLL).await,
        }
    }
}

fn claim_or_read(
    conn: &mut AnyConnection,
    order_id: &str,
    order_expires_at: NaiveDateTime,
    request: &TradeRequest,
    switch: Switch,
    now: NaiveDateTime,
) -> Result<Claim, ClaimFailure> {
    // Payable still, as of this transaction (a close or a payment may have come since the order
    // was read): checked with an update that, on Postgres, also locks the order row first, in
    // the order every transition locks (order, then trade).
    if !orders::hold_if_payable(conn, order_id, now)? {
        return Err(ClaimFailure::Api(ApiError::OrderNotPayable(
            "the order can no longer be paid".into(),
        )));
    }
    let trade_type = request.trade_type().as_str();
    let params = request.params();
    let mut superseded = None;
    if let Some(open) = wechat_trades::find_open_for_order(conn, order_id)? {
        let same = open.trade_type == trade_type && open.params == params;
        match Credential::of(&open) {
            Some(credential) if same && credential.is_fresh(now) => {
                return Ok(Claim::Ready(credential))
            }
            Some(_) if same && order_expires_at - now < MIN_TIME_LEFT_TO_OPEN => {
                return Err(ClaimFailure::Api(too_late()))
            }
            None if now - open.created_at <= CLAIM_STALE_AFTER => return Err(ClaimFailure::Busy),
            None if same => {
                let mine =
                    wechat_trades::take_over_claim(conn, &open.out_trade_no, open.created_at, now)?;
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
                return Err(ClaimFailure::Api(ApiError::OrderNotPayable(format!(
                    "the order is being paid through a {} trade",
                    open.trade_type
                ))))
            }
            // Another kind of trade (or an expired credential, or a dead claim of another
            // kind): give it up here, close it at WeChat as soon as WeChat allows.
            _ => {
                let close_at = (open.created_at + CLOSE_ALLOWED_AFTER).max(now);
                wechat_trades::mark_closing(conn, &open.out_trade_no, close_at)?;
                superseded = Some(open);
            }
        }
    }
    if order_expires_at - now < MIN_TIME_LEFT_TO_OPEN {
        return Err(ClaimFailure::Api(too_late()));
    }
    let out_trade_no = next_out_trade_no(conn, order_id)?;
    let openid = match request {
        TradeRequest::Jsapi { openid } => Some(openid.as_str()),
        _ => None,
    };
    let claim = NewWechatTrade {
        out_trade_no: &out_trade_no,
        order_id,
        trade_type,
        status: wechat_trades::OPEN,
        openid,
        params: params.as_deref(),
        created_at: now,
    };
    match wechat_trades::insert(conn, &claim).map_err(DbError::from) {
        Ok(()) => Ok(Claim::Mine {
            out_trade_no,
            claimed_at: now,
            superseded,
        }),
        Err(e) if e.is_unique_violation() => Err(ClaimFailure::Busy),
        Err(e) => Err(ClaimFailure::Api(e.into())),
    }
}

/// The order's id for its first trade (what API.md promises WeChat sees), then `<id>-2`, `<id>-3`…
fn next_out_trade_no(conn: &mut AnyConnection, order_id: &str) -> Result<String, ClaimFailure> {
    if wechat_trades::find(conn, order_id)?.is_none() {
        return Ok(order_id.to_owned());
    }
    for n in 2..100 {
        let candidate = format!("{order_id}-{n}");
        if wechat_trades::find(conn, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(ClaimFailure::Api(ApiError::OrderNotPayable(
        "the order has had too many WeChat trades".into(),
    )))
}

/// A superseded trade's credential must not be handed out again from the cache.
async fn forget(state: &AppState, trade: &WechatTrade) {
    let key = cache_key(&trade.order_id, &trade.trade_type, trade.params.as_deref());
    if let Err(e) = state.cache.delete(&key).await {
        log::warn!(
            "could not drop the cached credential of superseded trade {}: {e}",
            trade.out_trade_no
        );
    }
}

async fn open_trade(
    state: &AppState,
    order: &Order,
    request: &TradeRequest,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let (openid, client_ip, scene_info) = match request {
        TradeRequest::Jsapi { openid } => (Some(openid.as_str()), None, None),
        TradeRequest::Mweb {
            client_ip,
            scene_info,
        } => (None, Some(client_ip.as_str()), Some(scene_info.as_str())),
        _ => (None, None, None),
    };
    let trade_type = request.trade_type();
    let unified = UnifiedOrder {
        out_trade_no,
        body: &order.description,
        total_fee: order.amount,
        trade_type,
        notify_url: &state.notify_url,
        time_expire: order.expires_at,
        spbill_create_ip: client_ip.unwrap_or(&state.spbill_create_ip),
        product_id: (trade_type == TradeType::Native).then_some(order.id.as_str()),
        openid,
        scene_info,
    };
    let reply = state.wechat.unified_order(&unified).await;
    timeline::record(
        &state.pool,
        &order.id,
        "channel.pay",
        serde_json::json!({
            "call": "unifiedorder",
            "trade_type": trade_type.as_str(),
            "out_trade_no": out_trade_no,
            "outcome": timeline::call_outcome(&reply),
        }),
    )
    .await;
    let out_trade_no = out_trade_no.to_owned();
    let prepay = match reply {
        Ok(prepay) => prepay,
        Err(e) => {
            log::warn!("unifiedorder for {out_trade_no} failed: {e}");
            db::run(&state.pool, move |conn| {
                wechat_trades::release_claim(conn, &out_trade_no, claimed_at).map_err(DbError::from)
            })
            .await?;
            return Err(ApiError::Channel(e.public_message()));
        }
    };
    let now = time::now();
    let credential = Credential {
        out_trade_no: out_trade_no.clone(),
        url: match trade_type {
            TradeType::Native => prepay.code_url.clone(),
            TradeType::Mweb => prepay.mweb_url.clone(),
            _ => None,
        },
        prepay_id: prepay.prepay_id,
        expires_at: (now + request.lifetime()).min(order.expires_at),
    };
    // Another trade now stands for the order: its cached view (and code) must be read again.
    crate::core::snapshots::forget_order(&order.id);
    let stored = credential.clone();
    let first_query = (now + FIRST_QUERY_AFTER).min(order.expires_at);
    let stored_rows = db::run(&state.pool, move |conn| {
        wechat_trades::set_credentials(
            conn,
            &out_trade_no,
            claimed_at,
            stored.url.as_deref(),
            &stored.prepay_id,
            stored.expires_at,
            first_query,
        )
        .map_err(DbError::from)
    })
    .await?;
    if stored_rows == 0 {
        // The claim was given up (the order closed, or switched to another trade) or taken
        // over while WeChat answered: this credential must not be handed out.
        return Err(ApiError::OrderNotPayable(
            "the order changed while its WeChat payment was being opened; read it again".into(),
        ));
    }
    Ok(credential)
}

/// The order's NATIVE `code_url` and when it stops being handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeUrl {
    pub code_url: String,
    pub expires_at: NaiveDateTime,
}

pub async fn native_code_url(
    state: &AppState,
    order: &Order,
    switch: Switch,
) -> Result<CodeUrl, ApiError> {
    let credential = obtain_with(state, order, &TradeRequest::Native, switch).await?;
    Ok(CodeUrl {
        code_url: credential
            .url
            .ok_or_else(|| ApiError::Internal("a NATIVE trade without code_url".into()))?,
        expires_at: credential.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_stale_a_minute_before_it_expires() {
        let now = time::now();
        let credential = |secs| Credential {
            out_trade_no: String::new(),
            prepay_id: String::new(),
            url: None,
            expires_at: now + Duration::seconds(secs),
        };
        assert!(credential(61).is_fresh(now));
        assert!(!credential(60).is_fresh(now));
    }

    #[test]
    fn requests_with_other_parameters_have_other_cache_keys() {
        let a = TradeRequest::Jsapi {
            openid: "o1".into(),
        };
        let b = TradeRequest::Jsapi {
            openid: "o2".into(),
        };
        assert_ne!(
            cache_key("PC1", "JSAPI", a.params().as_deref()),
            cache_key("PC1", "JSAPI", b.params().as_deref())
        );
        assert_eq!(cache_key("PC1", "NATIVE", None), "credential:PC1:NATIVE:-");
    }
}
