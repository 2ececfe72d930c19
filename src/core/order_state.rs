//! The order state machine: every change of an order's state, whichever door it came in by
//! (notify, active query, close, expiry), goes through here, in one database transaction
//! with the outbox row that tells the merchant. Races are settled by the database: the
//! order's row lock (a payment takes it with its first read, so what it decides from the order
//! holds until its commit), the payment's primary key and conditional updates on the status.

use crate::channel::{ChannelId, ReportedPayment};
use crate::core::attempts::{close_at, give_up};
use crate::core::credentials;
use crate::core::effects::Effects;
use crate::core::timeline;
use crate::db::channel_trades::{self, ChannelTrade};
use crate::db::orders::{self, Order};
use crate::db::payment_writes::{self, GivenUp, PaymentContext, PaymentWrites, TradeKey};
use crate::db::payments::{self, Payment};
use crate::db::webhook_endpoints::{self, WebhookEndpoint};
use crate::db::webhook_events::{self, NewWebhookEvent};
use crate::db::{self, AnyConnection, DbError};
use crate::domain::{time, OrderStatus};
use crate::webhook::{new_event, EventType, Target};
use chrono::NaiveDateTime;
use serde_json::json;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// WAIT_PAY → PAID, with an `order.paid` event.
    Paid { order_id: String },
    /// This transaction was recorded before (WeChat repeats notifies): nothing changed.
    AlreadyRecorded,
    /// CLOSED → PAID_AFTER_CLOSE, with an `order.paid_after_close` event.
    PaidAfterClose { order_id: String },
    /// Another transaction for an order already paid: recorded, with an
    /// `order.duplicate_payment` event.
    DuplicatePayment { order_id: String },
}

impl PaymentOutcome {
    pub fn order_id(&self) -> Option<&str> {
        match self {
            PaymentOutcome::Paid { order_id }
            | PaymentOutcome::PaidAfterClose { order_id }
            | PaymentOutcome::DuplicatePayment { order_id } => Some(order_id),
            PaymentOutcome::AlreadyRecorded => None,
        }
    }

    /// Whether an outbox row may have been written (the webhook worker is worth waking; an
    /// event no endpoint subscribed to wrote none).
    pub fn wrote_event(&self) -> bool {
        !matches!(self, PaymentOutcome::AlreadyRecorded)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The report does not fit what we know (unknown trade, other amount): nothing changed.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for StateError {
    fn from(e: diesel::result::Error) -> Self {
        StateError::Db(e.into())
    }
}

/// What recording a payment answers: its outcome and the effects to apply after the commit.
pub type Recorded = Result<(PaymentOutcome, Effects), StateError>;

/// Records a successful transaction exactly once. Concurrent reports of one transaction
/// meet at the payments primary key: the loser's transaction fails, and its retry finds the
/// payment recorded. The effects are the caller's to apply after this returns.
pub fn record_payment(conn: &mut AnyConnection, payment: &ReportedPayment) -> Recorded {
    let mut tries = 0;
    loop {
        tries += 1;
        // The first try goes straight to the insert (most reports are new); only a retry,
        // after the payment's key said it exists, looks it up first.
        let look_first = tries > 1;
        match db::write_transaction_kept_plans(conn, |c| {
            record_payment_once(c, payment, look_first)
        }) {
            Err(StateError::Db(e)) if e.is_unique_violation() && tries < 3 => continue,
            outcome => return outcome,
        }
    }
}

/// How a batch of payments was written: the operator's view of the group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchWrite {
    /// A payment with nothing queued beside it.
    Alone,
    /// Several in one transaction.
    Together,
    /// The batch's transaction failed and kept nothing; each payment was recorded alone.
    OneByOne,
}

impl BatchWrite {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchWrite::Alone => "alone",
            BatchWrite::Together => "together",
            BatchWrite::OneByOne => "one_by_one",
        }
    }
}

/// Records payments that arrived together (`core::payment_batches`) in one transaction, each
/// one exactly as `record_payment` would: one answer per payment, in their order. Postgres
/// then does the work of one transaction for all of them (four round trips, one commit).
/// Should the batch fail (a repeat of a recorded transaction meets its key, the database
/// refuses), nothing of it is kept and each payment is recorded alone; so is one whose order
/// another payment of the batch already moves, after the batch.
pub fn record_payments(
    conn: &mut AnyConnection,
    reported: &[ReportedPayment],
) -> (Vec<Recorded>, BatchWrite) {
    if let [one] = reported {
        return (vec![record_payment(conn, one)], BatchWrite::Alone);
    }
    match db::write_transaction_kept_plans(conn, |c| record_locked(c, reported)) {
        Ok(results) => (
            results
                .into_iter()
                .zip(reported)
                .map(|(result, payment)| result.unwrap_or_else(|| record_payment(conn, payment)))
                .collect(),
            BatchWrite::Together,
        ),
        Err(e) => {
            log::info!(
                "a batch of {} payments is recorded one by one: {e}",
                reported.len()
            );
            (
                reported.iter().map(|p| record_payment(conn, p)).collect(),
                BatchWrite::OneByOne,
            )
        }
    }
}

fn record_payment_once(
    conn: &mut AnyConnection,
    reported: &ReportedPayment,
    look_first: bool,
) -> Recorded {
    let channel = reported.channel.as_str();
    if look_first {
        if let Some(known) = payments::find(conn, channel, &reported.transaction_id)? {
            timeline::write(
                conn,
                &known.order_id,
                "payment.repeated",
                json!({"channel": channel, "source": reported.source.as_str(), "transaction_id": reported.transaction_id}),
            )?;
            return Ok((PaymentOutcome::AlreadyRecorded, Effects::none()));
        }
    }
    record_locked(conn, std::slice::from_ref(reported))?
        .pop()
        .flatten()
        .unwrap_or_else(|| {
            Err(StateError::Db(DbError::Unavailable(
                "a lone payment was left unrecorded".into(),
            )))
        })
}

/// Locks the payments' orders, decides each payment and writes them all, in the caller's
/// transaction. `None` for a payment whose order (or trade) an earlier one of them already
/// takes: it is the caller's to record after this commits, when it can see that one.
fn record_locked(
    conn: &mut AnyConnection,
    reported: &[ReportedPayment],
) -> Result<Vec<Option<Recorded>>, StateError> {
    let keys: Vec<TradeKey> = reported
        .iter()
        .map(|r| (r.channel.as_str().to_owned(), r.out_trade_no.clone()))
        .collect();
    // Locked from here to the commit: what is decided below from what it read stays true.
    let mut contexts = payment_writes::read_locked(conn, &keys)?;
    let now = time::now();
    let mut trades_taken = HashSet::new();
    let mut orders_taken = HashSet::new();
    let mut results = Vec::with_capacity(reported.len());
    let mut writes = Vec::with_capacity(reported.len());
    for (payment, key) in reported.iter().zip(&keys) {
        if !trades_taken.insert(key) {
            results.push(None);
            continue;
        }
        let Some(context) = contexts.remove(key) else {
            results.push(Some(Err(StateError::Rejected(format!(
                "unknown out_trade_no {}",
                payment.out_trade_no
            )))));
            continue;
        };
        if !orders_taken.insert(context.order.id.clone()) {
            results.push(None);
            continue;
        }
        results.push(Some(decide(payment, context, now).map(
            |(outcome, effects, payment_writes)| {
                writes.push(payment_writes);
                (outcome, effects)
            },
        )));
    }
    let moved = payment_writes::apply(conn, &writes)?;
    let asked = writes.iter().filter(|w| w.transition.is_some());
    if let Some(stuck) = asked.clone().find(|w| !moved.contains(&w.payment.order_id)) {
        // Cannot happen while the locks hold; if it did, nothing of this is kept.
        return Err(StateError::Db(DbError::Unavailable(format!(
            "order {} changed while it was locked",
            stuck.payment.order_id
        ))));
    }
    debug_assert_eq!(moved.len(), asked.count());
    Ok(results)
}

/// What a payment of an order does, from what was read with the order locked: its outcome,
/// its effects and its writes. Nothing is written here.
fn decide(
    reported: &ReportedPayment,
    context: PaymentContext,
    now: NaiveDateTime,
) -> Result<(PaymentOutcome, Effects, PaymentWrites), StateError> {
    let channel = reported.channel.as_str();
    let PaymentContext {
        mut order,
        open_trades,
        endpoints,
    } = context;
    if reported.amount != order.amount {
        return Err(StateError::Rejected(format!(
            "the amount {} is not the order's amount {}",
            reported.amount, order.amount
        )));
    }
    let was = OrderStatus::from_stored(&order.status);
    let transition = match was {
        Some(OrderStatus::WaitPay) => Some((OrderStatus::WaitPay, OrderStatus::Paid)),
        Some(OrderStatus::Closed) => Some((OrderStatus::Closed, OrderStatus::PaidAfterClose)),
        _ => None,
    };
    let (outcome, event) = match transition {
        Some((_, OrderStatus::Paid)) => (
            PaymentOutcome::Paid {
                order_id: order.id.clone(),
            },
            EventType::OrderPaid,
        ),
        Some(_) => {
            log::warn!(
                "order {} was paid after it was closed ({})",
                order.id,
                reported.transaction_id
            );
            (
                PaymentOutcome::PaidAfterClose {
                    order_id: order.id.clone(),
                },
                EventType::PaidAfterClose,
            )
        }
        None => {
            log::warn!(
                "order {} received a second payment {} (first: {:?})",
                order.id,
                reported.transaction_id,
                order.transaction_id
            );
            (
                PaymentOutcome::DuplicatePayment {
                    order_id: order.id.clone(),
                },
                EventType::DuplicatePayment,
            )
        }
    };
    let timeline_rows = timeline::rows(
        &order.id,
        vec![
            (
                "payment.received",
                json!({
                    "channel": channel,
                    "source": reported.source.as_str(),
                    "out_trade_no": reported.out_trade_no,
                    "transaction_id": reported.transaction_id,
                    "amount": reported.amount,
                    "paid_at": time::rfc3339(reported.paid_at),
                }),
            ),
            match transition {
                Some((from, to)) => (
                    "state.changed",
                    json!({"from": from.as_str(), "to": to.as_str()}),
                ),
                None => (
                    "payment.duplicate",
                    json!({"transaction_id": reported.transaction_id, "first_transaction_id": order.transaction_id}),
                ),
            },
        ],
    );
    // The event shows the order as this payment leaves it: moved, or as the first payment left it.
    if let Some((from, to)) = transition {
        debug_assert!(from.can_become(to));
        order.status = to.as_str().to_owned();
        order.channel = Some(channel.to_owned());
        order.transaction_id = Some(reported.transaction_id.clone());
        order.paid_at = Some(reported.paid_at);
    }
    // The shopper may hold the other channels' codes too: those trades are given up now, so the
    // order is not paid twice (money that still arrives there is a duplicate payment).
    let mut effects = Effects::none();
    let mut given_up = Vec::new();
    for other in open_trades {
        if other.channel == channel && other.out_trade_no == reported.out_trade_no {
            continue;
        }
        given_up.push(GivenUp {
            channel: other.channel.clone(),
            out_trade_no: other.out_trade_no.clone(),
            close_at: close_at(&other, now),
        });
        effects.dead_credentials.push(credentials::key_of(&other));
    }
    let writes = PaymentWrites {
        payment: Payment {
            channel: channel.to_owned(),
            transaction_id: reported.transaction_id.clone(),
            order_id: order.id.clone(),
            out_trade_no: reported.out_trade_no.clone(),
            amount: reported.amount,
            paid_at: reported.paid_at,
            recorded_at: now,
            source: reported.source.as_str().to_owned(),
            duplicate: transition.is_none(),
        },
        transition: transition.map(|(from, to)| (from.as_str(), to.as_str())),
        given_up,
        timeline: timeline_rows,
        outbox: outbox_rows(
            &order,
            event,
            Some((&reported.transaction_id, reported.paid_at)),
            &endpoints,
        ),
    };
    effects.wake_outbox = true;
    effects.stale_orders.push(order.id.clone());
    effects.transitions.push(match transition {
        Some((_, to)) => to.as_str(),
        None => "DUPLICATE_PAYMENT",
    });
    Ok((outcome, effects, writes))
}

/// The outbox rows for `event`, for the caller's transaction: the paid notification to the
/// order's return_url when money first arrives, and the event to each of the merchant's webhook
/// endpoints that subscribed to it.
fn outbox_rows(
    order: &Order,
    event: EventType,
    payment: Option<(&str, NaiveDateTime)>,
    endpoints: &[WebhookEndpoint],
) -> Vec<NewWebhookEvent> {
    let now = time::now_precise();
    let mut rows = Vec::new();
    if event.is_first_payment() {
        rows.push(new_event(order, event, payment, now, Target::ReturnUrl));
    }
    for endpoint in endpoints.iter().filter(|e| e.hears(event.as_str())) {
        rows.push(new_event(
            order,
            event,
            payment,
            now,
            Target::Endpoint(endpoint),
        ));
    }
    rows
}

/// WAIT_PAY → CLOSED, in one transaction with the `order.closed` event; the order's open
/// trades are given up on our side: closed if their channel confirmed it (`confirmed` names
/// them), else left CLOSING for the reconcile worker. Answers the order as this close
/// committed it, or `None` when it was not WAIT_PAY any more (e.g. a notify made it PAID
/// first). The committed row, not a later read, is what a caller reports: a payment may turn
/// it PAID_AFTER_CLOSE the next instant, and that is a later event of its own.
pub fn close(
    conn: &mut AnyConnection,
    order_id: &str,
    confirmed: &[(ChannelId, String)],
) -> Result<(Option<Order>, Effects), StateError> {
    db::write_transaction(conn, |conn| {
        let now = time::now();
        if !orders::close(conn, order_id, now)? {
            return Ok((None, Effects::none()));
        }
        let mut effects = Effects::none();
        let is_confirmed = |t: &ChannelTrade| {
            confirmed
                .iter()
                .any(|(c, no)| c.as_str() == t.channel && *no == t.out_trade_no)
        };
        for open in channel_trades::open_for_order(conn, order_id)? {
            if !is_confirmed(&open) {
                give_up(conn, &open, now)?;
            }
            effects.dead_credentials.push(credentials::key_of(&open));
        }
        // A confirmed trade may have been superseded (CLOSING) since its channel closed it.
        for (channel, out_trade_no) in confirmed {
            channel_trades::mark_closed(conn, channel.as_str(), out_trade_no, now)?;
        }
        let order = orders::find(conn, order_id)?.ok_or_else(|| {
            StateError::Db(DbError::Unavailable(
                "the order vanished mid-transaction".into(),
            ))
        })?;
        let endpoints = webhook_endpoints::live_for_merchant(conn, &order.merchant_id)?;
        let rows = outbox_rows(&order, EventType::OrderClosed, None, &endpoints);
        webhook_events::insert_all(conn, &rows)?;
        timeline::write(
            conn,
            order_id,
            "state.changed",
            json!({"from": "WAIT_PAY", "to": "CLOSED"}),
        )?;
        effects.wake_outbox = true;
        effects.stale_orders.push(order_id.to_owned());
        effects.transitions.push(OrderStatus::Closed.as_str());
        Ok((Some(order), effects))
    })
}
