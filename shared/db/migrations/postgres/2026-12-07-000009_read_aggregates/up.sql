-- Aggregates the portal reads instead of grouping raw rows on every request.

-- The tenant's current findings summed per kind, effect, SKU ('' for findings without one) and currency ('' where
-- sua knows no price). Written with the findings, in the same transaction, so it always equals them; the
-- dashboard, licences and operator summary read a few dozen rows instead of grouping every finding.
CREATE TABLE analytics.finding_totals (
    tenant_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    effect        TEXT NOT NULL,
    sku_id        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    findings      BIGINT NOT NULL,
    units         BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, effect, sku_id, currency)
);
INSERT INTO analytics.finding_totals
SELECT tenant_id, kind, effect, COALESCE(sku_id, ''), COALESCE(currency, ''), COUNT(*), SUM(units),
       COALESCE(SUM(amount_minor), 0)
FROM analytics.findings
GROUP BY tenant_id, kind, effect, COALESCE(sku_id, ''), COALESCE(currency, '');

-- Users pages sorted by last sign-in (never signed in first, ascending) walk this index with a keyset cursor;
-- descending is the same index read backwards.
CREATE INDEX users_page_sign_in ON analytics.users (run_id, last_successful_sign_in NULLS FIRST, id);

-- PSTN and Direct Routing use per tenant and day: pstn_usage_daily summed over users, rebuilt with it, so trends
-- and the daily PSTN view read one row per day, source and currency.
CREATE TABLE analytics.pstn_usage_tenant_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    source        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    charge_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, source, currency)
);
INSERT INTO analytics.pstn_usage_tenant_daily
SELECT tenant_id, day, source, currency, SUM(calls), SUM(seconds), SUM(charge_minor)
FROM analytics.pstn_usage_daily
GROUP BY tenant_id, day, source, currency;

-- PSTN and Direct Routing use per tenant, day and department (the chargeback's calling side): pstn_usage_daily with
-- each user's department in the snapshot `run_id` ('' when there was none yet). Rebuilt with the day's rollups, and
-- for the current month (and any day counted without a snapshot) when a new snapshot becomes current, so a month
-- is charged to the departments of its latest snapshot.
CREATE TABLE analytics.pstn_department_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    department    TEXT NOT NULL,
    source        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    charge_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, department, source, currency)
);
INSERT INTO analytics.pstn_department_daily
SELECT d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency, COALESCE(MAX(s.run_id), ''),
       SUM(d.calls), SUM(d.seconds), SUM(d.charge_minor)
FROM analytics.pstn_usage_daily d
LEFT JOIN analytics.snapshots s ON s.tenant_id = d.tenant_id AND s.state = 'current'
LEFT JOIN analytics.users u ON u.run_id = s.run_id AND u.id = d.user_id
GROUP BY d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency;

-- Call use per tenant, day and department, attributed as pstn_department_daily is: the department usage view reads
-- one row per day and department instead of every user's day.
CREATE TABLE analytics.call_usage_department_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    department    TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    group_calls   BIGINT NOT NULL,
    peer_calls    BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    video_calls   BIGINT NOT NULL,
    pstn_calls    BIGINT NOT NULL,
    streams       BIGINT NOT NULL,
    poor_streams  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, department)
);
INSERT INTO analytics.call_usage_department_daily
SELECT d.tenant_id, d.day, COALESCE(u.department, ''), COALESCE(MAX(s.run_id), ''), SUM(d.calls), SUM(d.group_calls),
       SUM(d.peer_calls), SUM(d.seconds), SUM(d.video_calls), SUM(d.pstn_calls), SUM(d.streams), SUM(d.poor_streams)
FROM analytics.call_usage_daily d
LEFT JOIN analytics.snapshots s ON s.tenant_id = d.tenant_id AND s.state = 'current'
LEFT JOIN analytics.users u ON u.run_id = s.run_id AND u.id = d.user_id
GROUP BY d.tenant_id, d.day, COALESCE(u.department, '');
