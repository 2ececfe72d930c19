use super::schema::rejected_notifies;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rejected_notifies)]
pub struct RejectedNotify {
    pub id: String,
    pub received_at: NaiveDateTime,
    pub reason: String,
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
    pub body: String,
}

pub fn insert(conn: &mut AnyConnection, rejected: &RejectedNotify) -> QueryResult<()> {
    diesel::insert_into(rejected_notifies::table)
        .values(rejected)
        .execute(conn)
        .map(|_| ())
}

pub fn recent(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<RejectedNotify>> {
    rejected_notifies::table
        .order(rejected_notifies::received_at.desc())
        .limit(limit)
        .select(RejectedNotify::as_select())
        .load(conn)
}

/// Deletes the refused notifies received before `cutoff`; answers how many.
pub fn delete_received_before(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(rejected_notifies::table.filter(rejected_notifies::received_at.lt(cutoff)))
        .execute(conn)
}
