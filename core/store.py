"""Where our datasets live on disk: Parquet files we control, never Dagster's pickles.

Layout under the storage folder (`Settings.storage`):

    <dataset>/<partition>.parquet   a partitioned dataset (one file per source)
    <dataset>/all.parquet           an unpartitioned one
    adhoc/<run id>/<dataset>.parquet  an ad-hoc reconciliation's results
    linkage_crosswalk/<source>.parquet  in a linkage-key rotation window (core/epochs.py)
    rekey_log.jsonl                 one line per file re-keyed after a rotation

Files are written atomically and private (0600): a failed run never replaces a file, so
the last good data of every partition stays readable. Every write holds the store's lock
(`<storage>/.lock`), so that re-keying a stored file (`update`, `core/epochs.py`) never
overwrites a delivery ingested meanwhile.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.files import replaced_atomically
from schemas.errors import MellanrumError

UNPARTITIONED = "all"


@dataclass(frozen=True)
class DatasetFiles:
    """The Parquet files of every dataset under `base_dir`."""

    base_dir: Path

    def path(self, dataset: str, partition: str | None = None) -> Path:
        return Path(self.base_dir, dataset, f"{partition or UNPARTITIONED}.parquet")

    def write(self, dataset: str, partition: str | None, frame: pd.DataFrame) -> Path:
        with self.locked():
            return self._write(dataset, partition, frame)

    def _write(self, dataset: str, partition: str | None, frame: pd.DataFrame) -> Path:
        path = self.path(dataset, partition)
        with replaced_atomically(path, private=True) as temporary:
            frame.to_parquet(temporary, index=False)
        return path

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The store's lock, held while a file is read and replaced."""
        Path(self.base_dir).mkdir(parents=True, exist_ok=True)
        lock = Path(self.base_dir, ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def update(self, dataset: str, partition: str | None,
               change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> bool:  # fmt: skip
        """Read a stored file, `change` it and replace it atomically, all under the lock
        (`change` returning None leaves it as it is). False when there is no such file."""
        with self.locked():
            if not self.path(dataset, partition).exists():
                return False
            changed = change(self.load(dataset, [partition] if partition else None))
            if changed is not None:
                self._write(dataset, partition, changed)
            return True

    def delete(self, dataset: str, partition: str | None) -> None:
        with self.locked():
            self.path(dataset, partition).unlink(missing_ok=True)

    def append_log(self, name: str, lines: Sequence[str]) -> Path:
        """Append lines to a private log file in the store's folder."""
        path = Path(self.base_dir, name)
        with self.locked():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as log:
                log.write("".join(line + "\n" for line in lines))
        return path

    def partitions(self, dataset: str) -> list[str]:
        """The partitions of `dataset` that have a file, sorted."""
        folder = Path(self.base_dir, dataset)
        return sorted(p.stem for p in folder.glob("*.parquet") if p.stem != UNPARTITIONED)

    def load(self, dataset: str, partitions: Sequence[str] | None = None) -> pd.DataFrame:
        """The stored rows of `dataset`: the given partitions that have a file (None: every
        stored partition, or the unpartitioned file), concatenated."""
        if partitions is None:
            partitions = self.partitions(dataset) or [None]
        frames = [pd.read_parquet(p) for p in (self.path(dataset, q) for q in partitions) if p.exists()]
        if not frames:
            raise MellanrumError(f"no stored data for {dataset} yet: materialize it first")
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        # Parquet has no second unit: dates come back as milliseconds; the datasets use seconds.
        dates = [name for name, dtype in frame.dtypes.items() if str(dtype).startswith("datetime64")]
        return frame.astype(dict.fromkeys(dates, "datetime64[s]")) if dates else frame

    def report_folder(self, run_id: str) -> Path:
        return Path(self.base_dir, "adhoc", run_id)

    def write_report(self, run_id: str, dataset: str, frame: pd.DataFrame) -> Path:
        """A dataset of one ad-hoc run, apart from the nightly datasets."""
        path = self.report_folder(run_id) / f"{dataset}.parquet"
        with replaced_atomically(path, private=True) as temporary:
            frame.to_parquet(temporary, index=False)
        return path
