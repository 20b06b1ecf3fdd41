"""The four attackers on a published aggregate, and the view of a table they read.

Every aggregate Mellanrum publishes has the shape `core.counts.suppressed_counts` gives:
a period column, `level` (region, kommun, cell), `kommunkod`, dimension columns (`total`
on the totals), a count column and `suppressed`. `layout_of` reads which column is which
from the contract's Pandera model (and, for dimensions that stay on the totals, such as the
indicator pack's `indicator`, from the table), so that nothing here names a dataset.

`publication` turns a table into what an attacker reads: each row's count (None: withheld)
keyed by (period, kommunkod, *dimensions), and the equations total = Σ members. Three
attackers read one release (`subtraction_attack`, `linear_attack`, `bounds_attack`), the
fourth every night's (`differencing_attack`). Against a perturbed table (the Cell Key
Method, `core/cellkey.py`) `perturbed_publication` gives the same view over the true
table's rows, with the rows the cell key left out as the unknowns, and `noisy_ranges` what
an attacker who knows the perturbation table can say about each count.

Test support only: nothing in orchestration/, assets/, core/ or schemas/ imports it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

import pandas as pd

from schemas.statistics import TOTAL

_FIXED = ("level", "kommunkod", "suppressed")


@dataclass(frozen=True)
class Layout:
    """Which column of a counted table is which. `partition`: dimensions that keep their value
    on the totals (each value its own hierarchy, like the indicator pack's indicators);
    `skip`: rows (column → values) that repeat other rows' counts and are left out of the view."""

    period: str
    dimensions: tuple[str, ...]
    count: str
    partition: tuple[str, ...] = ()
    skip: tuple[tuple[str, tuple[str, ...]], ...] = ()


def layout_of(model, table: pd.DataFrame | None = None, skip: dict[str, tuple[str, ...]] | None = None) -> Layout:
    """The layout of a counted table from its Pandera model: the period is the first column,
    the count the first nullable integer column, the dimensions every other text column; a
    dimension that is not `total` on some total row of `table` partitions the hierarchy."""
    columns = model.to_schema().columns
    names = list(columns)
    count = next(name for name in names if str(columns[name].dtype) == "Int64")
    dimensions = tuple(n for n in names[1:] if str(columns[n].dtype).startswith(("str", "string")) and n not in _FIXED)
    partition: tuple[str, ...] = ()
    if table is not None and len(table):
        totals = table[table["level"] != "cell"]
        partition = tuple(d for d in dimensions if (totals[d] != TOTAL).any())
    return Layout(names[0], dimensions, count, partition, tuple((skip or {}).items()))


@dataclass(frozen=True)
class Publication:
    """What an attacker reads: each listed row's count (None: withheld), keyed by its
    (period, kommunkod, *dimensions), and the equations total = Σ members."""

    counts: dict[tuple, int | None]
    equations: list[tuple[tuple, list[tuple]]]

    def suppressed(self) -> set[tuple]:
        return {key for key, count in self.counts.items() if count is None}


def _viewed(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    for column, values in layout.skip:
        table = table[~table[column].isin(values)]
    return table


def keys_of(table: pd.DataFrame, layout: Layout) -> list[tuple]:
    """Each row's key: (period, kommunkod, *dimensions)."""
    columns = [layout.period, "kommunkod", *layout.dimensions]
    return list(_viewed(table, layout)[columns].itertuples(index=False, name=None))


def _parent(key: tuple, level: str, layout: Layout) -> tuple | None:
    """The total a row adds up into: a cell into its kommun's total, a kommun total into the
    period's region total (both within the row's partition)."""
    kept = [v if d in layout.partition else TOTAL for d, v in zip(layout.dimensions, key[2:], strict=True)]
    if level == "cell":
        return (key[0], key[1], *kept)
    if level == "kommun":
        return (key[0], TOTAL, *kept)
    return None


def publication(table: pd.DataFrame, layout: Layout) -> Publication:
    """Read the equations from the published rows alone: a region row adds up its period's
    kommun rows, a kommun row its cell rows."""
    table = _viewed(table, layout)
    counts, members = {}, defaultdict(list)
    keys = keys_of(table, layout)
    for key, level, count, suppressed in zip(keys, table["level"], table[layout.count], table["suppressed"],
                                             strict=True):  # fmt: skip
        counts[key] = None if suppressed else int(count)
        parent = _parent(key, level, layout)
        if parent is not None:
            members[parent].append(key)
    return Publication(counts, [(total, members[total]) for total in counts if total in members])


def republished(table: pd.DataFrame, truth: dict[tuple, int], suppressed: set[tuple], layout: Layout) -> pd.DataFrame:
    """`table` with the true counts, suppressing exactly `suppressed`: an under-protected
    table for the attackers to break."""
    table = _viewed(table, layout)
    keys = keys_of(table, layout)
    is_suppressed = [key in suppressed for key in keys]
    counts = pd.array([None if s else truth[key] for key, s in zip(keys, is_suppressed, strict=True)], dtype="Int64")
    return table.assign(**{layout.count: counts, "suppressed": is_suppressed})


def perturbed_publication(perturbed: pd.DataFrame, true_rows: pd.DataFrame, layout: Layout) -> Publication:
    """A perturbed table as an attacker who knows every non-zero true count's row reads it
    (the strongest case: it knows where someone is, not how many): the rows of `true_rows`
    (a table of the same data with every non-zero count listed, suppressed or not) with the
    published value where the cell key listed the row, None where it left it out (a true 1
    or 2 perturbed to 0). Its equations are the true table's."""
    shown = dict(zip(keys_of(perturbed, layout), _viewed(perturbed, layout)[layout.count], strict=True))
    every = publication(true_rows, layout)
    counts = {key: (int(shown[key]) if key in shown else None) for key in every.counts}
    assert set(shown) <= set(counts), "the cell key listed a row whose true count is 0"
    return Publication(counts, every.equations)


# --- three attackers of one release -----------------------------------------------------------


def subtraction_attack(published: Publication) -> dict[tuple, int]:
    """Whoever has a spreadsheet: an equation with one unknown gives it away; what it gives
    is used in the next equation, until nothing more comes out."""
    known = {key: count for key, count in published.counts.items() if count is not None}
    recovered = {}
    while True:
        progress = False
        for total, members in published.equations:
            unknown = [key for key in (total, *members) if key not in known]
            if len(unknown) != 1:
                continue
            (key,) = unknown
            members_sum = sum(known[m] for m in members if m != key)
            known[key] = recovered[key] = members_sum if key == total else known[total] - members_sum
            progress = True
        if not progress:
            return recovered


def linear_attack(published: Publication) -> dict[tuple, Fraction]:
    """All equations at once over the suppressed counts, solved exactly: a count is
    determined when its unit vector lies in the row space of the system, that is (in
    reduced row echelon form) when some row reads `1 · count = value`."""
    unknowns = sorted(published.suppressed())
    column = {key: i for i, key in enumerate(unknowns)}
    rows = []
    for total, members in published.equations:
        # Sparse rows (column → coefficient, and the right-hand side under -1): an equation
        # touches few of the many unknowns of a large table.
        row: dict[int, Fraction] = defaultdict(Fraction)
        for key, sign in ((total, 1), *((m, -1) for m in members)):
            if key in column:
                row[column[key]] += sign
            else:
                row[-1] -= sign * published.counts[key]
        if any(row.get(i) for i in row if i >= 0):  # no unknown: nothing to learn
            rows.append({i: v for i, v in row.items() if v or i < 0})
    determined = {}
    for row in _reduced_row_echelon(rows, len(unknowns)):
        nonzero = [i for i, v in row.items() if i >= 0 and v != 0]
        if len(nonzero) == 1:
            (i,) = nonzero
            determined[unknowns[i]] = row.get(-1, Fraction(0)) / row[i]
    return determined


def _reduced_row_echelon(rows: list[dict[int, Fraction]], columns: int) -> list[dict[int, Fraction]]:
    """The reduced row echelon form of sparse rows (column → coefficient; -1: the right-hand
    side), without its zero rows."""
    rows = [dict(row) for row in rows]
    pivot_row = 0
    for col in range(columns):
        pivot = next((r for r in range(pivot_row, len(rows)) if rows[r].get(col, 0) != 0), None)
        if pivot is None:
            continue
        rows[pivot_row], rows[pivot] = rows[pivot], rows[pivot_row]
        lead = rows[pivot_row][col]
        rows[pivot_row] = {i: v / lead for i, v in rows[pivot_row].items()}
        for r in range(len(rows)):
            factor = rows[r].get(col, 0) if r != pivot_row else 0
            if factor != 0:
                updated = dict(rows[r])
                for i, v in rows[pivot_row].items():
                    updated[i] = updated.get(i, Fraction(0)) - factor * v
                rows[r] = {i: v for i, v in updated.items() if v != 0}
        pivot_row += 1
    return rows[:pivot_row]


def bounds_attack(published: Publication, ranges: dict[tuple, tuple[int, float]] | None = None) -> dict[tuple, int]:
    """The linear system plus what listing reveals: a listed count is at least 1. Narrow
    every count's range through every equation until nothing changes; a range of one
    value gives the count away. The equations form a tree (each count is in at most two,
    without cycles), and on a tree this narrowing leaves exactly the values some
    consistent table has, so this attacker finds everything the bounds and the equations
    together determine. `ranges`: each count's range before narrowing (default: a listed
    count exactly, a withheld one at least 1); then every count it pins is returned."""
    if ranges is None:
        ranges = {key: ((1, math.inf) if count is None else (count, count)) for key, count in published.counts.items()}
        wanted = published.suppressed()
    else:
        wanted = set(ranges)
    low = {key: lo for key, (lo, _) in ranges.items()}
    high = {key: hi for key, (_, hi) in ranges.items()}
    while True:
        progress = False
        for total, members in published.equations:
            # Sums of the members' extremes, and each member's "others" from them (∞ − ∞ is no
            # number: the finite part and how many are unbounded are kept apart).
            members_low = sum(low[m] for m in members)
            finite_high = sum(high[m] for m in members if high[m] != math.inf)
            unbounded = sum(high[m] == math.inf for m in members)
            members_high = math.inf if unbounded else finite_high
            narrowed = {total: (max(low[total], members_low), min(high[total], members_high))}
            for m in members:
                others_low = members_low - low[m]
                others_unbounded = unbounded - (high[m] == math.inf)
                others_high = math.inf if others_unbounded else finite_high - (0 if high[m] == math.inf else high[m])
                narrowed[m] = (max(low[m], low[total] - others_high), min(high[m], high[total] - others_low))
            for key, (lo, hi) in narrowed.items():
                assert lo <= hi, "the published table contradicts itself"
                if (lo, hi) != (low[key], high[key]):
                    low[key], high[key], progress = lo, hi, True
        if not progress:
            return {key: low[key] for key in wanted if low[key] == high[key]}


ATTACKS = (subtraction_attack, linear_attack, bounds_attack)


def noisy_ranges(published: Publication, deviation: int) -> dict[tuple, tuple[int, int]]:
    """What the published perturbation table tells about each count of a perturbed view
    (`perturbed_publication`): a listed value v is within `deviation` of the truth, and the
    truth is at least 1 (a true 0 is never listed); a row left out has a true count of 0 to
    `deviation` (only those are perturbed to 0; the table does not say whether the row has
    anyone at all, so 0 stays possible)."""
    return {key: ((0, deviation) if v is None else (max(1, v - deviation), v + deviation))
            for key, v in published.counts.items()}  # fmt: skip


# --- the fourth attacker: differencing every night's release ----------------------------------------


def differencing_attack(releases: list[Publication], changes: list[dict[tuple, int] | None]) -> dict[tuple, int]:
    """Every night against the night before and the night after, knowing what changed between
    them (`changes[t]`: by how much each count moved from night t − 1 to t: the cells and
    totals of the one person who started or ended, what an attacker following the person
    knows; its best case): a count published on either night (absent: 0) is known on both,
    and then each equation with one unknown gives it away (the subtraction attacker over two
    nights). A count whose two nights disagree with the change is not exact; the attacker
    drops it. It claims (night, key) where both neighbouring nights give the same value."""
    claims: dict[tuple, set[int]] = defaultdict(set)
    for t, tonight in enumerate(releases):
        for s in (t - 1, t + 1):
            if not 0 <= s < len(releases):
                continue
            change = changes[max(s, t)] or {}
            sign = 1 if t > s else -1  # tonight = the other night + sign × the change
            other = releases[s]
            merged: dict[tuple, set[tuple]] = defaultdict(set)
            for total, members in (*other.equations, *tonight.equations):
                merged[total].update(members)
            equations = [(total, sorted(members)) for total, members in merged.items()]
            keys = {*tonight.counts, *other.counts, *change}
            known, conflicting = {}, set()
            for k in keys:
                offered = [v for v in (tonight.counts.get(k, 0),) if v is not None]
                offered += [v + sign * change.get(k, 0) for v in (other.counts.get(k, 0),) if v is not None]
                if len(set(offered)) > 1:
                    conflicting.add(k)
                elif offered:
                    known[k] = offered[0]
            progress = True
            while progress:
                progress = False
                for total, members in equations:
                    unknown = [k for k in (total, *members) if k not in known]
                    if len(unknown) == 1 and not conflicting & {total, *members}:
                        (k,) = unknown
                        rest = sum(known[m] for m in members if m != k)
                        known[k] = rest if k == total else known[total] - rest
                        progress = True
            for k, value in known.items():
                claims[t, k].add(value)
    return {key: values.pop() for key, values in claims.items() if len(values) == 1}


def true_changes(truths: list[dict[tuple, int]]) -> list[dict[tuple, int] | None]:
    """Per night, by how much each true count moved since the night before (None on the first)."""
    changes: list[dict[tuple, int] | None] = [None]
    for before, after in zip(truths, truths[1:]):
        moved = {k: after.get(k, 0) - before.get(k, 0) for k in {*before, *after}}
        changes.append({k: d for k, d in moved.items() if d})
    return changes
