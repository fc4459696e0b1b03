DROP TABLE data_versions;
