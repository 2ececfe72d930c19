use super::schema::webhook_endpoints;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A merchant's webhook endpoint; `events` is a comma-separated list of event names, or `*`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpoint {
    pub id: String,
    pub merchant_id: String,
    pub url: String,
    pub events: String,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

impl WebhookEndpoint {
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.split(',').filter(|e| !e.is_empty())
    }

    pub fn hears(&self, event: &str) -> bool {
        self.event_names().any(|e| e == "*" || e == event)
    }
}

pub fn insert(conn: &mut AnyConnection, endpoint: &WebhookEndpoint) -> QueryResult<()> {
    diesel::insert_into(webhook_endpoints::table)
        .values(endpoint)
        .execute(conn)
        .map(|_| ())
}

/// The merchant's endpoints that are not deleted, oldest first.
pub fn live_for_merchant(
    conn: &mut AnyConnection,
    merchant_id: &str,
) -> QueryResult<Vec<WebhookEndpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::merchant_id.eq(merchant_id))
        .filter(webhook_endpoints::deleted_at.is_null())
        .order((
            webhook_endpoints::created_at.asc(),
            webhook_endpoints::id.asc(),
        ))
        .select(WebhookEndpoint::as_select())
        .load(conn)
}

pub fn count_live_for_merchant(conn: &mut AnyConnection, merchant_id: &str) -> QueryResult<i64> {
    webhook_endpoints::table
        .filter(webhook_endpoints::merchant_id.eq(merchant_id))
        .filter(webhook_endpoints::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// Marks the merchant's endpoint deleted; answers whether it was there (and not deleted).
pub fn delete(
    conn: &mut AnyConnection,
    merchant_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(id))
            .filter(webhook_endpoints::merchant_id.eq(merchant_id))
            .filter(webhook_endpoints::deleted_at.is_null()),
    )
    .set(webhook_endpoints::deleted_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}
