"""Dagster: the publication multi-asset, over `core.publish` and `core.database`."""

import datetime as dt

import dagster as dg
import pydantic

from assets.ingest import AF_QUARANTINE, MUNICIPAL_QUARANTINE, STEWARDS
from assets.lineage import column_lineage, same_named
from assets.metadata import column_schema
from assets.reconcile import MUNICIPAL_OVERLAPS, OVERLAPS, TRANSITION_LIST
from assets.resources import DatasetStore, PublicationDatabase, RecipientsResource
from core.database import (
    INTERNAL,
    PUBLICATION_LOG,
    PUBLISHED,
    Dataset,
    replace_publication,
)
from core.publish import checksum, contract_datasets, log_rows, unreached
from core.statistics import DEFAULT_THRESHOLD
from schemas.contracts import CONTRACTS, Contract, contract
from schemas.datasets import Quarantine
from schemas.errors import MellanrumError, withheld
from schemas.published import PublicationLog
from schemas.reconciled import MunicipalOverlaps, Overlaps

PUBLISH_GROUP = "publish"
PUBLISH_JOB = "publish"
PUBLICATION_LOG_KEY = dg.AssetKey(PUBLICATION_LOG)


class PublishConfig(dg.Config):
    suppression_threshold: int = pydantic.Field(
        default=DEFAULT_THRESHOLD, ge=2,
        description="regional_statistik: counts below this are suppressed (and more with them, so none can be "
        "worked out from the totals).",
    )  # fmt: skip


_COUNTED_FROM = ["overlap_start", "kommunkod", "classification", "municipal_category", "af_category", "age_band"]
_DERIVED = {"month": ["overlap_start"], "level": _COUNTED_FROM, "overlap_count": _COUNTED_FROM,
            "suppressed": _COUNTED_FROM}  # fmt: skip


def _lineage(declared: Contract) -> dg.TableColumnLineage:
    upstream = TRANSITION_LIST if declared.name == "af_pagaende_insatser" else OVERLAPS
    return column_lineage(same_named(declared.columns, upstream, _DERIVED))


def _spec(declared: Contract) -> dg.AssetSpec:
    consent = f"consent recorded by {declared.consent_from.removesuffix('_consent')}" if declared.consent_from else "none"
    return dg.AssetSpec(
        key=declared.name,
        description=f"{declared.purpose} Recipients: each {declared.recipient_kind}"
        + (f", its own rows only (by {declared.recipient_column})." if declared.recipient_column else "."),
        group_name=PUBLISH_GROUP,
        owners=STEWARDS,
        deps=[OVERLAPS, TRANSITION_LIST],
        kinds={"sql"},
        metadata={
            "contract": declared.name,
            "contract_version": declared.version,
            "recipient_kind": declared.recipient_kind,
            "consent_required": consent,
            "dagster/column_schema": column_schema(declared.model),
            "dagster/column_lineage": _lineage(declared),
        },
    )


@dg.multi_asset(
    name="publication",
    specs=[
        *(_spec(declared) for declared in CONTRACTS),
        dg.AssetSpec(
            key=PUBLICATION_LOG_KEY, group_name=PUBLISH_GROUP, owners=STEWARDS, kinds={"sql"},
            deps=[OVERLAPS, TRANSITION_LIST],
            description="Who received what, when: one row per dataset and recipient per publication "
            "(database or encrypted export), with row count, contract version, key id and checksum.",
            metadata={"dagster/column_schema": column_schema(PublicationLog)},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec("every_row_has_a_recipient", asset=declared.name,
                          description=f"Every row's {declared.recipient_column} belongs to a recipient registered in "
                                      "the recipients file; otherwise those rows are stored but nobody reads them.")
        for declared in CONTRACTS if declared.recipient_column
    ],
    description="Publish every contract's dataset to the database in one transaction, with the internal "
    "tables for the steward, each recipient's access, and the publication log.",
)  # fmt: skip
def publication(context: dg.AssetExecutionContext, config: PublishConfig, datasets: dg.ResourceParam[DatasetStore],
                database: PublicationDatabase, recipients: RecipientsResource):  # fmt: skip
    registered = recipients.load()
    reconciled = context.instance.get_latest_materialization_event(OVERLAPS)
    if reconciled is None:
        raise MellanrumError("nothing to publish: the reconciliation has not run yet")
    facts = reconciled.asset_materialization.metadata
    as_of, key_id = dt.date.fromisoformat(facts["as_of"].value), facts["key_ids"].value
    overlaps, transition_list = datasets.load(OVERLAPS), datasets.load(TRANSITION_LIST)
    published = contract_datasets(overlaps, transition_list, config.suppression_threshold)
    log = log_rows(published, registered.all, run_id=context.run.run_id, as_of=as_of, key_id=key_id,
                   published_at=dt.datetime.now(dt.UTC))  # fmt: skip
    internal = [
        Dataset(OVERLAPS.path[-1], INTERNAL, Overlaps, overlaps),
        Dataset(MUNICIPAL_OVERLAPS.path[-1], INTERNAL, MunicipalOverlaps, datasets.load(MUNICIPAL_OVERLAPS)),
        Dataset(MUNICIPAL_QUARANTINE.path[-1], INTERNAL, Quarantine, datasets.load(MUNICIPAL_QUARANTINE)),
        Dataset(AF_QUARANTINE.path[-1], INTERNAL, Quarantine, datasets.load(AF_QUARANTINE)),
    ]
    tables = [Dataset(name, PUBLISHED, contract(name).model, frame) for name, frame in published.items()]
    try:
        replace_publication(database.engine(), [*tables, *internal], log, registered)
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a database error may quote a row's values)
        raise withheld("publication", problem) from None
    missing = unreached(published, registered)
    context.log.info(f"published as of {as_of}: " + ", ".join(f"{n} {len(f)} rows" for n, f in published.items()))
    for name, frame in published.items():
        declared = contract(name)
        yield dg.MaterializeResult(asset_key=name, metadata={
            "dagster/row_count": len(frame),
            "as_of": as_of.isoformat(),
            "contract_version": declared.version,
            "key_id": key_id,
            "checksum": checksum(frame),
            "recipients": len(registered.of_kind(declared.recipient_kind)),
            "rows_without_registered_recipient": missing.get(name, 0),
        })  # fmt: skip
        if declared.recipient_column:
            yield dg.AssetCheckResult(asset_key=name, check_name="every_row_has_a_recipient",
                                      severity=dg.AssetCheckSeverity.WARN, passed=missing[name] == 0,
                                      metadata={"rows_without_registered_recipient": missing[name]})  # fmt: skip
    yield dg.MaterializeResult(asset_key=PUBLICATION_LOG_KEY, metadata={"rows_added": len(log), "as_of": as_of.isoformat()})
