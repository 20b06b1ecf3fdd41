"""Bad rows: the defect kinds, the column each concerns, which rows may carry which, how
they are dealt in turn across the sources, and the faulty text each writes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.synthetic.systems import Export
from core.synthetic.text import _DATE_WRITERS, extent_text

DEFECT_KINDS = (
    "wrong_check_digit",
    "impossible_date",
    "end_before_start",
    "unknown_code",
    "extent_out_of_range",
    "duplicate_row",
    "blank_personnummer",
    "leading_zero_lost",
)

# Texts that are no date (month/day), for the impossible_date defect.
_IMPOSSIBLE_MONTH_DAYS = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1))
_OUT_OF_RANGE_EXTENTS = (0.0, 150.0, -50.0)


_DEFECT_FIELD = {
    "duplicate_row": "",  # the whole row
    "wrong_check_digit": "personnummer",
    "impossible_date": "start_date",
    "end_before_start": "end_date",
    "extent_out_of_range": "extent_pct",
    "blank_personnummer": "personnummer",
    "leading_zero_lost": "personnummer",
}


def defect_field(kind: str, export: Export) -> str:
    """Our column a defect concerns ('' for a duplicate, which concerns the whole row)."""
    return export.code_field if kind == "unknown_code" else _DEFECT_FIELD[kind]


def _defect_eligible(kind: str, rows: pd.DataFrame, export: Export) -> np.ndarray:
    """Rows that can carry the defect: a lost zero needs a 10-digit number from the 2000s."""
    if kind == "leading_zero_lost":
        born_2000s = rows.personnummer.str.startswith("200").to_numpy()
        return born_2000s & export.ten_digit_unseparated
    return np.ones(len(rows), dtype=bool)


def plan_defects(
    rows: pd.DataFrame, export: Export, quota: int, kind_order: list[str], rng
) -> tuple[list[tuple[int, str]], list[str]]:
    """(row position, defect kind) for up to `quota` rows, never a protected row, never
    one row twice (a duplicated row's first copy must stay valid too).

    Kinds are dealt in turn across all sources: each row gets the first kind in
    `kind_order` this source can carry, which then moves to the back. A kind it cannot
    carry (a lost leading zero) keeps its place at the front for a source that can.
    """
    candidates = rng.permutation(np.flatnonzero(~rows.protected.to_numpy()))
    # One queue per kind, consumed once overall, so planning stays linear in the rows.
    queues = {kind: iter(candidates[_defect_eligible(kind, rows, export)[candidates]]) for kind in DEFECT_KINDS}
    used: set[int] = set()
    plan: list[tuple[int, str]] = []
    # At most half the unprotected rows, so that a tiny source still delivers valid rows.
    for _ in range(min(quota, len(candidates) // 2)):
        for kind in kind_order:
            row = next((int(r) for r in queues[kind] if r not in used), None)
            if row is not None:
                break
        else:
            break
        kind_order = [*(k for k in kind_order if k != kind), kind]
        used.add(row)
        plan.append((row, kind))
    return plan, kind_order


def defect_text(kind: str, text: pd.Series, facts: pd.Series, export: Export, rng) -> str:
    """The faulty text for the defect's column."""
    if kind == "wrong_check_digit":
        number = text.personnummer
        return number[:-1] + str((int(number[-1]) + rng.integers(1, 10)) % 10)
    if kind == "impossible_date":
        month, day = _IMPOSSIBLE_MONTH_DAYS[rng.integers(len(_IMPOSSIBLE_MONTH_DAYS))]
        return _DATE_WRITERS[export.date_format](facts.start_date.year, month, day)
    if kind == "end_before_start":
        end = facts.start_date - pd.Timedelta(days=int(rng.integers(1, 61)))
        return _DATE_WRITERS[export.date_format](end.year, end.month, end.day)
    if kind == "unknown_code":
        return export.unknown_code
    if kind == "extent_out_of_range":
        return extent_text(pd.Series([rng.choice(_OUT_OF_RANGE_EXTENTS)]), export.decimal)[0]
    if kind == "blank_personnummer":
        return ""
    if kind == "leading_zero_lost":
        return text.personnummer[1:]
    raise ValueError(f"no text for defect {kind!r}")
