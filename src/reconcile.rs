//! The reconcile worker: finds what WeChat knows and we were not told. For open trades with
//! no notify it queries with backoff (1, 2, 5, 10, 30 minutes, then at expiry), not every
//! minute forever; at expiry it closes the trade, then queries (close-then-query), so a
//! payment at the last second is recorded, not lost; it finishes closes WeChat refused at the
//! time. Several instances can run it: each trade is leased with a conditional update first.
//! It also deletes refused notifies past their retention.

use crate::channel::wechat::{ChannelError, WechatClient};
use crate::core::lifecycle::{close_then_query, payment_of, record_query, CloseVerdict};
use crate::core::order_state::{self, ReportedPayment, StateError};
use crate::db::wechat_trades::{self, WechatTrade, CLOSING};
use crate::db::{self, orders, rejected_notifies, DbError, DbPool};
use crate::domain::{time, OrderStatus};
use chrono::{Duration, NaiveDateTime};
use std::sync::Arc;
use tokio::sync::Notify;

/// Pauses between active queries after the first (which comes a minute after unifiedorder).
const QUERY_BACKOFF_MINUTES: [i64; 4] = [2, 5, 10, 30];
/// A failed call to WeChat is tried again after this long.
const RETRY_AFTER: Duration = Duration::minutes(1);
/// A leased trade is this worker's for this long.
const LEASE: Duration = Duration::minutes(2);
/// How long refused notifies are kept for an operator to look into.
pub const REJECTED_NOTIFY_RETENTION: Duration = Duration::days(30);
const BATCH: i64 = 50;

pub struct ReconcileWorker {
    pool: DbPool,
    wechat: Arc<WechatClient>,
    webhook_wakeup: Arc<Notify>,
}

/// What one step did, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub trades: usize,
    pub expired_orders: usize,
    /// Refused notifies deleted after `REJECTED_NOTIFY_RETENTION`.
    pub forgotten_notifies: usize,
}

impl ReconcileWorker {
    pub fn new(pool: DbPool, wechat: Arc<WechatClient>, webhook_wakeup: Arc<Notify>) -> Self {
        ReconcileWorker {
            pool,
            wechat,
            webhook_wakeup,
        }
    }

    /// One step: every due trade, then expired orders that have no trade left to close.
    pub async fn run_once(&self) -> Result<Step, DbError> {
        let now = time::now();
        let due = db::run(&self.pool, move |conn| {
            wechat_trades::due(conn, now, BATCH).map_err(DbError::from)
        })
        .await?;
        let mut trades = 0;
        for trade in due {
            // Leased one at a time, just before its calls to WeChat, so a lease never runs out
            // while the trade waits its turn behind others.
            let lease = trade.clone();
            let mine = db::run(&self.pool, move |conn| {
                wechat_trades::lease(conn, &lease, time::now() + LEASE).map_err(DbError::from)
            })
            .await?;
            if !mine {
                continue;
            }
            trades += 1;
            if let Err(e) = self.reconcile_trade(trade).await {
                log::warn!("reconcile: {e}");
            }
        }
        let expired_orders = self.close_expired_without_trade(now).await?;
        let cutoff = now - REJECTED_NOTIFY_RETENTION;
        let forgotten_notifies = db::run(&self.pool, move |conn| {
            rejected_notifies::delete_received_before(conn, cutoff).map_err(DbError::from)
        })
        .await?;
        Ok(Step {
            trades,
            expired_orders,
            forgotten_notifies,
        })
    }

    async fn reconcile_trade(&self, trade: WechatTrade) -> Result<(), StateError> {
        let order_id = trade.order_id.clone();
        let order = db::run(&self.pool, move |conn| {
            orders::find(conn, &order_id).map_err(DbError::from)
        })
        .await?
        .ok_or_else(|| {
            StateError::Rejected(format!("no order for trade {}", trade.out_trade_no))
        })?;
        let now = time::now();
        let waiting = OrderStatus::from_stored(&order.status) == Some(OrderStatus::WaitPay);
        if trade.status == CLOSING || !waiting {
            // Given up on our side (superseded, order closed or paid through another trade):
            // close it at WeChat, and record a payment it took meanwhile.
            return match close_then_query(
                &self.wechat,
                &self.pool,
                &trade.order_id,
                &trade.out_trade_no,
            )
            .await
            {
                CloseVerdict::Closed => self.mark_closed(&trade.out_trade_no).await,
                CloseVerdict::Paid(payment) => self.record(payment).await,
                CloseVerdict::Retry(reason) => self.retry(&trade, &reason).await,
            };
        }
        if order.expires_at <= now {
            return match close_then_query(
                &self.wechat,
                &self.pool,
                &trade.order_id,
                &trade.out_trade_no,
            )
            .await
            {
                CloseVerdict::Closed => self.close_order(&order.id, &trade.out_trade_no).await,
                CloseVerdict::Paid(payment) => self.record(payment).await,
                CloseVerdict::Retry(reason) => self.retry(&trade, &reason).await,
            };
        }
        let queried = self.wechat.order_query(&trade.out_trade_no).await;
        record_query(&self.pool, &trade.order_id, &trade.out_trade_no, &queried).await;
        match queried {
            Ok(query) => match payment_of(&trade.out_trade_no, &query) {
                Some(payment) => self.record(payment).await,
                // Closed at WeChat by someone else: the order needs a new trade to be paid.
                None if query.trade_state == "CLOSED" => {
                    self.mark_closed(&trade.out_trade_no).await
                }
                None => self.back_off(&trade, order.expires_at).await,
            },
            Err(ChannelError::Business { err_code, .. }) if err_code == "ORDERNOTEXIST" => {
                self.back_off(&trade, order.expires_at).await
            }
            Err(e) => self.retry(&trade, &e.to_string()).await,
        }
    }

    async fn record(&self, payment: ReportedPayment) -> Result<(), StateError> {
        let outcome = db::run(&self.pool, move |conn| {
            order_state::record_payment(conn, &payment)
        })
        .await?;
        log::info!("reconcile found a payment: {outcome:?}");
        if outcome.wrote_event() {
            self.webhook_wakeup.notify_one();
        }
        Ok(())
    }

    async fn close_order(&self, order_id: &str, confirmed: &str) -> Result<(), StateError> {
        let (order_id, confirmed) = (order_id.to_owned(), confirmed.to_owned());
        let closed = db::run(&self.pool, move |conn| {
            order_state::close(conn, &order_id, Some(&confirmed))
        })
        .await?;
        if closed.is_some() {
            self.webhook_wakeup.notify_one();
        }
        Ok(())
    }

    async fn mark_closed(&self, out_trade_no: &str) -> Result<(), StateError> {
        let out_trade_no = out_trade_no.to_owned();
        db::run(&self.pool, move |conn| {
            wechat_trades::mark_closed(conn, &out_trade_no, time::now()).map_err(DbError::from)
        })
        .await?;
        Ok(())
    }

    /// Not paid yet: the next query after the next pause of the backoff, never past expiry.
    async fn back_off(
        &self,
        trade: &WechatTrade,
        expires_at: NaiveDateTime,
    ) -> Result<(), StateError> {
        let attempts = trade.query_attempts + 1;
        let pause = usize::try_from(trade.query_attempts)
            .ok()
            .and_then(|i| QUERY_BACKOFF_MINUTES.get(i))
            .map(|m| Duration::minutes(*m));
        let next = match pause {
            Some(pause) => (time::now() + pause).min(expires_at),
            None => expires_at,
        };
        self.schedule(trade, next, attempts).await
    }

    async fn retry(&self, trade: &WechatTrade, reason: &str) -> Result<(), StateError> {
        log::info!(
            "reconcile {}: trying again later: {reason}",
            trade.out_trade_no
        );
        self.schedule(trade, time::now() + RETRY_AFTER, trade.query_attempts)
            .await
    }

    async fn schedule(
        &self,
        trade: &WechatTrade,
        at: NaiveDateTime,
        attempts: i32,
    ) -> Result<(), StateError> {
        let out_trade_no = trade.out_trade_no.clone();
        db::run(&self.pool, move |conn| {
            wechat_trades::schedule_next(conn, &out_trade_no, at, attempts).map_err(DbError::from)
        })
        .await?;
        Ok(())
    }

    /// Expired WAIT_PAY orders with no trade WeChat could take money through (none opened,
    /// or only claims that never got an answer): closed here, with their event.
    async fn close_expired_without_trade(&self, now: NaiveDateTime) -> Result<usize, DbError> {
        let closed = db::run(&self.pool, move |conn| {
            let mut closed = 0;
            for order in orders::expired_waiting(conn, now, BATCH)? {
                // Only a claim that never got credentials can be left open here.
                let open = wechat_trades::find_open_for_order(conn, &order.id)?;
                let confirmed = open.map(|t| t.out_trade_no);
                match order_state::close(conn, &order.id, confirmed.as_deref()) {
                    Ok(Some(_)) => closed += 1,
                    Ok(None) => {}
                    Err(StateError::Db(e)) => return Err(e),
                    Err(StateError::Rejected(reason)) => {
                        log::warn!("expiry of {}: {reason}", order.id)
                    }
                }
            }
            Ok(closed)
        })
        .await?;
        if closed > 0 {
            self.webhook_wakeup.notify_one();
        }
        Ok(closed)
    }
}

/// How often the reconcile worker looks: trades fall due on a scale of minutes.
const INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

impl ReconcileWorker {
    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        crate::workers::run_until_shutdown(
            "reconcile worker",
            || async {
                match self.run_once().await {
                    Ok(step) if step.trades as i64 >= BATCH => std::time::Duration::ZERO,
                    Ok(_) => INTERVAL,
                    Err(e) => {
                        log::warn!("reconcile worker: {e}");
                        INTERVAL
                    }
                }
            },
            None,
            shutdown,
        )
        .await;
    }
}
