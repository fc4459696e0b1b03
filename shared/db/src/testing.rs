//! A fresh database per test, so the suite runs in parallel (nextest runs each test in its own process).
//!
//! PostgreSQL: the migrations are applied once to a template database named after their fingerprint
//! (`sua_tpl_<hash>`, built under an advisory lock so concurrent test processes build it once), and each test
//! gets `CREATE DATABASE … TEMPLATE` of it, dropped (`WITH (FORCE)`) when the [`TestDatabase`] is dropped.
//! Databases left by killed runs are removed by the next template build after two hours.
//!
//! SQLite: a migrated file in a temporary directory.
//!
//! The server comes from `TEST_SUA_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

use diesel::pg::PgConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use secrecy::SecretString;
use sua_core::config::DbConfig;

use crate::{DbError, PG_MIGRATIONS, Pool};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TEMPLATE_LOCK: i64 = 7_305_170_625;

pub struct TestDatabase {
    url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(QueryableByName)]
struct NameAndNote {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    note: String,
}

fn admin_url() -> String {
    std::env::var("TEST_SUA_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// `postgres://…/postgres` → `postgres://…/{database}`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

fn connect(url: &str) -> Result<PgConnection, DbError> {
    PgConnection::establish(url).map_err(|e| {
        DbError::Pool(format!(
            "cannot reach the test PostgreSQL at {} ({e}); start it (scripts/services) or set TEST_SUA_POSTGRES_URL",
            sua_core::config::redact_url(url)
        ))
    })
}

fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool, DbError> {
    let rows: Vec<NameAndNote> = diesel::sql_query("SELECT datname, '' AS note FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .load(conn)?;
    Ok(!rows.is_empty())
}

fn ensure_template(admin: &mut PgConnection, admin_url: &str) -> Result<String, DbError> {
    let template = format!("sua_tpl_{}", env!("SUA_MIGRATIONS_HASH"));
    if database_exists(admin, &template)? {
        return Ok(template);
    }
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).execute(admin)?;
    let result = (|| {
        if database_exists(admin, &template)? {
            return Ok(());
        }
        let building = format!("{template}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).execute(admin)?;
        diesel::sql_query(format!("CREATE DATABASE {building}")).execute(admin)?;
        {
            let mut conn = connect(&with_database(admin_url, &building))?;
            conn.run_pending_migrations(PG_MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
        }
        diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {template}")).execute(admin)?;
        // When it was built: templates of other migrations (another checkout's tests may be using them right now)
        // are removed only once they are old.
        let built = chrono::Utc::now().timestamp();
        diesel::sql_query(format!("COMMENT ON DATABASE {template} IS '{built}'")).execute(admin)?;
        remove_leftovers(admin, &template)
    })();
    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})")).execute(admin)?;
    result.map(|()| template)
}

/// Drops test databases and other migrations' templates older than two hours (from killed runs, older checkouts).
fn remove_leftovers(admin: &mut PgConnection, current_template: &str) -> Result<(), DbError> {
    let names: Vec<NameAndNote> = diesel::sql_query(
        "SELECT datname, COALESCE(shobj_description(oid, 'pg_database'), '') AS note FROM pg_database \
         WHERE datname LIKE 'sua\\_t\\_%' OR datname LIKE 'sua\\_tpl\\_%'",
    )
    .load(admin)?;
    let cutoff = chrono::Utc::now().timestamp() - 2 * 3600;
    let old = |ts: Option<i64>| ts.is_some_and(|ts| ts < cutoff);
    for NameAndNote { datname, note } in names {
        let stale = if datname.starts_with("sua_tpl_") {
            datname != current_template && !datname.ends_with("_building") && old(note.parse().ok())
        } else {
            old(datname.split('_').nth(2).and_then(|ts| ts.parse::<i64>().ok()))
        };
        if stale {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).execute(admin);
        }
    }
    Ok(())
}

impl TestDatabase {
    /// A new, migrated PostgreSQL database.
    pub fn postgres() -> Result<Self, DbError> {
        let admin_url = admin_url();
        let mut admin = connect(&admin_url)?;
        let template = ensure_template(&mut admin, &admin_url)?;
        let name = format!(
            "sua_t_{}_{}",
            chrono::Utc::now().timestamp(),
            uuid::Uuid::new_v4().simple().to_string().get(..12).unwrap_or("x")
        );
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin)?;
        Ok(Self { url: with_database(&admin_url, &name), postgres: Some((admin_url, name)), _dir: None })
    }

    /// A new, migrated SQLite database file.
    pub fn sqlite() -> Result<Self, DbError> {
        let dir = tempfile::tempdir().map_err(|e| DbError::Pool(e.to_string()))?;
        let url = format!("sqlite://{}", dir.path().join("sua.db").display());
        crate::migrate(&SecretString::from(url.clone()))?;
        Ok(Self { url, postgres: None, _dir: Some(dir) })
    }

    pub fn url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }

    /// A pool of four connections to this database.
    pub fn pool(&self) -> Result<Pool, DbError> {
        Pool::new(&self.url(), &DbConfig { pool_size: 4, ..DbConfig::default() })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = connect(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}
