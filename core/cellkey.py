"""The Cell Key Method: counts perturbed so that two nights' releases cannot be subtracted
to undo the protection (as Statistics Sweden publishes since 2025).

Every counted row has a record key (`core/keys/record_keys.py`: a keyed hash of the
person's stable pseudonym, uniform in [0, 1)). A published count's *cell key* is the
fractional part of the sum of its contributors' record keys; its noise is looked up in the
perturbation table `PTABLE` from (true count, cell key). So the same contributors give the
same cell key, hence the same noise, on every night and in every table; a total has its own
contributors (every row below it) and so its own noise, consistent wherever it appears.

The perturbation table (maximum deviation `MAX_DEVIATION` = 2): per true count, the noises
and their probabilities (the cell key falls into consecutive intervals of these widths).

    true count  published value (probability)
    1           0 (2/3), 3 (1/3)                               mean 1
    2           0 (0.4), 3 (0.4), 4 (0.2)                      mean 2
    3           3 (0.6), 4 (0.3), 5 (0.1)                      mean 3.5
    4           3 (0.3), 4 (0.45), 5 (0.2), 6 (0.05)           mean 4
    n ≥ 5       n−2 (0.1), n−1 (0.2), n (0.4), n+1 (0.2), n+2 (0.1)   mean n

Rules it keeps: a published count is never negative and never 1 or 2 (so a small count is
never published as itself: no primary suppression is needed); it is within 2 of the truth;
noise is zero-mean for every count but 3. A count perturbed to 0 is left out, as every
zero is (an absent row: 0, 1 or 2).

What differencing yields. Two releases that differ by one person in a cell: the cell key
moves by that person's record key, unknown and uniform, so the new noise is independent of
the old. The published difference equals the true difference only when both noises are
equal: Σ_v P(noise v | n) · P(noise v | n+1), at most 0.335 (n = 3 → 4), 0.285 (4 → 5),
0.26 for n ≥ 5 and below 0.15 for n ≤ 2; so at most `DIFFERENCE_EXACT_SHARE` (35 %).

What one release yields (tests/integration/test_attackers.py, every aggregate, 20 draws
of the cell key on demo data; testkit/attackers.py has the attackers):

- Taking the listed values as exact and solving the equations total = Σ members for the
  rows left out (the subtraction and linear attackers, even one told where every non-zero
  row is) gives the truth plus the total's noise minus its listed members' noises: right
  only where they cancel. The total and its listed members differ by the 1 or 2 people of
  the row left out, as two nights differ above (at most 0.335 for one person, 0.31 for two;
  more members spread the sum), so such a solution is right at most `DIFFERENCE_EXACT_SHARE`
  of the time (measured: 2–29 % per table), and nothing tells the attacker which time.
- The bounds attacker, who knows the table: a listed v means a true count in [v − 2, v + 2]
  and at least 1, a row left out 0 to 2. Plain perturbation gives some small counts away: a
  kommun total of 2 perturbed to 0 (p 0.4) whose two cells of 1 are both listed (as 3, p
  1/9) pins all three (total ≤ 2, each cell ≥ 1); so does a total perturbed by −2 whose
  cells all went up by their most (over 20 draws, 3 of 720 small counts in
  `regional_statistik`). So `closing_bounds` runs that attacker on every table before it
  is published (`pinned_small`, the same narrowing, vectorized; a property test holds it
  to testkit's attacker) and, in every equation where it pins a small count, leaves out
  every small count too, which is what a row left out may be; repeated until nothing is
  pinned. Left open: a small count already left out, pinned through totals that larger
  counts pin (a region total of 7 listed as 5 caps its kommun total listed as 9 at 7, whose
  cells are a 5 listed as 3 and a 2 left out); none in the attackers' test.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from core.keys.record_keys import RECORD_KEY_SCALE, record_keys
from schemas.statistics import LEVELS, TOTAL

MAX_DEVIATION = 2
DIFFERENCE_EXACT_SHARE = 0.35
METHOD = "cell key (PTABLE D=2)"

# True count (the last row holds for every larger count) → ((noise, probability), ...).
PTABLE: dict[int, tuple[tuple[int, Fraction], ...]] = {
    1: ((-1, Fraction(2, 3)), (2, Fraction(1, 3))),
    2: ((-2, Fraction(2, 5)), (1, Fraction(2, 5)), (2, Fraction(1, 5))),
    3: ((0, Fraction(3, 5)), (1, Fraction(3, 10)), (2, Fraction(1, 10))),
    4: ((-1, Fraction(3, 10)), (0, Fraction(9, 20)), (1, Fraction(1, 5)), (2, Fraction(1, 20))),
    5: ((-2, Fraction(1, 10)), (-1, Fraction(1, 5)), (0, Fraction(2, 5)), (1, Fraction(1, 5)), (2, Fraction(1, 10))),
}
_LAST = max(PTABLE)
_WIDTH = max(len(row) for row in PTABLE.values())
# Per count class: the noises, and the cell-key integer (of 2**32) where each next noise starts.
_NOISES = np.zeros((_LAST + 1, _WIDTH), dtype=np.int64)
_STARTS = np.full((_LAST + 1, _WIDTH), RECORD_KEY_SCALE, dtype=np.int64)
for _count, _row in PTABLE.items():
    assert sum(p for _, p in _row) == 1, f"PTABLE row {_count} does not add up to 1"
    _cumulative = Fraction(0)
    for _i, (_noise, _p) in enumerate(_row):
        _NOISES[_count, _i] = _noise
        _STARTS[_count, _i] = int(_cumulative * RECORD_KEY_SCALE)
        _cumulative += _p
_NOISES[0] = 0  # no contributors, nothing published; never looked up for a listed row


def noise(counts: np.ndarray, cell_keys: np.ndarray) -> np.ndarray:
    """The PTABLE noise per (true count ≥ 1, cell key as an integer in [0, 2**32))."""
    row = np.minimum(counts, _LAST)
    interval = (cell_keys[:, None] >= _STARTS[row]).sum(axis=1) - 1
    return _NOISES[row, interval]


def perturbed(counts: np.ndarray, key_sums: np.ndarray) -> np.ndarray:
    """The published values of true counts whose contributors' record keys add up to
    `key_sums` (integers; only the sum modulo 2**32, the cell key, matters)."""
    return counts + noise(counts, np.mod(key_sums, RECORD_KEY_SCALE))


def cell_key_counts(keys: pd.DataFrame, dimensions: list[str], secret: bytes,
                    count_column: str = "count", period: str = "month") -> pd.DataFrame:  # fmt: skip
    """`keys` holds one row per counted thing: month, kommunkod, `dimensions` and `person`
    (the stable id its record key is made from); `period` names the period's column. The result, like `core.counts.suppressed_counts`:
    month, level, kommunkod, dimensions, the perturbed count, suppressed (always false);
    a count perturbed to 0 is left out."""
    key = [period, "kommunkod", *dimensions]
    rows = keys[key].assign(_rk=record_keys(keys["person"], secret) if len(keys) else np.zeros(0, dtype=np.int64))
    cells = rows.groupby(key, sort=True, dropna=False).agg(**{count_column: ("_rk", "size"), "_rk": ("_rk", "sum")})
    cells = cells.reset_index()
    everything = dict.fromkeys(dimensions, TOTAL)
    sums = {count_column: "sum", "_rk": "sum"}
    kommuner = cells.groupby([period, "kommunkod"], sort=True).agg(sums).reset_index()
    region = cells.groupby(period, sort=True).agg(sums).reset_index()
    table = pd.concat([region.assign(kommunkod=TOTAL, **everything, depth=0), kommuner.assign(**everything, depth=1),
                       cells.assign(depth=2)], ignore_index=True)  # fmt: skip
    table["_below"] = table["depth"] > 0
    table = table.sort_values([period, "_below", "kommunkod", "depth", *dimensions], kind="stable")
    counts = table[count_column].to_numpy(dtype=np.int64)
    published = perturbed(counts, table["_rk"].to_numpy(dtype=np.int64)) if len(table) else counts
    if len(table):
        published = closing_bounds(counts, published, parents_of(table["depth"].to_numpy()))
    table = table.assign(**{count_column: pd.array(published, dtype="Int64")}, suppressed=False)
    table["level"] = np.array(LEVELS, dtype=object)[table["depth"].to_numpy(dtype=np.int64)] if len(table) else []
    table = table[published > 0].reset_index(drop=True)
    return table[[period, "level", "kommunkod", *dimensions, count_column, "suppressed"]]


def parents_of(depth: np.ndarray) -> np.ndarray:
    """Row position of each row's total (-1 at the top), for rows ordered as published: a
    region row, then per kommun its total followed by its cells; a row's total is the last
    row above it one level up."""
    positions = np.arange(len(depth))
    parents = np.full(len(depth), -1)
    for level in range(1, int(depth.max(initial=0)) + 1):
        above = np.maximum.accumulate(np.where(depth == level - 1, positions, -1))
        parents[depth == level] = above[depth == level]
    return parents


def pinned_small(counts: np.ndarray, published: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """The rows whose small true count (1 or 2) the bounds attacker pins down: one who knows
    the perturbation table reads a listed value v as a count in [max(1, v − D), v + D] and a
    row left out as 0 to D, and narrows every range through every equation total = Σ
    members until nothing changes (on a tree this leaves exactly the consistent values)."""
    low = np.where(published > 0, np.maximum(1, published - MAX_DEVIATION), 0)
    high = np.where(published > 0, published + MAX_DEVIATION, MAX_DEVIATION)
    member = parents >= 0
    parent = np.where(member, parents, 0)
    has_members = np.bincount(parents[member], minlength=len(counts)) > 0
    while True:
        sum_low = np.bincount(parent[member], weights=low[member], minlength=len(counts)).astype(np.int64)
        sum_high = np.bincount(parent[member], weights=high[member], minlength=len(counts)).astype(np.int64)
        new_low = np.where(has_members, np.maximum(low, sum_low), low)
        new_high = np.where(has_members, np.minimum(high, sum_high), high)
        others_high, others_low = sum_high[parent] - high, sum_low[parent] - low
        new_low = np.where(member, np.maximum(new_low, new_low[parent] - others_high), new_low)
        new_high = np.where(member, np.minimum(new_high, new_high[parent] - others_low), new_high)
        if (new_low == low).all() and (new_high == high).all():
            return (low == high) & (counts <= MAX_DEVIATION)
        low, high = new_low, new_high


def closing_bounds(counts: np.ndarray, published: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """`published` with the bounds attacker's certainties closed: in every equation holding a
    pinned small count (`pinned_small`), every small count (the total or a member, true 1 or
    2) is left out too, which is what the table says a row left out can be; repeated until
    nothing is pinned or nothing more can be left out. Rare (a kommun total of 2 perturbed to
    0 whose two cells of 1 are both listed as 3), and never a row of more than D people."""
    published = published.copy()
    # Left open: a small count left out already, pinned through totals that larger counts pin
    # (none in the attackers' test, tests/integration/test_attackers.py; see the module).
    while True:
        pinned = pinned_small(counts, published, parents)
        if not pinned.any():
            return published
        equations = np.zeros(len(counts), dtype=bool)  # by the row of their total
        equations[np.where(pinned & (parents >= 0), parents, 0)[pinned & (parents >= 0)]] = True
        equations |= pinned
        in_equation = equations | (equations[np.where(parents >= 0, parents, 0)] & (parents >= 0))
        more = in_equation & (counts <= MAX_DEVIATION) & (published > 0)
        if not more.any():
            return published
        published[more] = 0


def difference_exact_share(count: int) -> float:
    """The chance that the published difference between counts `count` and `count` + 1 (one
    person more, an independent cell key) equals the true difference of 1."""
    below = dict(PTABLE[min(count, _LAST)])
    above = dict(PTABLE[min(count + 1, _LAST)])
    return float(sum(p * above.get(v, 0) for v, p in below.items()))
