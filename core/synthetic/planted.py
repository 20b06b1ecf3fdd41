"""Planted cases: municipal × AF overlaps, people in two municipalities at once, and
cancelled AF assignments as decoys, each in a known geometry (day offsets relative to as-of)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.synthetic.interventions import (
    _INTERVENTIONS,
    _MUNICIPAL_CONSENT_RATE,
    _MUNICIPAL_EXTENT_WEIGHTS,
    _PROGRAMMES,
    _draw_codes,
    _extents,
    _offered,
)
from core.synthetic.people import YOUTH_SHARE
from core.synthetic.systems import Source

# Planted geometries, in days relative to as-of (None: no end date). Each case shifts its
# geometry by up to a week either way, which keeps every property named below.
# (municipal start, municipal end, AF start, AF end)
_MUNICIPAL_AF_GEOMETRIES = {
    "af_starts_during_municipal": (-150, None, -20, 100),  # interruption risk, open municipal
    "upcoming_af": (-60, 200, 30, None),  # decided, starts after as-of, open AF
    "one_day_af_starts_on_last_day": (-120, -10, -10, 90),
    "one_day_af_ends_on_first_day": (5, 100, -200, 5),
    "both_open": (-300, None, -100, None),
    "municipal_within_af": (-30, 30, -200, 60),
    "long_past": (-700, -400, -500, -350),  # outside a 90-days-back window
    "far_ahead": (200, 400, 250, 350),  # outside a 180-days-ahead window
    "same_first_day": (-40, 80, -40, 40),  # AF start not after the municipal start: no risk
}
# (first municipality start, end, second municipality start, end)
_TWO_MUNICIPALITIES_GEOMETRIES = {
    "moved_before_closing": (-200, -20, -60, None),
    "parallel": (-100, None, -30, 90),
    "one_day": (-150, -30, -30, 60),
}
# A cancelled AF assignment inside a municipal intervention: not an overlap.
_CANCELLED_DECOY_GEOMETRY = (-100, 100, -50, 50)
_GEOMETRY_SHIFT_DAYS = 7
# Consent (municipal side, AF side), cycled over the planted cases.
_CONSENT_COMBINATIONS = ((True, True), (True, False), (False, True), (False, False))


@dataclass(frozen=True)
class PlantedCases:
    people: np.ndarray  # everyone used by a planted case or a decoy
    interventions: pd.DataFrame  # with case_id ("" for decoys)
    assignments: pd.DataFrame  # with case_id ("" for decoys)


def _pick_people(available: np.ndarray, people: pd.DataFrame, count: int, rng) -> np.ndarray:
    """`count` people, about YOUTH_SHARE of them (and at least one) aged 16–24."""
    youth = people.youth.to_numpy()[available]
    wanted_youth = min(max(1, round(YOUTH_SHARE * count)), youth.sum(), count)
    chosen = np.r_[
        rng.choice(available[youth], wanted_youth, replace=False),
        rng.choice(available[~youth], count - wanted_youth, replace=False),
    ]
    return rng.permutation(chosen)


def _geometry(table: Sequence[tuple], count: int, rng) -> np.ndarray:
    """count × 4 day offsets, cycling through the geometries, each case shifted a little."""
    geometries = np.array([[np.nan if day is None else day for day in row] for row in table], dtype=float)
    shift = rng.integers(-_GEOMETRY_SHIFT_DAYS, _GEOMETRY_SHIFT_DAYS + 1, size=count)
    return geometries[np.arange(count) % len(geometries)] + shift[:, None]


def _planted_extents(count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Every other case has a combined extent above 100 %."""
    high = np.arange(count) % 2 == 0
    municipal = np.where(high, rng.choice([62.5, 75.0, 100.0], count), rng.choice([25.0, 37.5, 50.0], count))
    af = np.where(high, rng.choice([50.0, 75.0, 100.0], count), rng.choice([25.0, 50.0], count))
    return municipal, af


def _municipal_af_pairs(
    people: pd.DataFrame,
    persons: np.ndarray,
    case_ids: np.ndarray,
    geometries: Sequence[tuple],
    cancelled: bool,
    home: np.ndarray,
    by_source: Mapping[str, Source],
    rng,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One intervention in the person's own kommun and one AF assignment each, cycling
    through the geometries, consent combinations and combined extents."""
    geometry = _geometry(geometries, len(persons), rng)
    municipal_extent, af_extent = _planted_extents(len(persons), rng)
    consent = np.array(_CONSENT_COMBINATIONS)[np.arange(len(persons)) % len(_CONSENT_COMBINATIONS)]
    bands = people.band.to_numpy()[persons]
    sources = home[persons]
    intervention = pd.DataFrame({
        "person": persons,
        "source_id": sources,
        "insats_code": _draw_codes(_INTERVENTIONS, bands, rng, _offered(sources, by_source)),
        "start": geometry[:, 0],
        "end": geometry[:, 1],
        "extent_pct": municipal_extent,
        "consent": consent[:, 0],
        "case_id": case_ids,
    })
    assignment = pd.DataFrame({
        "person": persons,
        "programme_code": _draw_codes(_PROGRAMMES, bands, rng),
        "start": geometry[:, 2],
        "end": geometry[:, 3],
        "extent_pct": af_extent,
        "consent": consent[:, 1],
        "cancelled": cancelled,
        "case_id": case_ids,
    })
    return intervention, assignment


def _two_municipality_pairs(
    people: pd.DataFrame, persons: np.ndarray, case_ids: np.ndarray, home: np.ndarray,
    by_source: Mapping[str, Source], rng,
) -> pd.DataFrame:
    """Overlapping interventions in the person's own kommun and in another one."""
    others = np.array(sorted(by_source), dtype=object)
    elsewhere = np.array([rng.choice(others[others != own]) for own in home[persons]], dtype=object)
    geometry = _geometry(list(_TWO_MUNICIPALITIES_GEOMETRIES.values()), len(persons), rng)
    bands = people.band.to_numpy()[persons]
    return pd.concat(
        [
            pd.DataFrame({
                "person": persons,
                "source_id": sources,
                "insats_code": _draw_codes(_INTERVENTIONS, bands, rng, _offered(sources, by_source)),
                "start": start,
                "end": end,
                "extent_pct": _extents(len(persons), _MUNICIPAL_EXTENT_WEIGHTS, rng),
                "consent": rng.random(len(persons)) < _MUNICIPAL_CONSENT_RATE,
                "case_id": case_ids,
            })
            for sources, start, end in (
                (home[persons], geometry[:, 0], geometry[:, 1]),
                (elsewhere, geometry[:, 2], geometry[:, 3]),
            )
        ],
        ignore_index=True,
    )


def plant_cases(
    people: pd.DataFrame, by_kommun: Mapping[str, Source], rng: np.random.Generator
) -> PlantedCases:
    """Municipal × AF overlaps, people in two municipalities at once, and cancelled decoys
    (a cancelled AF assignment inside an intervention, which is no overlap)."""
    count = len(people)
    # Each geometry at least five times: the consent combinations and the consent records'
    # variants (`consents`) withhold most of them, and a small inbox must still publish some.
    municipal_af_count = max(5 * len(_MUNICIPAL_AF_GEOMETRIES), round(0.05 * count))
    two_count = max(len(_TWO_MUNICIPALITIES_GEOMETRIES), round(0.01 * count)) if len(by_kommun) > 1 else 0
    decoy_count = max(2, round(0.002 * count))

    municipal_af = _pick_people(np.arange(count), people, municipal_af_count, rng)
    available = np.setdiff1d(np.arange(count), municipal_af)
    two = _pick_people(available, people, two_count, rng) if two_count else np.array([], dtype=int)
    decoys = rng.choice(np.setdiff1d(available, two), decoy_count, replace=False)

    case_ids = np.array([f"C{i:04d}" for i in range(1, municipal_af_count + two_count + 1)])
    home = np.array([by_kommun[code].id for code in people.kommunkod], dtype=object)
    by_source = {source.id: source for source in by_kommun.values()}
    cases = _municipal_af_pairs(
        people, municipal_af, case_ids[:municipal_af_count], list(_MUNICIPAL_AF_GEOMETRIES.values()), False,
        home, by_source, rng,
    )
    decoy = _municipal_af_pairs(
        people, decoys, np.full(decoy_count, ""), [_CANCELLED_DECOY_GEOMETRY], True, home, by_source, rng
    )
    two_municipalities = _two_municipality_pairs(
        people, two, case_ids[municipal_af_count:], home, by_source, rng
    )
    return PlantedCases(
        np.r_[municipal_af, two, decoys],
        pd.concat([cases[0], decoy[0], two_municipalities], ignore_index=True),
        pd.concat([cases[1], decoy[1]], ignore_index=True),
    )
