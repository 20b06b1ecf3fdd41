"""Regular interventions and AF assignments: the catalogues with their weights by age band,
durations, extents and consent, and each person's sequential periods, which never share a
day (day offsets relative to as-of; NaN end = open)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.synthetic.randomness import _weighted_choice
from core.synthetic.systems import Source

# Catalogue code: weights for the TEEN, YOUNG and ADULT bands, and shortest and longest
# duration in days. KAA is only for those under 20; the guarantees have age limits.
_INTERVENTIONS = {
    "ARBETSTRANING": ((1, 3, 5), (60, 270)),
    "PRAKTIK": ((2, 3, 3), (30, 120)),
    "FERIEJOBB": ((4, 2, 0), (14, 28)),
    "EXTRATJANST": ((0, 1, 2), (180, 365)),
    "KOMMUNAL_ANSTALLNING": ((0, 1, 2), (180, 365)),
    "SYV": ((2, 2, 1), (14, 90)),
    "JOBBSPAR": ((0, 2, 2), (60, 180)),
    "JOBBCOACHNING": ((1, 2, 3), (30, 180)),
    "SFI": ((1, 1, 2), (90, 365)),
    "KOMVUX": ((1, 2, 2), (120, 365)),
    "KAA": ((5, 0, 0), (30, 270)),
}
_PROGRAMMES = {
    "KROM": ((1, 3, 4), (90, 365)),
    "AMU": ((0, 1, 2), (60, 270)),
    "FUB": ((1, 2, 1), (30, 180)),
    "JOB": ((0, 0, 2), (180, 450)),
    "UGA": ((3, 4, 0), (90, 450)),
    "ETAB": ((0, 1, 1), (180, 730)),
    "AF_ARBETSTRANING": ((0, 1, 1), (60, 270)),
    "ARBETSPRAKTIK": ((1, 2, 1), (30, 180)),
    "INTROJOBB": ((0, 0, 1), (180, 365)),
}
_EXTENTS = np.array([25.0, 37.5, 50.0, 62.5, 75.0, 100.0])
_MUNICIPAL_EXTENT_WEIGHTS = np.array([1, 1, 3, 1, 2, 3]) / 11
_AF_EXTENT_WEIGHTS = np.array([1, 0.5, 2, 0.5, 2, 5]) / 11
_MUNICIPAL_CONSENT_RATE, _AF_CONSENT_RATE = 0.8, 0.7
# Share of latest periods, already started or placed last, that have no end date yet:
# AF often leaves the end of a running assignment open.
_MUNICIPAL_OPEN_END_RATE, _AF_OPEN_END_RATE = 0.2, 0.4


def _draw_codes(
    table: Mapping[str, tuple], bands: np.ndarray, rng: np.random.Generator, offered: np.ndarray | None = None
) -> np.ndarray:
    """Catalogue codes by age band; `offered` (rows × codes) masks what a source has."""
    weights = np.array([band_weights for band_weights, _ in table.values()], dtype=float).T[bands]
    if offered is not None:
        weights = weights * offered
    return np.array(list(table))[_weighted_choice(weights, rng)]


def _offered(sources: np.ndarray, by_source: Mapping[str, Source]) -> np.ndarray:
    """Rows × intervention codes: whether each row's source has a local code for it."""
    catalogue = list(_INTERVENTIONS)
    masks = {
        source_id: np.isin(catalogue, list(source.export.codes["insats_code"].values()))
        for source_id, source in by_source.items()
    }
    return np.array([masks[source_id] for source_id in sources], dtype=bool).reshape(len(sources), len(catalogue))


def _durations(codes: np.ndarray, table: Mapping[str, tuple], rng: np.random.Generator) -> np.ndarray:
    shortest = np.array([table[code][1][0] for code in codes])
    longest = np.array([table[code][1][1] for code in codes])
    return rng.integers(shortest, longest + 1)


def _extents(count: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(_EXTENTS, size=count, p=weights)


def _latest_of_owner(owner: np.ndarray) -> np.ndarray:
    """The first row of each owner's group, which holds their latest period."""
    return np.r_[True, owner[1:] != owner[:-1]]


def _sequential_periods(
    owner: np.ndarray, duration: np.ndarray, latest_start: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of each owner's periods, which never share a day.

    Rows are grouped by owner, latest period first; it starts at `latest_start`, and each
    earlier period ends with 1–120 free days before the one after it begins.
    """
    step = np.where(_latest_of_owner(owner), 0, rng.integers(1, 121, size=len(owner)) + duration)
    start = latest_start - pd.Series(step).groupby(owner).cumsum().to_numpy()
    return start, start + duration - 1


def _open_latest(owner: np.ndarray, start: np.ndarray, end: np.ndarray, rate: float, rng) -> np.ndarray:
    """End offsets where some latest, already started periods have no end date."""
    return np.where(_latest_of_owner(owner) & (start <= 0) & (rng.random(len(owner)) < rate), np.nan, end)


def regular_interventions(
    people: pd.DataFrame, persons: np.ndarray, by_kommun: Mapping[str, Source], rng: np.random.Generator
) -> pd.DataFrame:
    """0–3 sequential interventions per person in their own kommun (0: AF only)."""
    counts = rng.choice([0, 1, 2, 3], size=len(persons), p=[0.10, 0.65, 0.18, 0.07])
    owner = np.repeat(persons, counts)
    sources = np.array([by_kommun[code].id for code in people.kommunkod.to_numpy()[owner]], dtype=object)
    by_source = {source.id: source for source in by_kommun.values()}
    codes = _draw_codes(_INTERVENTIONS, people.band.to_numpy()[owner], rng, _offered(sources, by_source))
    duration = _durations(codes, _INTERVENTIONS, rng)
    latest_start = np.repeat(rng.integers(-400, 61, size=len(persons)), counts)
    start, end = _sequential_periods(owner, duration, latest_start, rng)
    return pd.DataFrame({
        "person": owner,
        "source_id": sources,
        "insats_code": codes,
        "start": start,
        "end": _open_latest(owner, start, end, _MUNICIPAL_OPEN_END_RATE, rng),
        "extent_pct": _extents(len(owner), _MUNICIPAL_EXTENT_WEIGHTS, rng),
        "consent": rng.random(len(owner)) < _MUNICIPAL_CONSENT_RATE,
    })


def _assignments(owner: np.ndarray, codes: np.ndarray, start, end, rng) -> pd.DataFrame:
    return pd.DataFrame({
        "person": owner,
        "programme_code": codes,
        "start": start,
        "end": end,
        "extent_pct": _extents(len(owner), _AF_EXTENT_WEIGHTS, rng),
        "consent": rng.random(len(owner)) < _AF_CONSENT_RATE,
    })


def _af_only_assignments(people: pd.DataFrame, persons: np.ndarray, rng) -> pd.DataFrame:
    """1–2 sequential assignments for each of `persons`, who have no intervention."""
    counts = rng.choice([1, 2], size=len(persons), p=[0.7, 0.3])
    owner = np.repeat(persons, counts)
    codes = _draw_codes(_PROGRAMMES, people.band.to_numpy()[owner], rng)
    latest_start = np.repeat(rng.integers(-400, 61, size=len(persons)), counts)
    start, end = _sequential_periods(owner, _durations(codes, _PROGRAMMES, rng), latest_start, rng)
    return _assignments(owner, codes, start, _open_latest(owner, start, end, _AF_OPEN_END_RATE, rng), rng)


def _assignments_beside(people: pd.DataFrame, interventions: pd.DataFrame, rng) -> pd.DataFrame:
    """One assignment for about a third of those with interventions, with 1–60 free days
    before their first or, when their last has an end date, after it."""
    spans = (
        interventions.assign(open=interventions.end.isna())
        .groupby("person")
        .agg(first=("start", "min"), last_end=("end", "max"), open=("open", "any"))
    )
    spans = spans[rng.random(len(spans)) < 0.35]
    owner = spans.index.to_numpy()
    codes = _draw_codes(_PROGRAMMES, people.band.to_numpy()[owner], rng)
    duration = _durations(codes, _PROGRAMMES, rng)
    gap = rng.integers(1, 61, size=len(owner))
    after = ~spans.open.to_numpy() & (rng.random(len(owner)) < 0.5)
    start_after = spans.last_end.to_numpy() + gap + 1
    end_before = spans["first"].to_numpy() - gap - 1
    start = np.where(after, start_after, end_before - duration + 1)
    # Only an assignment after the last intervention may be open-ended.
    open_end = after & (rng.random(len(owner)) < _AF_OPEN_END_RATE)
    end = np.where(open_end, np.nan, np.where(after, start_after + duration - 1, end_before))
    return _assignments(owner, codes, start, end, rng)


def regular_assignments(
    people: pd.DataFrame, persons: np.ndarray, interventions: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """AF assignments that share no day with any of the person's interventions; about 4 %
    are cancelled, whatever their dates."""
    af_only = np.setdiff1d(persons, interventions.person)
    assignments = pd.concat(
        [_af_only_assignments(people, af_only, rng), _assignments_beside(people, interventions, rng)],
        ignore_index=True,
    )
    assignments["cancelled"] = rng.random(len(assignments)) < 0.04
    return assignments
