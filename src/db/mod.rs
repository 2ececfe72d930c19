//! The database: one schema on two backends (Postgres for production, SQLite as the embedded
//! default), an r2d2 pool, embedded migrations, and every query beside its table.

pub mod channel_trades;
pub mod legacy_logins;
pub mod merchants;
pub mod order_events;
pub mod orders;
pub mod payment_writes;
pub mod payments;
pub mod rejected_notifies;
pub mod schema;
pub mod webhook_endpoints;
pub mod webhook_events;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PoolError, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any advisory-lock key works as long as every instance uses the same one: it keeps two
/// instances starting together from running the same migration twice.
const MIGRATION_LOCK_KEY: i64 = 0x0070_6179_6d65_6e74;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// A pooled connection, with a mark set when work on it failed: only then is it worth asking,
/// as it goes back to the pool, whether it still answers (a dead Postgres connection would
/// otherwise fail request after request; a healthy one costs no extra round trip).
pub struct PooledConn {
    conn: AnyConnection,
    suspect: bool,
}

impl std::ops::Deref for PooledConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// The connection pool, and as many permits as it has connections: `run` waits for a permit
/// on the async side, so no more blocking threads exist than can hold a connection (a queue of
/// threads parked on the pool would cost a context switch storm under load).
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<ConnectionManager>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for DbPool {
    type Target = Pool<ConnectionManager>;
    fn deref(&self) -> &Pool<ConnectionManager> {
        &self.pool
    }
}
pub type DbConnection = PooledConnection<ConnectionManager>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://` and `postgresql://` are Postgres; anything else is a SQLite file path.
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl DbError {
    /// The database is down or the connection died: nothing the request did wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Unavailable(_)
                | DbError::Query(DieselError::BrokenTransactionManager)
                | DbError::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection,
                    _
                ))
        )
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// Establishes the variant the URL names, so that a dead server's real error is reported
/// (the derive's own `establish` hides it behind "Invalid connection url").
pub struct ConnectionManager {
    url: String,
    backend: Backend,
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        ConnectionManager {
            url: url.to_owned(),
            backend: Backend::from_url(url),
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = PooledConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledConn, Self::Error> {
        self.establish().map(|conn| PooledConn {
            conn,
            suspect: false,
        })
    }

    fn is_valid(&self, conn: &mut PooledConn) -> Result<(), Self::Error> {
        ping(conn).map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PooledConn) -> bool {
        use diesel::connection::TransactionManager;
        type Manager = <AnyConnection as Connection>::TransactionManager;
        // Given back while panicking, or with a transaction still open: never reuse it.
        let in_transaction = !matches!(
            Manager::transaction_manager_status_mut(&mut conn.conn).transaction_depth(),
            Ok(None)
        );
        if std::thread::panicking() || in_transaction {
            return true;
        }
        if !std::mem::take(&mut conn.suspect) {
            return false;
        }
        ping(conn).is_err()
    }
}

impl ConnectionManager {
    fn establish(&self) -> Result<AnyConnection, diesel::r2d2::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url)
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                create_private_file(&self.url).map_err(|e| {
                    diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                        format!("cannot create the SQLite file {}: {e}", self.url),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(&self.url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the one writer; busy_timeout makes writers queue
                // instead of failing with "database is locked".
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// Creates the SQLite file, readable by its owner only, if it does not exist: it holds every
/// merchant's notify secret. SQLite gives its `-wal` and `-shm` files the mode of the database
/// file, so they are private too.
fn create_private_file(path: &str) -> std::io::Result<()> {
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn ping(conn: &mut AnyConnection) -> Result<(), DieselError> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// Builds the pool without connecting: the service starts (and says why it is not ready)
/// even while the database is down.
pub fn build_pool(url: &str, max_size: u32) -> DbPool {
    let backend = Backend::from_url(url);
    // SQLite has one writer; a few connections are plenty and keep lock waits short.
    let max_size = match backend {
        Backend::Postgres => max_size,
        Backend::Sqlite => max_size.min(8),
    };
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        // No round trip per checkout: a connection is checked only after work on it failed
        // (`PooledConn`).
        .test_on_check_out(false)
        .build_unchecked(ConnectionManager::new(url));
    DbPool {
        pool,
        permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max_size as usize)),
    }
}

pub fn get_conn(pool: &DbPool) -> Result<DbConnection, DbError> {
    Ok(pool.get()?)
}

/// Runs the embedded migrations of the URL's backend. On Postgres an advisory lock keeps
/// several instances that start together from racing each other.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), DbError> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
            let result = pg
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|_| ())
                .map_err(|e| DbError::Migration(e.to_string()));
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
            result
        }
        AnyConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|_| ())
            .map_err(|e| DbError::Migration(e.to_string())),
    }
}

pub fn backend_of(conn: &AnyConnection) -> Backend {
    match conn {
        AnyConnection::Postgresql(_) => Backend::Postgres,
        AnyConnection::Sqlite(_) => Backend::Sqlite,
    }
}

/// Runs blocking diesel work on the blocking thread pool with a pooled connection, never on
/// the async worker threads.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    let permit = pool
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| E::from(DbError::Unavailable("the connection pool is closed".into())))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut conn = get_conn(&pool)?;
        let result = work(&mut conn);
        conn.suspect = result.is_err();
        result
    })
    .await
    .unwrap_or_else(|join_error| {
        Err(E::from(DbError::Unavailable(format!(
            "database task failed: {join_error}"
        ))))
    })
}

/// A transaction that writes. On SQLite it starts with `BEGIN IMMEDIATE`, taking the one
/// write lock up front (waiting `busy_timeout` for it), so a transaction that reads before it
/// writes never fails half-way with SQLITE_BUSY; on Postgres it is an ordinary transaction.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<DieselError>,
{
    transaction(conn, "BEGIN", work)
}

/// A write transaction (as `write_transaction`) whose statements Postgres plans once per
/// connection and keeps: for transactions of fixed statements that run all the time (a
/// payment). Left to choose, Postgres planned the payment's one statement again on every call
/// (a plan made for the values, with their arrays' lengths, always looks cheaper than the one
/// kept): 16% of its CPU under load. Every statement of such a transaction must have a kept
/// plan as good as any (no parameter deciding which index fits).
pub fn write_transaction_kept_plans<T, E, F>(conn: &mut AnyConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<DieselError>,
{
    transaction(
        conn,
        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan",
        work,
    )
}

fn transaction<T, E, F>(conn: &mut AnyConnection, pg_begin: &str, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<DieselError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <AnyConnection as Connection>::TransactionManager;
    let nested = Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some();
    match conn {
        // Within a caller's transaction: a savepoint, whatever the backend.
        _ if nested => return conn.transaction(work),
        AnyConnection::Postgresql(pg) => {
            AnsiTransactionManager::begin_transaction_sql(pg, pg_begin)?
        }
        AnyConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
    }
    match work(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            Manager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// A Postgres statement whose text never changes, kept prepared per connection under the id
/// `Id`. Diesel never keeps an insert of a struct prepared (it may write `DEFAULT` for an
/// absent value, so it cannot know the text is fixed); where every value is bound, it is, and
/// the statement is parsed and planned once per connection instead of on every call.
///
/// Every value bound means `treat_none_as_default_value = false` on the `Insertable`
/// (`treat_none_as_null` is `AsChangeset`'s: an insert ignores it). A text that varies would
/// run under the first one prepared: Postgres refuses the binds, and the write fails
/// (`tests/api/orders.rs`, orders with and without a success_url, guards this).
///
/// Only when loaded (`get_result`, `load`): diesel then holds the statement itself. `execute`
/// hands it a reference, and a reference's check for caching walks the inner insert, which
/// refuses (seen in Postgres's statement log as `execute <unnamed>`); a kept insert without a
/// result returns a column to be loaded instead.
pub struct KeptPrepared<Q, Id>(Q, std::marker::PhantomData<Id>);

impl<Q, Id> KeptPrepared<Q, Id> {
    pub fn new(query: Q) -> Self {
        KeptPrepared(query, std::marker::PhantomData)
    }
}

impl<Q, Id: 'static> diesel::query_builder::QueryId for KeptPrepared<Q, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q: diesel::query_builder::Query, Id> diesel::query_builder::Query for KeptPrepared<Q, Id> {
    type SqlType = Q::SqlType;
}

impl<Q, Id> RunQueryDsl<diesel::pg::PgConnection> for KeptPrepared<Q, Id> {}

impl<Q, Id> diesel::query_builder::QueryFragment<diesel::pg::Pg> for KeptPrepared<Q, Id>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, _: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}
