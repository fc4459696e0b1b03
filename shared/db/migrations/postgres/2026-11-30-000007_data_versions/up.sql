-- A counter per tenant, bumped in the transaction of every write that changes what the portal shows: a snapshot
-- made current, a day's rollups or the findings recomputed, a price or threshold changed. portal-api keys its
-- aggregate cache on it (one primary-key read per request), so every replica serves new data once it is committed.
CREATE TABLE analytics.data_versions (
    tenant_id   TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    changed_at  TIMESTAMP NOT NULL
);
