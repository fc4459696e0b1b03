-- portal: the audit log of writes made through portal-api (price overrides, thresholds, invitations).
CREATE TABLE portal.audit_log (
    seq          BIGSERIAL PRIMARY KEY,
    at           TIMESTAMP NOT NULL,
    tenant_id    TEXT,                            -- the customer tenant written to; NULL for operator-wide writes
    actor_tenant TEXT NOT NULL,                   -- the signed-in user's tid
    actor_id     TEXT NOT NULL,                   -- the user's oid
    actor_name   TEXT NOT NULL,                   -- preferred_username, as the token said
    action       TEXT NOT NULL,                   -- price.set | price.delete | settings.set | invitation.create
    target       TEXT NOT NULL,                   -- e.g. the skuPartNumber
    before       TEXT,                            -- JSON
    after        TEXT                             -- JSON
);
CREATE INDEX audit_log_tenant ON portal.audit_log (tenant_id, seq);
-- Users pages sorted by name or sign-in with a keyset cursor.
CREATE INDEX users_page_name ON analytics.users (run_id, display_name, id);
CREATE INDEX findings_sku ON analytics.findings (tenant_id, sku_id);
-- Call usage per user, paged by user id: groups come out of the index in order, so a page stops early.
CREATE INDEX call_usage_daily_user ON analytics.call_usage_daily (tenant_id, user_id, day);
