DROP TABLE analytics.data_versions;
