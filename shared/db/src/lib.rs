//! sua's database layer: one diesel schema for PostgreSQL (production) and SQLite (the embedded mode).
//!
//! * [`Pool`] holds an r2d2 pool of either backend; [`Pool::run`] runs blocking diesel code on tokio's blocking
//!   pool, so async services never block a worker thread on I/O.
//! * [`Conn`] is a borrowed connection of either backend; query functions take `&mut Conn` (so the caller picks
//!   a pooled connection or a transaction) and use [`with_conn!`] to type-check one body for both backends.
//!   Hot bulk paths may branch on the variant instead (e.g. COPY on PostgreSQL).
//! * Migrations are embedded and run only by the `migrate` commands ([`migrate`]), never at service start.

pub mod models;
mod pool_metrics;
pub mod schema;
pub mod service;
pub mod states;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod views;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::{ExposeSecret, SecretString};
use sua_core::config::{DatabaseKind, DbConfig, redact_url};

pub use diesel;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The schemas pooled PostgreSQL connections search, in order.
pub const SEARCH_PATH: &str = "collector, analytics, portal, public";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL (expected postgres:// or sqlite:)")]
    UnsupportedUrl,
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// Whether the database itself is out of reach (no connection from the pool, the server gone or shutting
    /// down): an outage to wait out, which says nothing about the work that met it.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Pool(_) => true,
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _))
            | DbError::Query(Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)) => true,
            DbError::Query(Error::DatabaseError(_, info)) => {
                let message = info.message();
                [
                    "terminating connection",
                    "server closed the connection",
                    "the database system is shutting down",
                    "the database system is starting up",
                    "the database system is in recovery mode",
                    "no connection to the server",
                    "connection refused",
                    "could not connect",
                ]
                .iter()
                .any(|needle| message.contains(needle))
            }
            DbError::Query(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// Whether retrying later may succeed (connection trouble, serialization conflicts, lock timeouts).
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Pool(_) | DbError::Task(_) => true,
            DbError::Query(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::SerializationFailure
                        | DatabaseErrorKind::ClosedConnection
                        | DatabaseErrorKind::UnableToSendCommand
                ) || info.message().contains("database is locked")
                    || info.message().contains("canceling statement due to statement timeout")
            }
            DbError::Query(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

impl From<DbError> for sua_core::broker::HandlerError {
    /// The database being out of reach is waited out; a conflict or lock timeout is retried up to the delivery
    /// limit; anything else would fail again.
    fn from(error: DbError) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(error.into())
        } else if error.is_transient() {
            Self::Transient(error.into())
        } else {
            Self::Reject(error.into())
        }
    }
}

type PgManager = ConnectionManager<PgConnection>;
type SqliteManager = ConnectionManager<SqliteConnection>;

/// A connection pool of either backend; cheap to clone.
#[derive(Clone)]
pub enum Pool {
    Pg(diesel::r2d2::Pool<PgManager>),
    Sqlite(diesel::r2d2::Pool<SqliteManager>),
}

/// A borrowed connection of either backend.
pub enum Conn<'a> {
    Pg(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

/// Runs the same diesel expression on whichever backend `conn` is; the body is type-checked for both.
///
/// ```text
/// with_conn!(conn, |c| diesel::insert_into(tenants::table).values(&row).execute(c))
/// ```
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Pg(inner) => {
                let $c: &mut $crate::diesel::pg::PgConnection = inner;
                $body
            }
            $crate::Conn::Sqlite(inner) => {
                let $c: &mut $crate::diesel::sqlite::SqliteConnection = inner;
                $body
            }
        }
    };
}

impl Conn<'_> {
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Conn::Pg(_) => DatabaseKind::Postgres,
            Conn::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// Runs `f` in a transaction (`BEGIN IMMEDIATE` on SQLite, so writers queue instead of deadlocking).
    pub fn transaction<R, E, F>(&mut self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<R, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            Conn::Pg(c) => c.transaction(|c| f(&mut Conn::Pg(c))),
            Conn::Sqlite(c) => c.immediate_transaction(|c| f(&mut Conn::Sqlite(c))),
        }
    }
}

/// A connection checked out of a [`Pool`].
pub enum PooledConn {
    Pg(PooledConnection<PgManager>),
    Sqlite(PooledConnection<SqliteManager>),
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Pg(c) => Conn::Pg(c),
            PooledConn::Sqlite(c) => Conn::Sqlite(c),
        }
    }
}

#[derive(Debug)]
struct PgSetup {
    statement_timeout_secs: u64,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PgSetup {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        let sql = format!(
            "SET search_path TO {SEARCH_PATH}; SET statement_timeout = {}; SET TIME ZONE 'UTC';",
            self.statement_timeout_secs * 1000
        );
        conn.batch_execute(&sql).map_err(diesel::r2d2::Error::QueryError)?;
        // Every statement with its binds at TRACE under `sua_db::statements` (for finding what a request asks the
        // database; bench/portal-read.sh replays them in psql). Off unless that target is enabled.
        if tracing::enabled!(target: "sua_db::statements", tracing::Level::TRACE) {
            use diesel::connection::{Connection, InstrumentationEvent};
            conn.set_instrumentation(|event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event {
                    tracing::trace!(target: "sua_db::statements", sql = %query, "statement");
                }
            });
        }
        Ok(())
    }
}

#[derive(Debug)]
struct SqliteSetup;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        sqlite_pragmas(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn sqlite_pragmas(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 15000; PRAGMA foreign_keys = ON;",
    )
}

/// `sqlite:path`, `sqlite://path` or `sqlite::memory:` → what SQLite opens.
fn sqlite_path(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    if rest == ":memory:" { ":memory:" } else { rest }
}

/// Adds libpq's `connect_timeout` unless the URL sets one.
fn pg_url_with_timeout(url: &str, seconds: u64) -> String {
    if url.contains("connect_timeout=") {
        url.to_string()
    } else {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}connect_timeout={}", seconds.max(1))
    }
}

impl Pool {
    /// Builds a pool without connecting: a service starts even while its database is down, and `/readyz` says so.
    pub fn new(url: &SecretString, config: &DbConfig) -> Result<Self, DbError> {
        let raw = url.expose_secret();
        let acquire = Duration::from_secs(config.acquire_timeout_secs.max(1));
        match DatabaseKind::of(raw) {
            Some(DatabaseKind::Postgres) => {
                let manager = PgManager::new(pg_url_with_timeout(raw, config.connect_timeout_secs));
                let pool = diesel::r2d2::Pool::builder()
                    .max_size(config.pool_size)
                    .min_idle(Some(0))
                    .connection_timeout(acquire)
                    .connection_customizer(Box::new(PgSetup { statement_timeout_secs: config.statement_timeout_secs }))
                    .event_handler(Box::new(pool_metrics::Events))
                    .build_unchecked(manager);
                Ok(Pool::Pg(pool))
            }
            Some(DatabaseKind::Sqlite) => {
                let path = sqlite_path(raw);
                // Each `:memory:` connection would be a separate database: keep one.
                let size = if path == ":memory:" { 1 } else { config.pool_size };
                let pool = diesel::r2d2::Pool::builder()
                    .max_size(size)
                    .min_idle(Some(0))
                    .connection_timeout(acquire)
                    .connection_customizer(Box::new(SqliteSetup))
                    .event_handler(Box::new(pool_metrics::Events))
                    .build_unchecked(SqliteManager::new(path));
                Ok(Pool::Sqlite(pool))
            }
            None => Err(DbError::UnsupportedUrl),
        }
    }

    pub fn kind(&self) -> DatabaseKind {
        match self {
            Pool::Pg(_) => DatabaseKind::Postgres,
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// Exports this pool's connections in use, idle and allowed, and the process's waits for a connection.
    pub fn register_metrics(&self, registry: &prometheus::Registry) {
        pool_metrics::register(self.clone(), registry);
    }

    /// `(connections open, of which idle, most allowed)`.
    pub fn state(&self) -> (u32, u32, u32) {
        match self {
            Pool::Pg(pool) => (pool.state().connections, pool.state().idle_connections, pool.max_size()),
            Pool::Sqlite(pool) => (pool.state().connections, pool.state().idle_connections, pool.max_size()),
        }
    }

    /// Checks a connection out (blocking; use inside [`Pool::run`] or blocking code).
    pub fn get(&self) -> Result<PooledConn, DbError> {
        match self {
            Pool::Pg(pool) => pool.get().map(PooledConn::Pg).map_err(|e| DbError::Pool(e.to_string())),
            Pool::Sqlite(pool) => pool.get().map(PooledConn::Sqlite).map_err(|e| DbError::Pool(e.to_string())),
        }
    }

    /// Checks a connection out, waiting at most `wait`; the error names the last connection failure (a wrong
    /// password, a database that does not exist), not just the timeout.
    pub fn get_within(&self, wait: Duration) -> Result<PooledConn, DbError> {
        match self {
            Pool::Pg(pool) => pool.get_timeout(wait).map(PooledConn::Pg).map_err(|e| DbError::Pool(e.to_string())),
            Pool::Sqlite(pool) => {
                pool.get_timeout(wait).map(PooledConn::Sqlite).map_err(|e| DbError::Pool(e.to_string()))
            }
        }
    }

    /// Runs blocking diesel code with a pooled connection on tokio's blocking pool.
    pub async fn run<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.clone();
        // A CLIENT span per unit of database work, within a trace only (background loops start none).
        let span = if tracing::Span::current().is_none() {
            tracing::Span::none()
        } else {
            let system = match self.kind() {
                DatabaseKind::Postgres => "postgresql",
                DatabaseKind::Sqlite => "sqlite",
            };
            tracing::info_span!("db", otel.name = %format!("db {system}"), otel.kind = "client", "db.system.name" = system)
        };
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut pooled = pool.get()?;
            f(&mut pooled.conn())
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs blocking diesel code inside one transaction.
    pub async fn transaction<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(move |conn| conn.transaction(f)).await
    }
}

#[async_trait::async_trait]
impl sua_core::ops::ReadinessCheck for Pool {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        // Inside the readiness deadline, so that the answer is the database's own error.
        let pool = self.clone();
        let pending = tokio::task::spawn_blocking(move || {
            let mut pooled = pool.get_within(Duration::from_millis(2_000))?;
            pending_migrations(&mut pooled.conn())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if pending > 0 {
            return Err(format!("database schema is behind by {pending} migration(s); run `sua migrate`"));
        }
        Ok(())
    }
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// How many embedded migrations the database has not applied. Read-only: diesel's own harness would create its
/// bookkeeping table in the first schema of the search path, so the table is read by its qualified name.
pub fn pending_migrations(conn: &mut Conn<'_>) -> Result<usize, DbError> {
    use diesel::migration::MigrationSource;
    let versions = |list: Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>>| {
        list.map_err(|e| DbError::Migration(e.to_string()))
    };
    let (embedded, applied) = match conn {
        Conn::Pg(c) => (
            versions(
                MigrationSource::<diesel::pg::Pg>::migrations(&PG_MIGRATIONS)
                    .map(|m| m.iter().map(|m| m.name().version().to_string()).collect()),
            ),
            diesel::sql_query("SELECT version FROM public.__diesel_schema_migrations").load::<AppliedVersion>(*c),
        ),
        Conn::Sqlite(c) => (
            versions(
                MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                    .map(|m| m.iter().map(|m| m.name().version().to_string()).collect()),
            ),
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<AppliedVersion>(*c),
        ),
    };
    let embedded = embedded?;
    let applied: std::collections::HashSet<String> = match applied {
        Ok(rows) => rows.into_iter().map(|r| r.version).collect(),
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("does not exist") || info.message().contains("no such table") =>
        {
            Default::default()
        }
        Err(error) => return Err(error.into()),
    };
    Ok(embedded.iter().filter(|version| !applied.contains(*version)).count())
}

/// What [`migrate`] did.
#[derive(Debug, Clone)]
pub struct MigrationReport {
    pub applied: Vec<String>,
}

/// Applies every pending embedded migration to the database the URL names. Safe to run from several Jobs at
/// once on PostgreSQL (an advisory lock serialises them).
pub fn migrate(url: &SecretString) -> Result<MigrationReport, DbError> {
    let raw = url.expose_secret();
    let migration_error = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    let applied = match DatabaseKind::of(raw) {
        Some(DatabaseKind::Postgres) => {
            let mut conn =
                PgConnection::establish(raw).map_err(|e| DbError::Pool(format!("{}: {e}", redact_url(raw))))?;
            // Two migrate Jobs racing would both try to create the schemas; one waits for the other instead.
            diesel::sql_query("SELECT pg_advisory_lock(7305170624)").execute(&mut conn)?;
            let result =
                conn.run_pending_migrations(PG_MIGRATIONS).map(|v| v.iter().map(ToString::to_string).collect());
            diesel::sql_query("SELECT pg_advisory_unlock(7305170624)").execute(&mut conn)?;
            result.map_err(migration_error)?
        }
        Some(DatabaseKind::Sqlite) => {
            let mut conn = SqliteConnection::establish(sqlite_path(raw)).map_err(|e| DbError::Pool(e.to_string()))?;
            sqlite_pragmas(&mut conn)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(migration_error)?
        }
        None => return Err(DbError::UnsupportedUrl),
    };
    Ok(MigrationReport { applied })
}

/// Now on sua's clock, as stored: UTC, microsecond precision (PostgreSQL's), so values read back compare equal on
/// both backends.
pub fn now() -> chrono::NaiveDateTime {
    sua_core::clock::now_naive()
}

#[cfg(test)]
mod tests;
