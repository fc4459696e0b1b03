-- Call quality's worst users over a range (sua_db::views::worst_quality_users) sum only the user-days with poor
-- streams: an index-only scan over those, instead of every user-day of the range.
CREATE INDEX call_usage_daily_poor ON analytics.call_usage_daily (tenant_id, day)
    INCLUDE (user_id, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls, streams, poor_streams)
    WHERE poor_streams > 0;
