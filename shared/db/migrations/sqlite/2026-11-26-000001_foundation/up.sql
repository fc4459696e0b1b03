-- SQLite twin of the PostgreSQL migration of the same name (the embedded mode has no schemas; table names are
-- unique across them). Keep the two in step; a test compares the columns diesel sees on both.

-- Customer tenants and what their consent proved.
CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL DEFAULT '',
    consent_state  TEXT NOT NULL,               -- pending | granted | denied | revoked
    permissions    TEXT NOT NULL DEFAULT '{}',  -- {"User.Read.All": "granted" | "missing" | "unknown", ...}
    prerequisites  TEXT NOT NULL DEFAULT '{}',  -- {"entra_id_p1": true, ...}
    consented_at   TIMESTAMP,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- One row per tenant, kind and day: a second start of the same day's run finds it and does nothing.
CREATE TABLE sync_runs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,                 -- licence
    day          DATE NOT NULL,
    status       TEXT NOT NULL,                 -- running | completed | failed
    attempt      INTEGER NOT NULL DEFAULT 1,
    started_at   TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    error        TEXT,
    counts       TEXT,                          -- JSON summary of what was published
    UNIQUE (tenant_id, kind, day)
);
CREATE INDEX sync_runs_tenant_started ON sync_runs (tenant_id, started_at);

-- Graph change-notification subscriptions (callRecords), one live per tenant.
CREATE TABLE subscriptions (
    id                 TEXT PRIMARY KEY,        -- Graph subscription id
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    resource           TEXT NOT NULL,
    client_state_hash  TEXT NOT NULL,           -- SHA-256 of clientState; the secret itself is not stored
    status             TEXT NOT NULL,           -- active | expired | deleted
    expires_at         TIMESTAMP NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id);
CREATE INDEX subscriptions_expiry ON subscriptions (status, expires_at);

-- Call records, one row per record at its newest version; `raw` keeps the record as Graph sent it.
CREATE TABLE call_records (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       BIGINT NOT NULL,
    call_type     TEXT NOT NULL,
    start_at      TIMESTAMP NOT NULL,
    end_at        TIMESTAMP NOT NULL,
    modalities    TEXT NOT NULL,                -- comma-separated
    organizer_id  TEXT,
    raw           TEXT NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX call_records_tenant_start ON call_records (tenant_id, start_at);
