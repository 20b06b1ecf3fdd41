"""Dagster resources: the keyring, the declared sources and recipients, the defaults, the
store for our datasets and the publication database.

All of them are built from the one settings object (`orchestration/definitions.py`).
Secrets reach Dagster only through `EnvVar`, so they are never part of a resource's shown
values or of stored run config. Datasets are stored by `DatasetStore` as Parquet files we
control (`core.store`), never as the default IO manager's pickles.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from assets.names import OPTIONAL_DATASETS, source_id_of
from core.database import create_engine
from core.keys.keyring import Keyring
from core.store import DatasetFiles
from core.contracts import CONTRACTS
from schemas.agreements import AGREEMENTS_FILE, Agreements, load_agreements
from schemas.recipients import Recipients, load_recipients
from schemas.sources import Source

# Unlocking the keyring costs a Scrypt derivation (~0.1 s, 32 MiB); a process unlocks it once
# per keyring content and passphrase, and keeps the keys in memory only.
_UNLOCKED: dict[tuple[str, bytes, bytes], Keyring] = {}
_UNLOCKING = threading.Lock()
_UNLOCKS = [0]  # Scrypt unlocks this process made through `unlocked_keyring`


def unlocked_keyring(path: Path, passphrase: str) -> Keyring:
    """The keyring at `path`, unlocked once per process (again when the file or the passphrase
    changes): the preflight, every ingest run and the publication of one process share it."""
    path = Path(path)
    try:
        content = hashlib.sha256(path.read_bytes()).digest()
    except FileNotFoundError:
        return Keyring.load(path, passphrase)  # says where it was looked for
    key = (str(path.resolve()), content, hashlib.sha256(passphrase.encode()).digest())
    with _UNLOCKING:
        if key not in _UNLOCKED:
            _UNLOCKED[key] = Keyring.load(path, passphrase)
            _UNLOCKS[0] += 1
        return _UNLOCKED[key]


def keyring_unlocks() -> int:
    """How many times this process has unlocked a keyring (a Scrypt derivation) so far."""
    return _UNLOCKS[0]


class KeyringResource(dg.ConfigurableResource):
    """The encrypted keyring; its passphrase comes from the environment (an `EnvVar`)."""

    path: str
    passphrase: str

    def open(self) -> Keyring:
        """The keyring, unlocked once per process (`unlocked_keyring`)."""
        return unlocked_keyring(Path(self.path), self.passphrase)


class RunDefaults(dg.ConfigurableResource):
    """What a run uses when its config does not say otherwise (from the settings)."""

    look_back_days: int
    look_ahead_days: int
    suppression_threshold: int
    max_quarantine_share: float
    max_delivery_age_days: int

    def quarantine_share_of(self, source: Source) -> float:
        return self.max_quarantine_share if source.max_quarantine_share is None else source.max_quarantine_share

    def delivery_age_of(self, source: Source) -> int:
        return self.max_delivery_age_days if source.max_delivery_age_days is None else source.max_delivery_age_days


class RecipientsResource(dg.ConfigurableResource):
    """The recipients file: who receives which published datasets."""

    path: str

    def load(self) -> Recipients:
        return load_recipients(Path(self.path))

    def load_agreements(self) -> Agreements | None:
        """The local agreements, `agreements.yaml` beside the recipients file (None: no such file)."""
        return load_agreements(Path(self.path).parent / AGREEMENTS_FILE, [c.name for c in CONTRACTS])


class PublicationDatabase(dg.ConfigurableResource):
    """Where the published datasets go: a SQLAlchemy URL (SQLite file or PostgreSQL).

    A URL with a password must come from the environment (`EnvVar`), never run config.
    """

    url: str
    # On SQLite, the private file of the internal (steward-only) tables.
    private_url: str

    def engine(self) -> Engine:
        return create_engine(self.url)

    def private_engine(self) -> Engine:
        return create_engine(self.private_url)


class DatasetStore(dg.ConfigurableIOManager):
    """Our datasets as Parquet files under `base_dir` (`core.store.DatasetFiles`).

    A failed run never replaces a file, so the last good materialization of every
    partition stays readable downstream. An unpartitioned asset reading a partitioned one
    gets every partition that has a file, concatenated. An optional source kind's datasets
    (`OPTIONAL_DATASETS`: AF's registrations and their quarantine) read as None while none of
    their partitions has a file (no such source declared, or none ingested yet).
    """

    base_dir: str

    @property
    def files(self) -> DatasetFiles:
        return DatasetFiles(Path(self.base_dir))

    def handle_output(self, context: dg.OutputContext, frame: pd.DataFrame) -> None:
        partition = source_id_of(context.partition_key) if context.has_partition_key else None
        self.files.write(_dataset(context.asset_key), partition, frame)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | None:
        # A partition's file is named by the source id its key begins with.
        partitions = [source_id_of(key) for key in context.asset_partition_keys] if context.has_asset_partitions else None
        dataset = _dataset(context.asset_key)
        if context.asset_key in OPTIONAL_DATASETS and not self._stored(dataset, partitions):
            return None
        return self.files.load(dataset, partitions)

    def _stored(self, dataset: str, partitions: list[str] | None) -> bool:
        files = self.files
        if partitions is None:
            return bool(files.partitions(dataset)) or files.path(dataset, None).exists()
        return any(files.path(dataset, partition).exists() for partition in partitions)


def _dataset(key: dg.AssetKey) -> str:
    return key.path[-1]
