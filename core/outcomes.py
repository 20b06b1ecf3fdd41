"""Outcomes after an intervention (`intervention_outcomes`, published as
`uppfoljning_efter_insats`). Pure functions, DataFrame in, DataFrame out.

**The cohort.** Every intervention of either party that has ended: a municipal intervention
with a last day, an AF programme assignment (not cancelled) with a last day. Its kommun is
the providing municipality's; an AF programme's is that of the municipality holding the
person (the intervention there that began last on or before the programme's last day, else
the first to begin after it; ties: the lowest kommunkod), `okand` when none does.

**The horizons.** For each horizon h of 30, 90 and 180 days, the day D = last day + h. A
horizon not yet reached (D after the as-of date) has no row: it is absent, never counted.

**The status on D**, the first of these that holds (a person is one person under one key id):

1. `work`: the person's latest AF registration begun on or before D was de-registered on or
   before D, on or after the intervention's first day, with the reason work;
2. `studies`: the same with the reason studies;
3. `af_programme`: an AF programme (not cancelled) runs on D;
4. `municipal_intervention`: a municipal intervention, of any municipality, runs on D (a
   municipal subsidised job such as extratjänst is an intervention, not work, as the
   Kolada/RKA indicator "resultat vid avslut" counts it);
5. `registered`: registered at AF on D (a registration runs up to and including its
   de-registration day) without a programme;
6. `not_known`: known to neither party on D.

Periods are whole days, both ends included; an empty end is ongoing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.counts import cell_counts, year_of
from core.ingest import cast_to_model
from core.registrations import CANCELLED, _dates, _day, _days, person_codes
from core.validate import validated
from schemas.followup import HORIZONS, NO_KOMMUN, OUTCOME_STATUSES, InterventionOutcomes
from schemas.statistics import LEVELS


def ended_interventions(municipal: pd.DataFrame, af: pd.DataFrame, m_person: np.ndarray,
                        a_person: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """One row per ended intervention of either party: person, party, id, kommunkod,
    category, age_band, start, end (day numbers), pseudonym, key_id."""
    m_end = _days(municipal["end_date"])
    m = np.flatnonzero(municipal["end_date"].notna().to_numpy(dtype=bool))
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool) & af["end_date"].notna().to_numpy(dtype=bool)
    a = np.flatnonzero(kept)
    mun = pd.DataFrame({
        "person": m_person[m], "party": "kommun",
        "intervention_id": municipal["record_id"].to_numpy(dtype=object)[m],
        "kommunkod": municipal["kommunkod"].to_numpy(dtype=object)[m],
        "category": municipal["category"].to_numpy(dtype=object)[m],
        "age_band": municipal["age_band"].to_numpy(dtype=object)[m],
        "start": _days(municipal["start_date"])[m], "end": m_end[m],
        "pseudonym": municipal["pseudonym"].to_numpy(dtype=object)[m],
        "key_id": municipal["key_id"].to_numpy(dtype=object)[m],
    })  # fmt: skip
    programmes = pd.DataFrame({
        "person": a_person[a], "party": "af",
        "intervention_id": af["assignment_id"].to_numpy(dtype=object)[a],
        "category": af["category"].to_numpy(dtype=object)[a],
        "age_band": af["age_band"].to_numpy(dtype=object)[a],
        "start": _days(af["start_date"])[a], "end": _days(af["end_date"])[a],
        "pseudonym": af["pseudonym"].to_numpy(dtype=object)[a],
        "key_id": af["key_id"].to_numpy(dtype=object)[a],
    })  # fmt: skip
    programmes["kommunkod"] = holding_kommun(programmes, municipal, m_person)
    return pd.concat([mun, programmes[mun.columns]], ignore_index=True)


def holding_kommun(ends: pd.DataFrame, municipal: pd.DataFrame, m_person: np.ndarray) -> np.ndarray:
    """Per row of `ends` (person, end): the kommun of the municipality holding the person on
    that day (see the module), NO_KOMMUN when none does."""
    records = pd.DataFrame({"person": m_person, "kommunkod": municipal["kommunkod"].to_numpy(dtype=object),
                            "m_start": _days(municipal["start_date"])})  # fmt: skip
    pairs = ends[["person", "end"]].reset_index().merge(records, on="person")
    before = pairs["m_start"] <= pairs["end"]
    # Began by the end: latest first; else: earliest first; then the lowest kommunkod.
    pairs = pairs.assign(tier=(~before).astype(np.int64), recency=np.where(before, -pairs["m_start"], pairs["m_start"]))
    first = pairs.sort_values(["index", "tier", "recency", "kommunkod"], kind="stable").drop_duplicates("index")
    found = pd.Series(first["kommunkod"].to_numpy(dtype=object), index=first["index"].to_numpy())
    return found.reindex(np.arange(len(ends))).fillna(NO_KOMMUN).to_numpy(dtype=object)


def _running_on(observed: pd.DataFrame, periods: pd.DataFrame) -> np.ndarray:
    """Per row of `observed` (obs, person, day): whether some period (person, start, end) of
    the person runs on that day."""
    pairs = observed[["obs", "person", "day"]].merge(periods, on="person")
    running = (pairs["start"].to_numpy() <= pairs["day"].to_numpy()) & (pairs["end"].to_numpy() >= pairs["day"].to_numpy())
    return np.isin(observed["obs"].to_numpy(), pairs.loc[running, "obs"].to_numpy())


def _latest_registration(observed: pd.DataFrame, registrations: pd.DataFrame) -> pd.DataFrame:
    """Per row of `observed` (obs, person, day): the person's registration begun last on or
    before that day (ties: the one ending last): its `dereg` day and `reason` (NaN: none)."""
    left = observed[["obs", "person", "day"]].sort_values("day", kind="stable")
    right = registrations.sort_values(["start", "end"], kind="stable")[["person", "start", "end", "reason"]]
    joined = pd.merge_asof(left, right.rename(columns={"end": "dereg"}), left_on="day", right_on="start",
                           by="person", direction="backward", allow_exact_matches=True)  # fmt: skip
    return joined.set_index("obs").reindex(observed["obs"].to_numpy())


def outcome_status(observed: pd.DataFrame, af_periods: pd.DataFrame, m_periods: pd.DataFrame,
                   registrations: pd.DataFrame) -> np.ndarray:  # fmt: skip
    """The status (module, 1-6) per row of `observed`: obs, person, day (D) and first (the
    intervention's first day), all day numbers; periods: person, start, end; registrations:
    person, start, end (the de-registration day, open: a day after every real one), reason."""
    latest = _latest_registration(observed, registrations)
    day = observed["day"].to_numpy()
    dereg = latest["dereg"].to_numpy(dtype=float)
    deregistered = (dereg <= day) & (dereg >= observed["first"].to_numpy())
    reason = latest["reason"].astype("string").fillna("").to_numpy(dtype=object)
    conditions = [
        deregistered & (reason == "work"),
        deregistered & (reason == "studies"),
        _running_on(observed, af_periods),
        _running_on(observed, m_periods),
        _running_on(observed, registrations[["person", "start", "end"]]),
    ]
    return np.select(conditions, list(OUTCOME_STATUSES[:5]), OUTCOME_STATUSES[5]).astype(object)


def intervention_outcomes(municipal: pd.DataFrame, af: pd.DataFrame, registrations: pd.DataFrame,
                          as_of: dt.date) -> pd.DataFrame:  # fmt: skip
    """The `InterventionOutcomes` dataset (see the module): one row per ended intervention
    and horizon reached by `as_of`."""
    m_person, a_person, r_person = person_codes(municipal, af, registrations)
    ended = ended_interventions(municipal, af, m_person, a_person)
    horizons = np.array(HORIZONS, dtype=np.int64)
    rows = ended.loc[ended.index.repeat(len(horizons))].reset_index(drop=True)
    rows["horizon"] = np.tile(horizons, len(ended))
    rows["day"] = rows["end"].to_numpy() + rows["horizon"].to_numpy()
    rows = rows[rows["day"].to_numpy() <= _day(as_of)].reset_index(drop=True)
    rows["obs"] = np.arange(len(rows))
    rows["first"] = rows["start"]
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool)
    af_periods = pd.DataFrame({"person": a_person[kept], "start": _days(af["start_date"])[kept],
                               "end": _days(af["end_date"])[kept]})  # fmt: skip
    m_periods = pd.DataFrame({"person": m_person, "start": _days(municipal["start_date"]),
                              "end": _days(municipal["end_date"])})  # fmt: skip
    regs = pd.DataFrame({"person": r_person, "start": _days(registrations["registration_date"]),
                         "end": _days(registrations["deregistration_date"]),
                         "reason": registrations["deregistration_reason"].astype("string").fillna("").to_numpy(dtype=object)})  # fmt: skip
    rows["status"] = outcome_status(rows, af_periods, m_periods, regs)
    rows["ends_on"] = _dates(rows["end"].to_numpy())
    table = rows.sort_values(["party", "kommunkod", "intervention_id", "horizon"], kind="stable")
    columns = list(InterventionOutcomes.to_schema().columns)
    table = cast_to_model(table[columns].reset_index(drop=True), InterventionOutcomes)
    return validated(table, InterventionOutcomes)


# The published cell below year × kommun (`uppfoljning_efter_insats`).
OUTCOME_DIMENSIONS = ["party", "horizon", "status"]


def outcome_keys(table: pd.DataFrame) -> pd.DataFrame:
    """One row per row of `InterventionOutcomes`: its published cell (year of the end,
    kommunkod, OUTCOME_DIMENSIONS, as text) and `person`, the pipeline pseudonym (for the
    protection)."""
    return pd.DataFrame({
        "year": year_of(table["ends_on"]),
        "kommunkod": table["kommunkod"].astype(str), "party": table["party"].astype(str),
        "horizon": table["horizon"].astype(str), "status": table["status"].astype(str),
        "person": table["pseudonym"].astype(str),
    })  # fmt: skip


def outcome_cell_counts(table: pd.DataFrame) -> pd.DataFrame:
    """The counts `uppfoljning_efter_insats` publishes, before any protection: level, year,
    kommunkod, OUTCOME_DIMENSIONS, count (the contract counts `outcome_keys` the same way)."""
    counted = cell_counts(outcome_keys(table), OUTCOME_DIMENSIONS, "year")
    counted.insert(0, "level", np.array(LEVELS, dtype=object)[counted.pop("depth").to_numpy(dtype=np.int64)])
    return counted
