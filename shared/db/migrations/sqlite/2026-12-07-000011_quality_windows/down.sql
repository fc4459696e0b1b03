DROP TABLE call_quality_worst;
DROP TABLE call_quality_windows;
