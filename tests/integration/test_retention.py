"""The retention job on a temporary SQLite-backed instance.

Runs are made old the way Dagster imports history: a tiny job is executed for real (a run
with its event log and its captured stdout), then its run record is taken out of the run
storage and added back with `add_historical_run` at an earlier creation time, and with
another status where the test needs one. Its events and compute logs stay as they were, so
the retention must delete those itself.
"""

import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from assets.names import CONCURRENCY_GROUP_TAG
from orchestration.definitions import build_definitions
from orchestration.retention import (
    DEFAULT_KEEP_DAYS,
    RETENTION_JOB,
    RETENTION_SCHEDULE,
    delete_runs_older_than,
    retention,
)
from orchestration.settings import Settings

NOW = dt.datetime.now(dt.UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
Status = dg.DagsterRunStatus
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the events are stored all the same


@dg.op
def say_hello(context: dg.OpExecutionContext):
    print("captured by the compute log manager")  # noqa: T201 (the test needs compute logs)
    context.log.info("an event in the event log")


@dg.job
def tiny():
    say_hello()


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "compute_logs:\n  module: dagster._core.storage.local_compute_log_manager\n"
        f"  class: LocalComputeLogManager\n  config:\n    base_dir: {tmp_path / 'compute-logs'}\n",
        encoding="utf-8",
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def a_run(instance: dg.DagsterInstance, created: dt.datetime, status: dg.DagsterRunStatus = Status.SUCCESS) -> str:
    """A real run of `tiny`, re-recorded as created at `created` with `status`."""
    run_id = tiny.execute_in_process(instance=instance, run_config=QUIET).run_id
    run = instance.get_run_by_id(run_id).with_status(status)
    instance.run_storage.delete_run(run_id)  # the record only: events and compute logs stay
    instance.run_storage.add_historical_run(run, created)
    return run_id


def a_queued_run(instance: dg.DagsterInstance, created: dt.datetime) -> str:
    """A run waiting for the daemon since `created`: it has an event but never ran, so no logs.
    A queued run must name the code location it will be launched from."""
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("mellanrum"), "__repository__")
    origin = RemoteJobOrigin(repository, "tiny")
    run = dg.DagsterRun(job_name="tiny", run_id=str(uuid.uuid4()), status=Status.QUEUED, remote_job_origin=origin)
    instance.run_storage.add_historical_run(run, created)
    instance.report_engine_event("waiting in the run queue", run)
    return run.run_id


def compute_log_dir(instance: dg.DagsterInstance, run_id: str) -> Path:
    return Path(instance.compute_log_manager._base_dir) / run_id  # noqa: SLF001 (where the files are)


def is_intact(instance: dg.DagsterInstance, run_id: str, ran: bool = True) -> bool:
    return (instance.get_run_by_id(run_id) is not None and len(instance.all_logs(run_id)) > 0
            and any(compute_log_dir(instance, run_id).rglob("*.out")) == ran)  # fmt: skip


def is_gone(instance: dg.DagsterInstance, run_id: str) -> bool:
    return (instance.get_run_by_id(run_id) is None and instance.all_logs(run_id) == []
            and not compute_log_dir(instance, run_id).exists())  # fmt: skip


def test_old_finished_runs_go_with_their_events_and_compute_logs_and_everything_else_stays(instance):
    long_ago = NOW - dt.timedelta(days=500)
    old_finished = [a_run(instance, long_ago, status) for status in (Status.SUCCESS, Status.FAILURE, Status.CANCELED)]
    old_unfinished = [a_run(instance, long_ago, status) for status in (Status.STARTING, Status.STARTED,
                                                                      Status.CANCELING)]  # fmt: skip
    old_queued = a_queued_run(instance, long_ago)
    recent = [a_run(instance, NOW - dt.timedelta(days=10)), a_run(instance, NOW)]
    assert all(is_intact(instance, run_id) for run_id in old_finished + old_unfinished + recent)
    assert is_intact(instance, old_queued, ran=False)

    deleted = delete_runs_older_than(instance, NOW - dt.timedelta(days=DEFAULT_KEEP_DAYS))

    assert deleted == len(old_finished)
    assert all(is_gone(instance, run_id) for run_id in old_finished)
    assert all(is_intact(instance, run_id) for run_id in old_unfinished + recent)
    assert is_intact(instance, old_queued, ran=False)
    assert {r.run_id for r in instance.get_runs()} == {*old_unfinished, old_queued, *recent}


def test_older_than_is_strict_about_the_cutoff_and_a_second_pass_finds_nothing(instance):
    cutoff = NOW - dt.timedelta(days=30)
    just_before = a_run(instance, cutoff - dt.timedelta(minutes=1))
    just_after = a_run(instance, cutoff + dt.timedelta(minutes=1))
    assert delete_runs_older_than(instance, cutoff) == 1
    assert is_gone(instance, just_before) and is_intact(instance, just_after)
    assert delete_runs_older_than(instance, cutoff) == 0


def test_runs_are_deleted_page_after_page_until_none_is_left(instance):
    old = [a_run(instance, NOW - dt.timedelta(days=days)) for days in (401, 450, 500)]
    old_unfinished = a_run(instance, NOW - dt.timedelta(days=500), Status.STARTED)
    keep = a_run(instance, NOW - dt.timedelta(days=1))
    assert delete_runs_older_than(instance, NOW - dt.timedelta(days=400), page_size=2) == len(old)
    assert all(is_gone(instance, run_id) for run_id in old)
    assert {r.run_id for r in instance.get_runs()} == {old_unfinished, keep}


def test_the_cutoff_is_compared_in_utc_whatever_zone_it_is_given_in(instance):
    """Dagster drops a filter's time zone without converting: 11:00 in Stockholm must not
    become 11:00 UTC."""
    created = dt.datetime(2025, 1, 15, 10, 30, tzinfo=dt.UTC)  # 11:30 in Stockholm (CET)
    run_id = a_run(instance, created)
    assert delete_runs_older_than(instance, dt.datetime(2025, 1, 15, 11, 0, tzinfo=STOCKHOLM)) == 0
    assert is_intact(instance, run_id)
    assert delete_runs_older_than(instance, dt.datetime(2025, 1, 15, 12, 0, tzinfo=STOCKHOLM)) == 1
    with pytest.raises(ValueError, match="needs a time zone"):
        delete_runs_older_than(instance, dt.datetime(2030, 1, 1))


def test_the_job_deletes_by_keep_days_and_reports_counts_only(instance):
    old_finished = [a_run(instance, NOW - dt.timedelta(days=days)) for days in (401, 700)]
    old_unfinished = a_run(instance, NOW - dt.timedelta(days=700), Status.STARTED)
    younger = a_run(instance, NOW - dt.timedelta(days=399))
    (job,), _ = retention()

    result = job.execute_in_process(instance=instance, run_config=QUIET)  # as the schedule: default keep_days

    assert result.success
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {name: value.value for name, value in output.step_output_data.metadata.items()}
    assert metadata["runs_deleted"] == 2 and metadata["unfinished_old_runs_kept"] == 1
    assert metadata["keep_days"] == DEFAULT_KEEP_DAYS
    assert dt.datetime.fromisoformat(metadata["cutoff_utc"]) < NOW - dt.timedelta(days=399)
    assert set(metadata) == {"runs_deleted", "unfinished_old_runs_kept", "keep_days", "cutoff_utc"}
    assert all(is_gone(instance, run_id) for run_id in old_finished)
    assert is_intact(instance, old_unfinished) and is_intact(instance, younger)
    assert instance.get_run_by_id(result.run_id).status == Status.SUCCESS  # its own run stays

    shorter = job.execute_in_process(instance=instance, run_config=keep_days(300))
    assert shorter.success and is_gone(instance, younger)
    refused = job.execute_in_process(instance=instance, raise_on_error=False, run_config=keep_days(0))
    assert not refused.success and is_intact(instance, old_unfinished)


def keep_days(days: int) -> dict:
    return {"ops": {"delete_old_runs": {"config": {"keep_days": days}}}, **QUIET}


def test_the_job_and_its_weekly_schedule_are_in_the_code_location(tmp_path, monkeypatch):
    monkeypatch.delenv("MELLANRUM_DATABASE_URL", raising=False)
    defs = build_definitions(Settings.of(home=tmp_path, sources=tmp_path / "inbox" / "sources.yaml"))
    job = defs.resolve_job_def(RETENTION_JOB)
    assert job.tags[CONCURRENCY_GROUP_TAG] == "retention"
    config_field = job.graph.node_named("delete_old_runs").definition.config_schema.as_field()
    keep_days_field = config_field.config_type.fields["keep_days"]
    assert keep_days_field.default_value == DEFAULT_KEEP_DAYS == 400
    assert "publication log" in keep_days_field.description

    schedule = defs.resolve_schedule_def(RETENTION_SCHEDULE)
    assert schedule.job_name == RETENTION_JOB
    assert schedule.execution_timezone == "Europe/Stockholm"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 4 * * 0"  # weekly: Sundays 04:00 Stockholm time
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 29, 4, tzinfo=STOCKHOLM)) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.run_config == {}  # the job's defaults: no secret, nothing typed by hand
