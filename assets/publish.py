"""Publish: the minimal-need datasets of the contracts, from the reconciliation's results.

Pure functions first, DataFrame in, DataFrame out: each contract's dataset from the
internal `Overlaps` / `TransitionList`, `conform` (which refuses any column outside the
contract), `checksum` and the publication log's rows. Then the Dagster multi-asset that
writes a whole publication to the database in one transaction (`orchestration/database.py`).

What each recipient gets (see `schemas/contracts.py`): samplanering rows only for the
overlaps that touch the reporting window and need action (conflict or parallel), and only
where the party the data comes from recorded consent; the statistics count everyone.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable

import dagster as dg
import pandas as pd
import pydantic

from assets.ingest import AF_QUARANTINE, MUNICIPAL_QUARANTINE, STEWARDS
from assets.reconcile import MUNICIPAL_OVERLAPS, OVERLAPS, TRANSITION_LIST
from assets.statistics import DEFAULT_THRESHOLD, regional_statistics
from assets.validate import validated
from orchestration.database import INTERNAL, PUBLICATION_LOG, PUBLISHED, Dataset, replace_publication
from orchestration.lineage import column_lineage, same_named
from orchestration.metadata import column_schema
from orchestration.resources import DatasetStore, PublicationDatabase, RecipientsResource
from schemas.contracts import CONTRACTS, Contract, contract
from schemas.datasets import Quarantine
from schemas.errors import MellanrumError, withheld
from schemas.published import ACTIONABLE, PublicationLog
from schemas.reconciled import MunicipalOverlaps, Overlaps
from schemas.recipients import Recipient, Recipients


class ContractError(MellanrumError):
    """A dataset does not conform to its contract: publication is refused."""


# --- the datasets ---------------------------------------------------------------------------


def _samplanering(overlaps: pd.DataFrame, name: str) -> pd.DataFrame:
    declared = contract(name)
    wanted = (
        overlaps["in_window"].to_numpy(dtype=bool)
        & overlaps["classification"].isin(ACTIONABLE).to_numpy(dtype=bool)
        & overlaps[declared.consent_from].to_numpy(dtype=bool)
    )
    return overlaps.loc[wanted, declared.columns]


def kommun_samplanering(overlaps: pd.DataFrame) -> pd.DataFrame:
    return _samplanering(overlaps, "kommun_samplanering")


def af_samplanering(overlaps: pd.DataFrame) -> pd.DataFrame:
    return _samplanering(overlaps, "af_samplanering")


def af_pagaende_insatser(transition_list: pd.DataFrame) -> pd.DataFrame:
    declared = contract("af_pagaende_insatser")
    listed = transition_list[transition_list[declared.consent_from].to_numpy(dtype=bool)]
    return listed[declared.columns].drop_duplicates()


def contract_datasets(overlaps: pd.DataFrame, transition_list: pd.DataFrame,
                      threshold: int = DEFAULT_THRESHOLD) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Every contract's dataset, conformed (see `conform`), by contract name."""
    made = {
        "kommun_samplanering": kommun_samplanering(overlaps),
        "af_samplanering": af_samplanering(overlaps),
        "af_pagaende_insatser": af_pagaende_insatser(transition_list),
        "regional_statistik": regional_statistics(overlaps, threshold),
    }
    return {declared.name: conform(made[declared.name], declared) for declared in CONTRACTS}


def conform(frame: pd.DataFrame, declared: Contract) -> pd.DataFrame:
    """`frame` checked against its contract and in canonical row order; a column outside the
    contract (or one missing) refuses publication, naming the columns, never a value."""
    stray = [c for c in frame.columns if c not in declared.columns]
    missing = [c for c in declared.columns if c not in frame.columns]
    if stray or missing:
        problems = [f"not in the contract: {', '.join(stray)}"] * bool(stray) + [f"missing: {', '.join(missing)}"] * bool(
            missing
        )
        raise ContractError(
            f"publication of {declared.name} (contract {declared.version}) refused: columns {'; '.join(problems)}"
        )
    try:
        return canonical(validated(frame[declared.columns], declared.model))
    except RuntimeError as problem:
        raise ContractError(f"publication of {declared.name} (contract {declared.version}) refused: {problem}") from None


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column (empty values first), so equal data is equal bytes."""
    return frame.sort_values(list(frame.columns), na_position="first", kind="stable").reset_index(drop=True)


def checksum(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows in canonical order as CSV (dates YYYY-MM-DD): equal data, equal sum."""
    text = canonical(frame).to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipient_rows(frame: pd.DataFrame, declared: Contract, scope: str | None) -> pd.DataFrame:
    """The rows of `frame` a recipient with `scope` (kommunkod, office; None: all) reads."""
    if declared.recipient_column is None:
        return frame
    return frame[(frame[declared.recipient_column] == scope).to_numpy(dtype=bool)].reset_index(drop=True)


def log_rows(datasets: dict[str, pd.DataFrame], recipients: Iterable[Recipient], *, run_id: str, as_of: dt.date,
             key_id: str, published_at: dt.datetime, channel: str = "database",
             sealed_to: str | None = None) -> pd.DataFrame:  # fmt: skip
    """One publication log row per dataset and recipient of its kind."""
    rows = []
    for name, frame in datasets.items():
        declared = contract(name)
        for recipient in (r for r in recipients if r.kind == declared.recipient_kind):
            own = recipient_rows(frame, declared, recipient.scope)
            rows.append({
                "run_id": run_id, "as_of": pd.Timestamp(as_of), "dataset": name,
                "contract_version": declared.version, "recipient": recipient.id, "channel": channel,
                "row_count": len(own), "key_id": key_id, "checksum": checksum(own), "sealed_to": sealed_to,
                "published_at": pd.Timestamp(published_at).tz_localize(None),
            })  # fmt: skip
    log = pd.DataFrame(rows, columns=list(PublicationLog.to_schema().columns))
    return validated(log.astype({"as_of": "datetime64[s]", "published_at": "datetime64[s]", "row_count": "int64"}),
                     PublicationLog)  # fmt: skip


def unreached(datasets: dict[str, pd.DataFrame], recipients: Recipients) -> dict[str, int]:
    """Rows whose kommunkod or office has no registered recipient, per dataset: stored but
    readable by no one, and reported so the steward can register the recipient."""
    counts = {}
    for name, frame in datasets.items():
        declared = contract(name)
        if declared.recipient_column is None:
            continue
        scopes = {r.scope for r in recipients.of_kind(declared.recipient_kind)}
        counts[name] = int((~frame[declared.recipient_column].isin(scopes)).sum())
    return counts


# --- Dagster ---------------------------------------------------------------------------------

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
