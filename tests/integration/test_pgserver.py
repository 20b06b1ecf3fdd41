"""The test PostgreSQL server (testkit/pgserver.py) is a real server with real authentication."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from testkit import pgserver


def _scalar(url: str, query: str, **params):
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar_one()
    finally:
        engine.dispose()


def test_it_is_a_real_postgresql_server_on_loopback(postgres_server):
    url = postgres_server.superuser_url()
    assert url == f"postgresql+psycopg2://postgres@127.0.0.1:{postgres_server.port}/postgres"
    assert _scalar(url, "select version()").startswith("PostgreSQL ")
    assert _scalar(url, "select host(inet_server_addr())") == "127.0.0.1"
    assert _scalar(url, "select inet_server_port()") == postgres_server.port
    assert _scalar(url, "select current_setting('listen_addresses')") == "127.0.0.1"
    assert _scalar(url, "select current_setting('server_encoding')") == "UTF8"
    assert _scalar(url, "select rolsuper from pg_roles where rolname = current_user") is True


def test_create_database_gives_a_fresh_database(postgres_server):
    url = postgres_server.create_database("pgserver_fresh")
    assert url.endswith(f":{postgres_server.port}/pgserver_fresh")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert conn.execute(sa.text("select current_database()")).scalar_one() == "pgserver_fresh"
        conn.execute(sa.text("create table leftover (id int)"))
    # Still connected: create_database drops it anyway, and the new one is empty.
    with engine.connect() as conn:
        url_again = postgres_server.create_database("pgserver_fresh")
    engine.dispose()
    assert url_again == url
    assert _scalar(url, "select count(*) from pg_tables where tablename = 'leftover'") == 0


def test_a_login_role_connects_with_its_scram_password(postgres_server):
    postgres_server.create_role("pgserver_app", "s3cret: p@ss/word")
    url = postgres_server.url_for("pgserver_app", "s3cret: p@ss/word", "postgres")
    assert _scalar(url, "select current_user") == "pgserver_app"
    assert _scalar(url, "select rolsuper from pg_roles where rolname = current_user") is False
    stored = _scalar(
        postgres_server.superuser_url(),
        "select rolpassword from pg_authid where rolname = :name",
        name="pgserver_app",
    )
    assert stored.startswith("SCRAM-SHA-256$")


def test_roles_other_than_the_superuser_need_their_password(postgres_server):
    postgres_server.create_role("pgserver_pw", "right password")
    with pytest.raises(OperationalError, match="password authentication failed"):
        _scalar(postgres_server.url_for("pgserver_pw", "wrong password", "postgres"), "select 1")
    with pytest.raises(OperationalError, match="password"):  # no password: refused, not trusted
        _scalar(postgres_server.url_for("pgserver_pw", None, "postgres"), "select 1")
    methods = _scalar(
        postgres_server.superuser_url(),
        "select string_agg(type || ' ' || array_to_string(user_name, ',') || ' ' || auth_method,"
        " '; ' order by line_number) from pg_hba_file_rules",
    )
    assert methods == (
        "local postgres trust; host postgres trust; local all scram-sha-256; host all scram-sha-256"
    )


def test_a_role_without_privileges_is_refused_reading_a_table(postgres_server):
    admin_url = postgres_server.create_database("pgserver_privileges")
    engine = sa.create_engine(admin_url)
    with engine.begin() as conn:
        conn.execute(sa.text("create table published (id int primary key, note text)"))
        conn.execute(sa.text("insert into published values (1, 'hello')"))
    postgres_server.create_role("pgserver_reader", "reader password")
    reader_url = postgres_server.url_for("pgserver_reader", "reader password", "pgserver_privileges")

    with pytest.raises(ProgrammingError, match="permission denied for table published"):
        _scalar(reader_url, "select note from published")

    with engine.begin() as conn:
        conn.execute(sa.text("grant select on published to pgserver_reader"))
    engine.dispose()
    assert _scalar(reader_url, "select note from published") == "hello"


def _fake_bindir(root, version):
    bindir = root / version / "bin"
    bindir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return bindir


def test_binaries_come_from_the_newest_debian_version_when_not_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pgserver, "DEBIAN_LIB", tmp_path)
    for version in ("9.6", "15", "16"):
        _fake_bindir(tmp_path, version)
    (tmp_path / "17" / "bin").mkdir(parents=True)  # a leftover without binaries
    assert pgserver.find_binaries() == tmp_path / "16" / "bin"

    monkeypatch.setenv("PATH", str(_fake_bindir(tmp_path / "path", "12")))
    assert pgserver.find_binaries() == tmp_path / "path" / "12" / "bin"


def test_missing_binaries_fail_with_the_debian_package_name(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pgserver, "DEBIAN_LIB", tmp_path / "nothing")
    with pytest.raises(pytest.fail.Exception, match="Install the Debian package 'postgresql'"):
        pgserver.find_binaries()
