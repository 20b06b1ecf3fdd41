"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Where things are comes from the environment, so the same code serves the demo and a
deployment:

- MELLANRUM_HOME (default ~/.mellanrum): keyring.json, storage/ (the datasets)
- MELLANRUM_SOURCES (default $MELLANRUM_HOME/inbox/sources.yaml): the sources file
- MELLANRUM_KEYRING (default $MELLANRUM_HOME/keyring.json), MELLANRUM_KEYRING_PASSPHRASE
- MELLANRUM_RECIPIENTS (default: recipients.yaml beside the sources file)
- MELLANRUM_DATABASE_URL (default sqlite:///$MELLANRUM_HOME/published.sqlite): where the
  published datasets go; a PostgreSQL URL with its password stays in the environment
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.ingest import (
    AF_ASSIGNMENTS,
    AF_QUARANTINE,
    MUNICIPAL_INTERVENTIONS,
    MUNICIPAL_QUARANTINE,
    ingest_assets,
)
from assets.publish import PUBLISH_JOB, publication
from assets.reconcile import RECONCILE_JOB, reconcile_adhoc, reconciliation
from assets.resources import (
    DatasetStore,
    KeyringResource,
    PublicationDatabase,
    RecipientsResource,
    SourcesResource,
)
from core.keys.keyring import KEYRING_ENV, mellanrum_home
from orchestration.automation import automation
from orchestration.retention import retention
from orchestration.tags import INGEST_GROUP, RECONCILE_AND_PUBLISH_GROUP
from schemas.sources import Sources, load_sources

SOURCES_ENV = "MELLANRUM_SOURCES"
RECIPIENTS_ENV = "MELLANRUM_RECIPIENTS"
RECONCILE_AND_PUBLISH_JOB = "reconcile_and_publish"
DATABASE_URL_ENV = "MELLANRUM_DATABASE_URL"


def sources_path(home: Path) -> Path:
    return Path(os.environ.get(SOURCES_ENV) or home / "inbox" / "sources.yaml")


def recipients_path(sources_file: Path) -> Path:
    return Path(os.environ.get(RECIPIENTS_ENV) or sources_file.parent / "recipients.yaml")


def database_url(home: Path) -> str:
    """MELLANRUM_DATABASE_URL, else the embedded default: a SQLite file in the home."""
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{home / 'published.sqlite'}"


def publication_database(home: Path) -> PublicationDatabase:
    # A URL from the environment stays an EnvVar: it may hold a password, and Dagster
    # stores a resource's plain config values.
    if os.environ.get(DATABASE_URL_ENV):
        return PublicationDatabase(url=dg.EnvVar(DATABASE_URL_ENV))
    return PublicationDatabase(url=database_url(home))


def build_definitions(home: Path | None = None, sources_file: Path | None = None) -> dg.Definitions:
    """Definitions for the sources declared in `sources_file` (none yet: empty partitions)."""
    home = Path(home or mellanrum_home())
    sources_file = Path(sources_file or sources_path(home))
    sources = load_sources(sources_file) if sources_file.exists() else Sources.empty(sources_file)
    schedules, sensors = automation(sources, sources_file)
    retention_jobs, retention_schedules = retention()
    return dg.Definitions(
        assets=[*ingest_assets(sources), reconciliation, publication],
        jobs=[
            dg.define_asset_job("ingest_municipal", selection=[MUNICIPAL_INTERVENTIONS, MUNICIPAL_QUARANTINE],
                                description="Ingest one municipality's deliveries (one partition per source).",
                                tags=INGEST_GROUP),
            dg.define_asset_job("ingest_af", selection=[AF_ASSIGNMENTS, AF_QUARANTINE],
                                description="Ingest AF's deliveries of programme assignments.", tags=INGEST_GROUP),
            dg.define_asset_job(RECONCILE_JOB, selection=dg.AssetSelection.assets(reconciliation),
                                description="Reconcile the latest stored ingest of every source.",
                                tags=RECONCILE_AND_PUBLISH_GROUP),
            reconcile_adhoc,
            dg.define_asset_job(PUBLISH_JOB, selection=dg.AssetSelection.assets(publication),
                                description="Publish every contract's dataset from the latest reconciliation.",
                                tags=RECONCILE_AND_PUBLISH_GROUP),
            dg.define_asset_job(RECONCILE_AND_PUBLISH_JOB, selection=dg.AssetSelection.assets(reconciliation, publication),
                                description="The nightly run's second half: reconcile the latest good data of "
                                            "every source, then publish.", tags=RECONCILE_AND_PUBLISH_GROUP),
            *retention_jobs,
        ],
        schedules=[*schedules, *retention_schedules],
        sensors=sensors,  # fmt: skip
        resources={
            "keyring": KeyringResource(path=os.environ.get(KEYRING_ENV) or str(home / "keyring.json")),
            "sources": SourcesResource(path=str(sources_file)),
            "datasets": DatasetStore(base_dir=str(home / "storage")),
            "recipients": RecipientsResource(path=str(recipients_path(sources_file))),
            "database": publication_database(home),
        },
    )


defs = build_definitions()
