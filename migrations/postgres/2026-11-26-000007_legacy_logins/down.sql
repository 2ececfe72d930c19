DROP TABLE legacy_logins;
