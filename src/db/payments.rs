use super::schema::payments;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct Payment {
    /// The channel the money came through; transaction ids are unique within it.
    pub channel: String,
    pub transaction_id: String,
    pub order_id: String,
    pub out_trade_no: String,
    pub amount: i64,
    pub paid_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub source: String,
    pub duplicate: bool,
}

pub fn find(
    conn: &mut AnyConnection,
    channel: &str,
    transaction_id: &str,
) -> QueryResult<Option<Payment>> {
    payments::table
        .find((channel, transaction_id))
        .select(Payment::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut AnyConnection, payment: &Payment) -> QueryResult<()> {
    diesel::insert_into(payments::table)
        .values(payment)
        .execute(conn)
        .map(|_| ())
}

pub fn for_order(conn: &mut AnyConnection, order_id: &str) -> QueryResult<Vec<Payment>> {
    payments::table
        .filter(payments::order_id.eq(order_id))
        .order(payments::recorded_at.asc())
        .select(Payment::as_select())
        .load(conn)
}
