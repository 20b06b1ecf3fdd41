"""Retention of Dagster's run history: Dagster itself keeps every run and its event log forever.

The weekly job deletes the finished runs created more than `keep_days` ago, with their event
logs (log messages, materialization and check events, their metadata) and their compute logs
(captured stdout/stderr). A run that has not finished is never deleted, however old: it is
either still working or stuck, and a stuck run is something the steward must see.

What it does not touch, on purpose:

- the `publication_log` in the publication database: it is our audit trail of what left the
  pipeline, for whom and when, and lives in our database, not in Dagster's;
- schedule and sensor ticks: the instance's own `retention:` setting purges those
  (deploy/dagster.yaml);
- the asset catalogue's copy of each asset's latest materialization (it outlives its run)
  and the asset check history rows, for which Dagster has no per-run deletion.

The core is `delete_runs_older_than` (unit-tested on its own); the op only turns `keep_days`
into a cut-off and reports counts, never anything a run contained.
"""

# No `from __future__ import annotations`: Dagster reads the op's config annotation at
# definition time and cannot resolve it from a string.
import datetime as dt

import dagster as dg
from pydantic import Field

from assets.names import RETENTION_JOB, RETENTION_SCHEDULE, RETENTION_TAGS
from core.clock import TIMEZONE

DEFAULT_KEEP_DAYS = 400

# The statuses after which nothing more happens to a run. Listed here rather than taken from
# Dagster's internals, so that a status added by a Dagster upgrade is kept until we decide.
FINISHED_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def delete_runs_older_than(instance: dg.DagsterInstance, cutoff: dt.datetime, *, page_size: int = 100) -> int:
    """Delete every finished run created before `cutoff`, its event log and its compute logs.

    `cutoff` must carry a time zone: Dagster stores run times as UTC without a zone and drops
    the zone of a filter's datetime without converting it, so it is converted to UTC here.
    Runs are listed `page_size` at a time, always the first page of what still matches (a
    cursor would point at a run just deleted). Returns the number of runs deleted.
    """
    old_and_finished = dg.RunsFilter(statuses=list(FINISHED_STATUSES), created_before=_in_utc(cutoff))
    compute_logs = _ComputeLogDeleter(instance)
    attempted: set[str] = set()
    while run_ids := instance.get_run_ids(filters=old_and_finished, limit=page_size):
        if attempted.issuperset(run_ids):
            raise RuntimeError(
                f"the run storage still lists {len(run_ids)} run(s) this job has deleted; stopping"
            )
        for run_id in run_ids:
            # Logs first: should the run's deletion fail, the run is still listed and the next
            # retention run finishes the job; the other way round would orphan the logs.
            compute_logs.delete(run_id)
            instance.delete_run(run_id)  # the run, its tags and its event log
            attempted.add(run_id)
    return len(attempted)


def count_unfinished_runs_older_than(instance: dg.DagsterInstance, cutoff: dt.datetime) -> int:
    """How many runs created before `cutoff` are kept because they have not finished."""
    unfinished = [status for status in dg.DagsterRunStatus if status not in FINISHED_STATUSES]
    return instance.get_runs_count(dg.RunsFilter(statuses=unfinished, created_before=_in_utc(cutoff)))


def _in_utc(cutoff: dt.datetime) -> dt.datetime:
    if cutoff.tzinfo is None or cutoff.utcoffset() is None:
        raise ValueError("retention: the cut-off needs a time zone (for example UTC), it has none")
    return cutoff.astimezone(dt.UTC)


class _ComputeLogDeleter:
    """Deletes a run's captured stdout/stderr through the instance's compute log manager.

    `delete_logs(prefix=...)` is part of Dagster's compute log manager interface: the local
    manager removes `<base_dir>/<run id>/`, the no-op one has nothing to remove. A manager
    that raises NotImplementedError is reported once as a warning; the runs are still deleted.
    """

    def __init__(self, instance: dg.DagsterInstance):
        self._manager = instance.compute_log_manager
        self._supported = True

    def delete(self, run_id: str) -> None:
        if not self._supported:
            return
        try:
            # Every log key of a run starts with its id: [run_id, "compute_logs", <file key>].
            self._manager.delete_logs(prefix=[run_id])
        except NotImplementedError:
            self._supported = False
            dg.get_dagster_logger().warning(
                f"{type(self._manager).__name__} cannot delete compute logs: those of the deleted runs "
                "stay where it keeps them (see docs/deployment.md, retention)"
            )


class RetentionConfig(dg.Config):
    keep_days: int = Field(
        default=DEFAULT_KEEP_DAYS,
        ge=1,
        description="Delete finished runs (with their event logs and compute logs) created more than this many "
        "days ago. Runs that have not finished are always kept. The publication log is never touched.",
    )


@dg.op(
    out=dg.Out(dg.Nothing, description="Counts only: how many runs were deleted and how many old ones kept."),
    description="Delete finished runs older than keep_days, with their event logs and compute logs.",
)
def delete_old_runs(context: dg.OpExecutionContext, config: RetentionConfig) -> dg.Output:
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=config.keep_days)
    deleted = delete_runs_older_than(context.instance, cutoff)
    kept = count_unfinished_runs_older_than(context.instance, cutoff)
    context.log.info(f"deleted {deleted} finished run(s) created before {cutoff:%Y-%m-%d %H:%M} UTC; "
                     f"kept {kept} older run(s) that have not finished")  # fmt: skip
    return dg.Output(
        None,
        metadata={
            "runs_deleted": deleted,
            "unfinished_old_runs_kept": kept,
            "keep_days": config.keep_days,
            "cutoff_utc": cutoff.isoformat(timespec="seconds"),
        },
    )


@dg.job(
    name=RETENTION_JOB,
    tags=RETENTION_TAGS,
    description="Delete Dagster's history of finished runs older than keep_days (default "
    f"{DEFAULT_KEEP_DAYS}): runs, event logs, compute logs. Our publication log is not touched.",
)
def retention_job():
    delete_old_runs()


retention_schedule = dg.ScheduleDefinition(
    name=RETENTION_SCHEDULE,
    job=retention_job,
    # Sundays 04:00, after the nightly 02:00 run has had time to finish; the default config
    # (keep_days) applies, change it in the launchpad for a one-off run.
    cron_schedule="0 4 * * 0",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Weekly: delete finished runs older than {DEFAULT_KEEP_DAYS} days with their logs.",
)


def retention() -> tuple[list[dg.JobDefinition], list[dg.ScheduleDefinition]]:
    """The retention job(s) and their schedule(s)."""
    return [retention_job], [retention_schedule]
