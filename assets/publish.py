"""Dagster: the publication multi-asset, over `core.publish` and `core.database`.

Built from the contracts (`core/contracts.py`): one asset per contract, depending on the
internal datasets it is built from, plus the publication log. Every dataset the body reads
is an input (through the `DatasetStore` IO manager), so the asset graph shows each edge;
the as-of date and the key ids come from the reconciliation's parameters dataset.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from assets.configs import PublishConfig
from assets.lineage import column_lineage, lineage_table, same_named
from assets.metadata import column_schema
from assets.metadata import table as metadata_table
from assets.names import (
    AF_QUARANTINE,
    AF_REGISTRATIONS_QUARANTINE,
    HANDOVERS,
    INTERVENTION_OUTCOMES,
    KEY_EPOCHS,
    MUNICIPAL_FLOWS,
    MUNICIPAL_OVERLAPS,
    MUNICIPAL_QUARANTINE,
    OVERLAPS,
    PUBLICATION_LOG,
    PUBLISH_GROUP,
    PUBLISH_NODE,
    RECONCILE_PARAMETERS,
    STEWARDS,
    TRANSITION_LIST,
    YOUTH_MONITOR,
)
from assets.resources import KeyringResource, PublicationDatabase, RecipientsResource, RunDefaults
from core.contracts import CONTRACTS
from core.database import (
    INTERNAL,
    PUBLISHED,
    Dataset,
    database_fault,
    read_previous,
    replace_publication,
)
from core.epochs import behind_sentence
from core.gates import GATES
from core.keys.record_keys import cell_key_secret
from core.publish import build_publication, checksum, empty, held_back, missing_agreements
from schemas.agreements import NO_AGREEMENTS_FILE
from schemas.contracts import Contract, PublicationParameters
from schemas.datasets import Quarantine
from schemas.errors import MellanrumError, withheld
from schemas.municipalities import municipality_names
from schemas.published import PublicationLog
from schemas.followup import Handovers, YouthMonitor
from schemas.reconciled import MunicipalOverlaps, Overlaps

# The internal datasets a contract may be built from, by the name it uses for them.
INTERNAL_DATASETS: dict[str, dg.AssetKey] = {
    key.path[-1]: key
    for key in (OVERLAPS, MUNICIPAL_OVERLAPS, TRANSITION_LIST, MUNICIPAL_QUARANTINE, AF_QUARANTINE, YOUTH_MONITOR,
                HANDOVERS, INTERVENTION_OUTCOMES, MUNICIPAL_FLOWS)
}
# What the steward's tables in the database hold (never published to a recipient).
# AF's registrations are optional: their quarantine reads as None without them, an empty table.
_STEWARD_TABLES = {OVERLAPS: Overlaps, MUNICIPAL_OVERLAPS: MunicipalOverlaps, MUNICIPAL_QUARANTINE: Quarantine,
                   AF_QUARANTINE: Quarantine, AF_REGISTRATIONS_QUARANTINE: Quarantine, YOUTH_MONITOR: YouthMonitor,
                   HANDOVERS: Handovers}  # fmt: skip


def _spec(declared: Contract) -> dg.AssetSpec:
    consent = f"consent recorded by {declared.consent_from.removesuffix('_consent')}" if declared.consent_from else "none"
    upstream = INTERNAL_DATASETS[declared.inputs[0]]
    lineage = same_named(declared.columns, upstream, declared.derived)
    return dg.AssetSpec(
        key=declared.name,
        description=f"{declared.purpose} Recipients: each {declared.recipient_kind}"
        + (f", its own rows only (by {declared.recipient_column})." if declared.recipient_column else
           "".join(f"; each {kind}, its own rows only (by {' or '.join(declared.kommun_columns)})"
                   for kind in declared.also_to) + "."),
        group_name=PUBLISH_GROUP,
        owners=STEWARDS,
        deps=[INTERNAL_DATASETS[name] for name in declared.inputs] + [RECONCILE_PARAMETERS, KEY_EPOCHS],
        kinds={"sql"},
        metadata={
            "contract": declared.name,
            "contract_version": declared.version,
            "recipient_kind": ", ".join(declared.recipient_kinds),
            "consent_required": consent,
            "dagster/column_schema": column_schema(declared.model),
            "dagster/column_lineage": column_lineage(lineage),
            "column_lineage": lineage_table(lineage),
        },
    )


def _received(log: pd.DataFrame, dataset: str | None = None) -> dg.MetadataValue:
    """Who received what: per recipient (and dataset), rows and checksum. Counts only."""
    rows = log if dataset is None else log[log["dataset"] == dataset]
    table = (rows.drop_duplicates(["dataset", "recipient"])[["recipient", "dataset", "row_count", "checksum"]]
             .sort_values(["recipient", "dataset"]).rename(columns={"row_count": "rows"}))  # fmt: skip
    table["checksum"] = table["checksum"].str[:16] + "…"
    return metadata_table(table)


def _unprotected(frame: pd.DataFrame) -> pd.DataFrame:
    """A steward's table without the rows of people with a protected identity: the steward
    sees them as a count per source only (the ingest's metadata), never as rows, so the
    column that remains is false throughout and says nothing of anyone."""
    if "protected_identity" not in frame.columns:
        return frame
    return frame[~frame["protected_identity"].to_numpy(dtype=bool)].reset_index(drop=True)


def _previous(engine, declared: Contract) -> pd.DataFrame | None:
    try:
        return read_previous(engine, declared.name, declared.model)
    except Exception as problem:  # noqa: BLE001 (a database error may carry a row's values)
        raise withheld(f"reading the previous publication of {declared.name}", problem) from None


def publication_asset(contracts: Sequence[Contract] = CONTRACTS) -> dg.AssetsDefinition:
    """The publication of `contracts` (the declared ones unless a test brings its own)."""
    unknown = sorted({n for c in contracts for n in c.inputs} - set(INTERNAL_DATASETS))
    if unknown:
        raise MellanrumError(f"contracts name inputs that are not internal datasets: {', '.join(unknown)} "
                             f"(known: {', '.join(INTERNAL_DATASETS)})")  # fmt: skip
    reads = {**{name: INTERNAL_DATASETS[name] for c in contracts for name in c.inputs},
             **{key.path[-1]: key for key in _STEWARD_TABLES}, RECONCILE_PARAMETERS.path[-1]: RECONCILE_PARAMETERS,
             KEY_EPOCHS.path[-1]: KEY_EPOCHS}  # fmt: skip
    by_name = {c.name: c for c in contracts}
    lineage_tables = {c.name: lineage_table(same_named(c.columns, INTERNAL_DATASETS[c.inputs[0]], c.derived))
                      for c in contracts}  # fmt: skip

    @dg.multi_asset(
        name=PUBLISH_NODE,
        ins={name: dg.AssetIn(key) for name, key in reads.items()},
        specs=[
            *(_spec(declared) for declared in contracts),
            dg.AssetSpec(
                key=PUBLICATION_LOG, group_name=PUBLISH_GROUP, owners=STEWARDS, kinds={"sql"},
                deps=list(reads.values()),
                description="Who received what, when: one row per dataset, recipient and key id per publication "
                "(database or encrypted export), with row count, contract version and checksum.",
                metadata={"dagster/column_schema": column_schema(PublicationLog)},
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec("every_row_has_a_recipient", asset=declared.name,
                              description=f"Every row's {declared.recipient_column} belongs to a recipient registered "
                                          "in the recipients file; otherwise those rows are stored but nobody reads them.")
            for declared in contracts if declared.recipient_column
        ],
        description="Publish every contract's dataset to the database in one transaction, with the internal "
        "tables for the steward, each recipient's access, and the publication log.",
    )  # fmt: skip
    def publication(context: dg.AssetExecutionContext, config: PublishConfig, database: PublicationDatabase,
                    recipients: RecipientsResource, defaults: RunDefaults, keyring: KeyringResource,
                    **inputs: pd.DataFrame):  # fmt: skip
        registered = recipients.load()
        if inputs[AF_REGISTRATIONS_QUARANTINE.path[-1]] is None:
            inputs[AF_REGISTRATIONS_QUARANTINE.path[-1]] = empty(Quarantine)
        run = inputs.pop(RECONCILE_PARAMETERS.path[-1])
        as_of = run["as_of"].iloc[0].date()
        key_ids = sorted(run["key_id"])
        epochs = inputs.pop(KEY_EPOCHS.path[-1])
        held = held_back(epochs, behind_sentence(epochs, municipality_names()))
        threshold = defaults.suppression_threshold if config.suppression_threshold is None else config.suppression_threshold
        engine = database.engine()
        # A source left behind by a key rotation: the recipients it affects keep what they had.
        previous = {c.name: _previous(engine, c) for c in contracts} if held else {}
        agreements = recipients.load_agreements()
        # A pack's closed quarters are kept as published before (`core/indicators.py`).
        frozen = {c.name: previous[c.name] if c.name in previous else _previous(engine, c)
                  for c in contracts if c.freezes_closed_quarters}  # fmt: skip
        # The aggregates' record keys are keyed from the pipeline key in force (in memory only).
        secret = cell_key_secret(keyring.open().active("pipeline", as_of).secret)
        parameters = PublicationParameters(as_of, threshold, agreements, previous=frozen, cell_key_secret=secret)
        agreement_status = (NO_AGREEMENTS_FILE if agreements is None
                            else "; ".join(missing_agreements(inputs, contracts, parameters)) or "every row covered")  # fmt: skip
        if agreements is None:
            context.log.warning(NO_AGREEMENTS_FILE)
        elif agreement_status != "every row covered":
            context.log.warning(f"rows withheld for want of an agreement: {agreement_status}")
        made = build_publication(inputs, contracts, registered, parameters,
                                 key_ids=key_ids, run_id=context.run.run_id, published_at=dt.datetime.now(dt.UTC),
                                 held=held, previous=previous)  # fmt: skip
        if held:
            context.log.warning(f"kept the previous publication for {', '.join(made.kept)}: {held.reason}")
        tables = [Dataset(name, PUBLISHED, by_name[name].model, frame, by_name[name].recipient_kind,
                          by_name[name].recipient_column, by_name[name].also_to, by_name[name].kommun_columns)
                  for name, frame in made.datasets.items()]  # fmt: skip
        internal = [Dataset(key.path[-1], INTERNAL, model, _unprotected(inputs[key.path[-1]]))
                    for key, model in _STEWARD_TABLES.items()]  # fmt: skip
        # Written to the event log before the commit: an instance that can no longer record
        # (its disk full) fails here, and the previous publication stays as it was.
        context.log.info(f"publishing as of {as_of}: " + ", ".join(f"{n} {len(f)} rows" for n, f in made.datasets.items()))
        try:
            replace_publication(engine, [*tables, *internal], made.log, registered, private=database.private_engine())
        except MellanrumError:
            raise
        except Exception as problem:  # noqa: BLE001
            if type(getattr(problem, "orig", problem)).__name__ != "OperationalError":
                raise withheld("publication", problem) from None
            raise database_fault(engine, problem) from None  # the database gone, or its disk full
        for name, frame in made.datasets.items():
            declared = by_name[name]
            yield dg.MaterializeResult(asset_key=name, metadata={
                "dagster/row_count": len(frame),
                "as_of": as_of.isoformat(),
                "contract_version": declared.version,
                "key_ids": dg.MetadataValue.json(key_ids),
                "checksum": checksum(frame),
                "recipients": sum(len(registered.of_kind(kind)) for kind in declared.recipient_kinds),
                "rows_without_registered_recipient": made.unreached.get(name, 0),
                "received": _received(made.log, name),
                "column_lineage": lineage_tables[name],
                "kept_previous": made.kept.get(name, "none"),
                "held_back": held.reason or "none",
                **{f"withheld_{gate}": made.withheld[name][gate] for gate in GATES},
                "agreements": agreement_status,
            })  # fmt: skip
            if declared.recipient_column:
                yield dg.AssetCheckResult(asset_key=name, check_name="every_row_has_a_recipient",
                                          severity=dg.AssetCheckSeverity.WARN, passed=made.unreached[name] == 0,
                                          metadata={"rows_without_registered_recipient": made.unreached[name]})  # fmt: skip
        yield dg.MaterializeResult(asset_key=PUBLICATION_LOG, metadata={
            "rows_added": len(made.log), "as_of": as_of.isoformat(), "received": _received(made.log)})  # fmt: skip

    return publication
