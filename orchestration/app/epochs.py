"""The key epochs of the stored data, for the operator (no Dagster run): which key ids each
source's data is under, whether it can be brought to the keys of a day, and bringing it
there now instead of at the next night's reconciliation (`core/epochs.py`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from assets.names import INGESTED as INGESTED_ASSETS
from core.epochs import (
    CROSSWALK,
    behind_sentence,
    bring_forward,
    bring_store_forward,
    source_epochs,
    target_epoch,
)
from core.files import keep_private
from core.keys.keyring import Keyring
from core.store import DatasetFiles
from orchestration.settings import Settings
from schemas.municipalities import municipality_names

# The ingested datasets' stored names, by source kind.
INGESTED = {kind: accepted.path[-1] for kind, (accepted, _) in INGESTED_ASSETS.items()}


@dataclass(frozen=True)
class StoredEpochs:
    target: str  # the key id the data is brought to
    table: pd.DataFrame  # per source (core.epochs.source_epochs)
    behind: str  # the runbook's sentence, "" when no source is behind
    changes: list[dict]  # the re-key log's lines written now (bring_forward=True)


def stored_epochs(settings: Settings, on: dt.date, *, persist: bool = False) -> StoredEpochs:
    """Each stored source's key epoch against the keys of `on`; `persist` brings the store
    forward (re-keyed along the pipeline chain, through the crosswalk in a linkage window)."""
    keep_private()
    ring = Keyring.load(settings.keyring_file, settings.secret_from_environment())
    files = DatasetFiles(settings.storage)

    def stored() -> dict[str, pd.DataFrame]:
        return {kind: files.load(name) for kind, name in INGESTED.items() if files.partitions(name)}

    frames = stored()
    present = pd.concat([f["key_id"] for f in frames.values()], ignore_index=True).dropna().unique() if frames else []
    epoch = target_epoch(ring, on, present)
    changes = []
    if persist:
        changes = bring_store_forward(files, epoch, list(INGESTED.values()), on, dt.datetime.now(dt.UTC))
        frames = stored()
    crosswalk = files.load(CROSSWALK) if files.partitions(CROSSWALK) else None
    parts = []
    for kind, frame in frames.items():
        brought = bring_forward(frame, epoch, crosswalk)
        parts.append(source_epochs(brought.frame, brought.how, kind, epoch))
    table = pd.concat(parts, ignore_index=True) if parts else source_epochs(pd.DataFrame(), [], "af", epoch)
    return StoredEpochs(epoch.key_id, table, behind_sentence(table, municipality_names()), changes)
