DROP TABLE realised_savings;
DROP TABLE department_cost_daily;
DROP TABLE savings_daily;
DROP TABLE licence_cost_daily;
DROP TABLE tenant_daily;
