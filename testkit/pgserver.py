"""A real, throwaway PostgreSQL server for the tests (no mocks, no docker).

`postgres_server` (session scope) runs initdb into a fresh temporary directory, starts
the server with pg_ctl on 127.0.0.1 on a free port and stops it and removes the directory
at the end of the session, also when tests fail. It uses the installed binaries: `initdb`
on PATH, else the newest /usr/lib/postgresql/<version>/bin (the Debian package
`postgresql`, which `.ci/system-packages` installs).

initdb and postgres refuse to run as root; when the tests run as root the server runs as
the `postgres` system user (created by the Debian package) instead.

Authentication (pg_hba.conf): the superuser `postgres` connects without a password
(trust) over the unix socket in the temporary directory and over 127.0.0.1; every other
role needs its password (scram-sha-256). Nothing listens on any other address.

    def test_something(postgres_server):
        url = postgres_server.create_database("publish_test")   # a fresh, empty database
        engine = sqlalchemy.create_engine(url)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import URL

SUPERUSER = "postgres"
HOST = "127.0.0.1"
DEBIAN_PACKAGE = "postgresql"
DEBIAN_LIB = Path("/usr/lib/postgresql")  # Debian's /usr/lib/postgresql/<version>/bin
_BINARIES = ("initdb", "pg_ctl", "postgres")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_HBA = f"""\
# Written by testkit/pgserver.py: trust for the superuser only, passwords for everyone else.
# TYPE  DATABASE  USER        ADDRESS        METHOD
local   all       {SUPERUSER}                trust
host    all       {SUPERUSER}    {HOST}/32   trust
local   all       all                        scram-sha-256
host    all       all         {HOST}/32      scram-sha-256
"""

_SETTINGS = """
# Written by testkit/pgserver.py: a throwaway test server, durability off for speed.
listen_addresses = '{host}'
unix_socket_directories = '{socket_dir}'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 32MB
max_wal_size = 1GB
logging_collector = off
log_min_messages = warning
timezone = 'UTC'
"""


def find_binaries() -> Path:
    """The directory holding initdb, pg_ctl and postgres (PATH first, then the newest
    /usr/lib/postgresql/*/bin); pytest.fail naming the Debian package when there is none."""
    candidates: list[Path] = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(os.path.realpath(found)).parent)  # /usr/local/bin symlinks
        candidates.append(Path(found).parent)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates += sorted(DEBIAN_LIB.glob("*/bin"), key=version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _BINARIES):
            return directory
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
        f"{DEBIAN_LIB}/*/bin. Install the Debian package '{DEBIAN_PACKAGE}' "
        f"(./.ci/system-packages does it, or: apt-get install -y {DEBIAN_PACKAGE}).",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _reachable_by_others(path: Path) -> bool:
    """Whether every parent of `path` can be traversed by another user (o+x)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)


@dataclass
class PostgresServer:
    """A running server. URLs are SQLAlchemy URL strings for psycopg2."""

    host: str
    port: int
    bindir: Path
    base_dir: Path
    startup_seconds: float = 0.0
    superuser: str = SUPERUSER
    _run_as: pwd.struct_passwd | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    # --- URLs -----------------------------------------------------------------------
    def url_for(self, user: str, password: str | None, database: str = "postgres") -> str:
        """`postgresql+psycopg2://user:password@127.0.0.1:PORT/database` (password escaped)."""
        return URL.create(
            "postgresql+psycopg2",
            username=user,
            password=password,
            host=self.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def superuser_url(self, database: str = "postgres") -> str:
        """`postgresql+psycopg2://postgres@127.0.0.1:PORT/database` (no password: trust)."""
        return self.url_for(self.superuser, None, database)

    # --- administration ---------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, database: str = "postgres"):
        """A raw psycopg2 superuser connection in autocommit mode (for administration)."""
        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.superuser, dbname=database
        )
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def create_database(self, name: str, owner: str | None = None) -> str:
        """A fresh, empty database `name` (dropped first if it exists); its superuser URL."""
        _check_identifier(name)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if owner is not None:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            cur.execute(statement)
        return self.superuser_url(name)

    def create_role(self, name: str, password: str, login: bool = True) -> None:
        """A role (dropped first if it exists, with what it owns) with a scram password."""
        _check_identifier(name)
        if name == self.superuser:
            raise ValueError("create_role: refusing to replace the superuser")
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datallowconn")
            databases = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            if cur.fetchone():
                for database in databases:  # a role that owns objects cannot be dropped
                    with self.connect(database) as other, other.cursor() as ocur:
                        ocur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
            cur.execute(
                sql.SQL("CREATE ROLE {} WITH {} PASSWORD %s").format(
                    sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN")
                ),
                (password,),
            )

    # --- lifecycle --------------------------------------------------------------------
    def _run(self, *args: str | Path, check: bool = True, timeout: float = 60):
        kwargs: dict = {}
        if self._run_as is not None:  # root: drop to the postgres system user
            kwargs = dict(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self._run_as is not None:
            env.update(HOME=self._run_as.pw_dir, USER=self._run_as.pw_name, LOGNAME=self._run_as.pw_name)
        result = subprocess.run(
            [str(a) for a in args],
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{Path(str(args[0])).name} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )
        return result

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- server.log ---\n" + "\n".join(text)

    def initdb(self) -> None:
        self._run(
            self.bindir / "initdb",
            "--pgdata", self.data_dir,
            "--username", self.superuser,
            "--encoding", "UTF8",
            "--locale", "C",
            "--auth-local", "trust",
            "--auth-host", "scram-sha-256",
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip
        # Written by the user running the tests (root can write the postgres user's files;
        # otherwise they are our own files), keeping the owner and mode initdb gave them.
        (self.data_dir / "pg_hba.conf").write_text(_HBA)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(host=self.host, socket_dir=self.base_dir))

    def start(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            result = self._run(
                self.bindir / "pg_ctl", "start", "--wait", "--timeout", "30",
                "--pgdata", self.data_dir, "--log", self.log_path,
                "-o", f"-p {self.port}",
                check=False,
            )  # fmt: skip
            if result.returncode == 0:
                self._wait_until_accepting()
                return
            log = self._log_tail()
            if attempt == attempts or "could not bind" not in log:  # retry only a port race
                raise RuntimeError(
                    f"pg_ctl start failed (exit {result.returncode}):\n"
                    f"{result.stdout}{result.stderr}{log}"
                )

    def _wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(
                    host=self.host, port=self.port, user=self.superuser, dbname="postgres",
                    connect_timeout=2,
                ).close()  # fmt: skip
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not accepting connections: {exc}{self._log_tail()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        result = self._run(
            self.bindir / "pg_ctl", "stop", "--pgdata", self.data_dir, "--mode", "fast", "--wait",
            check=False,
        )  # fmt: skip
        if result.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
            self._run(
                self.bindir / "pg_ctl", "stop", "--pgdata", self.data_dir, "--mode", "immediate",
                "--wait", check=False,
            )  # fmt: skip


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")


def _make_base_dir(run_as: pwd.struct_passwd | None) -> Path:
    """A fresh temporary directory the server's user owns and can reach (pytest's own
    tmp_path under /tmp/pytest-of-root is 0700 root, so it is not used)."""
    parent = Path(tempfile.gettempdir())
    if run_as is not None and not _reachable_by_others(parent / "x"):
        parent = Path("/tmp")
    base = Path(tempfile.mkdtemp(prefix="mellanrum-pg-", dir=parent))
    if run_as is not None:
        os.chown(base, run_as.pw_uid, run_as.pw_gid)
    base.chmod(0o700)
    return base


def start_server() -> PostgresServer:
    """Start a server (the fixture's work, usable outside pytest too); call .stop() and
    remove .base_dir when done (see stop_server)."""
    bindir = find_binaries()
    run_as = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam(SUPERUSER)
        except KeyError:
            pytest.fail(
                "running as root, and initdb/postgres refuse to run as root, but there is no "
                f"'{SUPERUSER}' system user to run them as (the Debian package "
                f"'{DEBIAN_PACKAGE}' creates it).",
                pytrace=False,
            )
    began = time.perf_counter()
    server = PostgresServer(host=HOST, port=0, bindir=bindir, base_dir=_make_base_dir(run_as), _run_as=run_as)
    try:
        server.initdb()
        server.start()
    except BaseException:
        stop_server(server)
        raise
    server.startup_seconds = time.perf_counter() - began
    return server


def stop_server(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for the whole session (see the module doc)."""
    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.fail(f"could not start the test PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        stop_server(server)
