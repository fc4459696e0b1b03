-- Call quality's worst users over a range sum only the user-days with poor streams.
CREATE INDEX call_usage_daily_poor ON call_usage_daily (tenant_id, day, user_id) WHERE poor_streams > 0;
