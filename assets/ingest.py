"""Ingest: read a source's delivery, map it onto our columns, pseudonymize the identities.

Pure functions, DataFrame in, DataFrame out. The plain personal number exists only inside
`pseudonymize_identities`: what it returns holds the level-2 pseudonym and its key id, and
the problems it reports name line, column and reason, never the value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from assets.pseudonyms import level2_from_level1, level2_pseudonyms
from assets.readers import LINE_COLUMN, ReadResult, read_delimited
from orchestration.keyring import KEY_ID_SEPARATOR, Keyring, PseudonymKeys
from schemas.errors import InputError
from schemas.personnummer import normalize
from schemas.sources import LEVEL1_IDENTITY, PLAIN_IDENTITY, Source

PSEUDONYM = "pseudonym"
KEY_ID = "key_id"
PROBLEM_COLUMNS = ["line", "column", "reason"]


def read_source_file(source: Source, path: Path) -> ReadResult:
    """Read one delivered file of `source` as text, with line numbers."""
    if source.format == "xlsx":
        return _read_xlsx(path, source.sheet)
    return read_delimited(path, encoding=source.encoding, delimiter=source.delimiter)


def _read_xlsx(path: Path, sheet: str | None) -> ReadResult:
    try:
        frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str, engine="openpyxl")
    except ValueError as problem:
        # pandas says "Worksheet named 'X' not found": names only, no cell values.
        raise InputError(f"{path}: {problem}") from None
    except Exception:
        raise InputError(f"{path}: not a readable .xlsx workbook") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    frame = frame.astype("string[pyarrow]")
    # The header is sheet row 1, so data row i is sheet row i + 2; blank rows hold no record.
    frame.insert(0, LINE_COLUMN, np.arange(2, len(frame) + 2, dtype=np.int64))
    blank = frame.drop(columns=LINE_COLUMN).isna().all(axis=1).to_numpy(dtype=bool)
    return ReadResult(path=path, frame=frame[~blank].reset_index(drop=True), encoding="xlsx", delimiter="")


def to_canonical(source: Source, read: ReadResult) -> pd.DataFrame:
    """Rename the source's columns to ours and keep only those (plus the line number)."""
    missing = [their for their in source.columns if their not in read.frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in read.frame.columns if c != LINE_COLUMN)
        raise InputError(
            f"{read.path}: line 1: required column {missing[0]!r} is missing "
            f"(the sources file maps it to {source.columns[missing[0]]}); columns found: {found}"
        )
    frame = read.frame[[LINE_COLUMN, *source.columns]].rename(columns=source.columns)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Pseudonymized:
    frame: pd.DataFrame  # the identity columns replaced by PSEUDONYM and KEY_ID
    problems: pd.DataFrame  # LINE, column, reason of rows whose identity is unusable


def pseudonymize_identities(
    frame: pd.DataFrame, keys: PseudonymKeys, keyring: Keyring, as_of: dt.date
) -> Pseudonymized:
    """Replace the identity column(s) by the level-2 pseudonym and its key id.

    Plain numbers are normalized and checked first; level-1 pseudonyms delivered by a
    partner must carry a linkage key id that the keyring holds and that is valid on
    `as_of`. Rows whose identity is unusable keep an empty pseudonym and are reported.
    """
    pseudonym = pd.Series(pd.NA, index=frame.index, dtype="string")
    key_id = pd.Series(pd.NA, index=frame.index, dtype="string")
    if PLAIN_IDENTITY[0] in frame.columns:
        checked = normalize(frame[PLAIN_IDENTITY[0]], as_of)
        valid = checked["canonical"].notna().to_numpy(dtype=bool)
        pseudonym[valid] = level2_pseudonyms(checked["canonical"][valid], keys.linkage.secret, keys.chain).to_numpy()
        key_id[valid] = keys.key_id
        problems = _problems(frame, ~valid, PLAIN_IDENTITY[0], checked["reason"])
        identity_columns = list(PLAIN_IDENTITY)
    else:
        level1, level1_key = (frame[c].astype("string").str.strip() for c in LEVEL1_IDENTITY)
        key_ok = _usable_linkage_keys(level1_key, keyring, as_of)
        level2, invalid = level2_from_level1(level1, keys.chain)
        valid = key_ok & ~invalid
        pseudonym[valid] = level2[valid].to_numpy()
        key_id[valid] = (level1_key[valid] + KEY_ID_SEPARATOR + keys.pipeline.id).to_numpy()
        reasons = pd.Series(
            np.where(key_ok, "not a level-1 pseudonym (52 characters A-Z, 2-7)", "unknown or expired linkage key id"),
            index=frame.index,
        )
        problems = _problems(frame, ~valid, LEVEL1_IDENTITY[0], reasons)
        identity_columns = list(LEVEL1_IDENTITY)
    result = frame.drop(columns=identity_columns)
    result.insert(1, PSEUDONYM, pseudonym)
    result.insert(2, KEY_ID, key_id)
    return Pseudonymized(frame=result, problems=problems)


def _usable_linkage_keys(key_ids: pd.Series, keyring: Keyring, as_of: dt.date) -> np.ndarray:
    usable = {k.id for k in keyring.keys if k.role == "linkage" and k.is_valid(as_of)}
    return key_ids.isin(usable).fillna(False).to_numpy(dtype=bool)


def _problems(frame: pd.DataFrame, mask: np.ndarray, column: str, reasons: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"line": frame.loc[mask, LINE_COLUMN].to_numpy(), "column": column, "reason": reasons[mask].to_numpy()},
        columns=PROBLEM_COLUMNS,
    )

