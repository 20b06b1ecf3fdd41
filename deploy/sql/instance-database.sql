-- The Dagster instance's database and its role (docs/deployment.md, "Databases"); nothing
-- else uses them. Run once as a PostgreSQL superuser, then set the role's password by
-- typing it (\password sends it hashed, and it reaches no command line or history):
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f deploy/sql/instance-database.sql
--   sudo -u postgres psql -c '\password dagster'
--
-- The same password goes into DAGSTER_PG_PASSWORD in /etc/mellanrum/instance.env.

CREATE ROLE dagster LOGIN;
CREATE DATABASE dagster OWNER dagster;
-- Dagster stores times without a zone, as UTC.
ALTER DATABASE dagster SET timezone TO 'UTC';
