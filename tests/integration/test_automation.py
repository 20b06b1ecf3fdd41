"""The nightly schedules, the sequencer that follows them, and the delivery sensors.

Every test evaluates the definitions' own schedule and sensor objects (from
`build_definitions`) with Dagster's testing contexts, on a copy of the generated inbox
cut down to three sources (two municipalities and AF) to stay fast. The sequencer is
checked against a real temporary instance holding the night's runs; the last test runs the
whole night for real: the schedules' ingest requests, then the sequencer's request, then
reads what was published.
"""

import datetime as dt
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._utils.schedules import (
    schedule_execution_time_iterator,  # what the scheduler daemon iterates
)

import orchestration.automation as automation
from assets.names import source_id_of
from core.clock import STOCKHOLM, today_in_stockholm
from core.database import create_engine, read_rows
from core.keys.keyring import Keyring
from orchestration.app.runs import open_instance
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.published import PublicationLog
from schemas.sources import load_sources
from testkit.homes import AS_OF, PASSPHRASE
from testkit.leakscan import scan

UTC = dt.UTC
SOURCE_IDS = ("goteborg", "partille", "af")
MUNICIPAL_IDS = ("goteborg", "partille")
SCHEDULES = ("nightly_ingest_municipal", "nightly_ingest_af")
SEQUENCER = "nightly_reconcile_and_publish"
# 02:00 in Stockholm on the generated data's as-of date (winter time: 01:00 UTC).
NIGHT_TICK = dt.datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
NIGHT = AS_OF.isoformat()
LONG_AGO = time.time() - 3600


def make_home(root: Path, inbox: Path, source_ids=SOURCE_IDS) -> Path:
    """A home with its own copy of the inbox, declaring only `source_ids`, and a keyring."""
    home = root / "home"
    shutil.copytree(inbox, home / "inbox")
    sources_file = home / "inbox" / "sources.yaml"
    spec = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    spec["sources"] = [source for source in spec["sources"] if source["id"] in source_ids]
    sources_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for path in (home / "inbox").rglob("*"):
        os.utime(path, (LONG_AGO, LONG_AGO))  # delivered a while ago: settled
    ring, _ = Keyring(path=home / "keyring.json").with_new_key("pipeline", dt.date(2026, 1, 1), key_id="L2-AUTO")
    ring, _ = ring.with_new_key("linkage", dt.date(2026, 1, 1), key_id="L1-AUTO")
    ring.save(PASSPHRASE)
    return home


@pytest.fixture
def environment(monkeypatch):
    monkeypatch.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
    for name in ("MELLANRUM_KEYRING", "MELLANRUM_DATABASE_URL", "MELLANRUM_SOURCES", "MELLANRUM_RECIPIENTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def home(tmp_path, inbox, environment) -> Path:
    home = make_home(tmp_path, inbox)
    environment.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


@pytest.fixture
def defs(home) -> dg.Definitions:
    return build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml"))


@pytest.fixture
def instance(home) -> dg.DagsterInstance:
    return open_instance(Settings.of(home=home))


def nightly_requests(defs: dg.Definitions, tick: dt.datetime) -> dict[str, tuple[str, dg.RunRequest]]:
    """Both schedules evaluated at `tick`: source kind -> (job name, its one request)."""
    repository = defs.get_repository_def()
    requests = {}
    for name in SCHEDULES:
        schedule = repository.get_schedule_def(name)
        context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
        (request,) = schedule.evaluate_tick(context).run_requests
        requests[request.tags["mellanrum/kind"]] = (schedule.job_name, request)
    return requests


def evaluate_sensor(defs: dg.Definitions, name: str, instance=None, cursor=None):
    repository = defs.get_repository_def()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository)
    return repository.get_sensor_def(name).evaluate_tick(context)


# --- the nightly schedules ----------------------------------------------------------------------


def test_every_target_is_a_job_of_the_definitions_and_everything_starts_running(defs):
    repository = defs.get_repository_def()
    schedules = [repository.get_schedule_def(name) for name in SCHEDULES]
    sensors = [repository.get_sensor_def(name) for name in ("municipal_deliveries", "af_deliveries", SEQUENCER)]
    for schedule in schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Stockholm")
        assert defs.resolve_job_def(schedule.job_name)
    for sensor in sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 60
        assert defs.resolve_job_def(sensor.job_name)
    assert [s.job_name for s in schedules] == ["ingest_municipal", "ingest_af"]
    assert [s.job_name for s in sensors] == ["ingest_municipal", "ingest_af", "reconcile_and_publish"]


def test_no_source_declared_means_no_automation(tmp_path):
    repository = build_definitions(Settings.of(home=tmp_path, sources=tmp_path / "inbox" / "sources.yaml")).get_repository_def()
    names = {d.name for d in (*repository.schedule_defs, *repository.sensor_defs)}
    assert not names & {*SCHEDULES, "municipal_deliveries", "af_deliveries", SEQUENCER}


@pytest.mark.parametrize(("start", "ticks"), [
    # Spring forward, Sunday 29 March 2026: 02:00 does not exist that night, so Dagster ticks
    # at the first valid time after it (03:00 CEST); the nights around it are at 02:00.
    ("2026-03-27T12:00:00+00:00", ["2026-03-28 01:00 02:00", "2026-03-29 01:00 03:00",
                                   "2026-03-30 00:00 02:00", "2026-03-31 00:00 02:00"]),
    # Fall back, Sunday 25 October 2026: 02:00 happens twice; Dagster ticks once, at the second.
    ("2026-10-23T12:00:00+00:00", ["2026-10-24 00:00 02:00", "2026-10-25 01:00 02:00",
                                   "2026-10-26 01:00 02:00", "2026-10-27 01:00 02:00"]),
])  # fmt: skip
def test_the_schedules_tick_at_two_in_stockholm_across_daylight_saving_changes(defs, start, ticks):
    for name in SCHEDULES:
        schedule = defs.get_repository_def().get_schedule_def(name)
        iterator = schedule_execution_time_iterator(
            dt.datetime.fromisoformat(start).timestamp(), schedule.cron_schedule, schedule.execution_timezone
        )
        seen = [next(iterator) for _ in ticks]
        assert [f"{t.astimezone(UTC):%Y-%m-%d %H:%M} {t.astimezone(STOCKHOLM):%H:%M}" for t in seen] == ticks, name


@pytest.mark.parametrize(("tick", "night"), [
    (dt.datetime(2026, 3, 28, 1, 0, tzinfo=UTC), "2026-03-28"),   # winter time, the night before the change
    (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29"),   # the night of the change (03:00 CEST)
    (dt.datetime(2026, 3, 30, 0, 0, tzinfo=UTC), "2026-03-30"),   # summer time
    (dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "2026-10-25"),  # the second 02:00 of the autumn change
    (dt.datetime(2026, 10, 26, 1, 0, tzinfo=UTC), "2026-10-26"),  # winter time again
    # Given in UTC on the previous day: the as-of date is the Stockholm date, not the UTC one.
    (dt.datetime(2026, 6, 30, 22, 30, tzinfo=UTC), "2026-07-01"),
])  # fmt: skip
def test_a_tick_requests_one_ingest_run_per_kind_over_all_its_sources_as_of_its_stockholm_date(defs, home, tick,
                                                                                                night):  # fmt: skip
    requests = nightly_requests(defs, tick)
    assert sorted(requests) == ["af", "municipal"]
    declared = [s.id for s in load_sources(home / "inbox" / "sources.yaml").all if s.kind == "municipal"]
    assert sorted(declared) == sorted(MUNICIPAL_IDS)
    keys = {"goteborg": "goteborg (1480 Göteborg)", "partille": "partille (1402 Partille)"}
    ranges = {"municipal": (keys[declared[0]], keys[declared[-1]]),
              "af": ("af (Arbetsförmedlingen)", "af (Arbetsförmedlingen)")}  # fmt: skip
    for kind, (job, request) in requests.items():
        assert job == f"ingest_{kind}"
        assert request.run_key == f"nightly-{night}-{kind}"
        assert request.run_config == {"ops": {f"{kind}_ingest": {"config": {"as_of": night}}}}
        assert request.partition_key is None
        assert request.partition_key_range == dg.PartitionKeyRange(*ranges[kind])
        assert {k: v for k, v in request.tags.items() if k.startswith("mellanrum/")} == {
            "mellanrum/nightly": night, "mellanrum/kind": kind, "mellanrum/as_of": night,
            "mellanrum/trigger": "nightly",
        }  # fmt: skip


# --- the sequencer ------------------------------------------------------------------------------


def record_run(instance, job: str, request: dg.RunRequest, status: dg.DagsterRunStatus) -> None:
    """Store a run of `request` as launched with the given outcome (no execution: the sequencer
    reads only jobs, tags, statuses and times)."""
    instance.add_run(dg.DagsterRun(job_name=job, run_id=str(uuid.uuid4()), run_config=request.run_config,
                                   tags=request.tags, status=status))  # fmt: skip


def record_runs(instance, requests, statuses: dict[str, dg.DagsterRunStatus]) -> None:
    for kind, status in statuses.items():
        record_run(instance, *requests[kind], status)


def test_the_sequencer_waits_until_every_ingest_run_of_the_night_has_finished(defs, instance):
    requests = nightly_requests(defs, NIGHT_TICK)
    result = evaluate_sensor(defs, SEQUENCER, instance)
    assert result.run_requests == [] and result.skip_message == "no nightly ingest run yet"

    record_runs(instance, requests, {"municipal": dg.DagsterRunStatus.FAILURE, "af": dg.DagsterRunStatus.STARTED})
    result = evaluate_sensor(defs, SEQUENCER, instance)
    assert result.run_requests == []
    assert result.skip_message == f"night of {NIGHT}: waiting for the af ingest run(s) to finish"


def test_the_sequencer_requests_one_reconcile_and_publish_once_all_finished_even_with_a_failure(defs, instance):
    requests = nightly_requests(defs, NIGHT_TICK)
    record_runs(instance, requests, {"municipal": dg.DagsterRunStatus.FAILURE, "af": dg.DagsterRunStatus.NOT_STARTED})
    assert evaluate_sensor(defs, SEQUENCER, instance).run_requests == []  # af not even started

    # af's run went on and failed too: a second failure is still no reason to wait.
    (waiting,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED]))
    instance.report_run_failed(waiting)
    result = evaluate_sensor(defs, SEQUENCER, instance)
    (request,) = result.run_requests
    assert request.run_key == f"nightly-{NIGHT}"
    assert request.run_config == {"ops": {"reconciliation": {"config": {"as_of": NIGHT}}}}
    assert {k: v for k, v in request.tags.items() if k.startswith("mellanrum/")} == {
        "mellanrum/nightly": NIGHT, "mellanrum/as_of": NIGHT, "mellanrum/trigger": "nightly",
        # Runs recorded without events failed before any source: every source they were for.
        "mellanrum/failed_sources": "af, goteborg, partille",
    }  # fmt: skip
    assert result.cursor == NIGHT

    # Once per night: the next tick with the cursor, or a reset cursor once the run exists.
    assert evaluate_sensor(defs, SEQUENCER, instance, cursor=result.cursor).run_requests == []
    record_run(instance, "reconcile_and_publish", request, dg.DagsterRunStatus.SUCCESS)
    assert evaluate_sensor(defs, SEQUENCER, instance).run_requests == []

    # The next night starts over.
    next_night = nightly_requests(defs, NIGHT_TICK + dt.timedelta(days=1))
    record_runs(instance, next_night, dict.fromkeys(("municipal", "af"), dg.DagsterRunStatus.SUCCESS))
    (request,) = evaluate_sensor(defs, SEQUENCER, instance, cursor=result.cursor).run_requests
    assert request.run_key == f"nightly-{AS_OF + dt.timedelta(days=1)}"


def test_a_kind_without_a_run_holds_the_night_back_only_for_the_grace_period(defs, instance, monkeypatch):
    requests = nightly_requests(defs, NIGHT_TICK)
    record_runs(instance, requests, {"municipal": dg.DagsterRunStatus.SUCCESS})
    result = evaluate_sensor(defs, SEQUENCER, instance)
    assert result.run_requests == [] and result.skip_message == f"night of {NIGHT}: no af ingest run yet"

    later = dt.datetime.now(UTC) + automation.MISSING_RUN_GRACE + dt.timedelta(minutes=1)
    monkeypatch.setattr(automation, "_now", lambda: later)
    (request,) = evaluate_sensor(defs, SEQUENCER, instance).run_requests
    assert request.tags["mellanrum/missing_sources"] == "af"
    assert request.tags["mellanrum/failed_sources"] == "none"


# --- the delivery sensors -----------------------------------------------------------------------


class Ticks:
    """Successive ticks of one delivery sensor, each starting from the previous tick's cursor."""

    def __init__(self, defs: dg.Definitions, name: str):
        self.defs, self.name, self.cursor = defs, name, None

    def __call__(self) -> list[dg.RunRequest]:
        result = evaluate_sensor(self.defs, self.name, cursor=self.cursor)
        self.cursor = result.cursor
        return result.run_requests


@pytest.fixture
def municipal(defs) -> Ticks:
    """The municipal delivery sensor, past the deliveries already in the inbox."""
    ticks = Ticks(defs, "municipal_deliveries")
    assert ticks() == []  # first sight of each file: it may still be growing
    assert sorted(source_id_of(r.partition_key) for r in ticks()) == sorted(MUNICIPAL_IDS)
    return ticks


def deliver(path: Path, content: bytes, age: float = 3600) -> Path:
    path.write_bytes(content)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def goteborg_file(home: Path) -> Path:
    (path,) = (home / "inbox" / "kommun" / "1480_goteborg").glob("insatser_*.csv")
    return path


def test_deliveries_already_in_the_inbox_are_taken_once_stable_each_by_its_own_source(defs, home):
    ticks = Ticks(defs, "municipal_deliveries")
    assert ticks() == []
    requests = {source_id_of(request.partition_key): request for request in ticks()}
    sources = load_sources(home / "inbox" / "sources.yaml")
    assert sorted(requests) == sorted(MUNICIPAL_IDS)
    for source_id, request in requests.items():
        (path,) = sources.files(sources.source(source_id))
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        assert request.run_key == f"delivery-{source_id}-{sha256}"
        today = today_in_stockholm().isoformat()
        assert request.run_config == {"ops": {"municipal_ingest": {"config": {"as_of": today}}}}
        # Names and hashes only: nothing of the file's content.
        assert {k: v for k, v in request.tags.items() if k.startswith("mellanrum/")} == {
            "mellanrum/source": source_id, "mellanrum/as_of": today,
            "mellanrum/trigger": "delivery", "mellanrum/file": path.relative_to(home / "inbox").as_posix(),
            "mellanrum/sha256": sha256,
        }  # fmt: skip
    assert ticks() == []
    # AF's sensor sees only AF's file.
    af = Ticks(defs, "af_deliveries")
    af()
    assert [r.partition_key for r in af()] == ["af (Arbetsförmedlingen)"]


def test_a_new_delivery_triggers_one_run_of_its_own_source_and_only_once(municipal, home):
    new = deliver(goteborg_file(home).with_name("insatser_2026-11-24.csv"), goteborg_file(home).read_bytes() + b"\n")
    assert municipal() == []  # first seen
    (request,) = municipal()
    sha256 = hashlib.sha256(new.read_bytes()).hexdigest()
    assert (request.partition_key, request.run_key) == ("goteborg (1480 Göteborg)", f"delivery-goteborg-{sha256}")
    assert request.tags["mellanrum/file"] == "kommun/1480_goteborg/insatser_2026-11-24.csv"
    assert municipal() == [] and municipal() == []


def test_several_new_files_of_one_source_in_one_tick_make_one_run_named_by_the_newest(municipal, home):
    delivered = goteborg_file(home)
    deliver(delivered.with_name("insatser_2026-11-29.csv"), delivered.read_bytes() + b"\n")
    deliver(delivered.with_name("insatser_2026-11-30.csv"), delivered.read_bytes() + b"\n\n")
    assert municipal() == []
    (request,) = municipal()  # the ingest reads all of goteborg's files in one run anyway
    assert request.tags["mellanrum/file"].endswith("insatser_2026-11-30.csv")
    assert request.tags["mellanrum/other_new_files"] == "1"
    assert municipal() == []


def test_a_growing_file_is_taken_only_once_it_stopped_changing(municipal, home):
    path = goteborg_file(home).with_name("insatser_2026-11-25.csv")
    content = goteborg_file(home).read_bytes() + b"\n\n"
    for end in (len(content) // 3, 2 * len(content) // 3, len(content)):
        deliver(path, content[:end])
        assert municipal() == [], f"taken while {end} of {len(content)} bytes were written"
    (request,) = municipal()  # unchanged since the previous tick
    assert request.tags["mellanrum/sha256"] == hashlib.sha256(content).hexdigest()


def test_a_file_modified_moments_ago_waits_even_if_unchanged_since_the_last_tick(municipal, home):
    path = deliver(goteborg_file(home).with_name("insatser_2026-11-26.csv"), b"fresh\n", age=0)
    assert municipal() == [] and municipal() == []  # same size and mtime, but too fresh
    os.utime(path, (time.time() - 60, time.time() - 60))  # the writer has long finished
    assert municipal() == []
    assert [source_id_of(r.partition_key) for r in municipal()] == ["goteborg"]


def test_new_content_under_the_same_name_triggers_a_new_run(municipal, home):
    path = goteborg_file(home)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    deliver(path, path.read_bytes() + b"\n", age=120)
    assert municipal() == []
    (request,) = municipal()
    assert source_id_of(request.partition_key) == "goteborg"
    assert request.tags["mellanrum/sha256"] not in ("", before)


def test_a_renamed_copied_or_touched_file_with_delivered_content_triggers_nothing(municipal, home):
    path = goteborg_file(home)
    content = path.read_bytes()
    renamed = path.rename(path.with_name("insatser_2026-11-27.csv"))
    deliver(renamed.with_name("insatser_2026-11-28.csv"), content)  # and a copy under yet another name
    os.utime(renamed, (time.time() - 30, time.time() - 30))  # touched
    assert municipal() == [] and municipal() == [] and municipal() == []


def test_a_file_linked_from_outside_the_inbox_holds_back_only_its_own_source(municipal, home, tmp_path):
    """Issue 12: the link is refused (its source fails when ingested), the others are watched on."""
    outside = tmp_path / "outside.csv"
    outside.write_bytes(goteborg_file(home).read_bytes())
    os.symlink(outside, goteborg_file(home).with_name("insatser_2026-12-01.csv"))
    (partille,) = (home / "inbox" / "kommun" / "1402_partille").glob("uttag_insatser_*.csv")
    deliver(partille.with_name("uttag_insatser_2026-12-01.csv"), partille.read_bytes() + b"\n")
    assert municipal() == []
    assert [source_id_of(request.partition_key) for request in municipal()] == ["partille"]


# --- the night end to end -----------------------------------------------------------------------


def _drop_column(home: Path, source_id: str, column: str) -> None:
    sources = load_sources(home / "inbox" / "sources.yaml")
    source = sources.source(source_id)
    (path,) = sources.files(source)
    frame = pd.read_csv(path, sep=source.delimiter, encoding=source.encoding, dtype=str, keep_default_na=False)
    frame.drop(columns=[column]).to_csv(path, sep=source.delimiter, encoding=source.encoding, index=False)


def _execute(defs, instance, job: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run a request in process the way the daemon would launch it (its config, partition and tags)."""
    return defs.resolve_job_def(job).execute_in_process(
        run_config={**request.run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        partition_key=request.partition_key, tags=request.tags, instance=instance, raise_on_error=False,
    )  # fmt: skip


def test_a_whole_night_runs_and_publishes_although_one_delivery_is_broken(defs, home, instance, synthetic_numbers):
    _drop_column(home, "goteborg", "Slutdatum")  # goteborg's delivery fails tonight
    requests = nightly_requests(defs, NIGHT_TICK)
    outcomes = {kind: _execute(defs, instance, job, request) for kind, (job, request) in requests.items()}
    assert {kind: result.success for kind, result in outcomes.items()} == {"municipal": False, "af": True}
    # The municipal run failed for goteborg alone: partille's partition is materialized.
    materialized = {m.partition for m in outcomes["municipal"].asset_materializations_for_node("municipal_ingest")}
    assert materialized == {"partille (1402 Partille)"}

    result = evaluate_sensor(defs, SEQUENCER, instance)
    (request,) = result.run_requests
    assert request.tags["mellanrum/failed_sources"] == "goteborg"
    done = _execute(defs, instance, "reconcile_and_publish", request)
    assert done.success
    overlaps = instance.get_latest_materialization_event(dg.AssetKey("overlaps")).asset_materialization.metadata
    assert overlaps["as_of"].value == NIGHT
    assert overlaps["sources_without_data"].value == f"goteborg (latest attempt as of {NIGHT} failed)"

    log = read_rows(create_engine(Settings.of(home=home).publication_database_url()), "publication_log", PublicationLog)
    assert len(log) > 0 and set(log["run_id"]) == {done.run_id}
    assert set(log["as_of"].dt.date) == {AS_OF}
    assert {"kommun_samplanering", "af_samplanering", "regional_statistik"} <= set(log["dataset"])
    assert evaluate_sensor(defs, SEQUENCER, instance, cursor=result.cursor).run_requests == []
    # Nothing the night left behind (runs, tags, event log, datasets) holds a number.
    deliveries = [home / "inbox" / "kommun", home / "inbox" / "af"]
    assert scan(home, synthetic_numbers, exclude=deliveries) == []
