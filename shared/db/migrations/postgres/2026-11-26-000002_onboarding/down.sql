ALTER TABLE collector.tenants DROP COLUMN invitation_id;
DROP TABLE IF EXISTS collector.rate_limit_grants;
DROP TABLE IF EXISTS collector.rate_limit_keys;
DROP TABLE IF EXISTS collector.invitations;
