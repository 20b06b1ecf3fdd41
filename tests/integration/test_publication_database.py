"""The publication database for its operator: a publisher without a right it needs gets one
sentence naming it, `mellanrum db prepare` checks and makes what it may, `mellanrum db psql`
keeps the password off every command line, `mellanrum checksum` proves what a recipient was
given, and `mellanrum recipient-key register` puts a public key where `export` finds it.

A small publication is made directly (core.database), on SQLite and on the PostgreSQL
server of the tests, so these run in seconds. Its recipients' ids are this module's own:
roles are the server's, shared by every test database.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from core.contracts import contract
from core.database import Dataset, PrivilegeError, create_engine, replace_publication
from core.keys.sealing import key_fingerprint, new_recipient_key, public_key_text
from core.publish import conform, log_rows
from orchestration.cli import cli
from schemas.recipients import load_recipients

AS_OF = dt.date(2026, 11, 23)
PUBLISHED_AT = dt.datetime(2026, 11, 23, 2, 14, 7, tzinfo=dt.UTC)
PUBLISHER, PUBLISHER_PASSWORD = "mellanrum_test_publisher", "pub:lisher's \\ password"
RECIPIENTS = """\
version: 1
# Who receives what (a comment that must survive an edit).
recipients:
  - id: test_goteborg
    kind: kommun
    kommunkod: "1480"        # Göteborg
  - id: test_molndal
    kind: kommun
    kommunkod: "1481"
  - id: test_region
    kind: region
"""
VENV_BIN = Path(sys.executable).parent


def kommun_rows() -> pd.DataFrame:
    day = pd.Timestamp("2026-11-02")
    rows = pd.DataFrame({
        "kommunkod": ["1480", "1480", "1481"], "record_id": ["G-1", "G-2", "M-1"], "insats_code": ["AT", "PRA", "AT"],
        "af_category": ["KROM", "KROM", "ETABLERING"], "af_office": ["Arbetsförmedlingen Göteborg City"] * 3,
        "overlap_start": [day, day, day], "overlap_end": [pd.NaT, day, pd.NaT],
        "classification": ["conflict", "parallel", "conflict"], "interruption_risk": [True, False, False],
        "upcoming": [False, False, True],
    })  # fmt: skip
    rows[["overlap_start", "overlap_end"]] = rows[["overlap_start", "overlap_end"]].astype("datetime64[s]")
    return conform(rows, contract("kommun_samplanering"))


def publish(engine, recipients_file: Path, with_grants: bool = True) -> None:
    recipients = load_recipients(recipients_file)
    frame = kommun_rows()
    declared = contract("kommun_samplanering")
    log = log_rows({"kommun_samplanering": frame}, {declared.name: declared}, recipients.all, run_id="run-1",
                   as_of=AS_OF, key_ids=["L1-T+L2-T"], published_at=PUBLISHED_AT)  # fmt: skip
    replace_publication(engine, [Dataset(declared.name, "published", declared.model, frame, declared.recipient_kind,
                                         declared.recipient_column)], log, recipients if with_grants else None)  # fmt: skip


@pytest.fixture
def recipients_file(tmp_path) -> Path:
    path = tmp_path / "inbox" / "recipients.yaml"
    path.parent.mkdir()
    path.write_text(RECIPIENTS, encoding="utf-8")
    return path


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(cli, args, env={"MELLANRUM_DATABASE_URL": None, "MELLANRUM_RECIPIENTS": None, **env},
                              catch_exceptions=False)  # fmt: skip


@pytest.fixture
def publisher_database(postgres_server):
    """A database owned by the superuser, where a publisher role with a password, no
    CREATEROLE and no CREATE on the database publishes: what deploy/sql/ leaves before the
    schemas and the recipients' roles exist."""
    postgres_server.create_role(PUBLISHER, PUBLISHER_PASSWORD)
    postgres_server.create_database("mellanrum_rights")
    with postgres_server.connect() as connection, connection.cursor() as cursor:
        for role in ("mellanrum_test_goteborg", "mellanrum_test_molndal", "mellanrum_test_region"):
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
    url = postgres_server.url_for(PUBLISHER, PUBLISHER_PASSWORD, "mellanrum_rights")
    engine = create_engine(url)
    yield {"url": url, "engine": engine, "server": postgres_server}
    engine.dispose()
    with postgres_server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS mellanrum_rights WITH (FORCE)")
        for role in ("mellanrum_test_goteborg", "mellanrum_test_molndal", "mellanrum_test_region"):
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


def as_superuser(server, statements: str, database: str = "mellanrum_rights") -> None:
    with server.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(statements)


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.count(": ") <= 2
    assert "permission denied" not in message and "must be owner" not in message  # never the server's words


# --- rights the publisher lacks ---------------------------------------------------------------


def test_without_the_schemas_the_publication_names_the_right_and_the_setup_sql(publisher_database, recipients_file):
    with pytest.raises(PrivilegeError) as refused:
        publish(publisher_database["engine"], recipients_file)
    message = str(refused.value)
    one_sentence(message)
    assert message.startswith(f"the database role '{PUBLISHER}' lacks the right to create schema published")
    assert "SQLSTATE 42501" in message and "deploy/sql/publication-database.sql" in message


def test_without_the_recipients_roles_the_publication_names_createrole_and_the_fix(publisher_database,
                                                                                     recipients_file):  # fmt: skip
    as_superuser(publisher_database["server"], f"CREATE SCHEMA published AUTHORIZATION {PUBLISHER}; "
                                               f"CREATE SCHEMA internal AUTHORIZATION {PUBLISHER}")  # fmt: skip
    with pytest.raises(PrivilegeError) as refused:
        publish(publisher_database["engine"], recipients_file)
    message = str(refused.value)
    one_sentence(message)
    assert "lacks the right to create the recipients' roles (CREATEROLE; mellanrum_test_goteborg does not exist)" in message
    assert "mellanrum db prepare --print-sql" in message
    # Nothing of the failed publication stays.
    with publisher_database["engine"].connect() as connection:
        assert not sa.inspect(connection).get_table_names(schema="published")


def test_db_prepare_names_what_is_missing_then_the_printed_sql_makes_it_and_publishing_works(
        publisher_database, recipients_file):  # fmt: skip
    server, url = publisher_database["server"], publisher_database["url"]
    as_superuser(server, f"CREATE SCHEMA published AUTHORIZATION {PUBLISHER}; CREATE SCHEMA internal")
    env = {"MELLANRUM_DATABASE_URL": url, "MELLANRUM_RECIPIENTS": str(recipients_file)}
    checked = invoke(["db", "prepare"], **env)
    assert checked.exit_code == 2
    assert "schema internal is the publisher's" in checked.output and "NO" in checked.output
    assert "role mellanrum_test_goteborg exists" in checked.output
    assert checked.output.strip().splitlines()[-1].startswith(
        f"mellanrum: error: the publication database is not ready for role '{PUBLISHER}'")

    printed = invoke(["db", "prepare", "--print-sql", "--recipients", str(recipients_file)])
    assert printed.exit_code == 0 and printed.output.count("CREATE ROLE") == 3
    for _ in range(2):  # idempotent: again after a recipient is added
        done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-h", server.host, "-p", str(server.port), "-U",
                               "postgres", "-d", "mellanrum_rights"], input=printed.output, capture_output=True,
                              text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
    as_superuser(server, f"ALTER SCHEMA internal OWNER TO {PUBLISHER}")
    ready = invoke(["db", "prepare"], **env)
    assert ready.exit_code == 0, ready.output
    assert f"the publication database is ready for '{PUBLISHER}'" in ready.output
    publish(publisher_database["engine"], recipients_file)  # no CREATEROLE needed now


def test_db_prepare_on_sqlite_has_nothing_to_do(tmp_path, recipients_file):
    done = invoke(["db", "prepare", "--home", str(tmp_path)], MELLANRUM_RECIPIENTS=str(recipients_file))
    assert done.exit_code == 0 and "SQLite, nothing to prepare" in done.output


# --- psql without the password on a command line -----------------------------------------------


def test_db_psql_connects_with_the_password_in_a_private_file_never_on_a_command_line(publisher_database,
                                                                                       tmp_path):  # fmt: skip
    url = publisher_database["url"]
    env = {**os.environ, "MELLANRUM_DATABASE_URL": url}
    env.pop("PGPASSWORD", None)
    real = subprocess.run([str(VENV_BIN / "mellanrum"), "db", "psql", "-tA", "-c", "SELECT current_user"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip() == PUBLISHER

    # A psql that records what it was given: argv, environment, the password file.
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    record = tmp_path / "record.txt"
    (spy_dir / "psql").write_text(f"""#!/bin/sh
{{ printf 'argv:%s\\n' "$*"; env | sed 's/^/env:/'; printf 'mode:%s\\n' "$(stat -c %a "$PGPASSFILE")";
   printf 'file:%s\\n' "$(cat "$PGPASSFILE")"; printf 'path:%s\\n' "$PGPASSFILE"; }} > {record}
exit 3
""")
    (spy_dir / "psql").chmod(0o755)
    spied = subprocess.run([str(VENV_BIN / "mellanrum"), "db", "psql", "-c", "SELECT 1"],
                           env={**env, "PATH": f"{spy_dir}:{env['PATH']}"}, capture_output=True, text=True)
    assert spied.returncode == 3  # psql's own exit status
    lines = record.read_text().splitlines()
    argv = next(line for line in lines if line.startswith("argv:"))
    environment = [line for line in lines if line.startswith("env:")]
    assert PUBLISHER_PASSWORD not in argv and "pub%3Alisher" not in argv
    assert argv.startswith(f"argv:postgresql://{PUBLISHER}@") and argv.endswith("/mellanrum_rights -c SELECT 1")
    assert not any(PUBLISHER_PASSWORD in line or "pub%3Alisher" in line for line in environment)
    assert not any(line.startswith("env:PGPASSWORD=") for line in environment)
    assert "mode:600" in lines
    assert "file:*:*:*:*:pub\\:lisher's \\\\ password" in lines  # libpq's escapes for ':' and '\'
    used = Path(next(line for line in lines if line.startswith("path:")).removeprefix("path:"))
    assert not used.exists()  # removed when psql ended


def test_db_psql_on_sqlite_says_to_use_sqlite3(tmp_path):
    done = invoke(["db", "psql", "--home", str(tmp_path)])
    assert done.exit_code == 2 and "not PostgreSQL; for SQLite use sqlite3" in done.output


# --- checksums ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def published(request, tmp_path, recipients_file):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'published.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("mellanrum_checksum")
    engine = create_engine(url)
    publish(engine, recipients_file, with_grants=False)
    yield {"engine": engine, "env": {"MELLANRUM_DATABASE_URL": url, "MELLANRUM_RECIPIENTS": str(recipients_file)}}
    engine.dispose()


def test_checksum_recomputes_a_recipients_rows_and_matches_the_log(published):
    done = invoke(["checksum", "--recipient", "test_goteborg"], **published["env"])
    assert done.exit_code == 0, done.output
    assert "kommun_samplanering" in done.output and "2026-11-23 02:14:07 database" in done.output
    assert "every checksum of test_goteborg matches its latest log entry" in done.output
    assert "G-1" not in done.output  # counts and checksums, never a row


def test_checksum_exits_1_naming_the_dataset_when_the_rows_changed(published):
    table = "published.kommun_samplanering" if published["engine"].dialect.name == "postgresql" else "kommun_samplanering"
    with published["engine"].begin() as connection:
        connection.execute(sa.text(f"UPDATE {table} SET insats_code = 'EXTRA' WHERE record_id = 'G-2'"))
    done = invoke(["checksum", "--recipient", "test_goteborg", "--dataset", "kommun_samplanering"], **published["env"])
    assert done.exit_code == 1
    assert "NO (logged" in done.output and "differ from the latest logged publication to test_goteborg" in done.output
    assert invoke(["checksum", "--recipient", "test_molndal"], **published["env"]).exit_code == 0  # its rows are as logged


def test_checksum_of_an_unknown_dataset_or_recipient_is_one_sentence(published):
    wrong = invoke(["checksum", "--recipient", "test_goteborg", "--dataset", "af_samplanering"], **published["env"])
    assert wrong.exit_code == 2 and "receives kommun_samplanering" in wrong.output
    unknown = invoke(["checksum", "--recipient", "nobody"], **published["env"])
    assert unknown.exit_code == 2 and "no recipient with id 'nobody'" in unknown.output


# --- registering a recipient's public key --------------------------------------------------------


def test_register_puts_the_key_in_the_recipients_entry_keeping_comments(recipients_file, tmp_path):
    private = new_recipient_key()
    key = public_key_text(private.public_key())
    done = invoke(["recipient-key", "register", "--recipient", "test_goteborg", key,
                   "--recipients", str(recipients_file)])  # fmt: skip
    assert done.exit_code == 0, done.output
    text = recipients_file.read_text(encoding="utf-8")
    assert "# Who receives what" in text and '"1480"        # Göteborg' in text
    assert load_recipients(recipients_file).get("test_goteborg").public_key == key
    assert load_recipients(recipients_file).get("test_molndal").public_key is None
    assert f"fingerprint {key_fingerprint(private.public_key())}" in done.output  # to confirm by phone

    replaced = public_key_text(new_recipient_key().public_key())
    assert invoke(["recipient-key", "register", "--recipient", "test_goteborg", replaced],
                  MELLANRUM_RECIPIENTS=str(recipients_file)).exit_code == 0  # fmt: skip
    assert load_recipients(recipients_file).get("test_goteborg").public_key == replaced
    assert recipients_file.read_text(encoding="utf-8").count("public_key:") == 1


def test_register_refuses_an_unknown_recipient_or_a_malformed_key_and_changes_nothing(recipients_file):
    key = public_key_text(new_recipient_key().public_key())
    unknown = invoke(["recipient-key", "register", "--recipient", "kommun_9999", key,
                      "--recipients", str(recipients_file)])  # fmt: skip
    assert unknown.exit_code == 2 and "no recipient with id 'kommun_9999'" in unknown.output
    malformed = invoke(["recipient-key", "register", "--recipient", "test_goteborg", "mellanrum-x25519:short",
                        "--recipients", str(recipients_file)])  # fmt: skip
    assert malformed.exit_code == 2 and "expected one line 'mellanrum-x25519:'" in malformed.output
    assert recipients_file.read_text(encoding="utf-8") == RECIPIENTS


def test_an_export_after_register_is_sealed_to_that_key(published, recipients_file, tmp_path):
    private = new_recipient_key()
    key = public_key_text(private.public_key())
    assert invoke(["recipient-key", "register", "--recipient", "test_goteborg", key], **published["env"]).exit_code == 0
    out = tmp_path / "test_goteborg.sealed"
    exported = invoke(["export", "--recipient", "test_goteborg", "--out", str(out)], **published["env"])
    assert exported.exit_code == 0, exported.output
    assert key_fingerprint(private.public_key())[:16] in exported.output
    assert yaml.safe_load(recipients_file.read_text(encoding="utf-8"))["version"] == 1
