"""The population: everyone's interventions and AF assignments, planted cases included, as
dates, with AF's statuses and decision dates and the ids each system gives its rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.synthetic.interventions import regular_assignments, regular_interventions
from core.synthetic.planted import plant_cases
from core.synthetic.randomness import _rng
from core.synthetic.systems import AF_EXPORT, Source


def _days(offsets: np.ndarray | pd.Series, as_of: dt.date) -> pd.Series:
    """Dates from day offsets relative to as-of; NaN (no end date) becomes NaT."""
    return pd.Timestamp(as_of) + pd.to_timedelta(np.asarray(offsets, dtype=float), unit="D")


def _af_status(start: pd.Series, end: pd.Series, cancelled: pd.Series) -> pd.Series:
    """Status consistent with the dates at as-of (offset 0), unless cancelled."""
    status = np.select([cancelled, start > 0, end < 0], ["cancelled", "planned", "ended"], "ongoing")
    return pd.Series(status, index=start.index)


def _decision_offsets(start: pd.Series, rng) -> np.ndarray:
    """Decided 0–30 days before the start, and never after as-of."""
    return np.minimum(start, 0) - rng.integers(0, 31, size=len(start))


def _numbered(
    frame: pd.DataFrame, order_by: list[str], column: str, pattern: str, seq: np.ndarray
) -> pd.DataFrame:
    """Ids in the order the system created the rows (`pattern` takes {seq} and {year})."""
    frame = frame.sort_values([*order_by, "person"], kind="stable", ignore_index=True)
    years = frame["start_date"].dt.year.to_numpy()
    frame[column] = [pattern.format(seq=s, year=y) for s, y in zip(seq, years, strict=True)]
    return frame


def _af_sequence(count: int, rng) -> np.ndarray:
    """AF's assignment numbers: increasing with gaps (other regions take the numbers between)."""
    return rng.integers(100_000_000, 200_000_000) + np.cumsum(rng.integers(1, 40, size=count))


@dataclass(frozen=True)
class Population:
    people: pd.DataFrame
    interventions: pd.DataFrame  # one row per municipal record, canonical values
    assignments: pd.DataFrame  # one row per AF assignment, canonical values


def build_population(people: pd.DataFrame, sources: Sequence[Source], as_of: dt.date, seed: int) -> Population:
    """Everyone's interventions and assignments with dates, ids and the planted cases."""
    by_kommun = {source.kommunkod: source for source in sources}
    planted = plant_cases(people, by_kommun, _rng(seed, "planted"))
    rng = _rng(seed, "records")
    regular_people = np.setdiff1d(np.arange(len(people)), planted.people)
    regular = regular_interventions(people, regular_people, by_kommun, rng)
    interventions = pd.concat([regular.assign(case_id=""), planted.interventions], ignore_index=True)
    assignments = pd.concat(
        [regular_assignments(people, regular_people, regular, rng).assign(case_id=""), planted.assignments],
        ignore_index=True,
    )
    # Planted rows and decoys stay valid: bad rows are made from the others.
    interventions["protected"] = interventions.person.isin(planted.people)
    assignments["protected"] = assignments.person.isin(planted.people)
    assignments["status"] = _af_status(assignments.start, assignments.end, assignments.cancelled)
    assignments["decision_date"] = _days(_decision_offsets(assignments.start, rng), as_of)

    for frame in (interventions, assignments):
        frame["personnummer"] = people.personnummer.to_numpy()[frame.person]
        frame["start_date"] = _days(frame.pop("start"), as_of)
        frame["end_date"] = _days(frame.pop("end"), as_of)
    assignments["af_office"] = people.af_office.to_numpy()[assignments.person]

    municipal = []
    for source in sources:
        own = interventions[interventions.source_id == source.id]
        seq = np.arange(1, len(own) + 1)
        municipal.append(_numbered(own, ["start_date"], "record_id", source.export.record_id_pattern, seq))
    af = _numbered(
        assignments, ["decision_date", "start_date"], "assignment_id", AF_EXPORT.record_id_pattern,
        _af_sequence(len(assignments), rng),
    )
    return Population(people, pd.concat(municipal, ignore_index=True), af)
