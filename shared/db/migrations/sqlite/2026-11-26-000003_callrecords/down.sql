DROP TABLE IF EXISTS rate_limit_buckets;
DROP TABLE IF EXISTS collection_cursors;
DROP TABLE IF EXISTS backfills;
DROP TABLE IF EXISTS callrecord_fetches;
ALTER TABLE subscriptions DROP COLUMN verified_at;
ALTER TABLE tenants DROP COLUMN feed_error;
ALTER TABLE tenants DROP COLUMN feed_since;
ALTER TABLE tenants DROP COLUMN feed_state;
