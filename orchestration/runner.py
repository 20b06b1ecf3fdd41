"""Run the pipeline in-process against a Dagster instance, one run per source partition.

Each source is its own run, so a delivery that fails stops only its own source; the runs
land in the instance (DAGSTER_HOME), where the steward sees them in the UI.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets.publish import PUBLISH_JOB
from assets.reconcile import ADHOC_JOB, OVERLAPS, RECONCILE_JOB
from schemas.sources import Source, Sources

DAGSTER_HOME_ENV = "DAGSTER_HOME"


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


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME, else in <home>/dagster (telemetry off)."""
    dagster_home = Path(os.environ.get(DAGSTER_HOME_ENV) or home / "dagster")
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        # No telemetry, and no sign-up pop-up over the steward's pages.
        config.write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n", encoding="utf-8")
    return dg.DagsterInstance.from_config(str(dagster_home))


def ingest_all(
    defs: dg.Definitions,
    sources: Sources,
    instance: dg.DagsterInstance,
    as_of: dt.date,
    on_done: Callable[[SourceOutcome], None] = lambda outcome: None,
    only: Collection[str] = (),
) -> list[SourceOutcome]:
    """Ingest every declared source (or the `only` ones), each in its own run; failures
    don't stop the rest."""
    outcomes = []
    for source in [s for s in sources.all if not only or s.id in only]:
        node = f"{source.kind}_ingest"
        result = defs.resolve_job_def(f"ingest_{source.kind}").execute_in_process(
            partition_key=source.id,
            instance=instance,
            raise_on_error=False,
            run_config={
                "ops": {node: {"config": {"as_of": as_of.isoformat()}}},
                # The events are stored in the instance; the terminal gets the summary table.
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            tags={"mellanrum/source": source.id, "mellanrum/as_of": as_of.isoformat()},
        )
        outcome = _outcome(source, node, result)
        on_done(outcome)
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class StageOutcome:
    """A reconciliation's or a publication's run: its parameters and counts, or its error."""

    run_id: str
    ok: bool
    metadata: dict  # reconcile: of the overlaps (or the ad-hoc op); publish: per dataset name
    error: str = ""


def reconcile_stored(
    defs: dg.Definitions, instance: dg.DagsterInstance, config: dict, adhoc: bool = False
) -> StageOutcome:
    """Run the nightly reconciliation (or, `adhoc`, the coordinators' job) on the stored ingest.

    `config` holds the fields of `ReconcileConfig` (`AdhocReconcileConfig` when ad hoc).
    """
    job, node = (ADHOC_JOB, "adhoc_reconciliation") if adhoc else (RECONCILE_JOB, "reconciliation")
    result = _execute(defs, instance, job, node, config)
    if not result.success:
        return _failed(result)
    if adhoc:
        (output,) = [e for e in result.events_for_node(node) if e.is_successful_output]
        metadata = output.step_output_data.metadata
    else:
        metadata = next(m for m in result.asset_materializations_for_node(node) if m.asset_key == OVERLAPS).metadata
    return StageOutcome(result.run_id, ok=True, metadata={k: v.value for k, v in metadata.items()})


def publish_latest(defs: dg.Definitions, instance: dg.DagsterInstance, config: dict | None = None) -> StageOutcome:
    """Publish every contract's dataset from the latest reconciliation (`PublishConfig` fields)."""
    result = _execute(defs, instance, PUBLISH_JOB, "publication", config or {})
    if not result.success:
        return _failed(result)
    metadata = {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
                for m in result.asset_materializations_for_node("publication")}  # fmt: skip
    return StageOutcome(result.run_id, ok=True, metadata=metadata)


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, node: str, config: dict):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {node: {"config": config}}, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        tags={"mellanrum/as_of": config["as_of"]} if config.get("as_of") else None,
    )


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
    return re.sub(r"^[\w.]+(Error|Exception): ", "", message)


def _outcome(source: Source, node: str, result: dg.ExecuteInProcessResult) -> SourceOutcome:
    if not result.success:
        failures = result.get_step_failure_events()
        return SourceOutcome(source, result.run_id, ok=False,
                             error=_root_message(failures[0].step_failure_data.error) if failures else "the run failed")
    main = next(m for m in result.asset_materializations_for_node(node) if "rows_read" in m.metadata)
    metadata = main.metadata
    reasons = metadata["quarantine_reasons"].value
    top = "; ".join(f"{kind} ({count})" for kind, count in list(reasons.items())[:2])
    return SourceOutcome(
        source, result.run_id, ok=True, files=metadata["file_count"].value, rows_read=metadata["rows_read"].value,
        accepted=metadata["accepted"].value, quarantined=metadata["quarantined"].value, reasons=top,
    )  # fmt: skip
