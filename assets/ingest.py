"""Dagster: the ingest multi-assets, one partition per source, over `core.ingest`."""

import datetime as dt
import warnings

import dagster as dg

from assets.configs import IngestConfig
from assets.metadata import column_schema, reason_kinds
from assets.names import (
    AF_ASSIGNMENTS,
    AF_QUARANTINE,
    INGEST_GROUP,
    INGESTED,
    MUNICIPAL_INTERVENTIONS,
    MUNICIPAL_QUARANTINE,
    STEWARDS,
    SourceKind,
    ingest_node,
)
from assets.resources import KeyringResource, RunDefaults
from core.clock import local_date
from core.ingest import IngestResult, ingest_source, model_for
from core.keys.keyring import pseudonym_keys
from core.validate import schema_failures
from schemas.datasets import Quarantine
from schemas.errors import MellanrumError, withheld
from schemas.sources import Source, Sources

_DESCRIPTIONS = {
    MUNICIPAL_INTERVENTIONS: "Every municipality's interventions (insatser) that passed validation: one row "
    "per intervention, the person as a level-2 pseudonym with its key id and an age band. "
    "One partition per municipal source.",
    MUNICIPAL_QUARANTINE: "Rows of the municipal deliveries that could not be used: file, line, column, "
    "the value (the personnummer masked) and the reason in plain words.",
    AF_ASSIGNMENTS: "AF's programme assignments (anvisningar) that passed validation: one row per "
    "assignment, the person as a level-2 pseudonym with its key id.",
    AF_QUARANTINE: "Rows of AF's deliveries that could not be used, with file, line, column and reason.",
}


def ingest_assets(sources: Sources) -> list[dg.AssetsDefinition]:
    """The two ingest multi-assets, partitioned by the sources of each kind."""
    return [_ingest_asset(kind, [s.id for s in sources.all if s.kind == kind]) for kind in INGESTED]


def _ingest_asset(kind: SourceKind, source_ids: list[str]) -> dg.AssetsDefinition:
    main, quarantine = INGESTED[kind]
    model = model_for(kind)
    partitions = dg.StaticPartitionsDefinition(source_ids)

    def out(key: dg.AssetKey, schema) -> dg.AssetOut:
        return dg.AssetOut(key=key, description=_DESCRIPTIONS[key], group_name=INGEST_GROUP, owners=STEWARDS,
                           io_manager_key="datasets", metadata={"dagster/column_schema": column_schema(schema)},
                           kinds={"pandas", "parquet"})  # fmt: skip

    # Per-partition checks are a Dagster preview feature; the exact Dagster pin guards it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        checks = [
            dg.AssetCheckSpec("matches_schema", asset=main, blocking=True, partitions_def=partitions,
                              description=f"Every accepted row satisfies the {model.__name__} model in schemas/datasets.py."),
            dg.AssetCheckSpec("quarantine_share", asset=main, partitions_def=partitions,
                              description="At most the source's max_quarantine_share of the delivered rows "
                                          "(5 % unless the sources file says otherwise) went to quarantine."),
            dg.AssetCheckSpec("delivered_on_time", asset=main, partitions_def=partitions,
                              description="The newest delivered file is at most max_delivery_age_days old "
                                          "(7 unless the sources file says otherwise)."),
        ]  # fmt: skip

    @dg.multi_asset(
        name=ingest_node(kind),
        outs={main.to_python_identifier(): out(main, model),
              quarantine.to_python_identifier(): out(quarantine, Quarantine)},  # fmt: skip
        partitions_def=partitions,
        check_specs=checks,
        description=f"Read, pseudonymize and validate one {kind} source's deliveries.",
    )
    def ingest(context: dg.AssetExecutionContext, config: IngestConfig, keyring: KeyringResource,
               sources: dg.ResourceParam[Sources], defaults: RunDefaults):  # fmt: skip
        declared = sources
        source = declared.source(context.partition_key)
        paths = declared.files(source)
        as_of = config.as_of_date()
        ring = keyring.open()
        keys = pseudonym_keys(ring, as_of)
        result = _safely(lambda: ingest_source(source, paths, declared.catalogue, keys, ring, as_of), source)
        context.log.info(
            f"{source.id}: {result.rows_read} rows read, {len(result.accepted)} accepted, "
            f"{len(result.quarantine)} quarantined, key id {keys.key_id}"
        )
        yield from _outputs(main, quarantine, model, source, paths, result, keys.key_id, declared.catalogue.version,
                            as_of, defaults)  # fmt: skip

    return ingest


def _safely(work, source: Source) -> IngestResult:
    """Run `work`; an unexpected error keeps its type but not its message, which may hold values."""
    try:
        return work()
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (any library error may carry a row's values)
        raise withheld(f"ingest of source {source.id!r}", problem) from None


def _outputs(main, quarantine, model, source: Source, paths, result: IngestResult, key_id: str, catalogue: str,
             as_of: dt.date, defaults: RunDefaults):  # fmt: skip
    read = result.rows_read
    share = len(result.quarantine) / read if read else 0.0
    files = dg.MetadataValue.md(result.files.to_markdown(index=False))
    yield dg.Output(
        result.accepted,
        output_name=main.to_python_identifier(),
        metadata={
            "dagster/row_count": len(result.accepted),
            "rows_read": read,
            "file_count": len(result.files),
            "accepted": len(result.accepted),
            "quarantined": len(result.quarantine),
            "files": files,
            "key_id": key_id,
            "as_of": as_of.isoformat(),
            "catalogue_version": catalogue,
            # Column lineage's first step: our column <- the delivery's own column name.
            "source_columns": dg.MetadataValue.json({ours: theirs for theirs, ours in source.columns.items()}),
            "quarantine_reasons": dg.MetadataValue.json(reason_kinds(result.quarantine["reason"])),
        },
    )
    yield dg.Output(
        result.quarantine,
        output_name=quarantine.to_python_identifier(),
        metadata={"dagster/row_count": len(result.quarantine), "source_id": source.id},
    )
    failures = schema_failures(result.accepted, model)
    yield dg.AssetCheckResult(asset_key=main, check_name="matches_schema", passed=not failures,
                              metadata={"rows_checked": len(result.accepted), "failures_by_check": failures})  # fmt: skip
    threshold = defaults.quarantine_share_of(source)
    yield dg.AssetCheckResult(
        asset_key=main, check_name="quarantine_share", passed=share <= threshold,
        metadata={"quarantined": len(result.quarantine), "rows_read": read, "share": round(share, 4),
                  "threshold": threshold},
    )  # fmt: skip
    # Measured against the as-of date, not the wall clock: a re-run as of a past date asks
    # how old the delivery was then (a file delivered after that date counts as fresh).
    delivered_on = local_date(max(path.stat().st_mtime for path in paths))
    age_days = max((as_of - delivered_on).days, 0)
    max_age = defaults.delivery_age_of(source)
    yield dg.AssetCheckResult(
        asset_key=main, check_name="delivered_on_time", passed=age_days <= max_age,
        metadata={"newest_file_delivered_on": delivered_on.isoformat(), "age_days_on_as_of": age_days,
                  "as_of": as_of.isoformat(), "max_age_days": max_age},
    )  # fmt: skip
