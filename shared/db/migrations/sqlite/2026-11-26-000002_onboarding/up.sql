-- Consent invitations an operator sends to a customer admin. The link's `state` carries the invitation id,
-- signed and expiring; the invitation records which tenant finally consented.
CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    customer_name   TEXT NOT NULL,
    admin_email     TEXT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    emailed_at      TIMESTAMP,
    email_error     TEXT,
    tenant_id       TEXT,
    consented_at    TIMESTAMP
);
CREATE INDEX invitations_tenant ON invitations (tenant_id);

-- Grants of limiters shared by every collector replica (e.g. signInActivity: 10 per minute per app across
-- all tenants). A row per grant; holders of the key's lock count the grants inside the window.
CREATE TABLE rate_limit_keys (
    key TEXT PRIMARY KEY
);
CREATE TABLE rate_limit_grants (
    key         TEXT NOT NULL REFERENCES rate_limit_keys (key),
    granted_at  TIMESTAMP NOT NULL
);
CREATE INDEX rate_limit_grants_key_time ON rate_limit_grants (key, granted_at);

ALTER TABLE tenants ADD COLUMN invitation_id TEXT;
