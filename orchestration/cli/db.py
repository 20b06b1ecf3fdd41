"""`mellanrum db`: the publication database ($MELLANRUM_DATABASE_URL) for its operator.

- `db prepare` checks (and where it may, makes) what the publishing role needs on
  PostgreSQL: the schemas `published` and `internal`, owned by it, and one role per
  recipient; `--print-sql` prints the SQL a superuser runs to create those roles.
- `db psql` opens psql on the same database without the password on any command line:
  psql gets the URL without it, and the password in a temporary file only the user can
  read (PGPASSFILE), removed when psql ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from orchestration.cli.options import echo_table
from orchestration.settings import Settings
from schemas.errors import ConfigError, MellanrumError
from schemas.recipients import load_recipients

_home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path),
    help="Mellanrum home (default: $MELLANRUM_HOME); the database is $MELLANRUM_DATABASE_URL or its published.sqlite.",
)  # fmt: skip


@click.group()
def db() -> None:
    """The publication database: prepare it, or open psql on it.

    \b
    Examples:
      mellanrum db prepare --print-sql      # SQL for a superuser: one role per recipient
      mellanrum db prepare                  # as the publisher: check (and make) what it needs
      mellanrum db psql -c "SELECT count(*) FROM published.publication_log"
    """


def _url(home: Path | None) -> str:
    return Settings.load(home=home).publication_database_url()


def libpq_url(url: str) -> tuple[str, str | None]:
    """A SQLAlchemy PostgreSQL URL as a libpq connection URI without its password, and the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"the publication database is {parsed.get_backend_name()} "
                          f"({parsed.render_as_string(hide_password=True)}), not PostgreSQL; for SQLite use "
                          f"sqlite3 {parsed.database or ''}".rstrip())  # fmt: skip
    bare = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                      database=parsed.database, query=parsed.query)  # fmt: skip
    return bare.render_as_string(hide_password=False), parsed.password


_SECRET_VARIABLES = ("MELLANRUM_DATABASE_URL", "MELLANRUM_KEYRING_PASSPHRASE", "MELLANRUM_PACKAGE_PASSPHRASE",
                     "MELLANRUM_RECIPIENT_PASSPHRASE", "DAGSTER_PG_PASSWORD")


def _pgpass_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


@db.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_home_option
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(home: Path | None, psql_args: tuple[str, ...]) -> None:
    """Open psql on the publication database ($MELLANRUM_DATABASE_URL), passing PSQL_ARGS on.

    The password never reaches a command line or psql's environment: psql gets the URL
    without it (host, port, database, user and options such as sslmode), and the
    password in a temporary file readable only by you (PGPASSFILE), deleted when psql
    exits; Mellanrum's secret variables are left out of its environment. Exits with
    psql's exit status.

    \b
    Examples:
      mellanrum db psql                      # interactive
      mellanrum db psql -c "SELECT published_at, dataset, recipient FROM published.publication_log ORDER BY published_at"
    """
    uri, password = libpq_url(_url(home))
    program = shutil.which("psql")
    if program is None:
        raise ConfigError("psql is not installed (Debian: apt-get install postgresql-client)")
    # psql needs none of our secrets (and its \! starts a shell with its environment).
    environment = {k: v for k, v in os.environ.items() if k not in _SECRET_VARIABLES}
    passfile = None
    try:
        if password is not None:
            descriptor, passfile = tempfile.mkstemp(prefix="mellanrum-pgpass-")  # mode 0600
            with os.fdopen(descriptor, "w", encoding="utf-8") as written:
                written.write(_pgpass_line(password))
            environment["PGPASSFILE"] = passfile
            environment.pop("PGPASSWORD", None)  # it would win over the file
        process = subprocess.Popen([program, uri, *psql_args], env=environment)
        while True:
            try:
                returncode = process.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C is psql's (it cancels the query): keep waiting
                continue
    finally:
        if passfile is not None:
            Path(passfile).unlink(missing_ok=True)
    sys.exit(returncode if returncode >= 0 else 128 - returncode)


@db.command()
@click.option("--recipients", "recipients_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Recipients file (default: $MELLANRUM_RECIPIENTS, else recipients.yaml beside the sources file).")
@click.option("--print-sql", is_flag=True,
              help="Only print the SQL a database superuser runs to create the recipients' roles (no connection).")
@_home_option
def prepare(recipients_file: Path | None, print_sql: bool, home: Path | None) -> None:
    """Check the publication database is ready for the publishing role, making what it may.

    On PostgreSQL, connected as $MELLANRUM_DATABASE_URL's role (the publisher): the
    schemas `published` and `internal` exist and are its own (made if it may create
    them), and every recipient in the recipients file has its role `mellanrum_<id>`
    (made NOLOGIN if the publisher has CREATEROLE). Prints one line per check and exits
    non-zero naming what is missing and who must add it. Run it again after adding a
    recipient. With --print-sql it prints, without connecting, the SQL that creates the
    recipients' roles, for a superuser's psql:

    \b
      mellanrum db prepare --print-sql | sudo -u postgres psql -v ON_ERROR_STOP=1 -d mellanrum

    On SQLite there is nothing to prepare.
    """
    from core.database import (
        create_engine,
        ensure_schemas,
        missing_recipient_roles,
        recipient_roles_sql,
    )
    recipients = load_recipients(Settings.load(home=home, recipients=recipients_file).recipients_file)
    if print_sql:
        click.echo(recipient_roles_sql(recipients), nl=False)
        return
    url = _url(home)
    engine = create_engine(url)
    if engine.dialect.name != "postgresql":
        click.echo(f"{make_url(url).render_as_string(hide_password=True)}: SQLite, nothing to prepare")
        return
    checks = []
    try:
        with engine.begin() as connection:
            me = connection.execute(sa.text("SELECT current_user")).scalar_one()
            can_create_roles = connection.execute(
                sa.text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one()
            ensure_schemas(connection)
            owners = dict(connection.execute(sa.text(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('published', 'internal')"
            )).all())  # fmt: skip
            for schema in ("published", "internal"):
                owner = owners.get(schema)
                checks.append({"check": f"schema {schema} is the publisher's", "ok": owner == me,
                               "fix": "" if owner == me else f"ALTER SCHEMA {schema} OWNER TO {me} (as its owner {owner})"})
            missing = missing_recipient_roles(connection, recipients)
            if missing and can_create_roles:
                for role in missing:
                    connection.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
                made, missing = missing, []
            else:
                made = []
            for recipient in recipients.all:
                absent = recipient.role in missing
                checks.append({"check": f"role {recipient.role} exists" + (" (made now)" if recipient.role in made else ""),
                               "ok": not absent,
                               "fix": "mellanrum db prepare --print-sql | psql as a superuser" if absent else ""})
    finally:
        engine.dispose()
    echo_table([{**c, "ok": "yes" if c["ok"] else "NO"} for c in checks])
    failed = [c["check"] for c in checks if not c["ok"]]
    if failed:
        raise MellanrumError(f"the publication database is not ready for role {me!r}: {'; '.join(failed)} failed "
                             "(see the fix column)")  # fmt: skip
    click.echo(f"\nthe publication database is ready for {me!r}: schemas published and internal, "
               f"{len(recipients.all)} recipient roles")
