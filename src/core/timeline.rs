//! The order's timeline (`GET /v1/orders/{id}/events`): what happened to it, oldest first.
//! Its creation is read from the order itself. State changes and taken notifies are written in
//! the transaction that made them; a channel
//! call's outcome is written after the call, best effort (a timeline that cannot be written
//! never fails a payment). Webhook attempts come from their own table. No detail ever holds a
//! key, a secret or a signature.

use crate::channel::ChannelError;
use crate::core::merchants::MerchantProfile;
use crate::core::orders;
use crate::core::CoreError;
use crate::db::order_events::{self, OrderEvent};
use crate::db::{self, webhook_events, AnyConnection, DbError, DbPool};
use crate::domain::random_string;
use crate::domain::time::{self, serde_rfc3339};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{json, Value};

/// One entry of the timeline.
#[derive(Debug, Serialize)]
pub struct EventView {
    #[serde(with = "serde_rfc3339")]
    pub at: NaiveDateTime,
    pub kind: String,
    pub detail: Value,
}

/// Ids that sort as the events were written (by this process): events of one transaction share
/// their time to the microsecond, and the id keeps them in order.
fn event_id() -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000_000;
    format!("ev_{nanos:020}{seq:06}{}", random_string(6))
}

fn new_event(order_id: &str, kind: &str, detail: Value) -> OrderEvent {
    OrderEvent {
        id: event_id(),
        order_id: order_id.to_owned(),
        at: time::now_precise(),
        kind: kind.to_owned(),
        detail: detail.to_string(),
    }
}

/// Writes an event in the caller's transaction.
pub fn write(
    conn: &mut AnyConnection,
    order_id: &str,
    kind: &str,
    detail: Value,
) -> diesel::QueryResult<()> {
    order_events::insert(conn, &new_event(order_id, kind, detail))
}

/// The rows of the events (kind, detail) of one change, in this order, for the caller to write.
pub fn rows(order_id: &str, events: Vec<(&str, Value)>) -> Vec<OrderEvent> {
    events
        .into_iter()
        .map(|(kind, detail)| new_event(order_id, kind, detail))
        .collect()
}

/// Writes an event on its own; a failure is logged, not returned.
pub async fn record(pool: &DbPool, order_id: &str, kind: &str, detail: Value) {
    let event = new_event(order_id, kind, detail);
    let written = db::run(pool, move |conn| {
        order_events::insert(conn, &event).map_err(DbError::from)
    })
    .await;
    if let Err(e) = written {
        log::warn!("a timeline event could not be written: {e}");
    }
}

/// The outcome of a channel call, as the timeline shows it: `ok`, the channel's error code
/// and words, or that it did not answer (no internal detail).
pub fn call_outcome<T>(result: &Result<T, ChannelError>) -> Value {
    match result {
        Ok(_) => json!("ok"),
        Err(e) => json!(e.public_message()),
    }
}

/// Everything that happened to the merchant's order, oldest first.
pub async fn for_order(
    pool: &DbPool,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Vec<EventView>, CoreError> {
    let order = orders::get(pool, merchant, merchant_order_id).await?;
    db::run(pool, move |conn| {
        // The creation is the order row itself: creating writes nothing more.
        let created = EventView {
            at: order.created_at,
            kind: "created".into(),
            detail: json!({
                "amount": order.amount,
                "pay_method": order.pay_method,
                "expires_at": time::rfc3339(order.expires_at),
                "via": order.origin,
            }),
        };
        let mut events: Vec<EventView> = std::iter::once(created)
            .chain(
                order_events::for_order(conn, &order.id)?
                    .into_iter()
                    .map(|e| EventView {
                        at: e.at,
                        kind: e.kind,
                        detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
                    }),
            )
            .collect();
        let webhooks = webhook_events::for_order(conn, &order.id)?;
        let ids: Vec<String> = webhooks.iter().map(|w| w.id.clone()).collect();
        for attempt in webhook_events::attempts_for(conn, &ids)? {
            let Some(event) = webhooks.iter().find(|w| w.id == attempt.event_id) else {
                continue;
            };
            events.push(EventView {
                at: attempt.attempted_at,
                kind: "webhook.attempt".into(),
                detail: json!({
                    "notify_id": event.id,
                    "event_type": event.event_type,
                    "target": event.endpoint_id.as_deref().unwrap_or("return_url"),
                    "url": event.url,
                    "attempt": attempt.attempt,
                    "http_status": attempt.http_status,
                    "error": attempt.error,
                    "latency_ms": attempt.latency_ms,
                }),
            });
        }
        // Stable: events of one instant keep the order they were written in.
        events.sort_by_key(|e| e.at);
        Ok(events)
    })
    .await
}
