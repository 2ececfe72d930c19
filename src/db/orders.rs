use super::channel_trades::{ChannelTrade, IsOpen};
use super::schema::{channel_trades, orders};
use super::{AnyConnection, KeptPrepared};
use crate::domain::OrderStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A row of `orders`, as stored. `crate::core::orders::OrderView` is what the API shows.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct Order {
    pub id: String,
    pub merchant_id: String,
    pub merchant_order_id: String,
    pub merchant_user_id: String,
    pub amount: i64,
    pub pay_method: String,
    pub status: String,
    pub description: String,
    pub return_url: String,
    pub success_url: Option<String>,
    pub checkout_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub transaction_id: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    /// `OrderOrigin`: which door the order came in by.
    pub origin: String,
    /// Made by a live installation (real channels), not a sandbox.
    pub livemode: bool,
    /// The channel the money came through (`channel::ChannelId`), once paid.
    pub channel: Option<String>,
}

/// `treat_none_as_default_value = false`: an absent `success_url` is bound as NULL (its
/// column's default) instead of written as `DEFAULT`, so the insert's text is always the same
/// and Postgres keeps it prepared. Written as `DEFAULT` only when absent, it was parsed and
/// planned again on every order (profiled: the parser and planner were a tenth of Postgres's
/// CPU per order).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
pub struct NewOrder {
    pub id: String,
    pub merchant_id: String,
    pub merchant_order_id: String,
    pub merchant_user_id: String,
    pub amount: i64,
    pub pay_method: String,
    pub status: String,
    pub description: String,
    pub return_url: String,
    pub success_url: Option<String>,
    pub checkout_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub origin: String,
    pub livemode: bool,
}

/// The insert of `NewOrder`, kept prepared (`KeptPrepared`).
struct InsertOrder;

/// Inserts one order and answers it as stored: on Postgres in one round trip (`RETURNING`,
/// which the multi-backend connection does not offer); SQLite is in-process and reads it back.
/// A unique violation (the merchant's order id is taken) comes back as
/// `DatabaseErrorKind::UniqueViolation` on both backends; the caller decides what it means.
pub fn insert(conn: &mut AnyConnection, order: &NewOrder) -> QueryResult<Order> {
    let insert = diesel::insert_into(orders::table).values(order);
    match conn {
        AnyConnection::Postgresql(pg) => {
            KeptPrepared::<_, InsertOrder>::new(insert.returning(Order::as_returning()))
                .get_result(pg)
        }
        _ => {
            insert.execute(conn)?;
            orders::table
                .find(&order.id)
                .select(Order::as_select())
                .first(conn)
        }
    }
}

pub fn find_by_merchant_order_id(
    conn: &mut AnyConnection,
    merchant_id: &str,
    merchant_order_id: &str,
) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::merchant_id.eq(merchant_id))
        .filter(orders::merchant_order_id.eq(merchant_order_id))
        .select(Order::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_checkout_token(conn: &mut AnyConnection, token: &str) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::checkout_token.eq(token))
        .select(Order::as_select())
        .first(conn)
        .optional()
}

/// Orders, each with its open trade at `channel` if it has one.
#[diesel::dsl::auto_type(no_type_alias)]
fn with_open_trade<'a>(channel: &'a str) -> _ {
    orders::table.left_join(
        channel_trades::table.on(channel_trades::order_id
            .eq(orders::id)
            .and(channel_trades::channel.eq(channel))
            .and(IsOpen)),
    )
}

/// The order a checkout token opens, with its open trade at `channel`, in one query: what the
/// checkout's kept view is read (and refreshed about once a second) from.
pub fn find_by_checkout_token_with_open_trade(
    conn: &mut AnyConnection,
    token: &str,
    channel: &str,
) -> QueryResult<Option<(Order, Option<ChannelTrade>)>> {
    with_open_trade(channel)
        .filter(orders::checkout_token.eq(token))
        .select((Order::as_select(), Option::<ChannelTrade>::as_select()))
        .first(conn)
        .optional()
}

/// The merchant's order with its open trade at `channel`, in one query (the native call's kept
/// view, like the checkout's).
pub fn find_by_merchant_order_id_with_open_trade(
    conn: &mut AnyConnection,
    merchant_id: &str,
    merchant_order_id: &str,
    channel: &str,
) -> QueryResult<Option<(Order, Option<ChannelTrade>)>> {
    with_open_trade(channel)
        .filter(orders::merchant_id.eq(merchant_id))
        .filter(orders::merchant_order_id.eq(merchant_order_id))
        .select((Order::as_select(), Option::<ChannelTrade>::as_select()))
        .first(conn)
        .optional()
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Order>> {
    orders::table
        .find(id)
        .select(Order::as_select())
        .first(conn)
        .optional()
}

/// Moves the order `from` → `to` with the payment's details, only if it is still `from`:
/// the database, not a read before, decides which of two racing requests wins.
pub fn transition_paid(
    conn: &mut AnyConnection,
    id: &str,
    from: &str,
    to: &str,
    channel: &str,
    transaction_id: &str,
    paid_at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(orders::table.find(id).filter(orders::status.eq(from)))
        .set((
            orders::status.eq(to),
            orders::channel.eq(channel),
            orders::transaction_id.eq(transaction_id),
            orders::paid_at.eq(paid_at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// WAIT_PAY → CLOSED, only if still WAIT_PAY.
pub fn close(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        orders::table
            .find(id)
            .filter(orders::status.eq(OrderStatus::WaitPay.as_str())),
    )
    .set((
        orders::status.eq(OrderStatus::Closed.as_str()),
        orders::closed_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// WAIT_PAY orders past their expiry, oldest first.
pub fn expired_waiting(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Order>> {
    orders::table
        .filter(orders::status.eq(OrderStatus::WaitPay.as_str()))
        .filter(orders::expires_at.le(now))
        .order(orders::expires_at.asc())
        .limit(limit)
        .select(Order::as_select())
        .load(conn)
}

/// Whether the order is still payable (WAIT_PAY, not expired), asked with an update that
/// changes nothing but, on Postgres, locks the row for the rest of the transaction.
pub fn hold_if_payable(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let waiting = OrderStatus::WaitPay.as_str();
    diesel::update(
        orders::table
            .find(id)
            .filter(orders::status.eq(waiting))
            .filter(orders::expires_at.gt(now)),
    )
    .set(orders::status.eq(waiting))
    .execute(conn)
    .map(|n| n == 1)
}

/// Where a page of the list starts: below this (created_at, id), newest first.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// `None`: every status.
    pub status: Option<String>,
    pub created_gte: Option<NaiveDateTime>,
    pub created_lt: Option<NaiveDateTime>,
    /// The (created_at, id) of the last order of the previous page.
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// A page of the merchant's orders, newest first: a range scan of `orders_merchant_created`,
/// or of `orders_merchant_status_created` for one status (an equality, not `IN (…)`, so that
/// the index gives the order and the scan stops at the page's end).
pub fn list_page(
    conn: &mut AnyConnection,
    merchant: &str,
    filter: &ListFilter,
) -> QueryResult<Vec<Order>> {
    use super::schema::orders::dsl::*;
    // Neutral bounds instead of optional clauses: one query shape per case (the multi-backend
    // connection takes no boxed queries).
    let far_past = chrono::DateTime::UNIX_EPOCH.naive_utc();
    let far_future = far_past + chrono::Duration::days(365 * 1000);
    let (after_at, after_id) = filter.after.clone().unwrap_or((far_future, String::new()));
    let newest_first = (created_at.desc(), id.desc());
    let in_range = created_at
        .ge(filter.created_gte.unwrap_or(far_past))
        .and(created_at.lt(filter.created_lt.unwrap_or(far_future)))
        .and(
            created_at
                .lt(after_at)
                .or(created_at.eq(after_at).and(id.lt(after_id))),
        );
    match &filter.status {
        Some(wanted) => orders
            .filter(merchant_id.eq(merchant))
            .filter(status.eq(wanted))
            .filter(in_range)
            .order(newest_first)
            .limit(filter.limit)
            .select(Order::as_select())
            .load(conn),
        None => orders
            .filter(merchant_id.eq(merchant))
            .filter(in_range)
            .order(newest_first)
            .limit(filter.limit)
            .select(Order::as_select())
            .load(conn),
    }
}
