"""Counts per month × kommun × cell with kommun and region totals, suppressed exactly as
`regional_statistik` is (`core.statistics.suppression_pattern`): for the region's datasets
built from registrations (`unga_90_dagar_statistik`, `overlamningar_statistik`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.statistics import suppression_pattern
from schemas.statistics import LEVELS, TOTAL

_TOP = -1


def cell_counts(keys: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """The counts before any protection: month, kommunkod, `dimensions`, count and depth
    (0 region total, 1 kommun total, 2 cell), ordered as published."""
    key = ["month", "kommunkod", *dimensions]
    cells = keys.groupby(key, sort=True, dropna=False).size().rename("count").reset_index()
    everything = dict.fromkeys(dimensions, TOTAL)
    kommuner = cells.groupby(["month", "kommunkod"], sort=True)["count"].sum().reset_index()
    region = cells.groupby("month", sort=True)["count"].sum().reset_index()
    table = pd.concat([region.assign(kommunkod=TOTAL, **everything, depth=0), kommuner.assign(**everything, depth=1),
                       cells.assign(depth=2)], ignore_index=True)  # fmt: skip
    table["_below"] = table["depth"] > 0
    table = table.sort_values(["month", "_below", "kommunkod", "depth", *dimensions], kind="stable")
    return table.drop(columns="_below").reset_index(drop=True)


def suppressed_counts(keys: pd.DataFrame, dimensions: list[str], threshold: int) -> pd.DataFrame:
    """`keys` holds one row per counted thing: month, kommunkod and `dimensions`. The result:
    month, level, kommunkod, dimensions, count (empty when suppressed), suppressed."""
    if threshold < 2:
        raise ValueError(f"the suppression threshold must be at least 2, got {threshold}")
    table = cell_counts(keys, dimensions)
    depth = table["depth"].to_numpy()
    positions = np.arange(len(table))
    parents = np.full(len(table), _TOP)
    for level in range(1, len(LEVELS)):
        above = np.maximum.accumulate(np.where(depth == level - 1, positions, _TOP)) if len(table) else positions
        parents[depth == level] = above[depth == level]
    counts = table["count"].to_numpy(dtype=np.int64)
    suppressed = suppression_pattern(counts, parents, depth, threshold) if len(table) else np.zeros(0, dtype=bool)
    published = pd.array(counts, dtype="Int64")
    published[suppressed] = pd.NA
    table["level"] = np.array(LEVELS, dtype=object)[depth.astype(np.int64)] if len(table) else []
    table = table.assign(count=published, suppressed=suppressed)
    return table[["month", "level", "kommunkod", *dimensions, "count", "suppressed"]]
