//! Trades opened at a channel for an order, keyed by (channel, out_trade_no).

use super::schema::channel_trades;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The trade the order is being paid through at its channel (at most one per order and
/// channel: a partial unique index).
pub const OPEN: &str = "OPEN";
/// Given up on our side (order closed or paid, or superseded by a trade of another product);
/// the channel has not confirmed the close yet: the reconcile worker keeps trying, then queries.
pub const CLOSING: &str = "CLOSING";
/// Closed at the channel (or never reached it).
pub const CLOSED: &str = "CLOSED";
/// The trade took the money.
pub const PAID: &str = "PAID";

/// A trade opened at a channel for an order.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channel_trades)]
pub struct ChannelTrade {
    pub out_trade_no: String,
    pub order_id: String,
    /// `channel::Product::as_str`.
    pub product: String,
    pub status: String,
    /// What the shopper scans or opens.
    pub pay_url: Option<String>,
    /// The channel's handle of the trade; `None` while the claim waits for the channel.
    pub credential: Option<String>,
    pub credential_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub close_requested: bool,
    pub next_query_at: Option<NaiveDateTime>,
    pub query_attempts: i32,
    pub params: Option<String>,
    pub channel: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = channel_trades)]
pub struct NewChannelTrade<'a> {
    pub out_trade_no: &'a str,
    pub order_id: &'a str,
    pub product: &'a str,
    pub status: &'a str,
    pub params: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub channel: &'a str,
}

/// Claims the order's one open trade at a channel. A unique violation means another request
/// (of this instance or another) holds it: the partial unique index allows one OPEN trade per
/// order and channel.
pub fn insert(conn: &mut AnyConnection, trade: &NewChannelTrade) -> QueryResult<()> {
    diesel::insert_into(channel_trades::table)
        .values(trade)
        .execute(conn)
        .map(|_| ())
}

/// `status = 'OPEN'` written into the statement, not bound: only then can a plan Postgres keeps
/// for every call (a generic plan) use the partial index of open trades. Bound, the index fits
/// only a plan made for the value, so Postgres planned the query again on every call (0.13 ms,
/// an eighth of a notify's database time), and a kept plan scanned the whole table.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
pub struct IsOpen;

impl diesel::Expression for IsOpen {
    type SqlType = diesel::sql_types::Bool;
}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for IsOpen {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("\"channel_trades\".\"status\" = 'OPEN'");
        Ok(())
    }
}

impl<QS> diesel::AppearsOnTable<QS> for IsOpen {}
impl<QS> diesel::SelectableExpression<QS> for IsOpen {}

pub fn find_open_for_order(
    conn: &mut AnyConnection,
    order_id: &str,
    channel: &str,
) -> QueryResult<Option<ChannelTrade>> {
    channel_trades::table
        .filter(channel_trades::order_id.eq(order_id))
        .filter(channel_trades::channel.eq(channel))
        .filter(IsOpen)
        .select(ChannelTrade::as_select())
        .first(conn)
        .optional()
}

/// The order's open trades, at every channel.
pub fn open_for_order(conn: &mut AnyConnection, order_id: &str) -> QueryResult<Vec<ChannelTrade>> {
    channel_trades::table
        .filter(channel_trades::order_id.eq(order_id))
        .filter(IsOpen)
        .order(channel_trades::channel.asc())
        .select(ChannelTrade::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
) -> QueryResult<Option<ChannelTrade>> {
    channel_trades::table
        .find((channel, out_trade_no))
        .select(ChannelTrade::as_select())
        .first(conn)
        .optional()
}

/// What the channel answered to the opening call, and when the active query should first look.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = channel_trades, treat_none_as_null = true)]
pub struct Answered<'a> {
    pub pay_url: Option<&'a str>,
    pub credential: &'a str,
    pub credential_expires_at: NaiveDateTime,
    pub next_query_at: NaiveDateTime,
}

/// Stores the answer if the claim made at `claimed_at` is still the trade's (not taken over
/// since).
pub fn set_credentials(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
    answered: &Answered,
) -> QueryResult<usize> {
    diesel::update(
        channel_trades::table
            .find((channel, out_trade_no))
            .filter(channel_trades::created_at.eq(claimed_at))
            .filter(channel_trades::status.eq(OPEN)),
    )
    .set(answered)
    .execute(conn)
}

/// Gives up a claim whose opening call failed, so the next request tries again: only the
/// claim made at `claimed_at`, and only while it has no credentials.
pub fn release_claim(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        channel_trades::table
            .find((channel, out_trade_no))
            .filter(channel_trades::created_at.eq(claimed_at))
            .filter(channel_trades::credential.is_null()),
    )
    .execute(conn)
}

/// Restarts a stale claim's clock when this request takes it over, so that only one taker
/// calls the channel for it.
pub fn take_over_claim(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        channel_trades::table
            .find((channel, out_trade_no))
            .filter(channel_trades::created_at.eq(claimed_at))
            .filter(channel_trades::credential.is_null()),
    )
    .set(channel_trades::created_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// The trade took the money: no more queries, never closed.
pub fn mark_paid(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
) -> QueryResult<usize> {
    diesel::update(channel_trades::table.find((channel, out_trade_no)))
        .set((
            channel_trades::status.eq(PAID),
            channel_trades::close_requested.eq(false),
            channel_trades::next_query_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Gives the trade up on our side (only an OPEN one); the worker closes it at the channel from
/// `close_at` on.
pub fn mark_closing(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    close_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        channel_trades::table
            .find((channel, out_trade_no))
            .filter(channel_trades::status.eq(OPEN)),
    )
    .set((
        channel_trades::status.eq(CLOSING),
        channel_trades::close_requested.eq(true),
        channel_trades::next_query_at.eq(close_at),
    ))
    .execute(conn)
}

/// The channel confirmed the close (or never had the trade). A PAID trade stays PAID.
pub fn mark_closed(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        channel_trades::table
            .find((channel, out_trade_no))
            .filter(channel_trades::status.ne(PAID)),
    )
    .set((
        channel_trades::status.eq(CLOSED),
        channel_trades::closed_at.eq(now),
        channel_trades::close_requested.eq(false),
        channel_trades::next_query_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Trades the reconcile worker has to look at: open ones whose next active query is due and
/// closing ones whose next close attempt is due.
pub fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ChannelTrade>> {
    channel_trades::table
        .filter(channel_trades::next_query_at.le(now))
        .filter(
            channel_trades::status.eq(CLOSING).or(channel_trades::status
                .eq(OPEN)
                .and(channel_trades::credential.is_not_null())),
        )
        .order(channel_trades::next_query_at.asc())
        .limit(limit)
        .select(ChannelTrade::as_select())
        .load(conn)
}

/// Takes the trade for one worker: moves its next look to `lease_until` if nobody else did
/// since `seen` was read. Safe with any number of instances, on both backends.
pub fn lease(
    conn: &mut AnyConnection,
    trade: &ChannelTrade,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let Some(seen) = trade.next_query_at else {
        return Ok(false);
    };
    diesel::update(
        channel_trades::table
            .find((&trade.channel, &trade.out_trade_no))
            .filter(channel_trades::next_query_at.eq(seen)),
    )
    .set(channel_trades::next_query_at.eq(lease_until))
    .execute(conn)
    .map(|n| n == 1)
}

/// The next active query (or close attempt), after `attempts` looks so far.
pub fn schedule_next(
    conn: &mut AnyConnection,
    channel: &str,
    out_trade_no: &str,
    at: NaiveDateTime,
    attempts: i32,
) -> QueryResult<usize> {
    diesel::update(channel_trades::table.find((channel, out_trade_no)))
        .set((
            channel_trades::next_query_at.eq(at),
            channel_trades::query_attempts.eq(attempts),
        ))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_open_is_the_open_status_written_into_the_statement() {
        let query = channel_trades::table
            .filter(channel_trades::order_id.eq("o"))
            .filter(IsOpen)
            .select(channel_trades::channel);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(
            sql.contains(&format!("\"channel_trades\".\"status\" = '{OPEN}'")),
            "{sql}"
        );
        assert!(!sql.contains("$2"), "the status is not bound: {sql}");
    }
}
