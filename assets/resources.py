"""Dagster resources: the keyring, the sources and recipients files, the store for our
datasets and the publication database.

Secrets reach Dagster only through `EnvVar`, so they are never part of stored run config.
Datasets are stored by `DatasetStore` as Parquet files we control (written atomically,
one per asset and partition), never as the default IO manager's pickles.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from core.database import create_engine
from core.files import replaced_atomically
from core.keys.keyring import PASSPHRASE_ENV, Keyring
from schemas.errors import MellanrumError
from schemas.recipients import Recipients, load_recipients
from schemas.sources import Sources, load_sources


class KeyringResource(dg.ConfigurableResource):
    """The encrypted keyring; its passphrase comes from the environment."""

    path: str
    passphrase: str = dg.EnvVar(PASSPHRASE_ENV)

    def open(self) -> Keyring:
        return Keyring.load(Path(self.path), self.passphrase)


class SourcesResource(dg.ConfigurableResource):
    """The sources file that declares every delivery."""

    path: str

    def load(self) -> Sources:
        return load_sources(Path(self.path))


class RecipientsResource(dg.ConfigurableResource):
    """The recipients file: who receives which published datasets."""

    path: str

    def load(self) -> Recipients:
        return load_recipients(Path(self.path))


class PublicationDatabase(dg.ConfigurableResource):
    """Where the published datasets go: a SQLAlchemy URL (SQLite file or PostgreSQL).

    A URL with a password must come from the environment (`EnvVar`), never run config.
    """

    url: str

    def engine(self) -> Engine:
        return create_engine(self.url)


class DatasetStore(dg.ConfigurableIOManager):
    """Parquet files under `base_dir/<asset>/<partition>.parquet`.

    A failed run never replaces a file, so the last good materialization of every
    partition stays readable downstream. An unpartitioned downstream asset reading a
    partitioned one gets every partition that has a file, concatenated.
    """

    base_dir: str

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        return Path(self.base_dir, *key.path, f"{partition or 'all'}.parquet")

    def handle_output(self, context: dg.OutputContext, frame: pd.DataFrame) -> None:
        partition = context.partition_key if context.has_partition_key else None
        with replaced_atomically(self._path(context.asset_key, partition), private=True) as temporary:
            frame.to_parquet(temporary, index=False)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        return self.load(context.asset_key, partitions)

    def load(self, key: dg.AssetKey, partitions: list[str] | None = None) -> pd.DataFrame:
        """The stored data of `key`: the given partitions that have a file (None: every
        stored partition, or the unpartitioned file), concatenated."""
        if partitions is None:
            partitions = self.stored_partitions(key) or [None]
        paths = [self._path(key, p) for p in partitions]
        frames = [pd.read_parquet(p) for p in paths if p.exists()]
        if not frames:
            raise MellanrumError(f"no stored data for {key.to_user_string()} yet: materialize it first")
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        # Parquet has no second unit: dates come back as milliseconds; the datasets use seconds.
        dates = [name for name, dtype in frame.dtypes.items() if str(dtype).startswith("datetime64")]
        return frame.astype(dict.fromkeys(dates, "datetime64[s]")) if dates else frame

    def stored_partitions(self, key: dg.AssetKey) -> list[str]:
        folder = Path(self.base_dir, *key.path)
        return sorted(p.stem for p in folder.glob("*.parquet") if p.stem != "all")

    def write_report(self, folder: str, name: str, frame: pd.DataFrame) -> Path:
        """A dataset of one ad-hoc run, outside the assets: `base_dir/adhoc/<folder>/<name>.parquet`."""
        path = Path(self.base_dir, "adhoc", folder, f"{name}.parquet")
        with replaced_atomically(path, private=True) as temporary:
            frame.to_parquet(temporary, index=False)
        return path
