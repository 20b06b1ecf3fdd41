"""The embedded Dagster instance's event log: one SQLite database for every run, its
connections kept open.

Dagster's `ConsolidatedSqliteEventLogStorage` keeps every run's events in one database (its
default SQLite storage makes a database file per run), but it still opens a connection for
every event, commits it with a full sync, and closes it again; the last connection to close
checkpoints the write-ahead log into the database. A night stores thousands of events (a
materialization, four checks and a log line per source), so that alone was most of
Dagster's own cost per source (bench/results/national.md, "The embedded instance").

`PooledSqliteEventLogStorage` is the same storage, tables and file (`history/event_log.db`),
with a pool of connections per process, kept open, and `synchronous=NORMAL`, which SQLite
documents as safe in WAL mode: a commit is atomic and the database is never corrupted;
only the last commits before a power cut may be lost, and a run that was going then is
failed and re-run anyway. Several processes (the UI, `mellanrum run`) still share the
file through SQLite's locks. Production uses PostgreSQL instead (deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

_ENGINES: dict[tuple[int, str], db.Engine] = {}  # (process id, database URL) -> engine
_CREATING = threading.Lock()


def _on_connect(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine(url: str) -> db.Engine:
    """This process's engine for `url`. A forked child makes its own: a SQLite connection
    must not cross a fork (the parent's stays referenced, never closed by the child)."""
    key = (os.getpid(), url)
    with _CREATING:
        if key not in _ENGINES:
            engine = db.create_engine(url, pool_size=2, max_overflow=8, pool_pre_ping=False,
                                      connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                    "check_same_thread": False})  # fmt: skip
            db.event.listen(engine, "connect", _on_connect)
            _ENGINES[key] = engine
        return _ENGINES[key]


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` whose connections stay open (see the module)."""

    @contextmanager
    def _connect(self):
        with _engine(self._conn_string).connect() as connection, connection.begin():
            yield connection
