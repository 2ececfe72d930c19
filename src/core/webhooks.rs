//! What a merchant sees of the webhooks of its orders, and redelivery.

use crate::core::merchants::MerchantProfile;
use crate::core::orders;
use crate::core::CoreError;
use crate::db::webhook_events::{self, WebhookAttempt, WebhookEvent};
use crate::db::{self, DbPool};
use crate::domain::time::{self, serde_rfc3339};
use chrono::NaiveDateTime;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub attempt: i32,
    #[serde(with = "serde_rfc3339")]
    pub attempted_at: NaiveDateTime,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Debug, Serialize)]
pub struct WebhookView {
    pub notify_id: String,
    pub event_type: String,
    pub status: String,
    pub url: String,
    /// `None`: the order's return_url (the paid notification); else the webhook endpoint.
    pub endpoint_id: Option<String>,
    #[serde(with = "serde_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "serde_rfc3339::option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    #[serde(with = "serde_rfc3339::option")]
    pub delivered_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub attempts: Vec<AttemptView>,
}

impl WebhookView {
    fn new(event: WebhookEvent, attempts: &[WebhookAttempt]) -> WebhookView {
        WebhookView {
            attempts: attempts
                .iter()
                .filter(|a| a.event_id == event.id)
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    attempted_at: a.attempted_at,
                    http_status: a.http_status,
                    error: a.error.clone(),
                    latency_ms: a.latency_ms,
                })
                .collect(),
            notify_id: event.id,
            event_type: event.event_type,
            status: event.status,
            url: event.url,
            endpoint_id: event.endpoint_id,
            created_at: event.created_at,
            next_attempt_at: event.next_attempt_at,
            delivered_at: event.delivered_at,
            last_error: event.last_error,
        }
    }
}

/// Every event of the merchant's order, oldest first, with its attempts.
pub async fn list(
    pool: &DbPool,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<Vec<WebhookView>, CoreError> {
    let order = orders::get(pool, merchant, merchant_order_id).await?;
    db::run(pool, move |conn| {
        let events = webhook_events::for_order(conn, &order.id)?;
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let attempts = webhook_events::attempts_for(conn, &ids)?;
        Ok(events
            .into_iter()
            .map(|e| WebhookView::new(e, &attempts))
            .collect())
    })
    .await
}

/// Queues the order's latest event again, due now, with the same notifyId.
pub async fn redeliver(
    pool: &DbPool,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<WebhookView, CoreError> {
    let order = orders::get(pool, merchant, merchant_order_id).await?;
    db::run(pool, move |conn| {
        let latest = webhook_events::for_order(conn, &order.id)?
            .pop()
            .ok_or_else(|| CoreError::Conflict("the order has no webhook event yet".into()))?;
        webhook_events::requeue(conn, &latest.id, time::now_precise())?;
        let event = webhook_events::find(conn, &latest.id)?
            .ok_or_else(|| CoreError::Internal("requeued event not found".into()))?;
        let attempts = webhook_events::attempts_for(conn, std::slice::from_ref(&event.id))?;
        Ok(WebhookView::new(event, &attempts))
    })
    .await
}
