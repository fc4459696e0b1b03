DROP INDEX call_usage_daily_poor;
