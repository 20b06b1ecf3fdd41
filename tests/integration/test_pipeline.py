"""The Dagster definitions end to end, in a temporary MELLANRUM_HOME and DAGSTER_HOME.

One run per source partition on generated deliveries; then one municipality delivers a
file without a required column: it fails alone, and what it had stored stays. Finally
every file the runs left behind (datasets, run and event storage, compute logs) is
scanned for the people's numbers, their unkeyed hashes and their level-1 pseudonyms.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from assets.names import source_id_of
from core.keys.pseudonyms import level1_pseudonyms
from orchestration.app.runs import ingest_all, open_instance, reconcile_stored
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.sources import load_sources
from testkit.homes import AS_OF, PASSPHRASE, new_home
from testkit.leakscan import scan

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

NEXT_DAY = AS_OF + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, inbox):
    """A home with its own copy of the inbox (one source gets broken later) and keyring."""
    home = tmp_path_factory.mktemp("home")
    ring = new_home(home, inbox, "E2E")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
        env.delenv("DAGSTER_HOME", raising=False)
        env.delenv("MELLANRUM_KEYRING", raising=False)
        sources = load_sources(home / "inbox" / "sources.yaml")
        defs = build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml"))
        instance = open_instance(Settings.of(home=home))
        first = ingest_all(defs, sources, instance, AS_OF)
        stored = home / "storage" / "municipal_interventions" / "goteborg.parquet"
        before = stored.read_bytes()
        _drop_column(sources, "goteborg", "Slutdatum")
        second = ingest_all(defs, sources, instance, NEXT_DAY)  # the next night: goteborg's delivery fails
        yield {"home": home, "first": first, "second": second, "before": before, "stored": stored,
               "instance": instance, "ring": ring, "inbox": home / "inbox", "defs": defs}  # fmt: skip


def _drop_column(sources, source_id, column):
    source = sources.source(source_id)
    (path,) = sources.files(source)
    frame = pd.read_csv(path, sep=source.delimiter, encoding=source.encoding, dtype=str, keep_default_na=False)
    frame.drop(columns=[column]).to_csv(path, sep=source.delimiter, encoding=source.encoding, index=False)


def test_every_source_ingests_with_the_ground_truth_counts(deployment):
    expected = pd.read_csv(deployment["inbox"] / "truth" / "expected_counts.csv").set_index("source_id")
    outcomes = deployment["first"]
    assert len(outcomes) == 15 and all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    for outcome in outcomes:
        row = expected.loc[outcome.source.id]
        assert (outcome.rows_read, outcome.accepted, outcome.quarantined) == (
            row.rows, row.expected_accepted, row.expected_quarantined)  # fmt: skip


def test_a_broken_delivery_fails_alone_and_keeps_its_last_good_data(deployment):
    second = {o.source.id: o for o in deployment["second"]}
    failed = [source for source, outcome in second.items() if not outcome.ok]
    assert failed == ["goteborg"]
    error = second["goteborg"].error
    assert "insatser_2026-11-23.csv" in error and "required column 'Slutdatum' is missing" in error
    assert deployment["stored"].read_bytes() == deployment["before"]
    assert sum(o.ok for o in second.values()) == 14


def test_the_reconciliation_uses_the_last_good_data_of_a_failed_source_and_names_it_stale(deployment):
    outcome = reconcile_stored(deployment["defs"], deployment["instance"], NEXT_DAY)
    assert outcome.ok, outcome.error
    assert outcome.metadata["stale_sources"] == f"goteborg (last good {AS_OF}; latest attempt as of {NEXT_DAY} failed)"
    assert "goteborg" in outcome.metadata["sources_reconciled"].split(", ")
    assert outcome.metadata["sources_without_data"] == "none"
    overlaps = pd.read_parquet(deployment["home"] / "storage" / "overlaps" / "all.parquet")
    assert (overlaps.municipal_source_id == "goteborg").any()


def test_asset_checks_and_metadata_are_recorded_per_partition(deployment):
    instance = deployment["instance"]
    key = dg.AssetKey("municipal_interventions")
    event = instance.get_latest_materialization_event(key)
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == metadata["accepted"].value
    assert metadata["key_id"].value == "L1-E2E+L2-E2E"
    defs = build_definitions(Settings.of(home=deployment["home"], sources=deployment["inbox"] / "sources.yaml"))
    schema = defs.resolve_assets_def(key).specs_by_key[key].metadata["dagster/column_schema"]
    assert "pseudonym" in [column.name for column in schema.columns]
    assert "personnummer" not in [column.name for column in schema.columns]
    for check in ("matches_schema", "delivered_on_time"):
        records = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(key, check), limit=100)
        statuses = [record.status.value for record in records]
        # 13 partitions in the first run, 12 in the second (goteborg's run failed before its checks).
        assert statuses.count("SUCCEEDED") == 25 and "FAILED" not in statuses, check

    # The share check fails exactly for the deliveries with more than 5 % bad rows.
    expected = pd.read_csv(deployment["inbox"] / "truth" / "expected_counts.csv").set_index("source_id")
    too_many = {s for s, row in expected.iterrows() if row.expected_quarantined / row.rows > 0.05} - {"af"}
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "quarantine_share"), limit=100)  # fmt: skip
    failed = {source_id_of(record.partition) for record in records if record.status.value == "FAILED"}
    assert too_many and failed == too_many


def test_nothing_left_behind_holds_a_number_its_hash_or_its_level1_pseudonym(deployment, synthetic_numbers):
    home = deployment["home"]
    linkage = deployment["ring"].get("L1-E2E").secret
    people = sorted(synthetic_numbers)
    level1 = level1_pseudonyms(pd.Series(people), linkage).tolist()
    # The deliveries themselves hold numbers (the scanner must see them); nothing else may.
    assert scan(home / "inbox" / "kommun", people)
    left_behind = scan(home, people, exclude=[home / "inbox" / "kommun", home / "inbox" / "af"], level1=level1)
    assert left_behind == []
    assert any((home / "dagster").rglob("*.db")), "the run and event storage must have been scanned"


def test_the_scan_catches_a_number_logged_by_mistake(tmp_path, synthetic_numbers):
    """The canary: an asset that logs a number must make the same scan fail."""
    number = "189001019802"  # a Skatteverket test number

    @dg.asset
    def careless(context: dg.AssetExecutionContext) -> None:
        context.log.info(f"processing {number[2:8]}-{number[8:]}")

    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert dg.materialize([careless], instance=instance).success
    assert scan(tmp_path, synthetic_numbers) != []
