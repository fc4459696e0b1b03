-- Secrets of this installation that every process shares, made once by `sua migrate`: the key that signs the
-- state of consent links, so a link printed by `sua invite` or portal-api is accepted by every collector.
CREATE TABLE collector.installation (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
-- gen_random_uuid() draws from PostgreSQL's strong random source: two of them give 244 random bits.
INSERT INTO collector.installation (name, value)
VALUES ('state_signing_key',
        replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''));
