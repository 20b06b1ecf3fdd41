"""A night with two broken deliveries, then a retry of only the failed partitions, all in one
process through the same path as `mellanrum run` (`run_nightly`, and `--source` for the retry):

- the failed partitions are what the UI shows as failed (Dagster's partition status, as the
  asset page reads it); once their deliveries are fixed, a run of only those partitions
  materializes them, and nothing else is run again;
- the keyring is unlocked (a Scrypt derivation) once in the process, however many runs of
  however many kinds the nights take;
- the embedded instance keeps every run's events in one SQLite database and captures no
  compute logs (what bench/national.py measured as the cheapest).
"""

import datetime as dt

import dagster as dg
import pytest
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from assets.names import MUNICIPAL_INTERVENTIONS, partition_key
from assets.resources import keyring_unlocks
from orchestration.app.runs import open_instance, run_nightly
from orchestration.definitions import load_declared_sources
from orchestration.instance import PooledSqliteEventLogStorage
from orchestration.settings import Settings
from testkit.homes import AS_OF, PASSPHRASE, new_home

NEXT_DAY = AS_OF + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def nights(tmp_path_factory, inbox):
    """Night one: two municipalities deliver an empty file. Then both deliver again (the
    files fixed) and only their partitions are run."""
    home = tmp_path_factory.mktemp("home")
    new_home(home, inbox, "RETRY")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
        for name in ("DAGSTER_HOME", "MELLANRUM_KEYRING", "MELLANRUM_DATABASE_URL"):
            env.delenv(name, raising=False)
        settings = Settings.of(home=home)
        sources = load_declared_sources(settings)
        broken = [s for s in sources.all if s.kind == "municipal"][1:3]
        delivered = {}
        for source in broken:
            (path,) = sources.files(source)
            delivered[path] = path.read_bytes()
            path.write_bytes(b"")  # an empty delivery: the source cannot be used tonight
        unlocks_before = keyring_unlocks()
        first = run_nightly(settings, AS_OF)
        unlocks_after_first = keyring_unlocks()
        status_before_retry = _partition_status(settings, sources)
        for path, content in delivered.items():
            path.write_bytes(content)
        retried = run_nightly(settings, NEXT_DAY, only=[s.id for s in broken])
        yield {"home": home, "settings": settings, "sources": sources, "broken": broken, "first": first,
               "retried": retried, "status_before_retry": status_before_retry, "unlocks": (unlocks_before, unlocks_after_first, keyring_unlocks())}  # fmt: skip


def _partition_status(settings: Settings, sources) -> tuple[set[str], set[str]]:
    """(materialized, failed) partitions of the municipal ingest, as the asset's page reads them."""
    partitions = dg.StaticPartitionsDefinition([partition_key(s) for s in sources.all if s.kind == "municipal"])
    status = get_and_update_asset_status_cache_value(open_instance(settings), MUNICIPAL_INTERVENTIONS, partitions)
    return (set(status.deserialize_materialized_partition_subsets(partitions).get_partition_keys()),
            set(status.deserialize_failed_partition_subsets(partitions).get_partition_keys()))  # fmt: skip


def test_the_broken_partitions_failed_with_their_reason_and_the_rest_were_materialized(nights):
    first, broken = nights["first"], {s.id for s in nights["broken"]}
    assert {o.source.id for o in first.failed_sources} == broken
    reasons = {o.source.id: o.error for o in first.failed_sources}
    for source in nights["broken"]:  # each names its own file and, in words, why
        (path,) = nights["sources"].files(source)
        assert path.name in reasons[source.id]
        assert ("the file is empty" if path.suffix == ".csv" else "not a readable .xlsx workbook") in reasons[source.id]
    assert first.reconciliation.outcome.ok and first.publication.ok


def test_a_retry_of_only_the_failed_partitions_materializes_them_once_fixed(nights):
    settings, sources, broken = nights["settings"], nights["sources"], nights["broken"]
    retried = nights["retried"]
    assert [o.source.id for o in retried.sources] == [s.id for s in broken]  # nothing else ran again
    assert all(o.ok and o.accepted > 0 for o in retried.sources), [o.error for o in retried.sources]
    assert len({o.run_id for o in retried.sources}) == 1  # neighbours: one run over their range
    assert retried.ok
    for source in broken:
        assert (settings.storage / "municipal_interventions" / f"{source.id}.parquet").exists()
    materialized, failed = _partition_status(settings, sources)
    assert failed == set()
    assert materialized == {partition_key(s) for s in sources.all if s.kind == "municipal"}
    # The retry's run materialized exactly the two partitions that had failed.
    instance = open_instance(settings)
    (run_id,) = {o.run_id for o in retried.sources}
    by_retry = {e.asset_materialization.partition
                for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                if e.asset_materialization.asset_key == MUNICIPAL_INTERVENTIONS}  # fmt: skip
    assert by_retry == {partition_key(s) for s in broken}


def test_the_failed_partitions_showed_as_failed_before_the_retry(nights):
    sources, broken = nights["sources"], nights["broken"]
    materialized, failed = nights["status_before_retry"]
    assert failed == {partition_key(s) for s in broken}
    assert materialized == {partition_key(s) for s in sources.all if s.kind == "municipal"} - failed


def test_the_keyring_is_unlocked_once_per_process_over_nights_of_every_kind(nights):
    before, after_first, after_retry = nights["unlocks"]
    # The first night (preflight, the municipal and AF runs, reconcile, publish): one unlock.
    assert after_first - before == 1
    # The retry in the same process: none.
    assert after_retry == after_first


def test_the_embedded_instance_keeps_every_run_s_events_in_one_database_and_no_compute_logs(nights):
    settings = nights["settings"]
    instance = open_instance(settings)
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)
    history = settings.dagster_dir / "history"
    assert (history / "event_log.db").is_file()
    runs = {o.run_id for night in ("first", "retried") for o in nights[night].sources}
    assert len(runs) >= 3  # the first night's two kinds and the retry
    assert not list(history.glob("runs/*.db"))  # no database per run
    assert not [p for p in (settings.dagster_dir / "storage").rglob("*") if p.is_file()]  # nothing captured
    # Every run's events are there, read back through the same storage.
    for run_id in runs:
        assert instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_SUCCESS) or instance.all_logs(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE)  # fmt: skip
