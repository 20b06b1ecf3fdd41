"""Runs of the pipeline, in-process against the instance in the settings' Dagster home.

- `run_nightly`: ingest every declared source (each in its own run, so a delivery that
  fails stops only its own source), reconcile the latest good data of every source, publish.
- `reconcile_adhoc`: a coordinator's reconciliation on the stored data.
- `ingest_all`, `reconcile_stored`, `publish_latest`: the stages, one Dagster run each.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy.engine import make_url

from assets.configs import (
    adhoc_run_config,
    freeze_run_config,
    ingest_run_config,
    publish_run_config,
    reconcile_run_config,
)
from assets.ingest import FAILURE_REASON
from assets.names import (
    ADHOC_JOB,
    ADHOC_NODE,
    AS_OF_TAG,
    FREEZE_JOB,
    FREEZE_NODE,
    KINDS,
    OVERLAPS,
    PUBLISH_JOB,
    PUBLISH_NODE,
    RECONCILE_AND_PUBLISH_JOB,
    RECONCILE_JOB,
    RECONCILE_NODE,
    SOURCE_TAG,
    TRANSITION_LIST,
    ingest_job,
    ingest_node,
    partition_key,
    partition_range_tags,
)
from assets.resources import unlocked_keyring
from core.audit import read_log
from core.database import check_reachable, create_engine
from core.freeze import frozen_table
from core.files import check_free_space, disk_full, keep_private, private_folder
from core.reconcile import summary_by_kommun
from core.store import DatasetFiles
from orchestration.definitions import build_definitions, load_declared_sources
from orchestration.settings import Settings
from schemas.errors import ConfigError, MachineFault, MellanrumError
from schemas.recipients import load_recipients
from schemas.sources import Source, Sources

# The events are stored in the instance; a command's terminal gets the summary tables.
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# --- the Dagster instance ----------------------------------------------------------------------


PROCESS_TAG = "mellanrum/process"
PUBLICATION_TAG = "mellanrum/publication"
# Runs this process is executing right now: any other run it started and Dagster still
# thinks is going was interrupted.
_EXECUTING: set[str] = set()


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_interrupted_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs this application started in a process that is gone (killed, its disk full) and
    that Dagster still thinks are going: marked failed, so no run stays STARTED. A run whose
    publication was committed before it was interrupted says so in a tag, as the publication
    log does."""
    unfinished = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED,
                  dg.DagsterRunStatus.CANCELING]  # fmt: skip
    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=unfinished)):
        owner = run.tags.get(PROCESS_TAG)
        if owner is None or run.run_id in _EXECUTING or (owner != _this_process() and _alive(owner)):
            continue
        instance.report_run_failed(run, "interrupted: the process that ran it is gone (found when the next run started)")
        failed.append(run.run_id)
    return failed


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def agree_with_the_log(instance: dg.DagsterInstance, settings: Settings) -> None:
    """A run Dagster marked failed whose publication the log records (its process died after
    the commit): tagged so, so that the log and Dagster say the same of it."""
    failed = {run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE],
                                                                    job_name=PUBLISH_JOB))}  # fmt: skip
    failed |= {run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE],
                                                                     job_name=RECONCILE_AND_PUBLISH_JOB))}  # fmt: skip
    if not failed:
        return
    engine = create_engine(settings.publication_database_url())
    try:
        logged = set(read_log(engine)["run_id"])
    finally:
        engine.dispose()
    for run_id in failed & logged:
        instance.add_run_tags(run_id, {PUBLICATION_TAG: "committed before the run was interrupted"})


def preflight(settings: Settings, sources: Sources) -> None:
    """What can be checked before any source is ingested, each a one-sentence error: the
    keyring opens with its passphrase, the recipients file is valid, the publication
    database (and on SQLite the private one) can be reached, and the disk has room."""
    # Unlocked once per process: the ingest runs of this process reuse it.
    unlocked_keyring(settings.keyring_file, settings.secret_from_environment())
    load_recipients(settings.recipients_file)
    for url in _database_urls(settings):
        engine = create_engine(url)
        try:
            check_reachable(engine)
        finally:
            engine.dispose()
    delivered = sum(path.stat().st_size for source in sources.all for path in _files(sources, source))
    # Datasets, quarantine and the instance's events take a few times what was delivered.
    check_free_space(settings.home, 3 * delivered + 64 * 2**20)


def _files(sources: Sources, source: Source) -> list[Path]:
    try:
        return sources.files(source)
    except MellanrumError:  # that source fails on its own, with its reason, in its run
        return []


def _database_urls(settings: Settings) -> list[str]:
    url = settings.publication_database_url()
    return [url, settings.private_database_url] if make_url(url).get_backend_name() == "sqlite" else [url]


# How the embedded instance stores its events and step output, as bench/national.py measured
# them (bench/results/national.md, "The embedded instance"): one SQLite database for every
# run's events ("consolidated") instead of Dagster's default of a database file per run
# ("per_run"), which opens, commits and closes a connection of its own for every event; and
# no captured stdout/stderr ("none"): the default local capture starts watcher and `tail`
# subprocesses per run and step, and Mellanrum writes nothing to stdout or stderr that the
# event log does not already hold (its messages are counts and reasons, never a value).
EVENT_LOGS = {
    "pooled": "event_log_storage:\n  module: orchestration.instance\n"
              "  class: PooledSqliteEventLogStorage\n  config:\n    base_dir: {history}\n",
    "consolidated": "event_log_storage:\n  module: dagster._core.storage.event_log\n"
                    "  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {history}\n",
    "per_run": "",  # Dagster's default: history/runs/<run id>.db
}
COMPUTE_LOGS = {
    "none": "compute_logs:\n  module: dagster._core.storage.noop_compute_log_manager\n"
            "  class: NoOpComputeLogManager\n",
    "local": "",  # Dagster's default: LocalComputeLogManager under storage/
}


def embedded_instance_yaml(dagster_home: Path, event_log: str = "pooled", compute_logs: str = "none") -> str:
    """The dagster.yaml of an instance Mellanrum creates (see EVENT_LOGS and COMPUTE_LOGS)."""
    history = Path(dagster_home).resolve() / "history"
    return (
        "# Written by Mellanrum (orchestration/app/runs.py, embedded_instance_yaml); production: deploy/dagster.yaml.\n"
        # No telemetry, and no sign-up pop-up over the steward's pages.
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
        + EVENT_LOGS[event_log].format(history=json.dumps(str(history)))
        + COMPUTE_LOGS[compute_logs]
    )


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance in the settings' Dagster home (created with telemetry off), private to
    this user like everything else Mellanrum writes under its home."""
    keep_private()
    private_folder(settings.home)
    dagster_home = private_folder(settings.dagster_dir)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(embedded_instance_yaml(dagster_home), encoding="utf-8")
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    fail_interrupted_runs(instance)
    return instance


# --- outcomes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOutcome:
    source: Source
    run_id: str
    ok: bool
    files: int = 0
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: str = ""
    error: str = ""

    def row(self) -> dict:
        return {
            "source": self.source.id,
            "kommun": self.source.kommunkod or "AF",
            "status": "ok" if self.ok else "FAILED",
            "files": self.files,
            "rows": self.rows_read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "top quarantine reasons" if self.ok else "error": self.reasons if self.ok else self.error,
        }


@dataclass(frozen=True)
class StageOutcome:
    """A reconciliation's or a publication's run: its parameters and counts, or its error."""

    run_id: str
    ok: bool
    metadata: dict  # reconcile: of the overlaps (or the ad-hoc op); publish: per dataset name
    error: str = ""


@dataclass(frozen=True)
class ReconcileReport:
    """A reconciliation: its run, and its counts per kommun (empty when it failed)."""

    outcome: StageOutcome
    by_kommun: pd.DataFrame = field(default_factory=pd.DataFrame)
    folder: Path | None = None  # ad hoc: where its datasets are


@dataclass(frozen=True)
class NightReport:
    """What a night's run did, stage by stage (a stage that did not run is None)."""

    as_of: dt.date
    sources: list[SourceOutcome]
    reconciliation: ReconcileReport | None
    publication: StageOutcome | None
    instance_dir: Path
    database: str  # where the publication went, without a password

    @property
    def failed_sources(self) -> list[SourceOutcome]:
        return [outcome for outcome in self.sources if not outcome.ok]

    @property
    def sources_behind(self) -> str:
        """The sources a key rotation left behind, in the runbook's words ("" when none)."""
        if self.reconciliation is None or not self.reconciliation.outcome.ok:
            return ""
        behind = self.reconciliation.outcome.metadata.get("sources_behind", "none")
        return "" if behind == "none" else behind

    @property
    def ok(self) -> bool:
        stages = (self.reconciliation.outcome if self.reconciliation else None, self.publication)
        return (not self.failed_sources and not self.sources_behind
                and all(stage is not None and stage.ok for stage in stages))  # fmt: skip


# --- the stages, each a Dagster run ------------------------------------------------------------


def ingest_all(
    defs: dg.Definitions,
    sources: Sources,
    instance: dg.DagsterInstance,
    as_of: dt.date,
    on_done: Callable[[SourceOutcome], None] = lambda outcome: None,
    only: Collection[str] = (),
) -> list[SourceOutcome]:
    """Ingest every declared source (or the `only` ones): one run per source kind, in which
    each source fails on its own (a run over a contiguous range of the kind's partitions;
    `only` may need a few). Outcomes come in the sources file's order."""
    outcomes = {}
    for kind in KINDS:
        of_kind = [source for source in sources.all if source.kind == kind]
        wanted = [source for source in of_kind if not only or source.id in only]
        for first, last in _contiguous(of_kind, wanted):
            in_range = of_kind[of_kind.index(first): of_kind.index(last) + 1]
            result = execute(defs, instance, ingest_job(kind), run_config=ingest_run_config(kind, as_of),
                             tags={**partition_range_tags(partition_key(first), partition_key(last)),
                                   AS_OF_TAG: as_of.isoformat(),
                                   SOURCE_TAG: first.id if first is last else f"{first.id}…{last.id}"})  # fmt: skip
            _stop_on_a_fault(result)
            for source in in_range:
                outcomes[source.id] = _outcome(source, ingest_node(kind), result)
                on_done(outcomes[source.id])
    return [outcomes[source.id] for source in sources.all if source.id in outcomes]


def _contiguous(of_kind: list[Source], wanted: list[Source]) -> list[tuple[Source, Source]]:
    """The wanted sources as (first, last) runs of neighbours in the partitions' order."""
    runs: list[list[Source]] = []
    for source in wanted:
        if runs and of_kind.index(source) == of_kind.index(runs[-1][-1]) + 1:
            runs[-1].append(source)
        else:
            runs.append([source])
    return [(run[0], run[-1]) for run in runs]


def reconcile_stored(defs: dg.Definitions, instance: dg.DagsterInstance, as_of: dt.date,
                     run_config: dict | None = None, *, adhoc: bool = False) -> StageOutcome:  # fmt: skip
    """Run the nightly reconciliation as of `as_of` (or, `adhoc`, the coordinators' job with
    its `run_config` from `adhoc_run_config`) on the stored ingest."""
    job, node = (ADHOC_JOB, ADHOC_NODE) if adhoc else (RECONCILE_JOB, RECONCILE_NODE)
    run_config = run_config or reconcile_run_config(as_of)
    result = _execute(defs, instance, job, run_config, {AS_OF_TAG: as_of.isoformat()})
    _stop_on_a_fault(result)
    if not result.success:
        return _failed(result)
    if adhoc:
        (output,) = [e for e in result.events_for_node(node) if e.is_successful_output]
        metadata = output.step_output_data.metadata
    else:
        metadata = next(m for m in result.asset_materializations_for_node(node) if m.asset_key == OVERLAPS).metadata
    return StageOutcome(result.run_id, ok=True, metadata={k: v.value for k, v in metadata.items()})


def publish_latest(defs: dg.Definitions, instance: dg.DagsterInstance, run_config: dict | None = None) -> StageOutcome:
    """Publish every contract's dataset from the latest reconciliation."""
    result = _execute(defs, instance, PUBLISH_JOB, run_config or publish_run_config(), {})
    _stop_on_a_fault(result)
    if not result.success:
        return _failed(result)
    metadata = {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
                for m in result.asset_materializations_for_node(PUBLISH_NODE)}  # fmt: skip
    return StageOutcome(result.run_id, ok=True, metadata=metadata)


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, run_config: dict, tags: dict):
    return execute(defs, instance, job, run_config=run_config, tags=tags)


def execute(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, *, run_config: dict,
            tags: dict) -> dg.ExecuteInProcessResult:  # fmt: skip
    """Run `job` in this process. A fault of the instance itself (its disk full, its database
    gone) is one sentence; a run it leaves unfinished is failed when the next one starts."""
    run_id = str(uuid.uuid4())
    _EXECUTING.add(run_id)
    try:
        return defs.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False, run_config={**run_config, **_QUIET}, run_id=run_id,
            tags={**tags, PROCESS_TAG: _this_process()},
        )  # fmt: skip
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (Dagster's storage failing under us; its message is not ours)
        where = Path(instance.root_directory) if instance.root_directory else None
        if _disk_full(problem) and where is not None:
            raise disk_full(where) from None
        raise MachineFault(f"the Dagster instance at {where or 'its database'} could not record the run "
                           f"({type(problem).__name__}): check its disk and database, then run again") from None
    finally:
        _EXECUTING.discard(run_id)


# Errors that are no delivery's fault: the night stops at the first one (issue 12).
_FATAL = ("MachineFault", "KeyringError", "PrivilegeError")


def _stop_on_a_fault(result: dg.ExecuteInProcessResult) -> None:
    """A run that failed on a fault of the machine, the keys or the database stops everything."""
    for failure in result.get_step_failure_events():
        error = failure.step_failure_data.error
        while error.cause is not None and error.cls_name not in _FATAL:
            error = error.cause
        if error.cls_name in _FATAL:
            raise MachineFault(_root_message(error))


def _failed(result: dg.ExecuteInProcessResult) -> StageOutcome:
    failures = result.get_step_failure_events()
    error = _root_message(failures[0].step_failure_data.error) if failures else "the run failed"
    return StageOutcome(result.run_id, ok=False, metadata={}, error=error)


def _root_message(error) -> str:
    """The message of the innermost cause: Dagster wraps ours in its step error."""
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    # "schemas.errors.InputError: <message>" -> "<message>"
    return re.sub(r"^(?:\w+\.)*[A-Z]\w*: ", "", message)


def _outcome(source: Source, node: str, result: dg.ExecuteInProcessResult) -> SourceOutcome:
    """One source's outcome in a run over many: its materialization, or its failure's reason."""
    key = partition_key(source)
    failure = next((o.metadata[FAILURE_REASON].value for o in result.asset_observations_for_node(node)
                    if o.partition == key and FAILURE_REASON in o.metadata), None)  # fmt: skip
    main = next((m for m in result.asset_materializations_for_node(node) if m.partition == key
                 and "rows_read" in m.metadata), None)  # fmt: skip
    if failure is not None or main is None:
        failures = result.get_step_failure_events()
        error = failure or (_root_message(failures[0].step_failure_data.error) if failures else "the run failed")
        return SourceOutcome(source, result.run_id, ok=False, error=error)
    metadata = main.metadata
    reasons = metadata["quarantine_reasons"].value
    top = "; ".join(f"{kind} ({count})" for kind, count in list(reasons.items())[:2])
    return SourceOutcome(
        source, result.run_id, ok=True, files=metadata["file_count"].value, rows_read=metadata["rows_read"].value,
        accepted=metadata["accepted"].value, quarantined=metadata["quarantined"].value, reasons=top,
    )  # fmt: skip


# --- what the commands ask for -----------------------------------------------------------------


def check_only(sources: Sources, only: Collection[str]) -> None:
    declared = [s.id for s in sources.all]
    unknown = [source_id for source_id in only if source_id not in declared]
    if unknown:
        raise ConfigError(f"--source: got {', '.join(map(repr, unknown))}: not declared in {sources.path} "
                          f"(declared: {', '.join(declared)})")  # fmt: skip


def run_nightly(settings: Settings, as_of: dt.date, only: Collection[str] = (),
                progress: Callable[[int, int], None] = lambda done, total: None) -> NightReport:  # fmt: skip
    """Ingest every declared source (or the `only` ones), reconcile, publish; `progress` is
    told (sources done, sources in all) as the ingest goes."""
    if not settings.sources_file.exists():
        raise ConfigError(f"{settings.sources_file}: file not found (set MELLANRUM_SOURCES or --sources)")
    sources = load_declared_sources(settings)
    check_only(sources, only)
    defs = build_definitions(settings)
    preflight(settings, sources)
    instance = open_instance(settings)
    agree_with_the_log(instance, settings)
    total = len(only) or len(sources.all)
    done: list[SourceOutcome] = []
    progress(0, total)
    outcomes = ingest_all(defs, sources, instance, as_of, only=only,
                          on_done=lambda outcome: (done.append(outcome), progress(len(done), total)))  # fmt: skip
    report = NightReport(as_of, outcomes, None, None, Path(instance.root_directory), _shown(settings))
    reconciled = reconcile_stored(defs, instance, as_of)
    if not reconciled.ok:
        return _with(report, reconciliation=ReconcileReport(reconciled))
    files = DatasetFiles(settings.storage)
    summary = summary_by_kommun(files.load(OVERLAPS.path[-1]), files.load(TRANSITION_LIST.path[-1]))
    report = _with(report, reconciliation=ReconcileReport(reconciled, summary))
    return _with(report, publication=publish_latest(defs, instance))


def reconcile_adhoc(settings: Settings, as_of: dt.date, kommuner: Sequence[str] = (), *,
                    look_back_days: int | None = None, look_ahead_days: int | None = None,
                    cut_off: dt.date | None = None) -> ReconcileReport:  # fmt: skip
    """A coordinator's reconciliation of the stored data (nothing re-ingested, the nightly
    datasets left alone); its datasets go to the storage's adhoc/<run id>/."""
    defs = build_definitions(settings)
    preflight(settings, load_declared_sources(settings))
    run_config = adhoc_run_config(as_of, list(kommuner), look_back_days, look_ahead_days, cut_off)
    outcome = reconcile_stored(defs, open_instance(settings), as_of, run_config, adhoc=True)
    if not outcome.ok:
        return ReconcileReport(outcome)
    folder = DatasetFiles(settings.storage).report_folder(outcome.run_id)
    summary = summary_by_kommun(pd.read_parquet(folder / "overlaps.parquet"),
                                pd.read_parquet(folder / "transition_list.parquet"))  # fmt: skip
    return ReconcileReport(outcome, summary, folder)


def freeze_list(settings: Settings, name: str, cut_off: dt.date, as_of: dt.date) -> StageOutcome:
    """Freeze the transition list for `name` (`core.freeze`): the `freeze_transition_list` job
    on the stored data, its list published once as a dataset of its own."""
    frozen_table(name)  # a bad name is refused before anything runs
    defs = build_definitions(settings)
    preflight(settings, load_declared_sources(settings))
    result = _execute(defs, open_instance(settings), FREEZE_JOB, freeze_run_config(name, cut_off, as_of),
                      {AS_OF_TAG: as_of.isoformat()})  # fmt: skip
    _stop_on_a_fault(result)
    if not result.success:
        return _failed(result)
    (output,) = [e for e in result.events_for_node(FREEZE_NODE) if e.is_successful_output]
    return StageOutcome(result.run_id, ok=True,
                        metadata={k: v.value for k, v in output.step_output_data.metadata.items()})  # fmt: skip


def _shown(settings: Settings) -> str:
    return make_url(settings.publication_database_url()).render_as_string(hide_password=True)


def _with(report: NightReport, **changes) -> NightReport:
    return replace(report, **changes)



def _disk_full(problem: BaseException) -> bool:
    """Whether a storage error says the disk is full (SQLite's words, or the OS's errno)."""
    seen: BaseException | None = problem
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(seen) or "disk I/O error" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
