use super::schema::{webhook_attempts, webhook_events};
use super::{AnyConnection, KeptPrepared};
use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Text, Timestamp};

pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub event_type: String,
    pub payload: String,
    pub url: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// `None`: the order's return_url (the paid notification); else the webhook endpoint.
    pub endpoint_id: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_events)]
pub struct NewWebhookEvent {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub event_type: String,
    pub payload: String,
    pub url: String,
    pub status: String,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub endpoint_id: Option<String>,
}

/// Absent values are bound as NULL (the columns' default), so the insert's text is fixed and
/// kept prepared on Postgres (`db::KeptPrepared`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts, treat_none_as_default_value = false)]
pub struct WebhookAttempt {
    pub event_id: String,
    pub attempt: i32,
    pub attempted_at: NaiveDateTime,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

pub fn insert(conn: &mut AnyConnection, event: &NewWebhookEvent) -> QueryResult<()> {
    diesel::insert_into(webhook_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Inserts `events` with one statement on Postgres (one round trip); SQLite is in-process
/// and takes them one by one.
pub fn insert_all(conn: &mut AnyConnection, events: &[NewWebhookEvent]) -> QueryResult<()> {
    match conn {
        _ if events.is_empty() => Ok(()),
        AnyConnection::Postgresql(pg) => diesel::insert_into(webhook_events::table)
            .values(events)
            .execute(pg)
            .map(|_| ()),
        _ => events.iter().try_for_each(|event| insert(conn, event)),
    }
}

/// Leases up to `limit` due events to `owner` until `lease_until`, oldest first; call it inside
/// a write transaction. On Postgres the candidates are locked with `FOR UPDATE SKIP LOCKED`, so
/// instances claiming at once take different events (`DueByMerchant`); SQLite has one writer.
/// Events of the merchants in `passed_over` (at their limit of sends under way) are left for
/// a later claim.
pub fn claim_due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    owner: &str,
    lease_until: NaiveDateTime,
    limit: i64,
    passed_over: &[String],
) -> QueryResult<Vec<WebhookEvent>> {
    use super::schema::webhook_events::dsl::*;
    let ids: Vec<String> = if let AnyConnection::Postgresql(pg) = conn {
        DueByMerchant {
            now,
            limit,
            passed_over,
        }
        .load(pg)?
    } else {
        webhook_events
            .filter(status.eq(PENDING))
            .filter(next_attempt_at.le(now))
            .filter(locked_until.is_null().or(locked_until.lt(now)))
            .filter(merchant_id.ne_all(passed_over))
            .order(next_attempt_at.asc())
            .limit(limit)
            .select(id)
            .load(conn)?
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(webhook_events.filter(id.eq_any(&ids)))
        .set((locked_by.eq(owner), locked_until.eq(lease_until)))
        .execute(conn)?;
    webhook_events
        .filter(id.eq_any(&ids))
        .filter(locked_by.eq(owner))
        .order(next_attempt_at.asc())
        .select(WebhookEvent::as_select())
        .load(conn)
}

/// Postgres's claim: the oldest due events of the merchants not passed over, read merchant by
/// merchant. Read in one sweep of the due index, a claim passing over a merchant had to read
/// past all of that merchant's due events to find another's (67 ms a claim with one merchant
/// 75,000 events behind; deliveries fell to a few hundred a second). Here the merchants with
/// pending events are found by a skip scan (one index probe each), and of each merchant taken
/// the first `limit` due events, through `webhook_events_pending_by_merchant`.
struct DueByMerchant<'a> {
    now: NaiveDateTime,
    limit: i64,
    passed_over: &'a [String],
}

/// No static id: the statement is kept by its text, which holds the limit.
impl QueryId for DueByMerchant<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for DueByMerchant<'_> {
    type SqlType = Text;
}

impl RunQueryDsl<diesel::pg::PgConnection> for DueByMerchant<'_> {}

impl QueryFragment<Pg> for DueByMerchant<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // 'PENDING' is written, not bound, so that the partial index fits every plan.
        out.push_sql(
            "WITH RECURSIVE merchants (id) AS (\
               SELECT min(merchant_id) FROM webhook_events WHERE status = 'PENDING' \
               UNION ALL \
               SELECT (SELECT min(e.merchant_id) FROM webhook_events e \
                       WHERE e.status = 'PENDING' AND e.merchant_id > m.id) \
               FROM merchants m WHERE m.id IS NOT NULL) \
             SELECT id FROM webhook_events WHERE id = ANY(ARRAY(\
               SELECT d.id FROM merchants m CROSS JOIN LATERAL (\
                 SELECT e.id, e.next_attempt_at FROM webhook_events e \
                 WHERE e.status = 'PENDING' AND e.merchant_id = m.id AND e.next_attempt_at <= ",
        );
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" AND (e.locked_until IS NULL OR e.locked_until < ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        // The limit is written too: bound, a kept plan guesses thousands of rows a merchant,
        // and the guessed cost set off JIT compilation (30–50 ms) on every claim.
        out.push_sql(&format!(
            ") ORDER BY e.next_attempt_at LIMIT {}",
            self.limit
        ));
        out.push_sql(") d WHERE m.id IS NOT NULL AND m.id <> ALL(");
        out.push_bind_param::<Array<Text>, _>(self.passed_over)?;
        out.push_sql(&format!(
            ") ORDER BY d.next_attempt_at LIMIT {}",
            self.limit
        ));
        // Taken again under the lock: another claim may have leased one since.
        out.push_sql(")) AND status = 'PENDING' AND (locked_until IS NULL OR locked_until < ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(") ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED");
        Ok(())
    }
}

/// Gives back an event `owner` claimed but did not send, due again at `due_at` (no attempt is
/// counted).
pub fn defer(
    conn: &mut AnyConnection,
    event_id: &str,
    owner: &str,
    due_at: NaiveDateTime,
) -> QueryResult<usize> {
    use super::schema::webhook_events::dsl::*;
    diesel::update(webhook_events.find(event_id).filter(locked_by.eq(owner)))
        .set((
            locked_by.eq(None::<String>),
            locked_until.eq(None::<NaiveDateTime>),
            next_attempt_at.eq(due_at),
        ))
        .execute(conn)
}

/// What an attempt changes on its event.
pub struct AttemptResult<'a> {
    pub status: &'a str,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
    pub last_error: Option<&'a str>,
}

/// Records an attempt and its effect, if `owner` still holds the lease (a worker whose lease
/// ran out does not overwrite the one that took over).
pub fn finish_attempt(
    conn: &mut AnyConnection,
    event_id: &str,
    owner: &str,
    result: &AttemptResult,
    attempt: &WebhookAttempt,
) -> QueryResult<bool> {
    use super::schema::webhook_events::dsl::*;
    let updated = diesel::update(webhook_events.find(event_id).filter(locked_by.eq(owner)))
        .set((
            status.eq(result.status),
            attempts.eq(result.attempts),
            next_attempt_at.eq(result.next_attempt_at),
            delivered_at.eq(result.delivered_at),
            last_error.eq(result.last_error),
            locked_by.eq(None::<String>),
            locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    if updated == 1 {
        let insert = diesel::insert_into(webhook_attempts::table).values(attempt);
        match conn {
            // A load, not `execute`: see `KeptPrepared`.
            AnyConnection::Postgresql(pg) => {
                KeptPrepared::<_, InsertWebhookAttempt>::new(
                    insert.returning(webhook_attempts::attempt),
                )
                .get_result::<i32>(pg)?;
            }
            _ => {
                insert.execute(conn)?;
            }
        }
    }
    Ok(updated == 1)
}

/// The insert of a `WebhookAttempt`, kept prepared: one per delivery attempt.
struct InsertWebhookAttempt;

pub fn attempt_count(conn: &mut AnyConnection, event_id: &str) -> QueryResult<i64> {
    webhook_attempts::table
        .filter(webhook_attempts::event_id.eq(event_id))
        .count()
        .get_result(conn)
}

/// When the earliest pending event falls due (for the worker's sleep).
pub fn next_due_at(conn: &mut AnyConnection) -> QueryResult<Option<NaiveDateTime>> {
    use diesel::dsl::min;
    webhook_events::table
        .filter(webhook_events::status.eq(PENDING))
        .select(min(webhook_events::next_attempt_at))
        .first(conn)
}

pub fn for_order(conn: &mut AnyConnection, order_id: &str) -> QueryResult<Vec<WebhookEvent>> {
    webhook_events::table
        .filter(webhook_events::order_id.eq(order_id))
        .order((webhook_events::created_at.asc(), webhook_events::id.asc()))
        .select(WebhookEvent::as_select())
        .load(conn)
}

pub fn attempts_for(
    conn: &mut AnyConnection,
    event_ids: &[String],
) -> QueryResult<Vec<WebhookAttempt>> {
    webhook_attempts::table
        .filter(webhook_attempts::event_id.eq_any(event_ids))
        .order((
            webhook_attempts::event_id.asc(),
            webhook_attempts::attempt.asc(),
        ))
        .select(WebhookAttempt::as_select())
        .load(conn)
}

pub fn find(conn: &mut AnyConnection, event_id: &str) -> QueryResult<Option<WebhookEvent>> {
    webhook_events::table
        .find(event_id)
        .select(WebhookEvent::as_select())
        .first(conn)
        .optional()
}

/// Queues the event again, due now, with a fresh run of the retry schedule.
pub fn requeue(conn: &mut AnyConnection, event_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    use super::schema::webhook_events::dsl::*;
    diesel::update(webhook_events.find(event_id))
        .set((
            status.eq(PENDING),
            attempts.eq(0),
            next_attempt_at.eq(now),
            delivered_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Gives up the pending events of a deleted endpoint.
pub fn fail_pending_for_endpoint(
    conn: &mut AnyConnection,
    endpoint: &str,
    reason: &str,
) -> QueryResult<usize> {
    use super::schema::webhook_events::dsl::*;
    diesel::update(
        webhook_events
            .filter(endpoint_id.eq(endpoint))
            .filter(status.eq(PENDING)),
    )
    .set((
        status.eq(FAILED),
        next_attempt_at.eq(None::<NaiveDateTime>),
        last_error.eq(reason),
    ))
    .execute(conn)
}

/// Pending events (for the queue-depth gauge and operators).
pub fn pending_count(conn: &mut AnyConnection) -> QueryResult<i64> {
    webhook_events::table
        .filter(webhook_events::status.eq(PENDING))
        .count()
        .get_result(conn)
}
