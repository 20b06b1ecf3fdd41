"""Home municipalities and participation across municipalities, with their truth.

Every person lives in their own kommun (`people.kommunkod`), except a planted share who live
in another municipality of the region and take part in their kommun's interventions (a
Partille resident in Göteborg's jobbspår). The planted two-municipality overlaps
(`core/synthetic/planted.py`) give further participants: their second intervention is
elsewhere. A municipality's case system writes the home kommun in a column of its own
(`Folkbokföringskommun`) only where it differs from its own code, as the delivery rule says;
one case system (`komma_bom`) has no such column, so its participants all count as at home.

`flows_truth` states the counting rule from its words, one intervention at a time, and
shares nothing with `core/flows.py`: people in another municipality's interventions per year
active × kommun × direction (taken in at the providing kommun, taking part elsewhere at the
home kommun), before any protection.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from core.synthetic.systems import CASE_SYSTEMS, Source

HOME_COLUMN = ("Folkbokföringskommun", "home_kommunkod")
# The case system that never delivers a home kommun: its deliveries stay as they were.
WITHOUT_HOME = CASE_SYSTEMS["komma_bom"]
LIVING_ELSEWHERE_SHARE = 0.12


def with_home_column(sources: Sequence[Source]) -> list[Source]:
    """The municipal sources, each case system but one writing the home kommun last."""
    return [source if source.export == WITHOUT_HOME else
            dataclasses.replace(source, export=dataclasses.replace(source.export,
                                                                   columns=(*source.export.columns, HOME_COLUMN)))
            for source in sources]  # fmt: skip


def plant_homes(people: pd.DataFrame, interventions: pd.DataFrame, sources: Sequence[Source],
                rng: np.random.Generator) -> pd.DataFrame:  # fmt: skip
    """`interventions` with `home_kommunkod` as delivered: the person's home kommun where it
    differs from the providing one, else empty."""
    codes = np.array(sorted({s.kommunkod for s in sources}), dtype=object)
    home = people["kommunkod"].to_numpy(dtype=object).copy()
    if len(codes) > 1:
        elsewhere = rng.random(len(home)) < LIVING_ELSEWHERE_SHARE
        # The next kommun of the region along the sorted codes: one neighbour each, so that
        # some pairs hold enough people for an unsuppressed count.
        position = np.searchsorted(codes, home[elsewhere])
        home[elsewhere] = codes[(position + 1) % len(codes)]
    providing = interventions["source_id"].map({s.id: s.kommunkod for s in sources}).to_numpy(dtype=object)
    theirs = home[interventions["person"].to_numpy(dtype=np.int64)]
    return interventions.assign(home_kommunkod=np.where(theirs != providing, theirs, ""))


def _months(start: dt.date, end: dt.date | None, as_of: dt.date) -> list[str]:
    """The calendar months from the start's up to the month of min(end, as-of), in words."""
    last = min(end or as_of, as_of)
    if start > last:
        return []
    months, year, month = [], start.year, start.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def participations(accepted: pd.DataFrame, sources: Sequence[Source], as_of: dt.date) -> Iterator[tuple]:
    """(row, home kommun, months active) of every accepted municipal row whose person lives in
    another municipality than the providing one, one intervention at a time: the home kommun
    as delivered (a source without the column delivers none), else the providing one."""
    delivers_home = {s.id for s in sources if any(ours == "home_kommunkod" for _, ours in s.export.columns)}
    for row in accepted.itertuples():
        delivered = row.home_kommunkod if row.source_id in delivers_home else ""
        home = delivered or row.kommunkod
        if home == row.kommunkod:
            continue
        start = pd.Timestamp(row.start_date).date()
        end = None if pd.isna(row.end_date) else pd.Timestamp(row.end_date).date()
        yield row, home, _months(start, end, as_of)


def flows_truth(accepted: pd.DataFrame, sources: Sequence[Source], as_of: dt.date) -> pd.DataFrame:
    """People per published cell (year active × kommun × direction) before any protection,
    from the accepted municipal rows (`person`, `source_id`, `kommunkod`, `start_date`,
    `end_date`, `home_kommunkod` as delivered): a person in another municipality's
    intervention counts at the providing kommun as `tar_emot` and at the home kommun as
    `deltar_annanstans`, once in a cell however many months or interventions fall in it."""
    people: dict[tuple, set] = defaultdict(set)
    for row, home, months in participations(accepted, sources, as_of):
        for month in months:
            people[(month[:4], row.kommunkod, "tar_emot")].add(row.person)
            people[(month[:4], home, "deltar_annanstans")].add(row.person)
    rows = [(*cell, len(persons)) for cell, persons in sorted(people.items())]
    return pd.DataFrame(rows, columns=[*FLOW_CELL, "participants"])


FLOW_CELL = ["year", "kommunkod", "direction"]


def published_against_truth(published: pd.DataFrame, truth: pd.DataFrame, deviation: int = 0) -> pd.DataFrame:
    """The published cells (level `cell`) whose count is shown and differs from the truth's
    participants by more than `deviation` (the perturbation table's maximum with the cell
    key; a shown cell the truth lacks counts as 0 there). The one place a published count is
    compared with the truth."""
    cells = published[(published["level"] == "cell") & ~published["suppressed"].to_numpy(dtype=bool)]
    joined = cells.merge(truth.astype({c: str for c in FLOW_CELL}), on=FLOW_CELL, how="left")
    expected = joined["participants"].fillna(0).astype("int64")
    off = (joined["count"].astype("int64") - expected).abs() > deviation
    return joined.loc[off.to_numpy(dtype=bool), [*FLOW_CELL, "count", "participants"]]
