"""Every Dagster name of the pipeline, defined once: asset keys, groups, nodes, jobs, tags.

Definitions, automation, the application layer and the CLI import these; nothing spells a
name again. The run-config builders live with the configs they fill (`assets/configs.py`).
"""

from __future__ import annotations

from typing import Literal

import dagster as dg

from schemas.municipalities import municipality_names
from schemas.sources import Source

SourceKind = Literal["municipal", "af", "af_registrations"]
KINDS: tuple[SourceKind, ...] = ("municipal", "af", "af_registrations")

# --- asset keys ------------------------------------------------------------------------
MUNICIPAL_INTERVENTIONS = dg.AssetKey("municipal_interventions")
MUNICIPAL_QUARANTINE = dg.AssetKey("municipal_quarantine")
AF_ASSIGNMENTS = dg.AssetKey("af_assignments")
AF_QUARANTINE = dg.AssetKey("af_quarantine")
AF_REGISTRATIONS = dg.AssetKey("af_registrations")
AF_REGISTRATIONS_QUARANTINE = dg.AssetKey("af_registrations_quarantine")
# An optional source kind's datasets: a stage reading them gets None while nothing is stored.
OPTIONAL_DATASETS = frozenset({AF_REGISTRATIONS, AF_REGISTRATIONS_QUARANTINE})
YOUTH_MONITOR = dg.AssetKey("youth_monitor")
HANDOVERS = dg.AssetKey("handovers")
INTERVENTION_OUTCOMES = dg.AssetKey("intervention_outcomes")
MUNICIPAL_FLOWS = dg.AssetKey("municipal_flows")
OVERLAPS = dg.AssetKey("overlaps")
MUNICIPAL_OVERLAPS = dg.AssetKey("municipal_overlaps")
TRANSITION_LIST = dg.AssetKey("transition_list")
RECONCILE_PARAMETERS = dg.AssetKey("reconcile_parameters")
KEY_EPOCHS = dg.AssetKey("key_epochs")
PUBLICATION_LOG = dg.AssetKey("publication_log")

# What each source kind's ingest writes: (accepted rows, quarantine).
INGESTED: dict[SourceKind, tuple[dg.AssetKey, dg.AssetKey]] = {
    "municipal": (MUNICIPAL_INTERVENTIONS, MUNICIPAL_QUARANTINE),
    "af": (AF_ASSIGNMENTS, AF_QUARANTINE),
    "af_registrations": (AF_REGISTRATIONS, AF_REGISTRATIONS_QUARANTINE),
}

# --- groups and owners ------------------------------------------------------------------
INGEST_GROUP = "ingest"
RECONCILE_GROUP = "reconcile"
PUBLISH_GROUP = "publish"
STEWARDS = ["team:data-stewards"]

# --- nodes (the op of each multi-asset) and jobs ----------------------------------------


def ingest_node(kind: SourceKind) -> str:
    return f"{kind}_ingest"


def ingest_job(kind: SourceKind) -> str:
    return f"ingest_{kind}"


RECONCILE_NODE = "reconciliation"
ADHOC_NODE = "adhoc_reconciliation"
PUBLISH_NODE = "publication"

RECONCILE_JOB = "reconcile"
ADHOC_JOB = "reconcile_adhoc"
PUBLISH_JOB = "publish"
RECONCILE_AND_PUBLISH_JOB = "reconcile_and_publish"
FREEZE_NODE = "frozen_transition_list"
FREEZE_JOB = "freeze_transition_list"
RETENTION_JOB = "retention"

# --- schedules and sensors -----------------------------------------------------------------


def nightly_schedule(kind: SourceKind) -> str:
    return f"nightly_ingest_{kind}"


def delivery_sensor_name(kind: SourceKind) -> str:
    return f"{kind}_deliveries"


NIGHTLY_SEQUENCER = "nightly_reconcile_and_publish"
RETENTION_SCHEDULE = "weekly_retention"

# --- run tags ---------------------------------------------------------------------------
# `deploy/dagster.yaml` limits concurrent runs per value of CONCURRENCY_GROUP_TAG: a bounded
# number of ingests, one reconcile-and-publish, one retention at a time.
CONCURRENCY_GROUP_TAG = "mellanrum/concurrency_group"
INGEST_TAGS = {CONCURRENCY_GROUP_TAG: "ingest"}
RECONCILE_AND_PUBLISH_TAGS = {CONCURRENCY_GROUP_TAG: "reconcile_and_publish"}
RETENTION_TAGS = {CONCURRENCY_GROUP_TAG: "retention"}

NIGHTLY_TAG = "mellanrum/nightly"
SOURCE_TAG = "mellanrum/source"
KIND_TAG = "mellanrum/kind"
AS_OF_TAG = "mellanrum/as_of"
TRIGGER_TAG = "mellanrum/trigger"
FILE_TAG = "mellanrum/file"
SHA256_TAG = "mellanrum/sha256"
OTHER_NEW_FILES_TAG = "mellanrum/other_new_files"
FAILED_SOURCES_TAG = "mellanrum/failed_sources"
MISSING_SOURCES_TAG = "mellanrum/missing_sources"

# --- partitions -----------------------------------------------------------------------------
# One partition per source. Its key starts with the source id (the sources file's, the
# CLI's and the storage's name for it) and says which municipality it is, so the steward
# reads "tjorn (1419 Tjörn)" in the UI, not only "tjorn".


def partition_key(source: Source) -> str:
    if source.kommunkod:
        return f"{source.id} ({source.kommunkod} {municipality_names()[source.kommunkod]})"
    return f"{source.id} (Arbetsförmedlingen)"


def source_id_of(key: str) -> str:
    """The source id a partition key begins with (source ids hold no space)."""
    return key.split(" ", 1)[0]


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """The run tags that make one run cover the partitions from `first` to `last`."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
