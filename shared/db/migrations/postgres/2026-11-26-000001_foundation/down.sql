DROP TABLE IF EXISTS analytics.call_records;
DROP TABLE IF EXISTS collector.subscriptions;
DROP TABLE IF EXISTS collector.sync_runs;
DROP TABLE IF EXISTS collector.tenants;
DROP SCHEMA IF EXISTS portal;
DROP SCHEMA IF EXISTS analytics;
DROP SCHEMA IF EXISTS collector;
