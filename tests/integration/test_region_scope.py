"""Regions with a scope (issue 17): a region recipient with `kommuner` reads only its
municipalities' statistics, by row-level security on PostgreSQL and by filtering on
SQLite, and still reads nothing row-level. Made directly (core.database), in seconds; the
recipients' ids are this module's own (roles are the server's, shared by every test)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg2
import pytest

from core.audit import recipient_rows_in_database
from core.contracts import CONTRACTS, contract
from core.database import Dataset, create_engine, replace_publication
from core.publish import conform, empty, log_rows
from core.statistics import regional_statistics
from schemas.errors import ConfigError
from schemas.recipients import load_yaml_text

AS_OF = dt.date(2026, 11, 23)
GR, KRONOBERG = ("1480", "1481"), ("0780", "0764")  # Göteborg, Mölndal; Växjö, Alvesta
RECIPIENTS = """version: 1
recipients:
  - {id: regtest_gr, kind: region, kommuner: ["1480", "1481"], groupings: {centrum: ["1480"]}}
  - {id: regtest_kronoberg, kind: region, kommuner: ["0780", "0764"]}
  - {id: regtest_kommun, kind: kommun, kommunkod: "1480"}
"""
ROLES = ("mellanrum_regtest_gr", "mellanrum_regtest_kronoberg", "mellanrum_regtest_kommun")


def statistics() -> pd.DataFrame:
    """Regional statistics over overlaps in four municipalities of two regions."""
    kommuner = [k for k in (*GR, *KRONOBERG) for _ in range(3)]
    overlaps = pd.DataFrame({
        "overlap_start": pd.to_datetime(["2026-11-02"] * len(kommuner)).astype("datetime64[s]"),
        "kommunkod": kommuner, "classification": "conflict", "municipal_category": "work_training",
        "af_category": "matching", "age_band": "30-49",
    })  # fmt: skip
    return regional_statistics(overlaps, 2)


def publish(engine, tmp_path):
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    stats, rows = contract("regional_statistik"), contract("kommun_samplanering")
    frames = {stats.name: statistics(), rows.name: conform(empty(rows.model), rows)}
    log = log_rows(frames, {c.name: c for c in (stats, rows)}, recipients.all, run_id="run-r", as_of=AS_OF,
                   key_ids=["L1-T+L2-T"], published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    replace_publication(engine, [Dataset(c.name, "published", c.model, frames[c.name], c.recipient_kind,
                                         c.recipient_column) for c in (stats, rows)], log, recipients)  # fmt: skip
    return recipients, log


@pytest.fixture
def database(postgres_server):
    url = postgres_server.create_database("mellanrum_regions")
    engine = create_engine(url)
    yield engine
    engine.dispose()
    with postgres_server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS mellanrum_regions WITH (FORCE)")
        for role in ROLES:
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


def read_as(server, role: str, query: str) -> list[tuple]:
    with server.connect("mellanrum_regions") as connection, connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{role}"')
        cursor.execute(query)
        return cursor.fetchall()


def test_on_postgresql_each_region_reads_only_its_own_municipalities_statistics(database, postgres_server, tmp_path):
    publish(database, tmp_path)
    query = "SELECT DISTINCT kommunkod FROM published.regional_statistik ORDER BY 1"
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_gr", query)] == sorted(GR)
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_kronoberg", query)] == sorted(KRONOBERG)
    # and still nothing row-level
    for role in ("mellanrum_regtest_gr", "mellanrum_regtest_kronoberg"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            read_as(postgres_server, role, "SELECT * FROM published.kommun_samplanering")


def test_on_sqlite_reads_and_the_log_filter_each_region_to_its_municipalities(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'published.sqlite'}")
    recipients, log = publish(engine, tmp_path)
    for recipient, own in (("regtest_gr", GR), ("regtest_kronoberg", KRONOBERG)):
        read = recipient_rows_in_database(engine, CONTRACTS, recipients.get(recipient))
        assert set(read["regional_statistik"]["kommunkod"]) == set(own)
        assert "kommun_samplanering" not in read
        counted = log.loc[(log["recipient"] == recipient) & (log["dataset"] == "regional_statistik"), "row_count"]
        assert counted.tolist() == [len(read["regional_statistik"])]
    engine.dispose()


def test_a_region_scope_is_validated_naming_the_recipient(tmp_path):
    with pytest.raises(ConfigError, match=r"recipients\[0\] \(id 'r'\).*groupings.norr: 0780 not among"):
        load_yaml_text("version: 1\nrecipients:\n  - {id: r, kind: region, kommuner: ['1480'], "
                       "groupings: {norr: ['0780']}}\n", tmp_path / "recipients.yaml")  # fmt: skip
    with pytest.raises(ConfigError, match="only a region recipient has kommuner"):
        load_yaml_text("version: 1\nrecipients:\n  - {id: k, kind: kommun, kommunkod: '1480', kommuner: ['1480']}\n",
                       tmp_path / "recipients.yaml")  # fmt: skip
