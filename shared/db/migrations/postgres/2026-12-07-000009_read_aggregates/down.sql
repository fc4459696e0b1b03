DROP TABLE analytics.call_usage_department_daily;
DROP TABLE analytics.pstn_department_daily;
DROP TABLE analytics.pstn_usage_tenant_daily;
DROP INDEX analytics.users_page_sign_in;
DROP TABLE analytics.finding_totals;
