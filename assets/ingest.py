"""Dagster: the ingest multi-assets over `core.ingest`, one partition per source, and one
run for any number of them.

A run covers a range of partitions (the whole night's sources of a kind, or one source a
delivery sensor or `mellanrum run --source` asks for) and handles each source on its own:

- a good source's rows are written to our store and its materialization and checks are
  reported for its own partition (`AssetMaterialization(partition=…)`,
  `AssetCheckEvaluation(partition=…)`); never an `Output`, which Dagster would record as a
  materialization of every partition of the run;
- a source whose delivery cannot be used is recorded with its reason in plain words (an
  observation on its partition, which the partition's page lists), nothing of it is
  written, its last good data stays, and the others go on;
- the run fails at the end naming the failed sources, so Dagster marks exactly those
  partitions failed and the steward can re-run them ("materialize failed partitions").

Validation of the model's rules runs once over all the run's sources (`validate_sources`);
the blocking check `matches_schema` reports that pass instead of validating again, and
nothing that breaks the model is ever written.
"""

import datetime as dt
import warnings
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # no public equivalent in 1.13 (pinned)
)

from assets.configs import IngestConfig
from assets.metadata import column_schema, reason_kinds, table
from assets.names import (
    INGEST_GROUP,
    INGESTED,
    STEWARDS,
    SourceKind,
    ingest_node,
    partition_key,
    source_id_of,
)
from assets.resources import DatasetStore, KeyringResource, RunDefaults
from core.clock import local_date
from core.ingest import (
    IngestResult,
    Prepared,
    model_for,
    prepare_source,
    validate_sources,
)
from core.epochs import CROSSWALK
from core.keys.keyring import pseudonym_keys
from schemas.datasets import Quarantine
from schemas.errors import MellanrumError, withheld
from schemas.municipalities import municipality_names
from schemas.sources import Source, Sources

_DESCRIPTIONS = {
    "municipal": (
        "Every municipality's interventions (insatser) that passed validation: one row per intervention, the "
        "person as a level-2 pseudonym with its key id and an age band. One partition per municipal source.",
        "Rows of the municipal deliveries that could not be used: file, line, column, the value (the "
        "personnummer masked) and the reason in plain words.",
    ),
    "af": (
        "AF's programme assignments (anvisningar) that passed validation: one row per assignment, the person "
        "as a level-2 pseudonym with its key id.",
        "Rows of AF's deliveries that could not be used, with file, line, column and reason.",
    ),
    "af_registrations": (
        "AF's registrations (inskrivningar) that passed validation: one row per registration spell, the person "
        "as a level-2 pseudonym with its key id, the age band on the registration date. Optional: without a "
        "registration source the youth monitor and the hand-over lists are empty.",
        "Rows of AF's registration deliveries that could not be used, with file, line, column and reason.",
    ),
}
FAILURE_REASON = "delivery_failed"


def ingest_assets(sources: Sources) -> list[dg.AssetsDefinition]:
    """The two ingest multi-assets, partitioned by the sources of each kind."""
    return [_ingest_asset(kind, [s for s in sources.all if s.kind == kind]) for kind in INGESTED]


def partitions_of(sources: list[Source]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([partition_key(source) for source in sources])


def _ingest_asset(kind: SourceKind, sources_of_kind: list[Source]) -> dg.AssetsDefinition:
    main, quarantine = INGESTED[kind]
    model = model_for(kind)
    partitions = partitions_of(sources_of_kind)
    described = dict(zip((main, quarantine), _DESCRIPTIONS[kind], strict=True))

    def out(key: dg.AssetKey, schema) -> dg.AssetOut:
        return dg.AssetOut(key=key, description=described[key], group_name=INGEST_GROUP, owners=STEWARDS,
                           io_manager_key="datasets", is_required=False, kinds={"pandas", "parquet"},
                           metadata={"dagster/column_schema": column_schema(schema)})  # fmt: skip

    # Per-partition checks are a Dagster preview feature; the exact Dagster pin guards it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        checks = [
            dg.AssetCheckSpec("matches_schema", asset=main, blocking=True, partitions_def=partitions,
                              description=f"Every accepted row satisfies the {model.__name__} model in "
                                          "schemas/datasets.py (checked in the validation itself; rows that do not "
                                          "go to quarantine, and a source whose data would not is never written)."),
            dg.AssetCheckSpec("quarantine_share", asset=main, partitions_def=partitions,
                              description="At most the source's max_quarantine_share of the delivered rows "
                                          "(5 % unless the sources file or the settings say otherwise) went to "
                                          "quarantine."),
            dg.AssetCheckSpec("delivered_on_time", asset=main, partitions_def=partitions,
                              description="On the run's as-of date, the newest delivered file is at most "
                                          "max_delivery_age_days old (7 unless the sources file or the settings "
                                          "say otherwise)."),
            dg.AssetCheckSpec("delivered_rows", asset=main, partitions_def=partitions,
                              description="A source that delivered rows last time delivers some this time too "
                                          "(a file of a header only is accepted as nobody to report: a warning)."),
        ]  # fmt: skip

    @dg.multi_asset(
        name=ingest_node(kind),
        outs={main.to_python_identifier(): out(main, model),
              quarantine.to_python_identifier(): out(quarantine, Quarantine)},  # fmt: skip
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,  # check outputs are then optional: each is reported per partition below
        check_specs=checks,
        description=f"Read, pseudonymize and validate each {kind} source's deliveries: one run for any number "
        "of sources, each failing on its own.",
    )
    def ingest(context: dg.AssetExecutionContext, config: IngestConfig, keyring: KeyringResource,
               sources: dg.ResourceParam[Sources], datasets: dg.ResourceParam[DatasetStore],
               defaults: RunDefaults):  # fmt: skip
        as_of = config.as_of_date()
        ring = keyring.open()
        keys = pseudonym_keys(ring, as_of)
        keys_of = {key: sources.source(source_id_of(key)) for key in context.partition_keys}
        prepared: dict[str, Prepared] = {}
        delivered_files: dict[str, list[Path]] = {}
        failed: dict[str, str] = {}
        for key, source in keys_of.items():
            try:
                delivered_files[key] = sources.files(source)
                prepared[key] = _safely(lambda s=source, paths=delivered_files[key]: prepare_source(
                    s, paths, sources.catalogue, keys, ring, as_of), source)  # fmt: skip
            except MellanrumError as problem:
                failed[key] = str(problem)
        results = _safely_all(lambda: validate_sources(list(prepared.values())))
        for key, source in keys_of.items():
            if key in failed:
                context.log.error(f"{key}: {failed[key]}")
                yield _failure(main, key, source, failed[key], as_of)
                continue
            result = results[source.id]
            delivered_before = _stored_rows(datasets, main, source)
            datasets.files.write(main.path[-1], source.id, result.accepted)
            datasets.files.write(quarantine.path[-1], source.id, result.quarantine)
            # A linkage-key rotation window: this source's people under both keys (core/epochs.py).
            crosswalk = prepared[key].crosswalk
            if crosswalk is not None:
                datasets.files.write(CROSSWALK, source.id, crosswalk)
                context.log.info(f"{key}: crosswalk of {len(crosswalk)} pseudonyms to {keys.key_id} kept "
                                 "for the linkage-key rotation window")  # fmt: skip
            else:
                datasets.files.delete(CROSSWALK, source.id)
            context.log.info(f"{key}: {result.rows_read} rows read, {len(result.accepted)} accepted, "
                             f"{len(result.quarantine)} quarantined, key id {keys.key_id}")  # fmt: skip
            yield from _reported(context, main, quarantine, key, source, result, keys.key_id,
                                 sources.catalogue.version, as_of, defaults, delivered_before,
                                 max(path.stat().st_mtime for path in delivered_files[key]))  # fmt: skip
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(keys_of)} {kind} sources failed; their last good data stays "
                "in use: " + "; ".join(f"{key}: {reason}" for key, reason in failed.items()),
                metadata={"failed_sources": dg.MetadataValue.json(failed)},
            )

    return ingest


def _safely(work, source: Source):
    """Run `work`; an unexpected error keeps its type but not its message, which may hold values."""
    try:
        return work()
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (any library error may carry a row's values)
        raise withheld(f"ingest of source {source.id!r}", problem) from None


def _safely_all(work) -> dict[str, IngestResult]:
    try:
        return work()
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (our bug, but its message may quote a row's values)
        raise withheld("validation of the delivered rows", problem) from None


def _stored_rows(datasets: DatasetStore, key: dg.AssetKey, source: Source) -> int | None:
    """Rows of the source's data as stored before this run (None: never stored)."""
    path = datasets.files.path(key.path[-1], source.id)
    return pq.read_metadata(path).num_rows if path.exists() else None


def _where(source: Source) -> dict:
    names = municipality_names()
    return {"source_id": source.id, "kommun": f"{source.kommunkod} {names[source.kommunkod]}" if source.kommunkod
            else "Arbetsförmedlingen"}  # fmt: skip


def _failure(main: dg.AssetKey, key: str, source: Source, reason: str, as_of: dt.date) -> dg.AssetObservation:
    """What the partition's page shows for a delivery that could not be used: why, in words."""
    return dg.AssetObservation(asset_key=main, partition=key, description=f"The delivery failed: {reason}",
                               metadata={FAILURE_REASON: reason, "as_of": as_of.isoformat(), **_where(source),
                                         "status": "failed: the last good data stays in use"})  # fmt: skip


def _target(context: dg.AssetExecutionContext, asset: dg.AssetKey, key: str):
    """The materialization just stored, so the UI shows a check as the partition's current one."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(storage_id=record.storage_id, run_id=record.run_id,
                                                         timestamp=record.timestamp)  # fmt: skip


def _reported(context, main, quarantine, key: str, source: Source, result: IngestResult, key_id: str, catalogue: str,
              as_of: dt.date, defaults: RunDefaults, delivered_before: int | None, newest_mtime: float):  # fmt: skip
    read = result.rows_read
    share = len(result.quarantine) / read if read else 0.0
    yield dg.AssetMaterialization(asset_key=main, partition=key, metadata={
        **_where(source),
        "dagster/row_count": len(result.accepted),
        "rows_read": read,
        "file_count": len(result.files),
        "accepted": len(result.accepted),
        "quarantined": len(result.quarantine),
        # A count only: which rows (or pseudonyms) are protected is never shown.
        "protected_identity_rows": int(result.accepted["protected_identity"].sum()),
        "files": table(result.files),
        "key_id": key_id,
        "as_of": as_of.isoformat(),
        "catalogue_version": catalogue,
        # Column lineage's first step: our column <- the delivery's own column name.
        "source_columns": dg.MetadataValue.json({ours: theirs for theirs, ours in source.columns.items()}),
        "quarantine_reasons": dg.MetadataValue.json(reason_kinds(result.quarantine["reason"])),
    })  # fmt: skip
    yield dg.AssetMaterialization(asset_key=quarantine, partition=key,
                                  metadata={"dagster/row_count": len(result.quarantine), **_where(source)})  # fmt: skip
    target = _target(context, main, key)

    def check(name: str, passed: bool, metadata: dict, **more) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(asset_key=main, check_name=name, passed=passed, partition=key,
                                       metadata=metadata, target_materialization_data=target, **more)  # fmt: skip

    # The validation itself is the check: what broke the model is in quarantine, not here.
    yield check("matches_schema", True, {"rows_checked": len(result.accepted), "failures_by_check": {}}, blocking=True)
    threshold = defaults.quarantine_share_of(source)
    yield check("quarantine_share", share <= threshold,
                {"quarantined": len(result.quarantine), "rows_read": read, "share": round(share, 4),
                 "threshold": threshold})  # fmt: skip
    # Measured against the as-of date, not the wall clock: a re-run as of a past date asks
    # how old the delivery was then (a file delivered after that date counts as fresh).
    delivered_on = local_date(newest_mtime)
    age_days = max((as_of - delivered_on).days, 0)
    max_age = defaults.delivery_age_of(source)
    yield check("delivered_on_time", age_days <= max_age,
                {"newest_file_delivered_on": delivered_on.isoformat(), "age_days_on_as_of": age_days,
                 "as_of": as_of.isoformat(), "max_age_days": max_age})  # fmt: skip
    yield check("delivered_rows", read > 0 or not delivered_before,
                {"rows_read": read, "rows_stored_before": delivered_before if delivered_before is not None else "none"},
                severity=dg.AssetCheckSeverity.WARN)  # fmt: skip

