DROP TABLE call_usage_department_daily;
DROP TABLE pstn_department_daily;
DROP TABLE pstn_usage_tenant_daily;
DROP INDEX users_page_sign_in;
DROP TABLE finding_totals;
