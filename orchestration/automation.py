"""The nightly schedule and the delivery sensors: the pipeline runs without anyone starting it.

What exists, and how it chains (all start RUNNING: Dagster starts schedules and sensors
stopped unless told otherwise):

    02:00 Europe/Stockholm
    nightly_ingest_municipal ──> one `ingest_municipal` run per municipal source ─┐
    nightly_ingest_af ─────────> one `ingest_af` run per AF source ────────────────┤ tag mellanrum/nightly=<date>
                                                                                   v
    nightly_reconcile_and_publish (sensor) ── every run of the night finished ──> ONE `reconcile_and_publish`

    municipal_deliveries, af_deliveries (sensors) ── a new delivery is complete ──> an ingest run of its source

**Why two schedules.** A Dagster schedule launches runs of the one job it targets: the
scheduler daemon ignores a `RunRequest.job_name` from a schedule (1.13,
`dagster/_scheduler/scheduler.py`). Municipal and AF ingest are two jobs (two
partitioned multi-assets), so each has its own schedule with the same cron; Dagster turns
"0 2 * * *" in Europe/Stockholm into the right UTC instant on both sides of a
daylight-saving change (01:00 UTC in winter, 00:00 in summer; on the spring night that has
no 02:00 it ticks at 03:00, the first time after it; on the autumn night with two it ticks
once, at the second). The as-of date is the tick's date in Stockholm. Each source is its own run (its partition), so one municipality's
unreadable delivery fails only its own run.

**Why a sequencer, not a bigger job.** Reconciliation must wait for every ingest run of
the night, whatever their outcome: a failed source counts with its last good data (the
reconciliation names it in `stale_sources`). A job spanning all partitions would fail
as a whole or need a partition-range run, and the steward would lose "which municipality
failed, re-run just that one". So the schedules only tag their runs with the night's date,
and a sensor watches those runs: when each of them is finished (success, failure or
cancelled) it requests one `reconcile_and_publish` run with the run key
`nightly-<date>`, which Dagster launches at most once. A declared source whose run never
appeared (e.g. added to the sources file after 02:00) holds the night back only for
`MISSING_RUN_GRACE`; a run still queued or going holds it back for as long as it lasts.

**Why content hashes for deliveries.** Partners re-send files, rename them, copy them with
new timestamps. Names and times say nothing about whether the data is new; the SHA-256 of
the bytes does. A delivery sensor requests an ingest run of the file's own source once
per distinct content (run key `delivery-<source>-<sha256>`, file name and hash in the run's
tags), and never for content it already saw for that source. A file still being written
must not be read half-way: the sensor's cursor keeps each file's size and mtime from the
previous tick, and a file is hashed only once it is unchanged since that tick and was
last modified at least `SETTLE_SECONDS` ago. A file is hashed (streamed in chunks) once
per size/mtime it is seen with, never on every tick.

Nothing here reads a delivery's content into a log, a tag or metadata: only file names
(relative to the inbox), hashes, source ids and dates, none of which is personal data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets.configs import ingest_run_config, reconcile_and_publish_run_config
from assets.names import (
    AS_OF_TAG,
    FAILED_SOURCES_TAG,
    FILE_TAG,
    KIND_TAG,
    KINDS,
    MISSING_SOURCES_TAG,
    NIGHTLY_SEQUENCER,
    NIGHTLY_TAG,
    OTHER_NEW_FILES_TAG,
    RECONCILE_AND_PUBLISH_JOB,
    SHA256_TAG,
    SOURCE_TAG,
    TRIGGER_TAG,
    delivery_sensor_name,
    ingest_job,
    nightly_schedule,
    partition_key,
    partition_range_tags,
    source_id_of,
)
from core.clock import STOCKHOLM, TIMEZONE, today_in_stockholm
from schemas.errors import MellanrumError
from schemas.sources import Source, Sources

NIGHTLY_CRON = "0 2 * * *"

# A sensor tick costs a directory listing and a few stats; once a minute is plenty for
# deliveries that arrive daily, and bounds how late the reconciliation starts.
SENSOR_INTERVAL_SECONDS = 60
# A file modified more recently than this is not taken even if unchanged since the last
# tick (which may have been moments ago, e.g. right after the daemon restarted).
SETTLE_SECONDS = 10
# How long a declared source without any run of the night may hold the reconciliation back.
MISSING_RUN_GRACE = dt.timedelta(hours=2)
# Content hashes remembered per source beyond the files still in the inbox: enough for
# months of daily deliveries while the cursor (stored by Dagster on every tick) stays
# small. Older re-sends are still caught by Dagster's run-key check while the run history
# holds the earlier run.
REMEMBERED_HASHES_PER_SOURCE = 100
HASH_CHUNK_BYTES = 1 << 20

FINISHED = frozenset({dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def automation(sources: Sources) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
    """The schedules and sensors of the code location (none while no source is declared).

    The sources file's folder is the inbox the delivery sensors watch (`sources.inbox`). Schedules and sensors serve the sources declared when the code
    location was loaded, the same ones the ingest partitions were built from.
    """
    kinds = [kind for kind in KINDS if _of_kind(sources, kind)]
    schedules = [nightly_ingest_schedule(sources, kind) for kind in kinds]
    sensors = [delivery_sensor(sources, kind) for kind in kinds]
    if kinds:
        sensors.append(nightly_sequencer(sources))
    return schedules, sensors


def _of_kind(sources: Sources, kind: str) -> list[Source]:
    return [source for source in sources.all if source.kind == kind]


# --- the nightly schedules --------------------------------------------------------------------


def nightly_ingest_schedule(sources: Sources, kind: str) -> dg.ScheduleDefinition:
    """At 02:00 in Stockholm, one ingest run over every source of `kind`, as of that local date."""
    keys = [partition_key(source) for source in _of_kind(sources, kind)]

    @dg.schedule(
        name=nightly_schedule(kind),
        job_name=ingest_job(kind),
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every night at 02:00 Stockholm time: ingest every {kind} source in one run (each source "
        f"fails on its own), as of that date; `{NIGHTLY_SEQUENCER}` follows when the night's runs have finished.",
    )  # fmt: skip
    def nightly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        night = night_of(context)
        return [
            dg.RunRequest(
                run_key=f"nightly-{night.isoformat()}-{kind}",
                run_config=ingest_run_config(kind, night),
                tags={**partition_range_tags(keys[0], keys[-1]), NIGHTLY_TAG: night.isoformat(), KIND_TAG: kind,
                      AS_OF_TAG: night.isoformat(), TRIGGER_TAG: "nightly"},  # fmt: skip
            )
        ]

    return nightly


def night_of(context: dg.ScheduleEvaluationContext) -> dt.date:
    """The tick's date in Stockholm: the date the users mean by "tonight's run".

    The daemon passes an aware time in the schedule's timezone; a naive one (a hand-built
    test context) is read as Stockholm time, the zone the cron is written in.
    """
    tick = context.scheduled_execution_time
    if tick.tzinfo is None:
        tick = tick.replace(tzinfo=STOCKHOLM)
    return tick.astimezone(STOCKHOLM).date()


# --- the sequencer: reconcile and publish once the night's ingest has finished ---------------


def nightly_sequencer(sources: Sources) -> dg.SensorDefinition:
    """When every ingest run of the latest night has finished, request its one reconcile_and_publish run."""
    expected = [kind for kind in KINDS if _of_kind(sources, kind)]
    ingest_jobs = {ingest_job(kind) for kind in KINDS}

    @dg.sensor(
        name=NIGHTLY_SEQUENCER,
        job_name=RECONCILE_AND_PUBLISH_JOB,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="The nightly run's second half: once every ingest run of the night (tag mellanrum/nightly) "
        "has finished, successfully or not, reconcile the latest good data of every source and publish, once "
        "per night (run key nightly-<date>).",
    )  # fmt: skip
    def sequencer(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        night = latest_night(context.instance)
        if night is None:
            return dg.SkipReason("no nightly ingest run yet")
        if context.cursor and context.cursor >= night:
            return dg.SkipReason(f"the night of {night} was already handed to {RECONCILE_AND_PUBLISH_JOB}")
        records = context.instance.get_run_records(filters=dg.RunsFilter(tags={NIGHTLY_TAG: night}))
        if any(record.dagster_run.job_name == RECONCILE_AND_PUBLISH_JOB for record in records):
            # Launched before (e.g. the cursor was reset): just remember it.
            return dg.SensorResult(skip_reason=f"{RECONCILE_AND_PUBLISH_JOB} already ran for {night}", cursor=night)
        ingest_records = [record for record in records if record.dagster_run.job_name in ingest_jobs]
        progress = NightProgress.of(ingest_records, expected, _now())
        if not progress.complete:
            return dg.SkipReason(f"night of {night}: {progress.waiting_for()}")
        failed_sources = failed_sources_of(context.instance, [r.dagster_run for r in ingest_records
                                                                if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS],
                                           sources)  # fmt: skip
        as_of = dt.date.fromisoformat(night)
        tags = {NIGHTLY_TAG: night, AS_OF_TAG: night, TRIGGER_TAG: "nightly",
                FAILED_SOURCES_TAG: ", ".join(failed_sources) or "none"}  # fmt: skip
        if progress.missing:
            tags[MISSING_SOURCES_TAG] = ", ".join(progress.missing)
        context.log.info(f"night of {night}: {len(progress.finished)} ingest runs finished, {len(failed_sources)} "
                         f"sources failed; requesting {RECONCILE_AND_PUBLISH_JOB}")  # fmt: skip
        request = dg.RunRequest(run_key=f"nightly-{night}", run_config=reconcile_and_publish_run_config(as_of), tags=tags)
        return dg.SensorResult(run_requests=[request], cursor=night)

    return sequencer


def failed_sources_of(instance: dg.DagsterInstance, runs: Sequence[dg.DagsterRun], sources: Sources) -> list[str]:
    """The source ids failed ingest runs named as failed (in their failure's metadata); for a
    run that failed before it got to any source, every source it was for."""
    failed: list[str] = []
    for run in runs:
        named = []
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            user = record.dagster_event.step_failure_data.user_failure_data
            if user is not None and "failed_sources" in user.metadata:
                named += [source_id_of(key) for key in user.metadata["failed_sources"].value]
        failed += named or _sources_of_run(run, sources)
    return sorted(set(failed))


def _sources_of_run(run: dg.DagsterRun, sources: Sources) -> list[str]:
    keys = [partition_key(source) for source in sources.all]
    first, last = (run.tags.get(tag) for tag in partition_range_tags("", ""))
    if first in keys and last in keys:
        return [source_id_of(key) for key in keys[keys.index(first): keys.index(last) + 1]]
    single = run.tags.get("dagster/partition")
    return [source_id_of(single)] if single else []


def latest_night(instance: dg.DagsterInstance) -> str | None:
    """The latest date any run was tagged with as a night (ISO dates sort as text)."""
    nights = [value for key, values in instance.get_run_tags(tag_keys=[NIGHTLY_TAG]) if key == NIGHTLY_TAG
              for value in values]  # fmt: skip
    return max(nights, default=None)


def _now() -> dt.datetime:
    """The wall clock (a seam for tests of the grace period)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class NightProgress:
    """Where the ingest runs of one night stand, by source kind (never more than kinds)."""

    finished: list[str]
    failed: list[str]
    unfinished: list[str]
    missing: list[str]  # a kind with sources but no run, past the grace period: not waited for
    awaited: list[str]  # a kind with sources but no run, still within the grace period

    @classmethod
    def of(cls, records: Sequence, expected: Iterable[str], now: dt.datetime) -> NightProgress:
        by_kind: dict[str, list] = {}
        for record in records:
            run = record.dagster_run
            by_kind.setdefault(run.tags.get(KIND_TAG, run.job_name.removeprefix("ingest_")), []).append(record)
        finished, failed, unfinished = [], [], []
        for kind, runs in sorted(by_kind.items()):
            # Every run counts (a re-execution the steward launched tonight too): all must be done.
            if any(run.dagster_run.status not in FINISHED for run in runs):
                unfinished.append(kind)
                continue
            finished.append(kind)
            latest = max(runs, key=lambda run: run.create_timestamp)
            if latest.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
                failed.append(kind)
        without_run = [kind for kind in expected if kind not in by_kind]
        first_created = min((_aware(record.create_timestamp) for record in records), default=now)
        overdue = now - first_created > MISSING_RUN_GRACE
        return cls(finished, failed, unfinished, missing=without_run if overdue else [],
                   awaited=[] if overdue else without_run)  # fmt: skip

    @property
    def complete(self) -> bool:
        return bool(self.finished) and not self.unfinished and not self.awaited

    def waiting_for(self) -> str:
        parts = []
        if self.unfinished:
            parts.append(f"waiting for the {', '.join(self.unfinished)} ingest run(s) to finish")
        if self.awaited:
            parts.append(f"no {', '.join(self.awaited)} ingest run yet")
        if not self.finished and not parts:
            parts.append("no ingest run of this night")
        return "; ".join(parts)


def _aware(moment: dt.datetime) -> dt.datetime:
    # Run storage hands back UTC times, naive on SQLite.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- the delivery sensors ---------------------------------------------------------------------


@dataclass(frozen=True)
class FileSeen:
    size: int
    mtime_ns: int
    sha256: str | None = None  # set once the file was complete and hashed at this size/mtime


@dataclass
class DeliveryCursor:
    """The sensor's memory between ticks, as JSON: what each file looked like, and which
    contents each source has had a run for."""

    files: dict[str, FileSeen]  # by path relative to the inbox
    delivered: dict[str, list[str]]  # source id -> content hashes, oldest first

    @classmethod
    def parse(cls, text: str | None) -> DeliveryCursor:
        if not text:
            return cls({}, {})
        raw = json.loads(text)
        return cls({name: FileSeen(**seen) for name, seen in raw.get("files", {}).items()},
                   {source: list(hashes) for source, hashes in raw.get("delivered", {}).items()})  # fmt: skip

    def dump(self) -> str:
        return json.dumps(
            {"files": {name: vars(seen) for name, seen in sorted(self.files.items())}, "delivered": self.delivered},
            separators=(",", ":"), sort_keys=True,
        )  # fmt: skip

    def remember(self, source_id: str, sha256: str) -> None:
        hashes = self.delivered.setdefault(source_id, [])
        hashes.append(sha256)
        del hashes[:-REMEMBERED_HASHES_PER_SOURCE]


def delivery_sensor(sources: Sources, kind: str) -> dg.SensorDefinition:
    """Watch the inbox for complete new deliveries of `kind`'s sources; ingest each source that has one."""
    watched = _of_kind(sources, kind)

    @dg.sensor(
        name=delivery_sensor_name(kind),
        job_name=ingest_job(kind),
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"A {kind} delivery with new content (by SHA-256, not name or time) that is complete "
        f"(unchanged since the previous tick) triggers an ingest run of its own source, as of today in Stockholm.",
    )  # fmt: skip
    def deliveries(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        before = DeliveryCursor.parse(context.cursor)
        # Only what is in the inbox now, and hashes of sources still declared, carry over.
        after = DeliveryCursor(files={}, delivered={s.id: list(before.delivered.get(s.id, [])) for s in watched})
        now = time.time()
        requests = []
        for source in watched:
            try:
                new = list(_new_contents(context, sources, source, before, after, now))
            except MellanrumError as problem:  # e.g. a file linked from outside the inbox: that source only
                context.log.warning(f"{source.id}: {problem}")
                continue
            if new:
                requests.append(_delivery_request(kind, source, new))
        return dg.SensorResult(run_requests=requests, cursor=after.dump())

    return deliveries


def _new_contents(context, sources: Sources, source: Source, before: DeliveryCursor, after: DeliveryCursor,
                  now: float) -> Iterable[tuple[str, str]]:  # fmt: skip
    """(name, sha256) of `source`'s files that are complete and hold content it has not had a run for.

    Records what it saw of every file in `after`.
    """
    for path in sources.files(source):
        name = path.relative_to(sources.inbox).as_posix()
        try:
            stat = path.stat()
        except FileNotFoundError:  # moved away between the listing and now
            continue
        seen = FileSeen(stat.st_size, stat.st_mtime_ns)
        previous = before.files.get(name)
        if previous is None or (previous.size, previous.mtime_ns) != (seen.size, seen.mtime_ns):
            after.files[name] = seen  # new or still changing: look again next tick
            continue
        # Too fresh to trust: modified within SETTLE_SECONDS of now (either side: a file
        # server's clock may run a little ahead of ours).
        too_fresh = abs(now - stat.st_mtime) < SETTLE_SECONDS
        if previous.sha256 is not None or too_fresh:
            after.files[name] = previous  # already handled at this size/mtime, or not settled yet
            continue
        try:
            sha256 = _sha256(path)
            restat = path.stat()
        except OSError as problem:
            context.log.warning(f"{source.id}: could not read {name} ({type(problem).__name__}); trying next tick")
            continue
        if (restat.st_size, restat.st_mtime_ns) != (seen.size, seen.mtime_ns):
            after.files[name] = FileSeen(restat.st_size, restat.st_mtime_ns)  # written to while hashed
            continue
        after.files[name] = FileSeen(seen.size, seen.mtime_ns, sha256)
        if sha256 in after.delivered.get(source.id, []):
            context.log.info(f"{source.id}: {name} holds content already delivered (sha256 {sha256[:12]}…)")
            continue
        after.remember(source.id, sha256)
        yield name, sha256


def _delivery_request(kind: str, source: Source, new: list[tuple[str, str]]) -> dg.RunRequest:
    """One run per source and tick: an ingest run reads all of a source's files anyway, so
    several new files (a backlog on the first tick, say) need one run, named by the newest
    (a delivery's date is in its file name)."""
    name, sha256 = max(new)
    as_of = today_in_stockholm()
    tags = {SOURCE_TAG: source.id, AS_OF_TAG: as_of.isoformat(), TRIGGER_TAG: "delivery", FILE_TAG: name,
            SHA256_TAG: sha256}  # fmt: skip
    if len(new) > 1:
        tags[OTHER_NEW_FILES_TAG] = str(len(new) - 1)  # a count: a backlog's names could be many
    return dg.RunRequest(run_key=f"delivery-{source.id}-{sha256}", partition_key=partition_key(source),
                         run_config=ingest_run_config(kind, as_of), tags=tags)  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
