DROP TABLE analytics.call_quality_worst;
DROP TABLE analytics.call_quality_windows;
