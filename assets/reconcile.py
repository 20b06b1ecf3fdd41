"""Dagster: the nightly reconciliation assets and the coordinators' ad-hoc job, over `core.reconcile`.

The nightly reconciliation reads every source's latest good ingest as its inputs (all
partitions, through the `DatasetStore` IO manager), so the asset graph shows the lineage
it really has; its parameters (as-of date, window, cut-off, rule table, key ids) are a
dataset of their own that the publication reads.
"""

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from assets.configs import AdhocReconcileConfig, ReconcileConfig
from assets.lineage import (
    HANDOVER_SOURCES,
    MUNICIPAL_PAIR_SOURCES,
    FLOW_SOURCES,
    OUTCOME_SOURCES,
    OVERLAP_SOURCES,
    TRANSITION_SOURCES,
    YOUTH_SOURCES,
    column_lineage,
)
from assets.metadata import column_schema, table
from assets.names import (
    ADHOC_JOB,
    ADHOC_NODE,
    AF_ASSIGNMENTS,
    AF_REGISTRATIONS,
    AS_OF_TAG,
    HANDOVERS,
    INGESTED,
    INTERVENTION_OUTCOMES,
    KEY_EPOCHS,
    MUNICIPAL_FLOWS,
    MUNICIPAL_INTERVENTIONS,
    MUNICIPAL_OVERLAPS,
    OVERLAPS,
    RECONCILE_GROUP,
    RECONCILE_NODE,
    RECONCILE_PARAMETERS,
    STEWARDS,
    TRANSITION_LIST,
    YOUTH_MONITOR,
    partition_key,
)
from assets.resources import DatasetStore, KeyringResource, RunDefaults
from core.epochs import (
    CROSSWALK,
    behind_sentence,
    bring_forward,
    bring_store_forward,
    comparable,
    source_epochs,
    target_epoch,
)
from core.freshness import NO_DATA, STALE, SourceFacts, freshness, named
from core.publish import empty
from core.validate import validated
from schemas.municipalities import municipality_names
from core.reconcile import Reconciliation, Window, check_kommuner, reconcile
from core.flows import municipal_flows
from core.outcomes import intervention_outcomes
from core.registrations import handovers, youth_monitor
from schemas.errors import MellanrumError, withheld
from schemas.flows import MunicipalFlows
from schemas.followup import Handovers, InterventionOutcomes, YouthMonitor
from schemas.reconciled import (
    KeyEpochs,
    MunicipalOverlaps,
    Overlaps,
    ReconciliationParameters,
    TransitionList,
)
from schemas.rules import DEFAULT_RULES, load_rules
from schemas.sources import Source, Sources

_MODELS = {OVERLAPS: Overlaps, MUNICIPAL_OVERLAPS: MunicipalOverlaps, TRANSITION_LIST: TransitionList,
           RECONCILE_PARAMETERS: ReconciliationParameters, KEY_EPOCHS: KeyEpochs, YOUTH_MONITOR: YouthMonitor,
           HANDOVERS: Handovers, INTERVENTION_OUTCOMES: InterventionOutcomes,
           MUNICIPAL_FLOWS: MunicipalFlows}  # fmt: skip
NO_REGISTRATION_DATA = "no registration data"
_DESCRIPTIONS = {
    OVERLAPS: "Every municipal intervention and AF assignment of the same person that share at least "
    "one day, with its class (conflict, parallel, complementary), the rule that decided it, its flags "
    "and whether it touches the reporting window. Internal, for the data steward only: it holds the "
    "pseudonym and both sides' ids.",
    MUNICIPAL_OVERLAPS: "The same person in interventions of two different municipalities at once, each "
    "pair once. Internal, for the data steward only.",
    TRANSITION_LIST: "For AF: ongoing municipal interventions planned to continue past the cut-off, of "
    "people who appear in AF's data, keyed by AF's own assignment id (never a personnummer or pseudonym).",
    YOUTH_MONITOR: "The 90-day youth monitor: every registration spell at AF of a person aged 16-24 on "
    "day 0, its status on the as-of date (met, approaching, breached, pending, ended) and the municipalities "
    "holding the person. Internal, for the data steward only: it holds the pseudonym. Empty without a "
    "registration source.",
    HANDOVERS: "Hand-overs so nobody falls between the chairs (insats_slut_utan_af, af_slut_utan_fortsattning, "
    "kaa_slutar), with both parties' ids and consents. Internal, for the data steward only. Empty without a "
    "registration source.",
    INTERVENTION_OUTCOMES: "Outcomes after an intervention: every intervention of either party that ended, and "
    "for each of 30, 90 and 180 days after its last day already reached, the person's status on that day (work, "
    "studies, af_programme, municipal_intervention, registered, not_known; core/outcomes.py). Internal, for the "
    "data steward only: it holds the pseudonym. Empty without a registration source.",
    MUNICIPAL_FLOWS: "Flows between municipalities: every municipal intervention once per calendar month it was "
    "active in (start month up to the month of min(end, as-of)), with the providing kommun and the person's home "
    "kommun (folkbokföringskommun; the providing one where the delivery maps none; core/flows.py). Internal, for "
    "the data steward only: it holds the pseudonym.",
    RECONCILE_PARAMETERS: "What the reconciliation was run with: as-of date, window, cut-off, rule "
    "table version, and one row per pseudonym key id the data was linked on. The publication reads it.",
    KEY_EPOCHS: "Per source: the key ids its stored data is under and whether it could be brought to the "
    "night's keys (re-keyed along the pipeline key chain, or through the linkage-key crosswalk) or is behind: "
    "left out of the reconciliation, its recipients keeping their previous publication. The publication reads it.",
}
_LINEAGE = {
    OVERLAPS: column_lineage(OVERLAP_SOURCES),
    MUNICIPAL_OVERLAPS: column_lineage(MUNICIPAL_PAIR_SOURCES),
    TRANSITION_LIST: column_lineage(TRANSITION_SOURCES),
    YOUTH_MONITOR: column_lineage(YOUTH_SOURCES),
    HANDOVERS: column_lineage(HANDOVER_SOURCES),
    INTERVENTION_OUTCOMES: column_lineage(OUTCOME_SOURCES),
    MUNICIPAL_FLOWS: column_lineage(FLOW_SOURCES),
}


def _registrations(datasets: DatasetStore, sources: Sources) -> pd.DataFrame | None:
    """The stored registrations of every registration source (None: no source, or none stored yet),
    for the ad-hoc op; the nightly asset has them as its input (`DatasetStore`, the same rule)."""
    ids = [s.id for s in sources.all if s.kind == "af_registrations"]
    stored = [i for i in ids if datasets.files.path(AF_REGISTRATIONS.path[-1], i).exists()]
    return datasets.files.load(AF_REGISTRATIONS.path[-1], stored) if stored else None


def _followup(result: Reconciliation, municipal: pd.DataFrame, af: pd.DataFrame,
              registrations: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The youth monitor, the hand-over lists and the outcomes (empty without registration data)."""
    if registrations is None:
        # Without registration data the new datasets are empty and say so (their metadata).
        return empty(YouthMonitor), empty(Handovers), empty(InterventionOutcomes)
    try:
        return (youth_monitor(municipal, af, registrations, result.as_of),
                handovers(municipal, af, registrations, result.as_of),
                intervention_outcomes(municipal, af, registrations, result.as_of))
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a library error may carry a row's values)
        raise withheld("youth monitor, hand-overs and outcomes", problem) from None


def _reconcile(config: ReconcileConfig, municipal: pd.DataFrame, af: pd.DataFrame, sources: Sources,
               defaults: RunDefaults, kommuner: Collection[str] = (),
               registrations: pd.DataFrame | None = None) -> Reconciliation:  # fmt: skip
    check_kommuner(kommuner, {s.kommunkod for s in sources.all if s.kind == "municipal"}, sources.path)
    as_of = config.as_of_date()
    window = Window(
        defaults.look_back_days if config.look_back_days is None else config.look_back_days,
        defaults.look_ahead_days if config.look_ahead_days is None else config.look_ahead_days,
    )
    rules = load_rules(DEFAULT_RULES, sources.catalogue)
    try:
        return reconcile(municipal, af, rules, as_of, window, config.cut_off_date(as_of), kommuner,
                         registrations=registrations)
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a library error may carry a row's values)
        raise withheld("reconciliation", problem) from None


@dataclass(frozen=True)
class _Epochs:
    municipal: pd.DataFrame  # the rows the reconciliation may compare
    af: pd.DataFrame
    table: pd.DataFrame  # KeyEpochs
    target: str
    changes: list[dict]  # files re-keyed in the store tonight (the re-key log's lines)


def _epochs(ring_resource: KeyringResource, datasets: DatasetStore, as_of: dt.date, municipal: pd.DataFrame,
            af: pd.DataFrame, persist: bool) -> _Epochs:  # fmt: skip
    """Bring every source's data to the night's keys (`core/epochs.py`): in the store when
    `persist` (the nightly run), in memory only otherwise (an ad-hoc run leaves it alone).
    Only rows under one epoch are compared; a source that cannot be brought is left out."""
    ring = ring_resource.open()
    present = pd.concat([municipal["key_id"], af["key_id"]], ignore_index=True).dropna().unique()
    epoch = target_epoch(ring, as_of, present)
    files = datasets.files
    changes = []
    if persist:
        changes = bring_store_forward(files, epoch, [MUNICIPAL_INTERVENTIONS.path[-1], AF_ASSIGNMENTS.path[-1]],
                                      as_of, dt.datetime.now(dt.UTC))  # fmt: skip
    crosswalk = files.load(CROSSWALK) if files.partitions(CROSSWALK) else None
    brought = {kind: bring_forward(frame, epoch, crosswalk) for kind, frame in (("municipal", municipal), ("af", af))}
    table = pd.concat([source_epochs(b.frame, b.how, kind, epoch) for kind, b in brought.items()], ignore_index=True)
    table = validated(table, KeyEpochs)
    return _Epochs(comparable(brought["municipal"].frame, table, epoch), comparable(brought["af"].frame, table, epoch),
                   table, epoch.key_id, changes)  # fmt: skip


def _epoch_facts(epochs: _Epochs) -> dict:
    """What the run's metadata says of the key epochs: counts and key ids, never a value."""
    sentence = behind_sentence(epochs.table, municipality_names())
    return {
        "key_id": epochs.target,
        "sources_behind": sentence or "none",
        "sources_brought_forward": ", ".join(epochs.table.loc[epochs.table["status"] == "brought forward",
                                                              "source_id"]) or "none",  # fmt: skip
        "files_rekeyed": len(epochs.changes),
    }


def _source_facts(instance: dg.DagsterInstance, sources: Sources, as_of: dt.date) -> dict:
    """Freshness of every declared source from the facts of its ingest (`core.freshness`):
    the as-of date of its latest good ingest, and whether a later attempt failed."""
    facts = [_facts(instance, source) for source in sources.all]
    table = freshness(facts, as_of)
    return {
        "sources_reconciled": [f.source_id for f in facts if f.data_as_of is not None],
        "sources_without_data": named(table, NO_DATA),
        "stale_sources": named(table, STALE),
        "freshness": table,
    }


def _facts(instance: dg.DagsterInstance, source: Source) -> SourceFacts:
    key, asset = partition_key(source), INGESTED[source.kind][0]
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[key]),
                                              limit=1).records  # fmt: skip
    good = records[0] if records else None
    data_as_of = good.asset_materialization.metadata["as_of"].value if good else None
    planned = instance.get_latest_planned_materialization_info(asset, key)
    attempt = instance.get_run_by_id(planned.run_id) if planned else None
    # An attempt that has not materialized this partition and has finished did not succeed for it.
    failed = (attempt is not None and (good is None or attempt.run_id != good.run_id)
              and attempt.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED))  # fmt: skip
    return SourceFacts(source.id, _date(data_as_of), _date(attempt.tags.get(AS_OF_TAG)) if attempt else None, failed)


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _load_stored(datasets: DatasetStore, sources: Sources, kind: str, key: dg.AssetKey) -> pd.DataFrame:
    return datasets.files.load(key.path[-1], [s.id for s in sources.all if s.kind == kind])


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
        "sources_reconciled": ", ".join(inputs["sources_reconciled"]) or "none",
        "sources_without_data": inputs["sources_without_data"],
        "stale_sources": inputs["stale_sources"],
        "freshness": table(inputs["freshness"]),
    }


def _followup_counts(monitor: pd.DataFrame, handed: pd.DataFrame, registrations: pd.DataFrame | None,
                     outcomes: pd.DataFrame | None = None) -> dict:  # fmt: skip
    """Counts only: by status and by kind, or that there is no registration data."""
    if registrations is None:
        return {key: {"dagster/row_count": 0, "registration_data": NO_REGISTRATION_DATA}
                for key in (YOUTH_MONITOR, HANDOVERS, INTERVENTION_OUTCOMES)}  # fmt: skip
    outcomes = empty(InterventionOutcomes) if outcomes is None else outcomes
    spells = monitor.drop_duplicates("registration_id")
    return {
        YOUTH_MONITOR: {"dagster/row_count": len(monitor), "registration_data": f"{len(registrations)} registrations",
                        "by_status": dg.MetadataValue.json({str(k): int(v) for k, v in
                                                            spells["status"].value_counts().sort_index().items()})},
        HANDOVERS: {"dagster/row_count": len(handed), "registration_data": f"{len(registrations)} registrations",
                    "by_kind": dg.MetadataValue.json({str(k): int(v) for k, v in
                                                      handed["kind"].value_counts().sort_index().items()})},
        INTERVENTION_OUTCOMES: {"dagster/row_count": len(outcomes),
                                "registration_data": f"{len(registrations)} registrations",
                                "by_status": dg.MetadataValue.json({str(k): int(v) for k, v in
                                                                    outcomes["status"].value_counts().sort_index().items()})},
    }  # fmt: skip


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
            "key_ids": dg.MetadataValue.json(list(result.key_ids)),
        },
        MUNICIPAL_OVERLAPS: {
            "dagster/row_count": len(result.municipal_overlaps),
            "in_window": int(result.municipal_overlaps["in_window"].sum()),
        },
        TRANSITION_LIST: {"dagster/row_count": len(result.transition_list)},
        RECONCILE_PARAMETERS: {"dagster/row_count": len(result.key_ids)},
    }


def _flows(result: Reconciliation, municipal: pd.DataFrame) -> pd.DataFrame:
    """The flows between municipalities of the kommuner reconciled (all, or the ad-hoc run's)."""
    if result.kommuner is not None:
        municipal = municipal[municipal["kommunkod"].isin(result.kommuner).to_numpy(dtype=bool)]
    try:
        return municipal_flows(municipal, result.as_of)
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a library error may carry a row's values)
        raise withheld("flows between municipalities", problem) from None


def _datasets(result: Reconciliation, epochs: _Epochs) -> dict[dg.AssetKey, pd.DataFrame]:
    return {
        OVERLAPS: result.overlaps,
        MUNICIPAL_OVERLAPS: result.municipal_overlaps,
        TRANSITION_LIST: result.transition_list,
        MUNICIPAL_FLOWS: _flows(result, epochs.municipal),
        RECONCILE_PARAMETERS: result.parameters(),
        KEY_EPOCHS: epochs.table,
    }


@dg.multi_asset(
    name=RECONCILE_NODE,
    # AF's registrations are optional: None while no registration source has data (`DatasetStore`).
    ins={"municipal": dg.AssetIn(MUNICIPAL_INTERVENTIONS), "af": dg.AssetIn(AF_ASSIGNMENTS),
         "registrations": dg.AssetIn(AF_REGISTRATIONS)},
    outs={
        key.to_python_identifier(): dg.AssetOut(
            key=key, description=_DESCRIPTIONS[key], group_name=RECONCILE_GROUP, owners=STEWARDS,
            io_manager_key="datasets", kinds={"pandas", "parquet"},
            metadata={"dagster/column_schema": column_schema(_MODELS[key]),
                      **({"dagster/column_lineage": _LINEAGE[key]} if key in _LINEAGE else {})},
        )
        for key in _MODELS
    },
    check_specs=[dg.AssetCheckSpec(
        "sources_fresh", asset=OVERLAPS,
        description="Every declared source has data as of the reconciliation's date or later, and its latest "
        "ingest attempt did not fail. A warning names each stale source and source without data, with why "
        "(see core/freshness.py); the metadata holds the table of every source.",
    ), dg.AssetCheckSpec(
        "one_key_epoch", asset=OVERLAPS,
        description="Every source's data is under the night's keys, or could be brought there (pipeline key: "
        "re-keyed by chaining; linkage key: through the rotation window's crosswalk). Fails naming each source "
        "left behind under an older linkage key, and both key ids: that source is left out of the comparison and "
        "the recipients it affects keep their previous publication (docs/runbook.md, rotating keys).",
    )],
    description="Find and classify overlaps and build AF's transition list from the latest stored "
    "ingest of every source (a source whose last delivery failed counts with its last good data).",
)  # fmt: skip
def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig, municipal: pd.DataFrame,
                   af: pd.DataFrame, registrations: pd.DataFrame | None, datasets: dg.ResourceParam[DatasetStore],
                   sources: dg.ResourceParam[Sources], defaults: RunDefaults, keyring: KeyringResource):  # fmt: skip
    epochs = _epochs(keyring, datasets, config.as_of_date(), municipal, af, persist=True)
    for change in epochs.changes:
        context.log.info(f"{change['dataset']}/{change['partition']}: {change['action']} to {change['to_key_id']} "
                         f"({change['rows_rekeyed']} re-keyed, {change['rows_crosswalked']} crosswalked)")  # fmt: skip
    result = _reconcile(config, epochs.municipal, epochs.af, sources, defaults, registrations=registrations)
    monitor, handed, outcomes = _followup(result, epochs.municipal, epochs.af, registrations)
    inputs = _source_facts(context.instance, sources, result.as_of)
    parameters = {**_parameters(result, inputs), **_epoch_facts(epochs)}
    counts = {**_counts(result), **_followup_counts(monitor, handed, registrations, outcomes)}
    if not epochs.table["status"].eq("behind").any():
        context.log.info(f"every source's data is under {epochs.target}")
    else:
        context.log.error(f"key epochs: {parameters['sources_behind']}")
    context.log.info(f"reconciled as of {result.as_of}: {len(result.overlaps)} overlaps")
    counts[KEY_EPOCHS] = {"dagster/row_count": len(epochs.table)}
    made = _datasets(result, epochs)
    counts[MUNICIPAL_FLOWS] = {"dagster/row_count": len(made[MUNICIPAL_FLOWS]),
                               "cross_municipality_rows": int((made[MUNICIPAL_FLOWS]["kommunkod"]
                                                               != made[MUNICIPAL_FLOWS]["home_kommunkod"]).sum())}
    for key, frame in {**made, YOUTH_MONITOR: monitor, HANDOVERS: handed,
                       INTERVENTION_OUTCOMES: outcomes}.items():  # fmt: skip
        yield dg.Output(frame, output_name=key.to_python_identifier(), metadata={**counts[key], **parameters})
    yield dg.AssetCheckResult(
        asset_key=OVERLAPS, check_name="sources_fresh", severity=dg.AssetCheckSeverity.WARN,
        passed=inputs["stale_sources"] == "none" and inputs["sources_without_data"] == "none",
        # Source ids, never rows: which sources the steward must chase.
        metadata={"stale_sources": inputs["stale_sources"], "sources_without_data": inputs["sources_without_data"],
                  "freshness": table(inputs["freshness"])},
    )  # fmt: skip
    yield dg.AssetCheckResult(
        asset_key=OVERLAPS, check_name="one_key_epoch", passed=parameters["sources_behind"] == "none",
        description=parameters["sources_behind"] if parameters["sources_behind"] != "none"
        else f"every source's data is under {epochs.target}",
        metadata={"key_id": epochs.target, "sources_behind": parameters["sources_behind"],
                  "key_epochs": table(epochs.table)},
    )  # fmt: skip


@dg.op(
    name=ADHOC_NODE,
    out=dg.Out(dg.Nothing),
    description="Reconcile the latest stored ingest with the given as-of date, municipalities, window and "
    "cut-off; the results go to storage/adhoc/<run id>/, apart from the nightly datasets.",
)
def adhoc_reconciliation(context: dg.OpExecutionContext, config: AdhocReconcileConfig,
                         datasets: dg.ResourceParam[DatasetStore], sources: dg.ResourceParam[Sources],
                         defaults: RunDefaults, keyring: KeyringResource):  # fmt: skip
    municipal = _load_stored(datasets, sources, "municipal", MUNICIPAL_INTERVENTIONS)
    af = _load_stored(datasets, sources, "af", AF_ASSIGNMENTS)
    epochs = _epochs(keyring, datasets, config.as_of_date(), municipal, af, persist=False)
    result = _reconcile(config, epochs.municipal, epochs.af, sources, defaults, config.kommuner,
                        _registrations(datasets, sources))
    inputs = _source_facts(context.instance, sources, result.as_of)
    counts = _counts(result)
    for key, frame in _datasets(result, epochs).items():
        if key in (RECONCILE_PARAMETERS, KEY_EPOCHS, MUNICIPAL_FLOWS):  # the night's publication inputs only
            continue
        path = datasets.files.write_report(context.run_id, key.to_python_identifier(), frame)
        context.log.info(f"{key.to_user_string()}: {len(frame)} rows written to {path}")
    yield dg.Output(None, metadata={
        **_parameters(result, inputs),
        **_epoch_facts(epochs),
        "folder": str(datasets.files.report_folder(context.run_id)),
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
