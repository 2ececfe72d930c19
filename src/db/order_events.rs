use super::schema::order_events;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_events)]
pub struct OrderEvent {
    pub id: String,
    pub order_id: String,
    pub at: NaiveDateTime,
    pub kind: String,
    /// A JSON object.
    pub detail: String,
}

pub fn insert(conn: &mut AnyConnection, event: &OrderEvent) -> QueryResult<()> {
    diesel::insert_into(order_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Inserts `events` with one statement on Postgres (one round trip); SQLite is in-process
/// and takes them one by one.
pub fn insert_all(conn: &mut AnyConnection, events: &[OrderEvent]) -> QueryResult<()> {
    match conn {
        _ if events.is_empty() => Ok(()),
        AnyConnection::Postgresql(pg) => diesel::insert_into(order_events::table)
            .values(events)
            .execute(pg)
            .map(|_| ()),
        _ => events.iter().try_for_each(|event| insert(conn, event)),
    }
}

/// The order's events, oldest first.
pub fn for_order(conn: &mut AnyConnection, order_id: &str) -> QueryResult<Vec<OrderEvent>> {
    order_events::table
        .filter(order_events::order_id.eq(order_id))
        .order((order_events::at.asc(), order_events::id.asc()))
        .select(OrderEvent::as_select())
        .load(conn)
}
