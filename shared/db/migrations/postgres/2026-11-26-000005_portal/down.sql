DROP INDEX IF EXISTS analytics.call_usage_daily_user;
DROP INDEX IF EXISTS analytics.findings_sku;
DROP INDEX IF EXISTS analytics.users_page_name;
DROP TABLE IF EXISTS portal.audit_log;
