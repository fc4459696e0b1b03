DROP TABLE IF EXISTS collector.rate_limit_buckets;
DROP TABLE IF EXISTS collector.collection_cursors;
DROP TABLE IF EXISTS collector.backfills;
DROP TABLE IF EXISTS collector.callrecord_fetches;
ALTER TABLE collector.subscriptions DROP COLUMN verified_at;
ALTER TABLE collector.tenants DROP COLUMN feed_error;
ALTER TABLE collector.tenants DROP COLUMN feed_since;
ALTER TABLE collector.tenants DROP COLUMN feed_state;
