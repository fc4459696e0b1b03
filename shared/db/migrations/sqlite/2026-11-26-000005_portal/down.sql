DROP INDEX IF EXISTS call_usage_daily_user;
DROP INDEX IF EXISTS findings_sku;
DROP INDEX IF EXISTS users_page_name;
DROP TABLE IF EXISTS audit_log;
