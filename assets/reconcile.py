"""Dagster: the nightly reconciliation assets and the coordinators' ad-hoc job, over `core.reconcile`."""

import datetime as dt
from collections.abc import Collection
from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic

from assets.ingest import AF_ASSIGNMENTS, MUNICIPAL_INTERVENTIONS, STEWARDS
from assets.lineage import (
    MUNICIPAL_PAIR_SOURCES,
    OVERLAP_SOURCES,
    TRANSITION_SOURCES,
    column_lineage,
)
from assets.metadata import column_schema
from assets.resources import DatasetStore, SourcesResource
from core.clock import today_in_stockholm
from core.reconcile import Reconciliation, Window, reconcile
from schemas.errors import ConfigError, MellanrumError, withheld
from schemas.reconciled import MunicipalOverlaps, Overlaps, TransitionList
from schemas.rules import DEFAULT_RULES, load_rules

OVERLAPS = dg.AssetKey("overlaps")
MUNICIPAL_OVERLAPS = dg.AssetKey("municipal_overlaps")
TRANSITION_LIST = dg.AssetKey("transition_list")
RECONCILE_GROUP = "reconcile"
RECONCILE_JOB = "reconcile"
ADHOC_JOB = "reconcile_adhoc"
_DATE_OR_EMPTY = r"^(\d{4}-\d{2}-\d{2})?$"

_MODELS = {OVERLAPS: Overlaps, MUNICIPAL_OVERLAPS: MunicipalOverlaps, TRANSITION_LIST: TransitionList}
_DESCRIPTIONS = {
    OVERLAPS: "Every municipal intervention and AF assignment of the same person that share at least "
    "one day, with its class (conflict, parallel, complementary), the rule that decided it, its flags "
    "and whether it touches the reporting window. Internal, for the data steward only: it holds the "
    "pseudonym and both sides' ids.",
    MUNICIPAL_OVERLAPS: "The same person in interventions of two different municipalities at once, each "
    "pair once. Internal, for the data steward only.",
    TRANSITION_LIST: "For AF: ongoing municipal interventions planned to continue past the cut-off, of "
    "people who appear in AF's data, keyed by AF's own assignment id (never a personnummer or pseudonym).",
}


_LINEAGE = {
    OVERLAPS: column_lineage(OVERLAP_SOURCES),
    MUNICIPAL_OVERLAPS: column_lineage(MUNICIPAL_PAIR_SOURCES),
    TRANSITION_LIST: column_lineage(TRANSITION_SOURCES),
}


class ReconcileConfig(dg.Config):
    as_of: str = pydantic.Field(
        default="", pattern=_DATE_OR_EMPTY, description="As-of date YYYY-MM-DD; empty: today in Stockholm."
    )
    look_back_days: int = pydantic.Field(
        default=Window.look_back_days, ge=0, description="Report overlaps that touch this many days before the as-of date."
    )
    look_ahead_days: int = pydantic.Field(
        default=Window.look_ahead_days, ge=0, description="… and this many days after it."
    )
    cut_off: str = pydantic.Field(
        default="", pattern=_DATE_OR_EMPTY,
        description="Transition list: interventions planned to continue past this date YYYY-MM-DD; "
        "empty: the as-of date.",
    )  # fmt: skip

    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else today_in_stockholm()

    def cut_off_date(self, as_of: dt.date) -> dt.date:
        return dt.date.fromisoformat(self.cut_off) if self.cut_off else as_of


class AdhocReconcileConfig(ReconcileConfig):
    kommuner: list[str] = pydantic.Field(
        default=[], description="Kommunkoder (four digits) to reconcile, e.g. [\"1480\"]; empty: every municipality."
    )


def _reconcile_stored(
    config: ReconcileConfig, instance: dg.DagsterInstance, datasets: DatasetStore, sources: SourcesResource,
    kommuner: Collection[str] = (),
) -> tuple[Reconciliation, dict]:
    """Reconcile the latest stored ingest of every source, and say which sources that was."""
    declared = sources.load()
    municipal_ids = [s.id for s in declared.all if s.kind == "municipal"]
    known = {s.kommunkod for s in declared.all if s.kind == "municipal"}
    unknown = sorted(set(kommuner) - known)
    if unknown:
        raise ConfigError(
            f"kommuner: got {', '.join(map(repr, unknown))}: not the kommunkod of any municipal source in "
            f"{declared.path} (declared: {', '.join(sorted(known))})"
        )
    stored = datasets.stored_partitions(MUNICIPAL_INTERVENTIONS) + datasets.stored_partitions(AF_ASSIGNMENTS)
    with_data = [s.id for s in declared.all if s.id in stored]
    without_data = [s.id for s in declared.all if s.id not in stored]
    as_of = config.as_of_date()
    cut_off = config.cut_off_date(as_of)
    if cut_off < as_of:
        raise ConfigError(f"cut_off: got {cut_off}: it must not be before the as-of date {as_of}")
    try:
        result = reconcile(
            datasets.load(MUNICIPAL_INTERVENTIONS, [i for i in municipal_ids if i in with_data]),
            datasets.load(AF_ASSIGNMENTS, [s.id for s in declared.all if s.kind == "af" and s.id in with_data]),
            load_rules(DEFAULT_RULES, declared.catalogue),
            as_of,
            Window(config.look_back_days, config.look_ahead_days),
            cut_off,
            kommuner,
        )
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a library error may carry a row's values)
        raise withheld("reconciliation", problem) from None
    stale = [
        f"{s.id} (last good {last or 'unknown'})"
        for s in declared.all
        if s.id in with_data
        and (last := _last_good_as_of(instance, MUNICIPAL_INTERVENTIONS if s.kind == "municipal" else AF_ASSIGNMENTS,
                                      s.id)) != as_of.isoformat()  # fmt: skip
    ]
    return result, {"sources_reconciled": with_data, "sources_without_data": without_data, "stale_sources": stale}


def _last_good_as_of(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> str | None:
    """The as-of date of a source's latest successful ingest (a failed one stores nothing)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    as_of = records[0].asset_materialization.metadata.get("as_of") if records else None
    return as_of.value if as_of is not None else None


def _parameters(result: Reconciliation, inputs: dict) -> dict:
    return {
        "as_of": result.as_of.isoformat(),
        "look_back_days": result.window.look_back_days,
        "look_ahead_days": result.window.look_ahead_days,
        "cut_off": result.cut_off.isoformat(),
        "kommuner": ", ".join(result.kommuner) if result.kommuner else "all",
        "rules_version": result.rules_version,
        **{name: ", ".join(ids) or "none" for name, ids in inputs.items()},
    }


def _counts(result: Reconciliation) -> dict[dg.AssetKey, dict]:
    """Per dataset: row counts and counts by class and flag. Never a row's values."""
    overlaps = result.overlaps
    return {
        OVERLAPS: {
            "dagster/row_count": len(overlaps),
            "in_window": int(overlaps["in_window"].sum()),
            "by_class": dg.MetadataValue.json(
                {str(k): int(v) for k, v in overlaps["classification"].value_counts().sort_index().items()}
            ),
            "interruption_risk": int(overlaps["interruption_risk"].sum()),
            "upcoming": int(overlaps["upcoming"].sum()),
            "key_ids": ", ".join(sorted(overlaps["key_id"].unique())) or "none",
        },
        MUNICIPAL_OVERLAPS: {
            "dagster/row_count": len(result.municipal_overlaps),
            "in_window": int(result.municipal_overlaps["in_window"].sum()),
        },
        TRANSITION_LIST: {"dagster/row_count": len(result.transition_list)},
    }


def _datasets(result: Reconciliation) -> dict[dg.AssetKey, pd.DataFrame]:
    return {
        OVERLAPS: result.overlaps,
        MUNICIPAL_OVERLAPS: result.municipal_overlaps,
        TRANSITION_LIST: result.transition_list,
    }


@dg.multi_asset(
    name="reconciliation",
    outs={
        key.to_python_identifier(): dg.AssetOut(
            key=key, description=_DESCRIPTIONS[key], group_name=RECONCILE_GROUP, owners=STEWARDS,
            io_manager_key="datasets", kinds={"pandas", "parquet"},
            metadata={"dagster/column_schema": column_schema(_MODELS[key]),
                      "dagster/column_lineage": _LINEAGE[key]},
        )
        for key in _MODELS
    },
    deps=[MUNICIPAL_INTERVENTIONS, AF_ASSIGNMENTS],
    check_specs=[dg.AssetCheckSpec(
        "sources_fresh", asset=OVERLAPS,
        description="Every declared source has ingested data, and its latest ingest succeeded for this as-of "
        "date. A warning names the sources whose last good data was used instead (see the run's metadata).",
    )],
    description="Find and classify overlaps and build AF's transition list from the latest stored "
    "ingest of every source (a source whose last delivery failed counts with its last good data).",
)  # fmt: skip
def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig, datasets: dg.ResourceParam[DatasetStore],
                   sources: SourcesResource):  # fmt: skip
    result, inputs = _reconcile_stored(config, context.instance, datasets, sources)
    parameters, counts = _parameters(result, inputs), _counts(result)
    context.log.info(f"reconciled as of {result.as_of}: {len(result.overlaps)} overlaps")
    for key, frame in _datasets(result).items():
        yield dg.Output(frame, output_name=key.to_python_identifier(), metadata={**counts[key], **parameters})
    yield dg.AssetCheckResult(
        asset_key=OVERLAPS, check_name="sources_fresh", severity=dg.AssetCheckSeverity.WARN,
        passed=not inputs["stale_sources"] and not inputs["sources_without_data"],
        # Source ids, never rows: which sources the steward must chase.
        metadata={"stale_sources": ", ".join(inputs["stale_sources"]) or "none",
                  "sources_without_data": ", ".join(inputs["sources_without_data"]) or "none"},
    )  # fmt: skip


@dg.op(
    name="adhoc_reconciliation",
    out=dg.Out(dg.Nothing),
    description="Reconcile the latest stored ingest with the given as-of date, municipalities, window and "
    "cut-off; the results go to storage/adhoc/<run id>/, apart from the nightly datasets.",
)
def adhoc_reconciliation(context: dg.OpExecutionContext, config: AdhocReconcileConfig, datasets: dg.ResourceParam[DatasetStore],
                         sources: SourcesResource):  # fmt: skip
    result, inputs = _reconcile_stored(config, context.instance, datasets, sources, config.kommuner)
    counts = _counts(result)
    for key, frame in _datasets(result).items():
        path = datasets.write_report(context.run_id, key.to_python_identifier(), frame)
        context.log.info(f"{key.to_user_string()}: {len(frame)} rows written to {path}")
    yield dg.Output(None, metadata={
        **_parameters(result, inputs),
        "folder": str(Path(datasets.base_dir, "adhoc", context.run_id)),
        "overlaps": counts[OVERLAPS]["dagster/row_count"],
        "overlaps_in_window": counts[OVERLAPS]["in_window"],
        "by_class": counts[OVERLAPS]["by_class"],
        "municipal_overlaps": counts[MUNICIPAL_OVERLAPS]["dagster/row_count"],
        "transition_list": counts[TRANSITION_LIST]["dagster/row_count"],
    })  # fmt: skip


@dg.job(
    name=ADHOC_JOB,
    description="Ad-hoc reconciliation for coordinators: pick the as-of date, municipalities, window and "
    "cut-off in the launchpad. Reuses the stored ingest (no re-ingest) and leaves the nightly datasets alone.",
)
def reconcile_adhoc():
    adhoc_reconciliation()
