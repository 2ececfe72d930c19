//! The reconcile worker: finds what a channel knows and we were not told. For open trades
//! with no notify it queries with backoff (1, 2, 5, 10, 30 minutes, then at expiry), not every
//! minute forever; at expiry it closes the trade, then queries (close-then-query), so a
//! payment at the last second is recorded, not lost; it finishes closes a channel refused at
//! the time, and closes the other channels' trades of an order paid through one. Several instances can run it: each trade is leased with a conditional update first.
//! It also deletes refused notifies past their retention.

use crate::channel::{Channel, ChannelId, Channels, ReportedPayment, TradeState};
use crate::core::effects::{self, EffectTargets};
use crate::core::lifecycle::{self, close_then_query, record_query, CloseVerdict};
use crate::core::order_state::{self, StateError};
use crate::db::channel_trades::{self, ChannelTrade, CLOSING};
use crate::db::{self, orders, rejected_notifies, DbError, DbPool};
use crate::domain::{time, OrderStatus};
use chrono::{Duration, NaiveDateTime};
use std::sync::Arc;

/// Pauses between active queries after the first (which comes a minute after unifiedorder).
const QUERY_BACKOFF_MINUTES: [i64; 4] = [2, 5, 10, 30];
/// A failed channel call is tried again after this long.
const RETRY_AFTER: Duration = Duration::minutes(1);
/// A leased trade is this worker's for this long.
const LEASE: Duration = Duration::minutes(2);
/// How long refused notifies are kept for an operator to look into.
pub const REJECTED_NOTIFY_RETENTION: Duration = Duration::days(30);
const BATCH: i64 = 50;

pub struct ReconcileWorker {
    pool: DbPool,
    channels: Channels,
    targets: EffectTargets,
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
    pub fn new(pool: DbPool, channels: Channels, targets: EffectTargets) -> Self {
        ReconcileWorker {
            pool,
            channels,
            targets,
        }
    }

    /// One step: every due trade, then expired orders that have no trade left to close.
    pub async fn run_once(&self) -> Result<Step, DbError> {
        let now = time::now();
        let due = db::run(&self.pool, move |conn| {
            channel_trades::due(conn, now, BATCH).map_err(DbError::from)
        })
        .await?;
        let mut trades = 0;
        for trade in due {
            // Leased one at a time, just before its channel calls, so a lease never runs out
            // while the trade waits its turn behind others.
            let lease = trade.clone();
            let mine = db::run(&self.pool, move |conn| {
                channel_trades::lease(conn, &lease, time::now() + LEASE).map_err(DbError::from)
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

    async fn reconcile_trade(&self, trade: ChannelTrade) -> Result<(), StateError> {
        let Some(channel) = ChannelId::parse(&trade.channel).and_then(|id| self.channels.get(id))
        else {
            // A channel this process does not run (e.g. configured on another instance only):
            // looked at again later, by whoever has it.
            return self
                .retry(&trade, "the channel is not configured here")
                .await;
        };
        let channel = channel.as_ref();
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
            // close it at the channel, and record a payment it took meanwhile.
            return match self.close_then_query(channel, &trade).await {
                CloseVerdict::Closed => self.mark_closed(&trade).await,
                CloseVerdict::Paid(payment) => self.record(payment).await,
                CloseVerdict::Retry(reason) => self.retry(&trade, &reason).await,
            };
        }
        if order.expires_at <= now {
            return match self.close_then_query(channel, &trade).await {
                CloseVerdict::Closed => self.close_order(&order.id, &trade).await,
                CloseVerdict::Paid(payment) => self.record(payment).await,
                CloseVerdict::Retry(reason) => self.retry(&trade, &reason).await,
            };
        }
        let queried = channel.query(&trade.out_trade_no).await;
        record_query(
            &self.pool,
            channel,
            &trade.order_id,
            &trade.out_trade_no,
            &queried,
        )
        .await;
        match queried {
            Ok(TradeState::Paid(payment)) => self.record(payment).await,
            // Closed at the channel by someone else: the order needs a new trade to be paid.
            Ok(TradeState::Closed) => self.mark_closed(&trade).await,
            Ok(TradeState::Waiting | TradeState::Paying | TradeState::NotFound) => {
                self.back_off(&trade, order.expires_at).await
            }
            Err(e) => self.retry(&trade, &e.to_string()).await,
        }
    }

    async fn close_then_query(&self, channel: &dyn Channel, trade: &ChannelTrade) -> CloseVerdict {
        close_then_query(channel, &self.pool, &trade.order_id, &trade.out_trade_no).await
    }

    async fn record(&self, payment: ReportedPayment) -> Result<(), StateError> {
        lifecycle::record_payment(&self.pool, &self.targets, payment).await
    }

    async fn close_order(
        &self,
        order_id: &str,
        confirmed: &ChannelTrade,
    ) -> Result<(), StateError> {
        let order_id = order_id.to_owned();
        let confirmed = ChannelId::parse(&confirmed.channel)
            .map(|c| vec![(c, confirmed.out_trade_no.clone())])
            .unwrap_or_default();
        let (_, changed) = db::run(&self.pool, move |conn| {
            order_state::close(conn, &order_id, &confirmed)
        })
        .await?;
        effects::apply(&self.targets, changed).await;
        Ok(())
    }

    async fn mark_closed(&self, trade: &ChannelTrade) -> Result<(), StateError> {
        let (channel, out_trade_no) = (trade.channel.clone(), trade.out_trade_no.clone());
        db::run(&self.pool, move |conn| {
            channel_trades::mark_closed(conn, &channel, &out_trade_no, time::now())
                .map_err(DbError::from)
        })
        .await?;
        Ok(())
    }

    /// Not paid yet: the next query after the next pause of the backoff, never past expiry.
    async fn back_off(
        &self,
        trade: &ChannelTrade,
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

    async fn retry(&self, trade: &ChannelTrade, reason: &str) -> Result<(), StateError> {
        log::info!(
            "reconcile {}: trying again later: {reason}",
            trade.out_trade_no
        );
        self.schedule(trade, time::now() + RETRY_AFTER, trade.query_attempts)
            .await
    }

    async fn schedule(
        &self,
        trade: &ChannelTrade,
        at: NaiveDateTime,
        attempts: i32,
    ) -> Result<(), StateError> {
        let (channel, out_trade_no) = (trade.channel.clone(), trade.out_trade_no.clone());
        db::run(&self.pool, move |conn| {
            channel_trades::schedule_next(conn, &channel, &out_trade_no, at, attempts)
                .map_err(DbError::from)
        })
        .await?;
        Ok(())
    }

    /// Expired WAIT_PAY orders with no trade a channel could take money through (none
    /// opened, or only claims that never got an answer): closed here, with their event.
    async fn close_expired_without_trade(&self, now: NaiveDateTime) -> Result<usize, DbError> {
        let (closed, changed) = db::run(&self.pool, move |conn| {
            let mut closed = 0;
            let mut changed = effects::Effects::none();
            for order in orders::expired_waiting(conn, now, BATCH)? {
                // Claims that never got credentials took no money: closed with the order. A
                // trade that has them is left CLOSING, for close-then-query at its channel.
                let confirmed: Vec<(ChannelId, String)> =
                    channel_trades::open_for_order(conn, &order.id)?
                        .into_iter()
                        .filter(|t| t.credential.is_none())
                        .filter_map(|t| Some((ChannelId::parse(&t.channel)?, t.out_trade_no)))
                        .collect();
                match order_state::close(conn, &order.id, &confirmed) {
                    Ok((Some(_), effects)) => {
                        closed += 1;
                        changed = changed.merge(effects);
                    }
                    Ok((None, _)) => {}
                    Err(StateError::Db(e)) => return Err(e),
                    Err(StateError::Rejected(reason)) => {
                        log::warn!("expiry of {}: {reason}", order.id)
                    }
                }
            }
            Ok((closed, changed))
        })
        .await?;
        effects::apply(&self.targets, changed).await;
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
