DROP TABLE analytics.realised_savings;
DROP TABLE analytics.department_cost_daily;
DROP TABLE analytics.savings_daily;
DROP TABLE analytics.licence_cost_daily;
DROP TABLE analytics.tenant_daily;
