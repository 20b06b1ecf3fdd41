"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Everything comes from one settings object (`orchestration/settings.py`): the same code
serves the demo and a deployment. The sources file is read once, here, when the code
location loads: the ingest partitions, the schedules and sensors and the runs' `sources`
resource all come from that one reading, so they cannot disagree. A run launched in its
own process (the daemon's runs) loads the code location, and so reads the file, afresh.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.freeze import freeze_transition_list
from assets.ingest import ingest_assets
from assets.names import (
    INGEST_TAGS,
    INGESTED,
    PUBLISH_JOB,
    RECONCILE_AND_PUBLISH_JOB,
    RECONCILE_AND_PUBLISH_TAGS,
    RECONCILE_JOB,
    ingest_job,
)
from assets.publish import publication_asset
from assets.reconcile import reconcile_adhoc, reconciliation
from assets.resources import (
    DatasetStore,
    KeyringResource,
    PublicationDatabase,
    RecipientsResource,
    RunDefaults,
)
from core.contracts import CONTRACTS
from orchestration.automation import automation
from orchestration.retention import retention
from orchestration.settings import DATABASE_URL_ENV, PASSPHRASE_ENV, Settings
from schemas.contracts import Contract
from schemas.sources import Sources, load_sources

_DESCRIBED = {"municipal": "Ingest one municipality's deliveries (one partition per source).",
              "af": "Ingest AF's deliveries of programme assignments.",
              "af_registrations": "Ingest AF's deliveries of registrations (inskrivningar)."}  # fmt: skip


def load_declared_sources(settings: Settings) -> Sources:
    """The sources file, or no sources at all while it does not exist yet."""
    path = settings.sources_file
    return load_sources(path) if path.exists() else Sources.empty(path)


def resources(settings: Settings, sources: Sources) -> dict:
    """Every resource of the code location, from the settings."""
    # A URL from the environment stays an EnvVar: it may hold a password, and Dagster shows
    # a resource's plain values.
    url = dg.EnvVar(DATABASE_URL_ENV) if settings.database_from_environment else settings.publication_database_url()
    return {
        "keyring": KeyringResource(path=str(settings.keyring_file), passphrase=dg.EnvVar(PASSPHRASE_ENV)),
        "sources": sources,
        "datasets": DatasetStore(base_dir=str(settings.storage)),
        "recipients": RecipientsResource(path=str(settings.recipients_file)),
        "database": PublicationDatabase(url=url, private_url=settings.private_database_url),
        "defaults": RunDefaults(
            look_back_days=settings.look_back_days, look_ahead_days=settings.look_ahead_days,
            suppression_threshold=settings.suppression_threshold,
            max_quarantine_share=settings.max_quarantine_share, max_delivery_age_days=settings.max_delivery_age_days,
        ),  # fmt: skip
    }


def build_definitions(settings: Settings, contracts: Sequence[Contract] = CONTRACTS) -> dg.Definitions:
    """Definitions for the sources the settings' sources file declares (none yet: empty partitions)."""
    sources = load_declared_sources(settings)
    publication = publication_asset(contracts)
    schedules, sensors = automation(sources)
    retention_jobs, retention_schedules = retention()
    ingest_jobs = [
        dg.define_asset_job(ingest_job(kind), selection=list(keys), description=_DESCRIBED[kind], tags=INGEST_TAGS)
        for kind, keys in INGESTED.items()
    ]
    return dg.Definitions(
        assets=[*ingest_assets(sources), reconciliation, publication],
        jobs=[
            *ingest_jobs,
            dg.define_asset_job(RECONCILE_JOB, selection=dg.AssetSelection.assets(reconciliation),
                                description="Reconcile the latest stored ingest of every source.",
                                tags=RECONCILE_AND_PUBLISH_TAGS),
            reconcile_adhoc,
            freeze_transition_list,
            dg.define_asset_job(PUBLISH_JOB, selection=dg.AssetSelection.assets(publication),
                                description="Publish every contract's dataset from the latest reconciliation.",
                                tags=RECONCILE_AND_PUBLISH_TAGS),
            dg.define_asset_job(RECONCILE_AND_PUBLISH_JOB, selection=dg.AssetSelection.assets(reconciliation, publication),
                                description="The nightly run's second half: reconcile the latest good data of "
                                            "every source, then publish.", tags=RECONCILE_AND_PUBLISH_TAGS),
            *retention_jobs,
        ],  # fmt: skip
        schedules=[*schedules, *retention_schedules],
        sensors=sensors,
        resources=resources(settings, sources),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What Dagster loads (`dagster dev`, the code server, a run's process): built only then,
    from the environment's settings, not when a command or a test imports this module."""
    return build_definitions(Settings.load())
