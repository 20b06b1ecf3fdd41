"""Planted outcome cases (what happened after an intervention, `uppfoljning_efter_insats`),
and the truth of the outcomes: `truth/outcomes.csv` (the counts per published cell before
suppression) and `truth/outcome_cases.csv` (the planted cases' expected statuses).

A case is one named person (a Skatteverket test number of the drawn population, none of
the other planted cases) whose every record is replaced by the case's: municipal
interventions, AF programmes and AF registrations at fixed days relative to the as-of date,
so that each status, the Kolada rule (a municipal subsidised job after a placement counts
as an intervention, not work) and the horizon's edge (an end 30 days before the as-of date
reaches the 30-day horizon, 29 days before does not) occur with a known answer. No case
overlaps two interventions, so the overlap truth is unchanged.

The outcome truth is computed from the rows the pipeline accepts, one person at a time,
with the day-by-day oracle `core.synthetic.outcomes.outcome_on` (nothing of `core.outcomes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.synthetic.outcomes import outcome_on
from core.synthetic.registrations import as_day, records_by_person
from core.synthetic.systems import Source
from schemas.catalogue import default_catalogue
from schemas.followup import HORIZONS, NO_KOMMUN
from schemas.personnummer import birth_dates
from schemas.datasets import AGE_BAND_EDGES, AGE_BANDS
from schemas.statistics import LEVELS, TOTAL

ABSENT = "absent"  # a horizon not yet reached: no row

# Per case: municipal interventions (code, first, last day), AF programmes (code, first,
# last), registrations (registered, de-registered or None, reason), all days relative to
# as-of; and per ended intervention ("kommun"/"af", its index in the case's list) the
# expected status at 30, 90 and 180 days.
_M, _A, _R, _EXPECTED = range(4)
CASES: dict[str, tuple] = {
    "work_after_municipal": (
        [("PRAKTIK", -400, -250)], [], [(-420, -230, "work")],
        {("kommun", 0): ("work", "work", "work")}),
    "studies_after_municipal": (
        [("PRAKTIK", -400, -250)], [], [(-420, -230, "studies")],
        {("kommun", 0): ("studies", "studies", "studies")}),
    "af_programme_follow_on": (
        [("PRAKTIK", -400, -250)], [("KROM", -240, -100)], [(-420, None, "")],
        {("kommun", 0): ("af_programme", "af_programme", "registered"),
         ("af", 0): ("registered", "registered", ABSENT)}),
    # The Kolada/RKA rule: the subsidised job after a placement is an intervention, not work.
    "extratjanst_after_placement": (
        [("PRAKTIK", -400, -250), ("EXTRATJANST", -249, -20)], [], [(-420, None, "")],
        {("kommun", 0): ("municipal_intervention",) * 3, ("kommun", 1): (ABSENT,) * 3}),
    "registered_without_programme": (
        [("PRAKTIK", -400, -250)], [], [(-420, None, "")],
        {("kommun", 0): ("registered",) * 3}),
    "not_known": (
        [("PRAKTIK", -400, -250)], [], [],
        {("kommun", 0): ("not_known",) * 3}),
    # A de-registration to work before the intervention began is not its outcome.
    "work_before_the_intervention": (
        [("PRAKTIK", -400, -250)], [], [(-600, -450, "work")],
        {("kommun", 0): ("not_known",) * 3}),
    "horizon_30_reached": (
        [("PRAKTIK", -200, -30)], [], [(-220, None, "")],
        {("kommun", 0): ("registered", ABSENT, ABSENT)}),
    "horizon_30_not_reached": (
        [("PRAKTIK", -200, -29)], [], [(-220, None, "")],
        {("kommun", 0): (ABSENT,) * 3}),
    # The AF programme's end as the cohort event (its kommun: the municipality holding the person).
    "af_programme_end": (
        [("PRAKTIK", -600, -450)], [("KROM", -400, -250)], [(-620, -240, "work")],
        {("af", 0): ("work", "work", "work"),
         ("kommun", 0): ("registered", "af_programme", "af_programme")}),
}  # fmt: skip
_NEEDED_CODES = ("PRAKTIK", "EXTRATJANST")


@dataclass(frozen=True)
class OutcomePlan:
    people: dict[str, int]  # case → person
    registrations: pd.DataFrame  # the cases' registrations, in draw_registrations' columns
    cases: pd.DataFrame  # case, party, record_id (its id), horizon, expected


def _day(as_of: dt.date, offset: int | None):
    return pd.NaT if offset is None else pd.Timestamp(as_of + dt.timedelta(days=offset))


def plant_outcome_cases(people: pd.DataFrame, interventions: pd.DataFrame, assignments: pd.DataFrame,
                        sources: Sequence[Source], as_of: dt.date, rng: np.random.Generator,
                        exclude: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, OutcomePlan]:  # fmt: skip
    """Replace the records of one person per case (not made up, not in `exclude`, not in a
    planted case) with the case's; returns the interventions, the assignments and the plan."""
    busy = np.union1d(interventions.loc[interventions["protected"].to_numpy(dtype=bool), "person"],
                      assignments.loc[assignments["protected"].to_numpy(dtype=bool), "person"])  # fmt: skip
    free = np.setdiff1d(np.flatnonzero(~people["made_up"].to_numpy(dtype=bool)), np.union1d(busy, exclude))
    chosen = np.sort(rng.choice(free, size=len(CASES), replace=False))
    chosen_of = dict(zip(CASES, (int(p) for p in chosen), strict=True))
    source = next(s for s in sources if set(_NEEDED_CODES) <= set(s.export.codes["insats_code"].values()))
    template_m = interventions[interventions["source_id"] == source.id].iloc[0]
    template_a = assignments.iloc[0]
    next_m = len(interventions[interventions["source_id"] == source.id]) + 1
    next_a = 900_000_000
    m_rows, a_rows, r_rows, expected = [], [], [], []
    for n, (case, spec) in enumerate(CASES.items()):
        person = chosen_of[case]
        number = people["personnummer"].iloc[person]
        ids = {}
        for i, (code, first, last) in enumerate(spec[_M]):
            start = _day(as_of, first)
            ids[("kommun", i)] = source.export.record_id_pattern.format(seq=next_m, year=start.year)
            m_rows.append(template_m.to_dict() | {"person": person, "personnummer": number, "insats_code": code, "start_date": start,
                                                  "end_date": _day(as_of, last), "record_id": ids[("kommun", i)],
                                                  "case_id": "", "protected": True})  # fmt: skip
            next_m += 1
        for i, (code, first, last) in enumerate(spec[_A]):
            ids[("af", i)] = f"A{next_a:09d}"
            a_rows.append(template_a.to_dict() | {
                "person": person, "personnummer": number, "programme_code": code, "start_date": _day(as_of, first),
                "end_date": _day(as_of, last), "assignment_id": ids[("af", i)], "case_id": "", "protected": True,
                "cancelled": False, "status": "ended" if last is not None and last < 0 else "ongoing",
                "decision_date": _day(as_of, first - 10), "af_office": people["af_office"].iloc[person]})  # fmt: skip
            next_a += 1
        for i, (first, last, reason) in enumerate(spec[_R]):
            r_rows.append({"person": person, "start_date": _day(as_of, first), "end_date": _day(as_of, last),
                           "reason": reason, "af_office": people["af_office"].iloc[person], "consent": True,
                           "jobseeker_category": "11", "registration_id": f"I{200_000_000 + 10 * n + i:09d}"})  # fmt: skip
        for (party, i), statuses in spec[_EXPECTED].items():
            for horizon, status in zip(HORIZONS, statuses, strict=True):
                expected.append({"case": case, "party": party, "id": ids[(party, i)], "horizon": horizon,
                                 "expected": status})  # fmt: skip
    keep_m = ~interventions["person"].isin(chosen).to_numpy()
    keep_a = ~assignments["person"].isin(chosen).to_numpy()
    planted_m = pd.DataFrame(m_rows).astype(interventions.dtypes.to_dict())
    planted_a = pd.DataFrame(a_rows).astype(assignments.dtypes.to_dict())
    interventions = pd.concat([interventions[keep_m], planted_m], ignore_index=True)
    assignments = pd.concat([assignments[keep_a], planted_a], ignore_index=True)
    registrations = pd.DataFrame(r_rows, columns=["person", "start_date", "end_date", "reason", "af_office", "consent",
                                                  "jobseeker_category", "registration_id"])  # fmt: skip
    registrations[["start_date", "end_date"]] = registrations[["start_date", "end_date"]].astype("datetime64[s]")
    return interventions, assignments, OutcomePlan(chosen_of, registrations, pd.DataFrame(expected))


def with_case_registrations(drawn: pd.DataFrame, plan: OutcomePlan) -> pd.DataFrame:
    """The drawn registrations with the cases' people's replaced by the plan's."""
    kept = drawn[~drawn["person"].isin(list(plan.people.values()))]
    planted = plan.registrations.astype({c: drawn[c].dtype for c in plan.registrations.columns})
    return pd.concat([kept, planted[drawn.columns]], ignore_index=True)


# --- the truth -----------------------------------------------------------------------------------


def _age_band(born: dt.date | None, as_of: dt.date) -> str:
    """The age band on the as-of date (the published one), from the birth date."""
    if born is None:
        return AGE_BANDS[-1]
    age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
    return AGE_BANDS[sum(1 for edge in AGE_BAND_EDGES if age >= edge)]


def _holding_kommun(person_m: list, day: dt.date) -> str:
    """The municipality holding the person on `day`: the intervention begun last by then,
    else the first to begin after; ties: the lowest kommunkod."""
    begun = [(-as_day(m.start_date).toordinal(), m.kommunkod) for m in person_m if as_day(m.start_date) <= day]
    later = [(as_day(m.start_date).toordinal(), m.kommunkod) for m in person_m if as_day(m.start_date) > day]
    return min(begun)[1] if begun else min(later)[1] if later else NO_KOMMUN


def outcome_rows(people: pd.DataFrame, interventions: pd.DataFrame, assignments: pd.DataFrame,
                 registrations: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:  # fmt: skip
    """One row per accepted ended intervention and horizon reached by `as_of`: party, id,
    quarter (of the last day), kommunkod, category, age_band, horizon, status (by the oracle)
    and `on`, the day the status holds (the last day + the horizon)."""
    catalogue = default_catalogue()
    births = birth_dates(people["personnummer"]).to_numpy()
    m_of, a_of, registered = records_by_person(interventions, assignments, registrations)
    r_of = {person: [(as_day(r.start_date), as_day(r.end_date), r.reason or None) for r in rows]
            for person, rows in registered.items()}  # fmt: skip
    rows = []
    for person in sorted(set(m_of) | set(a_of)):
        m_rows, a_rows, regs = m_of.get(person, []), a_of.get(person, []), r_of.get(person, [])
        m_periods = [(as_day(m.start_date), as_day(m.end_date)) for m in m_rows]
        a_periods = [(as_day(a.start_date), as_day(a.end_date)) for a in a_rows]
        band = _age_band(as_day(births[person]), as_of)
        ended = [("kommun", m.record_id, m.kommunkod, catalogue.intervention_categories[m.insats_code], m)
                 for m in m_rows if not pd.isna(m.end_date)]  # fmt: skip
        ended += [("af", a.assignment_id, _holding_kommun(m_rows, as_day(a.end_date)),
                   catalogue.programme_categories[a.programme_code], a) for a in a_rows if not pd.isna(a.end_date)]  # fmt: skip
        for party, record_id, kommunkod, category, row in ended:
            first, last = as_day(row.start_date), as_day(row.end_date)
            for horizon in HORIZONS:
                day = last + dt.timedelta(days=horizon)
                if day > as_of:
                    continue
                rows.append({"party": party, "id": record_id, "year": str(last.year), "kommunkod": kommunkod,
                             "category": category, "age_band": band, "horizon": horizon,
                             "status": outcome_on(day, first, regs, a_periods, m_periods), "on": day})  # fmt: skip
    return pd.DataFrame(rows, columns=["party", "id", "year", "kommunkod", "category", "age_band", "horizon", "status",
                                       "on"])  # fmt: skip


# The published cell of `uppfoljning_efter_insats`: year of the last day × kommun × party × horizon × status.
CELL = ["year", "kommunkod", "party", "horizon", "status"]


def outcome_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """The counts per published cell (level, CELL), with the kommun and region totals, before
    any suppression; every value as text but the count."""
    cells = rows.astype({"horizon": str}).groupby(CELL, sort=True).size().rename("count").reset_index()
    dims = dict.fromkeys(CELL[2:], TOTAL)
    kommuner = cells.groupby(["year", "kommunkod"], sort=True)["count"].sum().reset_index().assign(**dims)
    region = cells.groupby("year", sort=True)["count"].sum().reset_index().assign(kommunkod=TOTAL, **dims)
    table = pd.concat([region.assign(level=LEVELS[0]), kommuner.assign(level=LEVELS[1]), cells.assign(level=LEVELS[2])],
                      ignore_index=True)  # fmt: skip
    return table[["level", *CELL, "count"]].sort_values(["level", *CELL], kind="stable", ignore_index=True)


def case_truth(plan: OutcomePlan) -> pd.DataFrame:
    """One row per planted case's ended intervention and horizon: case, party, id, horizon,
    expected status (`absent`: the horizon is not reached)."""
    return plan.cases[["case", "party", "id", "horizon", "expected"]]


def read_outcome_truth(folder) -> pd.DataFrame:
    """`truth/outcomes.csv` of a generated inbox's `truth/` folder, every value as text."""
    from pathlib import Path

    return pd.read_csv(Path(folder) / "outcomes.csv", dtype=str, keep_default_na=False)


def compare_outcome_counts(found: pd.DataFrame, truth: pd.DataFrame) -> dict[str, int]:
    """Cells (level, CELL) only found, only in the truth, and in both with another count;
    numbers only (no cell's values), for output that must carry none. Vectorized: one merge."""
    key = ["level", *CELL]

    def text(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[*key, "count"]].astype(str)

    merged = text(found).merge(text(truth), on=key, how="outer", suffixes=("_found", "_truth"), indicator=True)
    both = merged["_merge"] == "both"
    return {"cells": int(len(merged)), "only_found": int((merged["_merge"] == "left_only").sum()),
            "only_truth": int((merged["_merge"] == "right_only").sum()),
            "count_differs": int((both & (merged["count_found"] != merged["count_truth"])).sum())}  # fmt: skip
