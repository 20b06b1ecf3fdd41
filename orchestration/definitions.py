"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Where things are comes from the environment, so the same code serves the demo and a
deployment:

- MELLANRUM_HOME (default ~/.mellanrum): keyring.json, storage/ (the datasets)
- MELLANRUM_SOURCES (default $MELLANRUM_HOME/inbox/sources.yaml): the sources file
- MELLANRUM_KEYRING (default $MELLANRUM_HOME/keyring.json), MELLANRUM_KEYRING_PASSPHRASE
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.ingest import AF_ASSIGNMENTS, AF_QUARANTINE, MUNICIPAL_INTERVENTIONS, MUNICIPAL_QUARANTINE, ingest_assets
from assets.reconcile import RECONCILE_JOB, reconcile_adhoc, reconciliation
from orchestration.keyring import KEYRING_ENV, mellanrum_home
from orchestration.resources import DatasetStore, KeyringResource, SourcesResource
from schemas.sources import Sources, load_sources

SOURCES_ENV = "MELLANRUM_SOURCES"


def sources_path(home: Path) -> Path:
    return Path(os.environ.get(SOURCES_ENV) or home / "inbox" / "sources.yaml")


def build_definitions(home: Path | None = None, sources_file: Path | None = None) -> dg.Definitions:
    """Definitions for the sources declared in `sources_file` (none yet: empty partitions)."""
    home = Path(home or mellanrum_home())
    sources_file = Path(sources_file or sources_path(home))
    sources = load_sources(sources_file) if sources_file.exists() else Sources.empty(sources_file)
    return dg.Definitions(
        assets=[*ingest_assets(sources), reconciliation],
        jobs=[
            dg.define_asset_job("ingest_municipal", selection=[MUNICIPAL_INTERVENTIONS, MUNICIPAL_QUARANTINE],
                                description="Ingest one municipality's deliveries (one partition per source)."),
            dg.define_asset_job("ingest_af", selection=[AF_ASSIGNMENTS, AF_QUARANTINE],
                                description="Ingest AF's deliveries of programme assignments."),
            dg.define_asset_job(RECONCILE_JOB, selection=dg.AssetSelection.assets(reconciliation),
                                description="Reconcile the latest stored ingest of every source."),
            reconcile_adhoc,
        ],  # fmt: skip
        resources={
            "keyring": KeyringResource(path=os.environ.get(KEYRING_ENV) or str(home / "keyring.json")),
            "sources": SourcesResource(path=str(sources_file)),
            "datasets": DatasetStore(base_dir=str(home / "storage")),
        },
    )


defs = build_definitions()
