-- The publication database (MELLANRUM_DATABASE_URL) and the role that publishes to it
-- (docs/deployment.md, "Databases"). Run once as a PostgreSQL superuser, then set the
-- publisher's password by typing it:
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f deploy/sql/publication-database.sql
--   sudo -u postgres psql -c '\password mellanrum_publisher'
--
-- The password goes into MELLANRUM_DATABASE_URL in /etc/mellanrum/pipeline.env.
--
-- What the publisher may do, and why no more: it owns the two schemas, so it creates,
-- replaces and grants its own tables, with row-level security per recipient. It cannot
-- create roles: CREATEROLE would let it change every other non-superuser role on the
-- server, the instance's included. The recipients' roles (one per entry of
-- recipients.yaml, mellanrum_<id>, NOLOGIN) are made by a superuser instead, from the
-- recipients file, now and after a recipient is added:
--
--   sudo deploy/bin/mellanrum-as-service db prepare --print-sql \
--     | sudo -u postgres psql -v ON_ERROR_STOP=1 -d mellanrum
--
-- Without them, or without these schemas, a publication fails with one sentence naming
-- the missing right; `mellanrum db prepare` checks all of it as the publisher.

CREATE ROLE mellanrum_publisher LOGIN;
CREATE DATABASE mellanrum;
-- published_at is a timestamp with time zone: psql shows it in UTC, as the log means it.
ALTER DATABASE mellanrum SET timezone TO 'UTC';

\connect mellanrum
-- published: the contracts' datasets and the publication log, each recipient its own rows;
-- internal: the steward's tables (overlaps, quarantine), granted to no recipient.
CREATE SCHEMA published AUTHORIZATION mellanrum_publisher;
CREATE SCHEMA internal AUTHORIZATION mellanrum_publisher;
REVOKE ALL ON SCHEMA published, internal FROM PUBLIC;
