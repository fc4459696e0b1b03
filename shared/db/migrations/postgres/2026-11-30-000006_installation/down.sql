DROP TABLE collector.installation;
