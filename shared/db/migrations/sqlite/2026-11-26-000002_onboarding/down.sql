ALTER TABLE tenants DROP COLUMN invitation_id;
DROP TABLE IF EXISTS rate_limit_grants;
DROP TABLE IF EXISTS rate_limit_keys;
DROP TABLE IF EXISTS invitations;
