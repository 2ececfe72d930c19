use super::orders::Order;
use super::schema::{orders, wechat_trades};
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The trade the order is being paid through (at most one per order: a partial unique index).
pub const OPEN: &str = "OPEN";
/// Given up on our side (order closed, or superseded by a trade of another type); WeChat has
/// not confirmed the close yet: the reconcile worker keeps trying, then queries.
pub const CLOSING: &str = "CLOSING";
/// Closed at WeChat (or never reached it).
pub const CLOSED: &str = "CLOSED";
/// The trade took the money.
pub const PAID: &str = "PAID";

/// A trade opened at WeChat Pay (unifiedorder) for an order.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wechat_trades)]
pub struct WechatTrade {
    pub out_trade_no: String,
    pub order_id: String,
    pub trade_type: String,
    pub status: String,
    /// NATIVE: the code_url; MWEB: the mweb_url.
    pub code_url: Option<String>,
    pub prepay_id: Option<String>,
    pub openid: Option<String>,
    pub credential_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub close_requested: bool,
    pub next_query_at: Option<NaiveDateTime>,
    pub query_attempts: i32,
    pub params: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = wechat_trades)]
pub struct NewWechatTrade<'a> {
    pub out_trade_no: &'a str,
    pub order_id: &'a str,
    pub trade_type: &'a str,
    pub status: &'a str,
    pub openid: Option<&'a str>,
    pub params: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

/// Claims the order's one open trade. A unique violation means another request (of this
/// instance or another) holds it: the partial unique index allows one OPEN trade per order.
pub fn insert(conn: &mut AnyConnection, trade: &NewWechatTrade) -> QueryResult<()> {
    diesel::insert_into(wechat_trades::table)
        .values(trade)
        .execute(conn)
        .map(|_| ())
}

pub fn find_open_for_order(
    conn: &mut AnyConnection,
    order_id: &str,
) -> QueryResult<Option<WechatTrade>> {
    wechat_trades::table
        .filter(wechat_trades::order_id.eq(order_id))
        .filter(wechat_trades::status.eq(OPEN))
        .select(WechatTrade::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut AnyConnection, out_trade_no: &str) -> QueryResult<Option<WechatTrade>> {
    wechat_trades::table
        .find(out_trade_no)
        .select(WechatTrade::as_select())
        .first(conn)
        .optional()
}

/// The trade and its order, in one round trip.
pub fn find_with_order(
    conn: &mut AnyConnection,
    out_trade_no: &str,
) -> QueryResult<Option<(WechatTrade, Order)>> {
    wechat_trades::table
        .inner_join(orders::table)
        .filter(wechat_trades::out_trade_no.eq(out_trade_no))
        .select((WechatTrade::as_select(), Order::as_select()))
        .first(conn)
        .optional()
}

/// Stores what unifiedorder answered, and when the active query should first look, if the
/// claim made at `claimed_at` is still the trade's (not taken over since).
pub fn set_credentials(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
    code_url: Option<&str>,
    prepay_id: &str,
    expires_at: NaiveDateTime,
    next_query_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        wechat_trades::table
            .find(out_trade_no)
            .filter(wechat_trades::created_at.eq(claimed_at))
            .filter(wechat_trades::status.eq(OPEN)),
    )
    .set((
        wechat_trades::code_url.eq(code_url),
        wechat_trades::prepay_id.eq(prepay_id),
        wechat_trades::credential_expires_at.eq(expires_at),
        wechat_trades::next_query_at.eq(next_query_at),
    ))
    .execute(conn)
}

/// Gives up a claim whose unifiedorder failed, so the next request tries again: only the
/// claim made at `claimed_at`, and only while it has no credentials.
pub fn release_claim(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        wechat_trades::table
            .find(out_trade_no)
            .filter(wechat_trades::created_at.eq(claimed_at))
            .filter(wechat_trades::prepay_id.is_null()),
    )
    .execute(conn)
}

/// Restarts a stale claim's clock when this request takes it over, so that only one taker
/// calls WeChat for it.
pub fn take_over_claim(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    claimed_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        wechat_trades::table
            .find(out_trade_no)
            .filter(wechat_trades::created_at.eq(claimed_at))
            .filter(wechat_trades::prepay_id.is_null()),
    )
    .set(wechat_trades::created_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// The trade took the money: no more queries, never closed.
pub fn mark_paid(conn: &mut AnyConnection, out_trade_no: &str) -> QueryResult<usize> {
    diesel::update(wechat_trades::table.find(out_trade_no))
        .set((
            wechat_trades::status.eq(PAID),
            wechat_trades::close_requested.eq(false),
            wechat_trades::next_query_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Gives the trade up on our side (only an OPEN one); the worker closes it at WeChat from
/// `close_at` on.
pub fn mark_closing(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    close_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        wechat_trades::table
            .find(out_trade_no)
            .filter(wechat_trades::status.eq(OPEN)),
    )
    .set((
        wechat_trades::status.eq(CLOSING),
        wechat_trades::close_requested.eq(true),
        wechat_trades::next_query_at.eq(close_at),
    ))
    .execute(conn)
}

/// WeChat confirmed the close (or never had the trade). A PAID trade stays PAID.
pub fn mark_closed(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        wechat_trades::table
            .find(out_trade_no)
            .filter(wechat_trades::status.ne(PAID)),
    )
    .set((
        wechat_trades::status.eq(CLOSED),
        wechat_trades::closed_at.eq(now),
        wechat_trades::close_requested.eq(false),
        wechat_trades::next_query_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Trades the reconcile worker has to look at: open ones whose next active query is due and
/// closing ones whose next close attempt is due.
pub fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<WechatTrade>> {
    wechat_trades::table
        .filter(wechat_trades::next_query_at.le(now))
        .filter(
            wechat_trades::status.eq(CLOSING).or(wechat_trades::status
                .eq(OPEN)
                .and(wechat_trades::prepay_id.is_not_null())),
        )
        .order(wechat_trades::next_query_at.asc())
        .limit(limit)
        .select(WechatTrade::as_select())
        .load(conn)
}

/// Takes the trade for one worker: moves its next look to `lease_until` if nobody else did
/// since `seen` was read. Safe with any number of instances, on both backends.
pub fn lease(
    conn: &mut AnyConnection,
    trade: &WechatTrade,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let Some(seen) = trade.next_query_at else {
        return Ok(false);
    };
    diesel::update(
        wechat_trades::table
            .find(&trade.out_trade_no)
            .filter(wechat_trades::next_query_at.eq(seen)),
    )
    .set(wechat_trades::next_query_at.eq(lease_until))
    .execute(conn)
    .map(|n| n == 1)
}

/// The next active query (or close attempt), after `attempts` looks so far.
pub fn schedule_next(
    conn: &mut AnyConnection,
    out_trade_no: &str,
    at: NaiveDateTime,
    attempts: i32,
) -> QueryResult<usize> {
    diesel::update(wechat_trades::table.find(out_trade_no))
        .set((
            wechat_trades::next_query_at.eq(at),
            wechat_trades::query_attempts.eq(attempts),
        ))
        .execute(conn)
}

/// Claims that never got credentials (their unifiedorder failed or never ended), for orders
/// past expiry: nothing can be paid through them.
pub fn unanswered_open_claims(
    conn: &mut AnyConnection,
    order_id: &str,
) -> QueryResult<Vec<WechatTrade>> {
    wechat_trades::table
        .filter(wechat_trades::order_id.eq(order_id))
        .filter(wechat_trades::status.eq(OPEN))
        .filter(wechat_trades::prepay_id.is_null())
        .select(WechatTrade::as_select())
        .load(conn)
}
