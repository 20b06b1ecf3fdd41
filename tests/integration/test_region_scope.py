"""Regions with a scope (issue 17): a region recipient with `kommuner` reads only its
municipalities' statistics, by row-level security on PostgreSQL and by filtering on
SQLite, and still reads nothing row-level; a protected person is in no published row-level
table on either, and counted in the statistics. Made directly (core.database), in seconds; the
recipients' ids are this module's own (roles are the server's, shared by every test)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg2
import pytest

from core.audit import recipient_rows_in_database
from core.contracts import CONTRACTS, contract
from core.database import Dataset, create_engine, read_rows, replace_publication
from core.flows import municipal_flows
from core.publish import build_publication, conform, empty, log_rows, optional_inputs
from core.reconcile import Window, reconcile
from core.registrations import handovers, youth_monitor
from core.counts import regional_statistics
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.errors import ConfigError
from schemas.reconciled import TransitionList
from schemas.recipients import load_yaml_text
from schemas.rules import DEFAULT_RULES, load_rules
from testkit.followup import Deliveries, turning
from testkit.homes import new_keyring

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
        "kommunkod": kommuner, "classification": "conflict", "pseudonym": [f"P{i}" for i in range(len(kommuner))],
    })  # fmt: skip
    return regional_statistics(overlaps, 2)


def outcomes() -> pd.DataFrame:
    """`uppfoljning_efter_insats` over ended interventions in the same four municipalities."""
    kommuner = [k for k in (*GR, *KRONOBERG) for _ in range(3)]
    table = pd.DataFrame({
        "pseudonym": [chr(ord("A") + i) * 52 for i in range(len(kommuner))], "key_id": "L1-T+L2-T",
        "party": "kommun", "intervention_id": [f"R-{i}" for i in range(len(kommuner))], "kommunkod": kommuner,
        "category": "work_training", "age_band": "30-49",
        "ends_on": pd.to_datetime(["2026-05-31"] * len(kommuner)).astype("datetime64[s]"), "horizon": 90,
        "status": "work",
    })  # fmt: skip
    declared = contract("uppfoljning_efter_insats")
    return conform(declared.build({"intervention_outcomes": table}, PublicationParameters(AS_OF, 2), declared),
                   declared)  # fmt: skip


def publish(engine, tmp_path):
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    stats, rows, scoped = contract("regional_statistik"), contract("kommun_samplanering"), contract("uppfoljning_efter_insats")
    frames = {stats.name: statistics(), rows.name: conform(empty(rows.model), rows), scoped.name: outcomes()}
    log = log_rows(frames, {c.name: c for c in (stats, rows, scoped)}, recipients.all, run_id="run-r", as_of=AS_OF,
                   key_ids=["L1-T+L2-T"], published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    replace_publication(engine, [Dataset(c.name, "published", c.model, frames[c.name], c.recipient_kind,
                                         c.recipient_column, c.also_to, c.kommun_columns) for c in (stats, rows, scoped)],
                        log, recipients)  # fmt: skip
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


def test_on_postgresql_a_kommun_reads_only_its_own_rows_of_a_kommun_scoped_aggregate(database, postgres_server,
                                                                                   tmp_path):  # fmt: skip
    publish(database, tmp_path)
    query = "SELECT DISTINCT kommunkod FROM published.uppfoljning_efter_insats ORDER BY 1"
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_kommun", query)] == ["1480"]
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_gr", query)] == sorted(GR)
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_kronoberg", query)] == sorted(KRONOBERG)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):  # the region's own statistics stay the region's
        read_as(postgres_server, "mellanrum_regtest_kommun", "SELECT * FROM published.regional_statistik")


def indicator_pack() -> pd.DataFrame:
    """`nyckeltal` over overlaps of a closed quarter (2026-Q3) in the same four municipalities."""
    kommuner = [k for k in (*GR, *KRONOBERG) for _ in range(3)]
    overlaps = pd.DataFrame({
        "overlap_start": pd.to_datetime(["2026-08-03"] * len(kommuner)).astype("datetime64[s]"),
        "kommunkod": kommuner, "classification": "conflict",
        "pseudonym": [chr(ord("A") + i) * 52 for i in range(len(kommuner))],
    })  # fmt: skip
    declared = contract("nyckeltal")
    inputs = {**optional_inputs(), "overlaps": overlaps, "transition_list": empty(TransitionList)}
    return conform(declared.build(inputs, PublicationParameters(AS_OF, 2), declared), declared)


def test_on_postgresql_a_kommun_reads_only_its_own_indicator_pack_and_a_region_its_municipalities(
        database, postgres_server, tmp_path):  # fmt: skip
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    declared = contract("nyckeltal")
    frames = {declared.name: indicator_pack()}
    assert set(frames[declared.name]["kommunkod"]) == {*GR, *KRONOBERG, "total"}
    log = log_rows(frames, {declared.name: declared}, recipients.all, run_id="run-n", as_of=AS_OF,
                   key_ids=["L1-T+L2-T"], published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    replace_publication(database, [Dataset(declared.name, "published", declared.model, frames[declared.name],
                                           declared.recipient_kind, declared.recipient_column, declared.also_to)],
                        log, recipients)  # fmt: skip
    query = "SELECT DISTINCT kommunkod FROM published.nyckeltal ORDER BY 1"
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_kommun", query)] == ["1480"]
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_gr", query)] == sorted(GR)
    assert [k for (k,) in read_as(postgres_server, "mellanrum_regtest_kronoberg", query)] == sorted(KRONOBERG)
    counts = "SELECT count FROM published.nyckeltal WHERE level = 'kommun' ORDER BY 1"
    assert read_as(postgres_server, "mellanrum_regtest_kommun", counts) == [(3,)]


def test_on_sqlite_reads_and_the_log_filter_each_region_to_its_municipalities(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'published.sqlite'}")
    recipients, log = publish(engine, tmp_path)
    for recipient, own in (("regtest_gr", GR), ("regtest_kronoberg", KRONOBERG)):
        read = recipient_rows_in_database(engine, CONTRACTS, recipients.get(recipient))
        assert set(read["regional_statistik"]["kommunkod"]) == set(own)
        assert "kommun_samplanering" not in read
        counted = log.loc[(log["recipient"] == recipient) & (log["dataset"] == "regional_statistik"), "row_count"]
        assert counted.tolist() == [len(read["regional_statistik"])]
        assert set(read["uppfoljning_efter_insats"]["kommunkod"]) == set(own)
    mine = recipient_rows_in_database(engine, CONTRACTS, recipients.get("regtest_kommun"))
    assert set(mine) == {"kommun_samplanering", "uppfoljning_efter_insats"}
    assert set(mine["uppfoljning_efter_insats"]["kommunkod"]) == {"1480"}
    assert len(mine["uppfoljning_efter_insats"]) > 0
    counted = log.loc[(log["recipient"] == "regtest_kommun") & (log["dataset"] == "uppfoljning_efter_insats"), "row_count"]
    assert counted.tolist() == [len(mine["uppfoljning_efter_insats"])]
    engine.dispose()


# --- flows between municipalities: each kommun's own side ----------------------------------------

# (providing kommun, home kommun): Göteborg takes in Växjö's residents (a flow across the two
# regions); Mölndal Partille's (within GR); Alvesta Växjö's (within Kronoberg); Partille Göteborg's.
PAIRS = (("1480", "0780"), ("1481", "1402"), ("0764", "0780"), ("1402", "1480"))
# The published cells: tar_emot at each provider, deltar_annanstans at each home kommun.
SIDES = {("1480", "tar_emot"), ("1481", "tar_emot"), ("0764", "tar_emot"), ("1402", "tar_emot"),
         ("0780", "deltar_annanstans"), ("1402", "deltar_annanstans"), ("1480", "deltar_annanstans")}
GOTEBORG_SIDES = {("1480", "tar_emot"), ("1480", "deltar_annanstans")}
GR_SIDES = {side for side in SIDES if side[0] in GR}  # Partille (1402) is outside this test's GR
KRONOBERG_SIDES = {("0764", "tar_emot"), ("0780", "deltar_annanstans")}


def flows() -> pd.DataFrame:
    """`kommunoverskridande_insatser` over three people per pair, active in November 2026."""
    rows = [(k, h) for k, h in PAIRS for _ in range(3)]
    table = pd.DataFrame({
        "pseudonym": [chr(ord("A") + i % 26) * 51 + chr(ord("A") + i // 26) for i in range(len(rows))],
        "key_id": "L1-T+L2-T", "record_id": [f"R-{i}" for i in range(len(rows))],
        "kommunkod": [k for k, _ in rows], "home_kommunkod": [h for _, h in rows], "category": "work_training",
        "age_band": "30-49", "start_date": pd.to_datetime(["2026-11-02"] * len(rows)).astype("datetime64[s]"),
        "end_date": pd.to_datetime(["2026-11-20"] * len(rows)).astype("datetime64[s]"),
    })  # fmt: skip
    declared = contract("kommunoverskridande_insatser")
    return conform(declared.build({"municipal_flows": municipal_flows(table, AS_OF)}, PublicationParameters(AS_OF, 2),
                                  declared), declared)  # fmt: skip


def publish_flows(engine, tmp_path):
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    declared, rows = contract("kommunoverskridande_insatser"), contract("kommun_samplanering")
    frames = {declared.name: flows(), rows.name: conform(empty(rows.model), rows)}
    log = log_rows(frames, {c.name: c for c in (declared, rows)}, recipients.all, run_id="run-f", as_of=AS_OF,
                   key_ids=["L1-T+L2-T"], published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    replace_publication(engine, [Dataset(c.name, "published", c.model, frames[c.name], c.recipient_kind,
                                         c.recipient_column, c.also_to, c.kommun_columns) for c in (declared, rows)],
                        log, recipients)  # fmt: skip
    return recipients, frames[declared.name]


def _sides(rows) -> set[tuple[str, str]]:
    return {(k, d) for k, d in rows if d != "total"}


def test_on_postgresql_each_kommun_reads_its_own_side_of_the_flows_and_a_region_its_kommuners(
        database, postgres_server, tmp_path):  # fmt: skip
    _, published = publish_flows(database, tmp_path)
    assert _sides(published[["kommunkod", "direction"]].itertuples(index=False)) == SIDES
    query = "SELECT kommunkod, direction FROM published.kommunoverskridande_insatser"
    mine = read_as(postgres_server, "mellanrum_regtest_kommun", query)
    assert _sides(mine) == GOTEBORG_SIDES and all(row[0] == "1480" for row in mine)  # and its total, nobody else's
    assert _sides(read_as(postgres_server, "mellanrum_regtest_gr", query)) == GR_SIDES
    assert _sides(read_as(postgres_server, "mellanrum_regtest_kronoberg", query)) == KRONOBERG_SIDES
    for role in ("mellanrum_regtest_gr", "mellanrum_regtest_kronoberg"):  # and no region reads row-level data
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            read_as(postgres_server, role, "SELECT * FROM published.kommun_samplanering")


def test_on_sqlite_the_flows_each_recipient_reads_are_its_kommuners_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'published.sqlite'}")
    recipients, _ = publish_flows(engine, tmp_path)
    read = {r: recipient_rows_in_database(engine, CONTRACTS, recipients.get(r))["kommunoverskridande_insatser"]
            for r in ("regtest_kommun", "regtest_gr", "regtest_kronoberg")}  # fmt: skip
    sides = {r: _sides(f[["kommunkod", "direction"]].itertuples(index=False)) for r, f in read.items()}
    assert sides == {"regtest_kommun": GOTEBORG_SIDES, "regtest_gr": GR_SIDES, "regtest_kronoberg": KRONOBERG_SIDES}
    engine.dispose()


def test_a_region_scope_is_validated_naming_the_recipient(tmp_path):
    with pytest.raises(ConfigError, match=r"recipients\[0\] \(id 'r'\).*groupings.norr: 0780 not among"):
        load_yaml_text("version: 1\nrecipients:\n  - {id: r, kind: region, kommuner: ['1480'], "
                       "groupings: {norr: ['0780']}}\n", tmp_path / "recipients.yaml")  # fmt: skip
    with pytest.raises(ConfigError, match="only a region recipient has kommuner"):
        load_yaml_text("version: 1\nrecipients:\n  - {id: k, kind: kommun, kommunkod: '1480', kommuner: ['1480']}\n",
                       tmp_path / "recipients.yaml")  # fmt: skip


# --- a protected person, in the database --------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request, tmp_path):
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'published.sqlite'}")
        yield engine
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    engine = create_engine(server.create_database("mellanrum_protected"))
    yield engine
    engine.dispose()
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS mellanrum_protected WITH (FORCE)")
        for role in ("mellanrum_kommun_1764", "mellanrum_af_karlstad", "mellanrum_region_all"):
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_protected_person_is_in_no_published_row_level_table_and_counted(any_database, tmp_path):
    as_of = dt.date(2026, 11, 23)
    d = Deliveries()
    for n, pnr in enumerate((turning(19, as_of), turning(19, as_of, 1))):
        d.intervention(pnr, f"REC-{n}", "2026-10-01", "2027-03-31", **({"protected_identity": "true"} if n == 0 else {}))
        d.assignment(pnr, f"ANV-{n}", "2026-11-01", "2027-02-28")
        d.registration(pnr, f"REG-{n}", "2026-09-01")
    data = d.ingest(tmp_path / "inbox", new_keyring(tmp_path / "keyring.json", "protected"), as_of)
    result = reconcile(data["municipal"], data["af"], load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE)),
                       as_of, Window(90, 180), as_of, registrations=data["registrations"])  # fmt: skip
    internal = {"overlaps": result.overlaps, "transition_list": result.transition_list,
                "youth_monitor": youth_monitor(data["municipal"], data["af"], data["registrations"], as_of),
                "handovers": handovers(data["municipal"], data["af"], data["registrations"], as_of)}  # fmt: skip
    recipients = load_yaml_text("version: 1\nrecipients:\n  - {id: kommun_1764, kind: kommun, kommunkod: '1764'}\n"
                                "  - {id: af_karlstad, kind: af_office, af_office: Arbetsförmedlingen Karlstad}\n"
                                "  - {id: region_all, kind: region}\n", tmp_path / "recipients.yaml")  # fmt: skip
    made = build_publication(internal, CONTRACTS, recipients, PublicationParameters(as_of, 2), key_ids=["L1+L2"],
                             run_id="run-p", published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    by_name = {c.name: c for c in CONTRACTS}
    replace_publication(any_database, [Dataset(n, "published", by_name[n].model, f, by_name[n].recipient_kind,
                                               by_name[n].recipient_column, by_name[n].also_to, by_name[n].kommun_columns)
                                       for n, f in made.datasets.items()],
                        made.log, recipients)  # fmt: skip
    shown = set()
    for declared in CONTRACTS:
        frame = read_rows(any_database, declared.name, declared.model)
        if declared.recipient_column is not None:
            shown |= set(frame.astype(str).to_numpy().ravel())
    assert {"REC-1", "ANV-1"} <= shown  # the other person's rows are there
    assert not shown & {"REC-0", "ANV-0", "REG-0"}
    statistics = read_rows(any_database, "regional_statistik", by_name["regional_statistik"].model)
    assert statistics.loc[statistics["level"] == "region", "overlap_count"].tolist() == [2]
