-- Secrets of this installation that every process shares, made once by `sua migrate`: the key that signs the
-- state of consent links, so a link printed by `sua invite` or portal-api is accepted by every collector.
CREATE TABLE installation (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- randomblob() draws from SQLite's cryptographic pseudo-random generator.
INSERT INTO installation (name, value) VALUES ('state_signing_key', lower(hex(randomblob(32))));
