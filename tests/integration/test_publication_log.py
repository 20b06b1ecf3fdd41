"""The publication log says when, to the second, in UTC, on SQLite and PostgreSQL.

"Who received what, when": two publications of one day must be told apart and ordered by
`published_at`. A log written by an earlier version (published_at a DATE) is migrated in
the publication's own transaction, keeping every row: the log is the audit trail.
"""

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from core import database as database_module
from core.contracts import contract
from core.database import (
    PUBLICATION_LOG,
    Dataset,
    create_engine,
    read_rows,
    replace_publication,
)
from core.publish import log_rows
from schemas.errors import MellanrumError
from schemas.published import PublicationLog
from schemas.recipients import Recipient

AS_OF = dt.date(2026, 11, 23)
MORNING = dt.datetime(2026, 11, 23, 9, 0, 5, tzinfo=dt.UTC)
NOON_STOCKHOLM = dt.datetime(2026, 11, 23, 13, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # 12:00 UTC
AFTERNOON = dt.datetime(2026, 11, 23, 15, 30, 45, 987654, tzinfo=dt.UTC)
REGION = Recipient(id="region", kind="region")
STATISTICS = "regional_statistik"


def log_at(moment: dt.datetime, run_id: str) -> pd.DataFrame:
    datasets = {STATISTICS: pd.DataFrame(columns=contract(STATISTICS).columns)}
    return log_rows(datasets, {STATISTICS: contract(STATISTICS)}, [REGION], run_id=run_id, as_of=AS_OF,
                    key_ids=["L1-T+L2-T"], published_at=moment)  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'published.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("mellanrum_log")
    engine = create_engine(url)
    yield engine
    engine.dispose()


def log_table(engine) -> str:
    return f"published.{PUBLICATION_LOG}" if engine.dialect.name == "postgresql" else PUBLICATION_LOG


def in_database_order(engine) -> list[tuple]:
    """run_id and published_at as the database orders them (`ORDER BY published_at`)."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            f"SELECT run_id, published_at FROM {log_table(engine)} ORDER BY published_at"
        )).fetchall()  # fmt: skip


def published_at_type(engine) -> str:
    """The column's type as the database declares it (PostgreSQL: information_schema)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT upper(data_type) FROM information_schema.columns "
                "WHERE table_schema = 'published' AND table_name = :table AND column_name = 'published_at'"
            ), {"table": PUBLICATION_LOG}).scalar_one()  # fmt: skip
    (column,) = [c for c in sa.inspect(engine).get_columns(PUBLICATION_LOG) if c["name"] == "published_at"]
    return str(column["type"]).upper()


def old_log(engine, rows: list[tuple[str, str]]) -> None:
    """A log as the earlier version wrote it: published_at (and as_of) a DATE, no agreement_id."""
    columns = [c for c in PublicationLog.to_schema().columns if c != "agreement_id"]
    kinds = {"as_of": "DATE", "published_at": "DATE", "row_count": "BIGINT"}
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE SCHEMA published"))
        declared = ", ".join(f"{c} {kinds.get(c, 'TEXT')}" for c in columns)
        connection.execute(sa.text(f"CREATE TABLE {log_table(engine)} ({declared})"))
        for run_id, day in rows:
            connection.execute(sa.text(
                f"INSERT INTO {log_table(engine)} VALUES (:run_id, :day, :dataset, '2026.1', 'region', 'database', 0, "
                f"'L1-T+L2-T', :checksum, NULL, :day)"
            ), {"run_id": run_id, "day": day, "dataset": STATISTICS, "checksum": "0" * 64})  # fmt: skip


# --- the rows ----------------------------------------------------------------------------------


def test_log_rows_hold_the_moment_in_utc_to_the_second():
    log = log_at(NOON_STOCKHOLM, "r1")
    assert str(log["published_at"].dtype) == "datetime64[s, UTC]"
    assert log["published_at"].iloc[0] == pd.Timestamp("2026-11-23 12:00:00", tz="UTC")
    assert log_at(AFTERNOON, "r2")["published_at"].iloc[0] == pd.Timestamp("2026-11-23 15:30:45", tz="UTC")
    assert str(log["as_of"].dtype) == "datetime64[s]"  # the as-of date stays a date


def test_a_moment_without_a_time_zone_is_refused():
    with pytest.raises(ValueError, match="needs a time zone"):
        log_at(dt.datetime(2026, 11, 23, 9, 0), "naive")


# --- two publications on one day, both backends -------------------------------------------------


def test_two_publications_on_one_day_are_told_apart_and_ordered(engine):
    # Written out of order: the afternoon's first, then the morning's, then an export at noon.
    replace_publication(engine, [], log_at(AFTERNOON, "afternoon"))
    replace_publication(engine, [], log_at(MORNING, "morning"))
    database_module.append_log(engine, log_at(NOON_STOCKHOLM, "noon"))

    assert [run_id for run_id, _ in in_database_order(engine)] == ["morning", "noon", "afternoon"]
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog).sort_values("published_at")
    assert list(log.run_id) == ["morning", "noon", "afternoon"]
    assert list(log.published_at) == [pd.Timestamp(t, tz="UTC") for t in
                                      ("2026-11-23 09:00:05", "2026-11-23 12:00:00", "2026-11-23 15:30:45")]
    assert (log.as_of == pd.Timestamp(AS_OF)).all()
    if engine.dialect.name == "postgresql":
        assert published_at_type(engine) == "TIMESTAMP WITH TIME ZONE"
    else:
        assert published_at_type(engine) == "DATETIME"
        # What sqlite3 shows: UTC text that sorts in time order.
        assert [at for _, at in in_database_order(engine)] == [
            "2026-11-23 09:00:05", "2026-11-23 12:00:00", "2026-11-23 15:30:45"]


def test_publishing_again_keeps_the_log_table_as_it_is(engine):
    replace_publication(engine, [], log_at(MORNING, "first"))
    before = published_at_type(engine)
    replace_publication(engine, [], log_at(AFTERNOON, "second"))
    assert published_at_type(engine) == before
    assert [run_id for run_id, _ in in_database_order(engine)] == ["first", "second"]


# --- a log of the earlier version ---------------------------------------------------------------


def test_an_old_date_log_is_migrated_keeping_every_row_as_midnight_utc(engine):
    old_log(engine, [("earlier", "2026-11-20"), ("older", "2026-11-19")])
    assert published_at_type(engine) == "DATE"
    replace_publication(engine, [], log_at(MORNING, "now"))

    assert published_at_type(engine) in ("TIMESTAMP WITH TIME ZONE", "DATETIME")
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog).sort_values("published_at")
    assert list(log.run_id) == ["older", "earlier", "now"]
    assert list(log.published_at) == [pd.Timestamp("2026-11-19", tz="UTC"), pd.Timestamp("2026-11-20", tz="UTC"),
                                      pd.Timestamp("2026-11-23 09:00:05", tz="UTC")]  # fmt: skip
    assert [run_id for run_id, _ in in_database_order(engine)] == ["older", "earlier", "now"]


def test_a_publication_failing_after_the_migration_leaves_the_old_log_untouched(engine, monkeypatch):
    old_log(engine, [("earlier", "2026-11-20")])
    real_insert = database_module._insert

    def fail_on_the_dataset(connection, table, rows):
        if table.name == STATISTICS:
            raise OSError("disk full")
        real_insert(connection, table, rows)

    monkeypatch.setattr(database_module, "_insert", fail_on_the_dataset)
    statistics = contract(STATISTICS)
    frame = pd.DataFrame({c: [None] for c in statistics.columns})
    with pytest.raises(OSError):
        replace_publication(engine, [Dataset(STATISTICS, "published", statistics.model, frame)],
                            log_at(MORNING, "failed"))  # fmt: skip
    # The migration was part of the failed transaction: the table and its row as they were,
    # nothing left over, and the next publication migrates it.
    assert published_at_type(engine) == "DATE"
    assert [run_id for run_id, _ in in_database_order(engine)] == ["earlier"]
    schema = "published" if engine.dialect.name == "postgresql" else None
    assert sa.inspect(engine).get_table_names(schema=schema) == [PUBLICATION_LOG]
    monkeypatch.setattr(database_module, "_insert", real_insert)
    replace_publication(engine, [], log_at(MORNING, "retried"))
    assert [run_id for run_id, _ in in_database_order(engine)] == ["earlier", "retried"]


def test_a_log_with_other_columns_is_refused_never_dropped(engine):
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE SCHEMA published"))
        connection.execute(sa.text(f"CREATE TABLE {log_table(engine)} (run_id TEXT, published_at DATE)"))
        connection.execute(sa.text(f"INSERT INTO {log_table(engine)} VALUES ('kept', '2026-11-20')"))
    with pytest.raises(MellanrumError, match="audit trail and is never rebuilt"):
        replace_publication(engine, [], log_at(MORNING, "now"))
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT run_id FROM {log_table(engine)}")).scalars().all() == ["kept"]


def test_a_dataset_table_whose_column_type_changed_is_rebuilt(engine):
    statistics = contract(STATISTICS)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE SCHEMA published"))
        # Same names, every column TEXT: an earlier contract's types.
        name = f"published.{STATISTICS}" if engine.dialect.name == "postgresql" else STATISTICS
        connection.execute(sa.text(f"CREATE TABLE {name} ({', '.join(f'{c} TEXT' for c in statistics.columns)})"))
    empty = pd.DataFrame(columns=statistics.columns)
    replace_publication(engine, [Dataset(STATISTICS, "published", statistics.model, empty)], log_at(MORNING, "r"))
    schema = "published" if engine.dialect.name == "postgresql" else None
    types = {c["name"]: str(c["type"]).upper() for c in sa.inspect(engine).get_columns(STATISTICS, schema=schema)}
    assert any(t != "TEXT" for t in types.values()), types
