"""Key epochs: bring stored pseudonyms to the keys of the day, or say why they cannot be.

Every stored level-2 pseudonym carries its key id, ``<linkage key id>+<pipeline key id>``
(its *epoch*), and two pseudonyms link only within one epoch. After a rotation the stored
data of a source that has not delivered since is under an older epoch. This module brings
it forward, without any personal number:

- **pipeline key (level 2)**: the chain is public to the pipeline, so stored pseudonyms are
  re-keyed by chaining, ``p2' = HMAC(K2', p2)`` (`rekey_chain`), for every row of every
  stored dataset: nothing is ever lost.
- **linkage key (level 1)**: no pipeline can re-key ``HMAC(K1, number)`` to
  ``HMAC(K1', number)`` without the number. So, in the rotation window (while the old
  linkage key is still valid), every ingest of plain numbers computes each person's
  pseudonym under both linkage keys and keeps a private *crosswalk* old -> new level-2
  pseudonym (`linkage_crosswalk`, stored per source). A row under the old linkage key is
  brought forward through the crosswalk; a row whose person no plain delivery has shown
  under both keys is left out of the comparison (its person is in no delivery under the
  new key, so it links no one) and stays stored under the old key.
- after the window (the old linkage key expired) no crosswalk is used any more: a source
  whose data is still under the old linkage key is **behind**. The reconciliation never
  compares it with the others: it is named, with both key ids, and the recipients it
  affects keep their previous publication (`core.publish.keep_previous`).

Everything here is pure (DataFrame in, DataFrame out) but `bring_store_forward`, which
applies the same to the files of the store, each replaced atomically and under the store's
lock, and appends one line per changed file to the store's re-key log. Counts and key ids
only: never a pseudonym in a message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.keys.keyring import KEY_ID_SEPARATOR, Key, Keyring, PseudonymKeys, pseudonym_key_id
from core.keys.pseudonyms import level2_pseudonyms, rekey_chain
from core.store import DatasetFiles
from schemas.errors import KeyringError

CROSSWALK = "linkage_crosswalk"  # the stored dataset: one partition per source
CROSSWALK_COLUMNS = ["old_key_id", "old_pseudonym", "new_key_id", "new_pseudonym"]
REKEY_LOG = "rekey_log.jsonl"  # in the store's folder: one line per re-keyed file

# What happened to each row (`bring_forward`):
CURRENT, REKEYED, CROSSWALKED, NOT_SEEN, BEHIND = 0, 1, 2, 3, 4
HOW = {CURRENT: "current", REKEYED: "re-keyed", CROSSWALKED: "crosswalked", NOT_SEEN: "left out",
       BEHIND: "behind"}  # fmt: skip
STATUSES = ("current", "brought forward", "behind")


# --- key ids ------------------------------------------------------------------------------


def split_key_ids(key_ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(linkage key id, pipeline key id) of each ``<linkage>+<pipeline>`` key id."""
    parts = key_ids.astype("string").str.split(KEY_ID_SEPARATOR, n=1, expand=True, regex=False)
    if parts.shape[1] < 2:
        parts[1] = pd.NA
    return parts[0].astype("string"), parts[1].astype("string")


def linkage_of(key_id: str) -> str:
    return key_id.split(KEY_ID_SEPARATOR, 1)[0]


# --- the target epoch ---------------------------------------------------------------------


@dataclass(frozen=True)
class Epoch:
    """The epoch to bring stored data to, and what may bring it there.

    `links`: for each pipeline key of the target's chain, the later keys of the chain
    (oldest first) that re-key a pseudonym made with it to the target. `bridges`: older
    linkage keys still valid on the day, whose crosswalk to the target may be used.
    """

    linkage_id: str
    pipeline_id: str
    links: Mapping[str, tuple[bytes, ...]] = field(repr=False, default_factory=dict)
    bridges: frozenset[str] = frozenset()

    @property
    def key_id(self) -> str:
        return pseudonym_key_id(self.linkage_id, self.pipeline_id)


def _newest(keys: Iterable[Key]) -> Key:
    return max(keys, key=lambda k: (k.valid_from, k.created, k.id))


def target_epoch(keyring: Keyring, on: dt.date, present: Iterable[str] = ()) -> Epoch:
    """The keys active on `on`, or newer keys the stored data (`present` key ids) is
    already under (an ad-hoc run as of a past date): the newest of them, per role."""
    known = {k.id: k for k in keyring.keys}
    present = [str(k) for k in present if isinstance(k, str) and KEY_ID_SEPARATOR in k]
    chosen = {}
    for role, part in (("linkage", 0), ("pipeline", 1)):
        candidates = [known[p.split(KEY_ID_SEPARATOR, 1)[part]] for p in present
                      if p.split(KEY_ID_SEPARATOR, 1)[part] in known]  # fmt: skip
        candidates = [k for k in candidates if k.role == role]
        try:
            candidates.append(keyring.active(role, on))
        except KeyringError:
            if not candidates:
                raise
        chosen[role] = _newest(candidates)
    chain = keyring.pipeline_chain(chosen["pipeline"])
    links = {key.id: tuple(later.secret for later in chain[i + 1 :]) for i, key in enumerate(chain)}
    bridges = frozenset(k.id for k in keyring.keys if k.role == "linkage" and k.is_valid(on)
                        and k.id != chosen["linkage"].id and k.valid_from <= chosen["linkage"].valid_from)  # fmt: skip
    return Epoch(chosen["linkage"].id, chosen["pipeline"].id, links, bridges)


# --- the crosswalk, made at ingest ----------------------------------------------------------


def older_linkage_keys(keyring: Keyring, keys: PseudonymKeys, on: dt.date) -> list[Key]:
    """The other linkage keys valid on `on`: a rotation window is open with each of them."""
    return [k for k in keyring.keys if k.role == "linkage" and k.is_valid(on) and k.id != keys.linkage.id]


def linkage_crosswalk(canonical: pd.Series, keys: PseudonymKeys, older: Sequence[Key]) -> pd.DataFrame:
    """Old -> new level-2 pseudonym of every distinct valid number, for each older linkage
    key (under the same pipeline chain). Computed in memory with the numbers; holds none."""
    numbers = canonical.dropna().drop_duplicates().reset_index(drop=True)
    if not older or numbers.empty:
        return empty_crosswalk()
    new = level2_pseudonyms(numbers, keys.linkage.secret, keys.chain).astype("string")
    frames = [
        pd.DataFrame({
            "old_key_id": pseudonym_key_id(old.id, keys.pipeline.id),
            "old_pseudonym": level2_pseudonyms(numbers, old.secret, keys.chain).astype("string"),
            "new_key_id": keys.key_id,
            "new_pseudonym": new,
        })  # fmt: skip
        for old in older
    ]
    return pd.concat(frames, ignore_index=True).astype("string")


def empty_crosswalk() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="string") for c in CROSSWALK_COLUMNS})


# --- bringing pseudonyms forward ---------------------------------------------------------------


def _rechain(pseudonyms: pd.Series, key_ids: pd.Series, epoch: Epoch) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Pseudonyms under an earlier pipeline key of the target's chain re-keyed to the
    target's pipeline key; returns the pseudonyms, key ids and which rows moved."""
    pseudonyms = pseudonyms.astype("string").copy()
    key_ids = key_ids.astype("string").copy()
    moved = np.zeros(len(key_ids), dtype=bool)
    # A handful of distinct key ids among millions of rows: split those, not every row's.
    codes, distinct = pd.factorize(key_ids, use_na_sentinel=True)
    for code, key_id in enumerate(distinct):
        linkage_id, _, pipeline_id = str(key_id).partition(KEY_ID_SEPARATOR)
        later = epoch.links.get(pipeline_id)
        if pipeline_id == epoch.pipeline_id or not later:
            continue
        rows = codes == code
        pseudonyms[rows] = rekey_chain(pseudonyms[rows], later).astype("string").to_numpy()
        key_ids[rows] = pseudonym_key_id(linkage_id, epoch.pipeline_id)
        moved |= rows
    return pseudonyms, key_ids, moved


def crosswalk_forward(crosswalk: pd.DataFrame, epoch: Epoch) -> tuple[pd.DataFrame, int]:
    """A crosswalk with both sides re-keyed to the target's pipeline key (rows moved)."""
    old_p, old_k, old_moved = _rechain(crosswalk["old_pseudonym"], crosswalk["old_key_id"], epoch)
    new_p, new_k, new_moved = _rechain(crosswalk["new_pseudonym"], crosswalk["new_key_id"], epoch)
    frame = pd.DataFrame({"old_key_id": old_k, "old_pseudonym": old_p, "new_key_id": new_k, "new_pseudonym": new_p})
    return frame.reset_index(drop=True), int((old_moved | new_moved).sum())


def usable_crosswalk(crosswalks: pd.DataFrame | None, epoch: Epoch) -> pd.DataFrame:
    """The crosswalk entries that lead from a bridge (an older linkage key still valid) to
    the target epoch, each (old key id, old pseudonym) once, with both sides re-keyed."""
    if crosswalks is None or crosswalks.empty:
        return empty_crosswalk()
    frame, _ = crosswalk_forward(crosswalks, epoch)
    old_linkage, _ = split_key_ids(frame["old_key_id"])
    usable = (old_linkage.isin(epoch.bridges) & (frame["new_key_id"] == epoch.key_id)).fillna(False)
    return frame[usable.to_numpy(dtype=bool)].drop_duplicates(["old_key_id", "old_pseudonym"]).reset_index(drop=True)


@dataclass(frozen=True)
class Brought:
    frame: pd.DataFrame  # the rows, pseudonym and key_id brought forward where they could be
    how: np.ndarray  # per row: CURRENT, REKEYED, CROSSWALKED, NOT_SEEN or BEHIND
    rekeyed: np.ndarray  # per row: re-keyed along the pipeline chain (whatever happened next)


def bring_forward(frame: pd.DataFrame, epoch: Epoch, crosswalk: pd.DataFrame | None = None) -> Brought:
    """`frame`'s pseudonyms and key ids brought to `epoch`: re-keyed along the pipeline
    chain, then through the crosswalk (`usable_crosswalk`) where under an older linkage
    key. A row that cannot be brought keeps its key id: NOT_SEEN when its linkage key is a
    bridge but its person is not in the crosswalk, BEHIND otherwise."""
    if frame.empty or (frame["key_id"] == epoch.key_id).all():  # the usual night: nothing to do
        return Brought(frame, np.zeros(len(frame), dtype=np.int8), np.zeros(len(frame), dtype=bool))
    pseudonyms, key_ids, rekeyed = _rechain(frame["pseudonym"], frame["key_id"], epoch)
    how = np.where(rekeyed, REKEYED, CURRENT).astype(np.int8)
    linkage, pipeline = split_key_ids(key_ids)
    old = (linkage != epoch.linkage_id).fillna(True).to_numpy(dtype=bool)
    walk = usable_crosswalk(crosswalk, epoch)
    bridged = old & linkage.isin(epoch.bridges).fillna(False).to_numpy(dtype=bool)
    if bridged.any() and not walk.empty:
        index = pd.MultiIndex.from_arrays([walk["old_key_id"].to_numpy(), walk["old_pseudonym"].to_numpy()])
        rows = np.flatnonzero(bridged)
        wanted = pd.MultiIndex.from_arrays([key_ids.to_numpy()[rows], pseudonyms.to_numpy()[rows]])
        position = index.get_indexer(wanted)
        hit = position >= 0
        pseudonyms.iloc[rows[hit]] = walk["new_pseudonym"].to_numpy()[position[hit]]
        key_ids.iloc[rows[hit]] = epoch.key_id
        how[rows[hit]] = CROSSWALKED
        old[rows[hit]] = False
    how[old & bridged] = NOT_SEEN
    how[old & ~bridged] = BEHIND
    # Under the target linkage key but a pipeline key outside the target's chain: behind too.
    how[(~old) & (key_ids != epoch.key_id).fillna(True).to_numpy(dtype=bool)] = BEHIND
    result = frame.copy()
    result["pseudonym"] = pseudonyms.astype(frame["pseudonym"].dtype).to_numpy()
    result["key_id"] = key_ids.astype(frame["key_id"].dtype).to_numpy()
    return Brought(result, how, rekeyed)


# --- each source's epoch ------------------------------------------------------------------------

EPOCH_COLUMNS = ["source_id", "kind", "kommunkod", "rows", "key_ids", "target_key_id", "rekeyed",
                 "crosswalked", "left_out", "behind", "status"]  # fmt: skip


def source_epochs(frame: pd.DataFrame, how: np.ndarray, kind: str, epoch: Epoch) -> pd.DataFrame:
    """One row per source of `frame` (brought forward, with `how`): its counts, the key ids
    its rows are under now and its status: current (every row already under the target),
    behind (some rows under an epoch that cannot be brought to the target: the source is
    left out), or else brought forward."""
    if frame.empty:
        return pd.DataFrame({c: [] for c in EPOCH_COLUMNS}).astype(_EPOCH_TYPES)
    facts = pd.DataFrame({
        "source_id": frame["source_id"].astype(str).to_numpy(),
        "kommunkod": frame["kommunkod"].astype(str).to_numpy() if "kommunkod" in frame else "",
        "key_id": frame["key_id"].astype(str).to_numpy(),
        **{name: how == code for code, name in ((REKEYED, "rekeyed"), (CROSSWALKED, "crosswalked"),
                                               (NOT_SEEN, "left_out"), (BEHIND, "behind"))},
    })  # fmt: skip
    grouped = facts.groupby("source_id", sort=True)
    table = grouped.agg(kommunkod=("kommunkod", "first"), rows=("key_id", "size"), rekeyed=("rekeyed", "sum"),
                        crosswalked=("crosswalked", "sum"), left_out=("left_out", "sum"),
                        behind=("behind", "sum")).reset_index()  # fmt: skip
    distinct = facts[["source_id", "key_id"]].drop_duplicates().sort_values(["source_id", "key_id"])
    table["key_ids"] = distinct.groupby("source_id", sort=True)["key_id"].agg(", ".join).to_numpy()
    table["kind"] = kind
    table["target_key_id"] = epoch.key_id
    moved = (table["rekeyed"] + table["crosswalked"] + table["left_out"]) > 0
    table["status"] = np.where(table["behind"] > 0, "behind", np.where(moved, "brought forward", "current"))
    return table[EPOCH_COLUMNS].astype(_EPOCH_TYPES)


_EPOCH_TYPES = {"source_id": "str", "kind": "str", "kommunkod": "str", "rows": "int64", "key_ids": "str",
                "target_key_id": "str", "rekeyed": "int64", "crosswalked": "int64", "left_out": "int64",
                "behind": "int64", "status": "str"}  # fmt: skip


def comparable(frame: pd.DataFrame, epochs: pd.DataFrame, epoch: Epoch) -> pd.DataFrame:
    """The rows the reconciliation may compare: under the target epoch, of sources not behind."""
    behind = set(epochs.loc[epochs["status"] == "behind", "source_id"])
    keep = (frame["key_id"] == epoch.key_id).to_numpy(dtype=bool) & ~frame["source_id"].isin(behind).to_numpy(dtype=bool)
    return frame[keep].reset_index(drop=True)


def behind_sentence(epochs: pd.DataFrame, names: Mapping[str, str] | None = None) -> str:
    """The runbook's words for the sources left behind, or "" when none is:
    "goteborg (1480 Göteborg)'s data is under linkage key L1-A; the others under L1-B"."""
    behind = epochs[epochs["status"] == "behind"]
    if behind.empty:
        return ""
    names = names or {}
    target = linkage_of(str(epochs["target_key_id"].iloc[0]))
    parts = []
    for row in behind.itertuples():
        where = f"{row.kommunkod} {names.get(row.kommunkod, '')}".strip() if row.kommunkod else "AF"
        old = sorted({linkage_of(k) for k in row.key_ids.split(", ") if linkage_of(k) != target}) or [
            "a pipeline key outside the chain"]  # fmt: skip
        parts.append(f"{row.source_id} ({where})'s data is under linkage key {', '.join(old)}")
    others = "the others under" if len(behind) < len(epochs) else "the night's keys are"
    return (f"{'; '.join(parts)}; {others} {target}: left out of the reconciliation, and the recipients "
            "it affects keep their previous publication until the source delivers under the new key")  # fmt: skip


# --- the store ------------------------------------------------------------------------------------


def bring_store_forward(files: DatasetFiles, epoch: Epoch, datasets: Sequence[str],
                        on: dt.date, now: dt.datetime) -> list[dict]:  # fmt: skip
    """Bring every stored partition of `datasets` (and the crosswalks) forward to `epoch`,
    in place: each changed file replaced atomically under the store's lock, one line per
    file in the re-key log. Crosswalks whose old linkage key is no longer valid on `on` are
    deleted (the window is over). Returns the log lines (counts and key ids only).

    Idempotent: a row already under the target is left alone, so a run interrupted half-way
    leaves each file wholly old or wholly new and the next run finishes the rest."""
    changes: list[dict] = []
    walks: list[pd.DataFrame] = []

    def crosswalk_of(partition: str):
        def change(walk: pd.DataFrame) -> pd.DataFrame | None:
            walk = walk.astype("string")
            moved_walk, moved = crosswalk_forward(walk, epoch)
            walks.append(moved_walk)
            if moved:
                changes.append(_line(now, CROSSWALK, partition, walk["old_key_id"], epoch, moved, 0, 0, "re-keyed"))
            return moved_walk if moved else None
        return change

    for partition in files.partitions(CROSSWALK):
        walk = files.load(CROSSWALK, [partition]).astype("string")
        old_linkage, _ = split_key_ids(walk["old_key_id"])
        if not old_linkage.isin(epoch.bridges).fillna(False).any():
            files.delete(CROSSWALK, partition)  # the window is over: the old key is no longer valid
            changes.append(_line(now, CROSSWALK, partition, walk["old_key_id"], epoch, 0, 0, len(walk), "deleted"))
            continue
        files.update(CROSSWALK, partition, crosswalk_of(partition))
    crosswalk = pd.concat(walks, ignore_index=True) if walks else empty_crosswalk()

    def forward(dataset: str, partition: str):
        def change(stored: pd.DataFrame) -> pd.DataFrame | None:
            if stored.empty or (stored["key_id"] == epoch.key_id).all():
                return None
            brought = bring_forward(stored, epoch, crosswalk)
            rekeyed, walked = int(brought.rekeyed.sum()), int((brought.how == CROSSWALKED).sum())
            if not rekeyed and not walked:
                return None
            changes.append(_line(now, dataset, partition, stored["key_id"], epoch, rekeyed, walked,
                                 int(np.isin(brought.how, (NOT_SEEN, BEHIND)).sum()), "brought forward"))  # fmt: skip
            return brought.frame
        return change

    for dataset in datasets:
        for partition in files.partitions(dataset):
            # Only the key id column is read to find the files with anything to do.
            stored_ids = pq.read_table(files.path(dataset, partition), columns=["key_id"]).column(0).unique()
            if stored_ids.to_pylist() != [epoch.key_id] and len(stored_ids):
                files.update(dataset, partition, forward(dataset, partition))
    if changes:
        files.append_log(REKEY_LOG, [json.dumps(c, sort_keys=True) for c in changes])
    return changes


def _line(now: dt.datetime, dataset: str, partition: str, key_ids: pd.Series, epoch: Epoch, rekeyed: int,
          crosswalked: int, not_moved: int, action: str) -> dict:  # fmt: skip
    return {"at": now.astimezone(dt.UTC).isoformat(timespec="seconds"), "dataset": dataset, "partition": partition,
            "action": action, "from_key_ids": sorted(set(key_ids.dropna().astype(str))), "to_key_id": epoch.key_id,
            "rows_rekeyed": rekeyed, "rows_crosswalked": crosswalked, "rows_not_moved": not_moved}  # fmt: skip
