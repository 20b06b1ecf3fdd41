"""Dagster: freezing the transition list for a named event (`core.freeze`), the job
`freeze_transition_list`, launchable from the UI's launchpad and run by
`mellanrum publish --freeze NAME --cut-off DATE`."""


import datetime as dt

import dagster as dg

from assets.configs import FreezeConfig, ReconcileConfig
from assets.names import AF_ASSIGNMENTS, FREEZE_JOB, FREEZE_NODE, MUNICIPAL_INTERVENTIONS
from assets.reconcile import _load_stored, _reconcile, _registrations
from assets.resources import DatasetStore, PublicationDatabase, RecipientsResource, RunDefaults
from core.freeze import frozen_rows, frozen_table, publish_frozen
from schemas.agreements import NO_AGREEMENTS_FILE
from schemas.errors import MellanrumError, withheld
from schemas.sources import Sources


@dg.op(
    name=FREEZE_NODE,
    out=dg.Out(dg.Nothing),
    description="Reconcile the stored data with the given cut-off and publish the transition list once, as "
    "af_pagaende_insatser_fryst_<name>: a dated dataset of its own that no nightly run replaces.",
)
def frozen_transition_list(context: dg.OpExecutionContext, config: FreezeConfig,
                           datasets: dg.ResourceParam[DatasetStore], sources: dg.ResourceParam[Sources],
                           defaults: RunDefaults, database: PublicationDatabase, recipients: RecipientsResource):  # fmt: skip
    as_of = config.as_of_date()
    reconcile_config = ReconcileConfig(as_of=as_of.isoformat(), cut_off=config.cut_off)
    municipal = _load_stored(datasets, sources, "municipal", MUNICIPAL_INTERVENTIONS)
    af = _load_stored(datasets, sources, "af", AF_ASSIGNMENTS)
    result = _reconcile(reconcile_config, municipal, af, sources, defaults, registrations=_registrations(datasets, sources))
    agreements = recipients.load_agreements()
    if agreements is None:
        context.log.warning(NO_AGREEMENTS_FILE)
    rows = frozen_rows(result.transition_list, config.name, as_of, result.cut_off, agreements)
    try:
        log = publish_frozen(database.engine(), recipients.load(), config.name, rows, as_of=as_of,
                             key_ids=result.key_ids or ("none",), run_id=context.run_id,
                             published_at=dt.datetime.now(dt.UTC), agreements=agreements)  # fmt: skip
    except MellanrumError:
        raise
    except Exception as problem:  # noqa: BLE001 (a database error may carry a row's values)
        raise withheld("freezing the transition list", problem) from None
    context.log.info(f"frozen {config.name} as {frozen_table(config.name)}: {len(rows)} rows, "
                     f"{log['recipient'].nunique()} AF offices")  # fmt: skip
    yield dg.Output(None, metadata={"table": frozen_table(config.name), "rows": len(rows), "as_of": as_of.isoformat(),
                                    "cut_off": result.cut_off.isoformat(),
                                    "recipients": int(log["recipient"].nunique())})  # fmt: skip


@dg.job(name=FREEZE_JOB, description="Freeze the transition list for a named event (e.g. krom-2026-09-29): "
        "published once as its own dated dataset, logged, never replaced by a nightly run.")
def freeze_transition_list():
    frozen_transition_list()
