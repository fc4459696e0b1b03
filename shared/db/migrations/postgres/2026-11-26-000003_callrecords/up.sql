-- Health of each tenant's call-record feed (the Graph subscription): healthy, degraded, down, or not_collected
-- (no permission); `feed_since` is when it entered that state, `feed_error` why it is not healthy.
ALTER TABLE collector.tenants ADD COLUMN feed_state TEXT NOT NULL DEFAULT 'not_collected';
ALTER TABLE collector.tenants ADD COLUMN feed_since TIMESTAMP;
ALTER TABLE collector.tenants ADD COLUMN feed_error TEXT;

-- When a subscription was last known to exist at Graph (created, renewed or read back).
ALTER TABLE collector.subscriptions ADD COLUMN verified_at TIMESTAMP;

-- Call records fetched (newest version), so duplicate notifications and backfills fetch each record once.
CREATE TABLE collector.callrecord_fetches (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    version     BIGINT NOT NULL,
    start_at    TIMESTAMP,
    fetched_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Backfills of call records by LIST (first consent, subscription gaps, `sua backfill`).
CREATE TABLE collector.backfills (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    window_from  TIMESTAMP NOT NULL,
    window_to    TIMESTAMP NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL,          -- queued | running | completed | failed
    listed       INTEGER NOT NULL DEFAULT 0,
    queued       INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    error        TEXT
);
CREATE INDEX backfills_tenant ON collector.backfills (tenant_id, created_at);

-- How far a tenant's PSTN and Direct Routing logs are collected.
CREATE TABLE collector.collection_cursors (
    tenant_id        TEXT NOT NULL,
    source           TEXT NOT NULL,     -- pstn | direct_routing
    collected_until  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, source)
);

-- Token buckets shared by every replica (call records: 1,500 requests per 20 s per tenant).
CREATE TABLE collector.rate_limit_buckets (
    key         TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
