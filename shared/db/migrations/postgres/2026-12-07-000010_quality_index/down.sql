DROP INDEX analytics.call_usage_daily_poor;
