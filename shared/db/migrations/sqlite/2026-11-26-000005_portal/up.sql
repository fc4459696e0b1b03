-- portal: the audit log of writes made through portal-api (price overrides, thresholds, invitations).
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TIMESTAMP NOT NULL,
    tenant_id    TEXT,
    actor_tenant TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    before       TEXT,
    after        TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);
CREATE INDEX users_page_name ON users (run_id, display_name, id);
CREATE INDEX findings_sku ON findings (tenant_id, sku_id);
-- Call usage per user, paged by user id: groups come out of the index in order, so a page stops early.
CREATE INDEX call_usage_daily_user ON call_usage_daily (tenant_id, user_id, day);
