"""Counts per period × kommun × cell with kommun and region totals: every aggregate the region
reads (`regional_statistik`, `unga_90_dagar_statistik`, `overlamningar_statistik`,
`uppfoljning_efter_insats`, `kommunoverskridande_insatser`, `nyckeltal`), perturbed by the
Cell Key Method (`core/cellkey.py`) when a record-key secret is given, else suppressed
(`core.statistics.suppression_pattern`).

The period and the cell are chosen per dataset so that a kommun's counts are large enough
to be published: the nightly statistics count per calendar year, the indicator pack per
closed quarter (bench/results/withheld.md measures what each choice withholds)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.cellkey import cell_key_counts, parents_of
from core.ingest import cast_to_model
from core.statistics import suppression_pattern
from schemas.statistics import CELL_DIMENSIONS, LEVELS, TOTAL, RegionalStatistik


def quarter_of(days: pd.Series) -> pd.Series:
    """'YYYY-Qn' of each day: the period of the counted datasets and the indicator pack (by
    month too many counts are small)."""
    days = pd.to_datetime(days)
    return (days.dt.year.astype(str) + "-Q" + days.dt.quarter.astype(str)).astype(object)


def year_of(days: pd.Series) -> pd.Series:
    """'YYYY' of each day: the period of the nightly statistics."""
    return pd.to_datetime(days).dt.year.astype(str).astype(object)


def cell_counts(keys: pd.DataFrame, dimensions: list[str], period: str = "month") -> pd.DataFrame:
    """The counts before any protection: `period`, kommunkod, `dimensions`, count and depth
    (0 region total, 1 kommun total, 2 cell), ordered as published."""
    key = [period, "kommunkod", *dimensions]
    cells = keys.groupby(key, sort=True, dropna=False).size().rename("count").reset_index()
    everything = dict.fromkeys(dimensions, TOTAL)
    kommuner = cells.groupby([period, "kommunkod"], sort=True)["count"].sum().reset_index()
    region = cells.groupby(period, sort=True)["count"].sum().reset_index()
    table = pd.concat([region.assign(kommunkod=TOTAL, **everything, depth=0), kommuner.assign(**everything, depth=1),
                       cells.assign(depth=2)], ignore_index=True)  # fmt: skip
    table["_below"] = table["depth"] > 0
    table = table.sort_values([period, "_below", "kommunkod", "depth", *dimensions], kind="stable")
    return table.drop(columns="_below").reset_index(drop=True)


def suppressed_counts(keys: pd.DataFrame, dimensions: list[str], threshold: int,
                      cell_key_secret: bytes | None = None, period: str = "month") -> pd.DataFrame:  # fmt: skip
    """`keys` holds one row per counted thing: `period` (the column of the period, month or
    quarter, that the totals add up within), kommunkod and `dimensions` (and `person` for
    the cell key). The result: period, level, kommunkod, dimensions, count (empty when
    suppressed), suppressed. With `cell_key_secret` the counts are perturbed instead
    (`core.cellkey.cell_key_counts`), nothing is suppressed, and zeros are left out."""
    if threshold < 2:
        raise ValueError(f"the suppression threshold must be at least 2, got {threshold}")
    if cell_key_secret is not None:
        return cell_key_counts(keys, dimensions, cell_key_secret, period=period)
    table = cell_counts(keys, dimensions, period)
    depth = table["depth"].to_numpy()
    parents = parents_of(depth)
    counts = table["count"].to_numpy(dtype=np.int64)
    suppressed = suppression_pattern(counts, parents, depth, threshold) if len(table) else np.zeros(0, dtype=bool)
    published = pd.array(counts, dtype="Int64")
    published[suppressed] = pd.NA
    table["level"] = np.array(LEVELS, dtype=object)[depth.astype(np.int64)] if len(table) else []
    table = table.assign(count=published, suppressed=suppressed)
    return table[[period, "level", "kommunkod", *dimensions, "count", "suppressed"]]


def regional_statistics(overlaps: pd.DataFrame, threshold: int, cell_key_secret: bytes | None = None) -> pd.DataFrame:
    """The `RegionalStatistik` dataset of `overlaps` (an `Overlaps` dataset): every overlap (in
    the reporting window or not; consent plays no part in aggregates) counted in the calendar
    year of its first shared day, per kommun and class, with kommun and region totals;
    perturbed per person (the pipeline pseudonym) with `cell_key_secret`, else suppressed."""
    for column in ("kommunkod", *CELL_DIMENSIONS):
        if (overlaps[column] == TOTAL).any():
            raise ValueError(f"the overlaps' {column} has the value {TOTAL!r}, which marks total rows")
    keys = pd.DataFrame({"year": year_of(overlaps["overlap_start"]).to_numpy(),
                         "kommunkod": overlaps["kommunkod"].astype(str).to_numpy(),
                         **{d: overlaps[d].astype(str).to_numpy() for d in CELL_DIMENSIONS},
                         "person": overlaps["pseudonym"].astype(str).to_numpy()})  # fmt: skip
    counted = suppressed_counts(keys, list(CELL_DIMENSIONS), threshold, cell_key_secret, "year")
    counted = cast_to_model(counted.rename(columns={"count": "overlap_count"}), RegionalStatistik)
    return RegionalStatistik.validate(counted)
