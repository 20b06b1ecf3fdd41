"""AF registrations (inskrivningar): registration spells, the complete transition list, the
90-day youth monitor and the hand-over lists.

Pure functions, DataFrame in, DataFrame out, over the ingested datasets
(`MunicipalInterventions`, `AfAssignments`, `AfRegistrations`). A person is a pseudonym
under its key id, as in `core.reconcile`. All periods are whole days with both ends
inclusive: a registration runs from its registration date up to and including its
de-registration date (empty: still registered); cancelled AF assignments never count.

**Spells.** A person's registrations, in order of registration date, form spells: a
registration whose date is at most `CONTINUATION_DAYS` (30) days after the last day of the
spell so far continues it (a re-registration 30 days after the de-registration date
continues, 31 days after starts a new spell); an overlapping or adjacent one continues it
too. A spell's day 0 is its first registration date; its registration id is that
registration's; its office and AF's consent are those of its latest registration that
began on or before the as-of date.

**The youth monitor** (`youth_monitor`, published as `unga_90_dagar`): every spell of a
person aged 16–24 on day 0 (`age_band` 16-19 or 20-24 of the first registration), whose
day 0 is on or before the as-of date and which is open on the as-of date or ended within
`YOUTH_LOOK_BACK_DAYS` before it. "Started" is the first AF programme (not cancelled) or
municipal intervention of the person that starts on or after day 0, by day 90 and by the
as-of date. Status on the as-of date, day = as-of − day 0:

- `met`: started (with `days_to_start`);
- `ended`: nothing started and the spell is over (not registered on the as-of date);
- `breached`: nothing started, still registered, day 90 or later;
- `approaching`: nothing started, still registered, day 60–89;
- `pending`: nothing started, still registered, day 0–59.

**Hand-overs** (`handovers`, published as `overlamningar` / `overlamningar_kommun`).
"Something next within 30 days" after a last day E is a period (an AF programme not
cancelled, or for the AF kind also a municipal intervention) running on some day from E+1
to E+30: it starts by E+30 and does not end before E+1. A start on day 30 after the end
clears the gap, one on day 31 does not.

- `insats_slut_utan_af`: a municipal intervention ends within the 30 days before or after
  the as-of date, the person is registered at AF on the as-of date, and no AF programme is
  next within 30 days → the AF office of that registration (municipal consent).
- `af_slut_utan_fortsattning`: an AF programme ends within the 30 days before or after the
  as-of date with nothing next within 30 days (AF programme or municipal intervention), and
  the person is in a municipality's records (any intervention there) → that municipality,
  one row per municipality, keyed by its own latest record id of the person (AF consent).
- `kaa_slutar`: the person has a KAA intervention going on on the as-of date, turns 20
  within the next 60 days (as-of date to as-of + 60, both included) and is registered at AF
  on the as-of date → the AF office, with the day KAA ends (the 20th birthday; municipal
  consent).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.gates import CONSENT_FOR, PROTECTED, consent_columns, prepare
from core.ingest import cast_to_model
from core.validate import validated
from schemas.followup import (
    HANDOVER_KINDS,
    YOUTH_STATUSES,
    Handovers,
    RegistrationTransitions,
    YouthMonitor,
)

CANCELLED = "cancelled"
CONTINUATION_DAYS = 30
APPROACHING_DAY = 60
GUARANTEE_DAYS = 90
YOUTH_BANDS = ("16-19", "20-24")
YOUTH_LOOK_BACK_DAYS = 365
HANDOVER_DAYS = 30
KAA_CODE = "KAA"
KAA_NOTICE_DAYS = 60
_OPEN = np.int64(2**31 - 1)
_EPOCH = np.datetime64("1970-01-01", "D")


def _days(dates: pd.Series) -> np.ndarray:
    """Day numbers of a date column; empty (an open end) is a day after every real one."""
    values = pd.to_datetime(dates).to_numpy().astype("datetime64[D]")
    days = (values - _EPOCH).astype(np.int64)
    return np.where(np.isnat(values), _OPEN, days)


def _day(day: dt.date) -> int:
    return int((np.datetime64(day, "D") - _EPOCH).astype(np.int64))


def _dates(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days, dtype=np.int64)
    out = (_EPOCH + np.where(days == _OPEN, 0, days).astype("timedelta64[D]")).astype("datetime64[s]")
    return np.where(days == _OPEN, np.datetime64("NaT", "s"), out)


def person_codes(*frames: pd.DataFrame) -> list[np.ndarray]:
    """One integer per (pseudonym, key id) across `frames`: a pseudonym under another key id
    is another person."""
    keys = pd.concat([f["pseudonym"].astype("string") + "|" + f["key_id"].astype("string") for f in frames],
                     ignore_index=True)  # fmt: skip
    codes, _ = pd.factorize(keys)
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --- spells --------------------------------------------------------------------------------


def spells(registrations: pd.DataFrame, person: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """One row per spell (see the module): person, first (registration row position), day0,
    end (day number, _OPEN while open), registration_id, age_band, af_office, consent."""
    reg_day = _days(registrations["registration_date"])
    end_day = _days(registrations["deregistration_date"])
    order = np.lexsort((registrations["registration_id"].to_numpy(dtype=object).astype(str), reg_day, person))
    p, start, end = person[order], reg_day[order], end_day[order]
    frame = pd.DataFrame({"person": p, "start": start, "end": end})
    running_end = frame.groupby("person", sort=False)["end"].cummax().to_numpy()
    previous_end = pd.Series(running_end).groupby(p).shift(1).to_numpy()
    first_of_person = np.r_[True, p[1:] != p[:-1]] if len(p) else np.array([], dtype=bool)
    new = first_of_person | (start - np.nan_to_num(previous_end, nan=0).astype(np.int64) > CONTINUATION_DAYS)
    spell = np.cumsum(new) - 1
    frame["spell"] = spell
    frame["row"] = order
    # The latest registration begun by the as-of date gives the office and consent.
    begun = frame[frame["start"] <= _day(as_of)]
    latest = begun.groupby("spell", sort=True)["row"].last()
    grouped = frame.groupby("spell", sort=True)
    first_rows = grouped["row"].first().to_numpy()
    table = pd.DataFrame({
        "person": grouped["person"].first().to_numpy(),
        "first": first_rows,
        "day0": grouped["start"].first().to_numpy(),
        "end": grouped["end"].max().to_numpy(),
    })
    latest_rows = latest.reindex(np.arange(len(table))).fillna(-1).to_numpy(dtype=np.int64)
    latest_rows = np.where(latest_rows < 0, first_rows, latest_rows)
    table["registration_id"] = registrations["registration_id"].to_numpy(dtype=object)[first_rows]
    table["age_band"] = registrations["age_band"].to_numpy(dtype=object)[first_rows]
    table["af_office"] = registrations["af_office"].to_numpy(dtype=object)[latest_rows]
    table["consent"] = registrations["consent"].to_numpy(dtype=bool)[latest_rows]
    table["consent_for"] = registrations[CONSENT_FOR].to_numpy(dtype=object)[latest_rows]
    table["protected_identity"] = registrations[PROTECTED].to_numpy(dtype=bool)[first_rows]
    return table


def registered_on(registrations: pd.DataFrame, day: dt.date) -> np.ndarray:
    """Which registrations cover `day` (registration date ≤ day ≤ de-registration date or open)."""
    d = _day(day)
    return (_days(registrations["registration_date"]) <= d) & (_days(registrations["deregistration_date"]) >= d)


def current_registrations(registrations: pd.DataFrame, person: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """Per person registered on `as_of`: the registration covering it (the latest begun; ties:
    the lowest id): person, registration_id, af_office, consent, turns_20_on."""
    on = registered_on(registrations, as_of)
    rows = registrations[on]
    frame = pd.DataFrame({
        "person": person[on],
        "start": _days(rows["registration_date"]),
        "registration_id": rows["registration_id"].to_numpy(dtype=object),
        "af_office": rows["af_office"].to_numpy(dtype=object),
        "consent": rows["consent"].to_numpy(dtype=bool),
        "consent_for": rows[CONSENT_FOR].to_numpy(dtype=object),
        "protected_identity": rows[PROTECTED].to_numpy(dtype=bool),
        "turns_20_on": pd.to_datetime(rows["turns_20_on"]).to_numpy(),
    })
    frame = frame.sort_values(["person", "start", "registration_id"], ascending=[True, False, True], kind="stable")
    return frame.drop_duplicates("person").drop(columns="start").reset_index(drop=True)


# --- the complete transition list ------------------------------------------------------------


def registration_transitions(municipal: pd.DataFrame, registrations: pd.DataFrame, as_of: dt.date,
                             cut_off: dt.date, listed_persons: np.ndarray,
                             persons: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:  # fmt: skip
    """The transition list's rows of people registered at AF on `as_of` who are not on it by
    an assignment (`listed_persons`): their municipal interventions started by `as_of` and
    planned past `cut_off`, keyed by the registration covering `as_of`, for its office."""
    m_person, r_person = persons
    municipal, registrations = consent_columns(municipal, as_of), consent_columns(registrations, as_of)
    as_of_day, cut_off_day = _day(as_of), _day(cut_off)
    start, end = _days(municipal["start_date"]), _days(municipal["end_date"])
    continuing = (start <= as_of_day) & (end > cut_off_day) & ~np.isin(m_person, listed_persons)
    current = current_registrations(registrations, r_person, as_of)
    rows = municipal[continuing].assign(person=m_person[continuing], _end=end[continuing])
    joined = rows.merge(current, on="person", how="inner", suffixes=("", "_af"))
    listed = pd.DataFrame({
        "assignment_id": pd.array([pd.NA] * len(joined), dtype="string"),
        "registration_id": joined["registration_id"].astype("string").to_numpy(),
        "keyed_by": "registration_id",
        "af_office": joined["af_office"].to_numpy(dtype=object),
        "kommunkod": joined["kommunkod"].to_numpy(dtype=object),
        "intervention_category": joined["category"].to_numpy(dtype=object),
        "planned_end": _dates(joined["_end"].to_numpy()),
        "municipal_consent": joined["consent"].to_numpy(dtype=bool),
        "af_consent": joined["consent_af"].to_numpy(dtype=bool),
        "municipal_consent_for": joined[CONSENT_FOR].to_numpy(dtype=object),
        "af_consent_for": joined[CONSENT_FOR + "_af"].to_numpy(dtype=object),
        "protected_identity": joined[PROTECTED].to_numpy(dtype=bool) | joined[PROTECTED + "_af"].to_numpy(dtype=bool),
    })
    listed = cast_to_model(listed.drop_duplicates().reset_index(drop=True), RegistrationTransitions)
    return validated(listed, RegistrationTransitions)


# --- the 90-day youth monitor ------------------------------------------------------------------


def _starts(municipal: pd.DataFrame, af: pd.DataFrame, m_person: np.ndarray, a_person: np.ndarray) -> pd.DataFrame:
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool)
    return pd.concat([
        pd.DataFrame({"person": a_person[kept], "start": _days(af["start_date"])[kept], "by": "af"}),
        pd.DataFrame({"person": m_person, "start": _days(municipal["start_date"]), "by": "municipal"}),
    ], ignore_index=True)  # fmt: skip


def _records(municipal: pd.DataFrame, m_person: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """Per person and kommun in whose records the person is: that kommun's most relevant
    record (the latest started by `as_of`, else the next; ties: the lowest record id), its
    consent and whether an intervention there goes on on `as_of`."""
    start, end = _days(municipal["start_date"]), _days(municipal["end_date"])
    d = _day(as_of)
    frame = pd.DataFrame({
        "person": m_person,
        "kommunkod": municipal["kommunkod"].to_numpy(dtype=object),
        "record_id": municipal["record_id"].to_numpy(dtype=object),
        "municipal_consent": municipal["consent"].to_numpy(dtype=bool),
        "municipal_consent_for": municipal[CONSENT_FOR].to_numpy(dtype=object),
        "municipal_protected": municipal[PROTECTED].to_numpy(dtype=bool),
        "tier": (start > d).astype(np.int64),
        "recency": np.where(start > d, start, -start),
        "ongoing": (start <= d) & (end >= d),
    })
    ongoing = frame.groupby(["person", "kommunkod"], sort=False)["ongoing"].transform("any")
    frame = frame.assign(ongoing=ongoing).sort_values(["person", "kommunkod", "tier", "recency", "record_id"],
                                                       kind="stable")  # fmt: skip
    return frame.drop_duplicates(["person", "kommunkod"]).drop(columns=["tier", "recency"]).reset_index(drop=True)


def youth_monitor(municipal: pd.DataFrame, af: pd.DataFrame, registrations: pd.DataFrame,
                  as_of: dt.date) -> pd.DataFrame:  # fmt: skip
    """The `YouthMonitor` dataset: one row per youth spell (see the module) and municipality
    in whose records the person is (one row with an empty kommunkod when in none)."""
    # Only registrations begun by the as-of date: a later one cannot change what is known then.
    municipal, af, registrations = prepare(as_of, municipal, af, registrations)
    registrations = registrations[_days(registrations["registration_date"]) <= _day(as_of)].reset_index(drop=True)
    m_person, a_person, r_person = person_codes(municipal, af, registrations)
    d = _day(as_of)
    table = spells(registrations, r_person, as_of)
    table = table[(table["day0"] <= d) & table["age_band"].isin(YOUTH_BANDS)
                  & ((table["end"] >= d - YOUTH_LOOK_BACK_DAYS))].reset_index(drop=True)  # fmt: skip
    starts = _starts(municipal, af, m_person, a_person)
    pairs = table[["person", "day0"]].reset_index().merge(starts, on="person")
    within = (pairs["start"] >= pairs["day0"]) & (pairs["start"] <= pairs["day0"] + GUARANTEE_DAYS) & (
        pairs["start"] <= d)
    first = pairs[within].sort_values(["index", "start", "by"], kind="stable").drop_duplicates("index")
    first = first.set_index("index").reindex(table.index)
    started = first["start"].notna().to_numpy()
    day = d - table["day0"].to_numpy()
    registered = table["end"].to_numpy() >= d
    status = np.select(
        [started, ~registered, day >= GUARANTEE_DAYS, day >= APPROACHING_DAY],
        ["met", "ended", "breached", "approaching"], "pending",
    )
    to_start = pd.array(first["start"].to_numpy() - table["day0"].to_numpy(), dtype="Int64")
    monitor = pd.DataFrame({
        "pseudonym": registrations["pseudonym"].to_numpy(dtype=object)[table["first"]],
        "key_id": registrations["key_id"].to_numpy(dtype=object)[table["first"]],
        "registration_id": table["registration_id"].to_numpy(dtype=object),
        "af_office": table["af_office"].to_numpy(dtype=object),
        "registration_date": _dates(table["day0"].to_numpy()),
        "spell_end": _dates(table["end"].to_numpy()),
        "age_band": table["age_band"].to_numpy(dtype=object),
        "day": day.astype(np.int64),
        "status": status,
        "days_to_start": to_start,
        "started_by": first["by"].astype("string").to_numpy(),
        "af_consent": table["consent"].to_numpy(dtype=bool),
        "af_consent_for": table[CONSENT_FOR].to_numpy(dtype=object),
        "af_protected": table[PROTECTED].to_numpy(dtype=bool),
        "person": table["person"].to_numpy(),
    })
    records = _records(municipal, m_person, as_of)
    monitor = monitor.merge(records, on="person", how="left")
    monitor["municipal_consent"] = monitor["municipal_consent"].fillna(False).astype(bool)
    monitor["municipal_consent_for"] = monitor["municipal_consent_for"].fillna("").astype("string")
    # Protection is the person's: every row of a person flagged anywhere.
    flagged = monitor["af_protected"].to_numpy(dtype=bool) | monitor["municipal_protected"].fillna(False).to_numpy(dtype=bool)
    monitor["protected_identity"] = pd.Series(flagged).groupby(monitor["person"].to_numpy()).transform("any").to_numpy()
    monitor["municipal_activity"] = monitor["ongoing"].fillna(False).astype(bool)
    monitor = monitor.drop(columns=["person", "ongoing", "af_protected", "municipal_protected"])
    monitor = monitor.sort_values(["af_office", "registration_id", "kommunkod"], na_position="first",
                                  kind="stable").reset_index(drop=True)  # fmt: skip
    return validated(cast_to_model(monitor[list(YouthMonitor.to_schema().columns)], YouthMonitor), YouthMonitor)


# --- hand-over lists ----------------------------------------------------------------------------


def _nothing_next(ends: pd.DataFrame, periods: pd.DataFrame) -> np.ndarray:
    """For each row of `ends` (index, person, end), whether no period of `periods` (person,
    start, end) runs on a day from end+1 to end+30."""
    pairs = ends[["index", "person", "end"]].merge(periods, on="person", suffixes=("", "_next"))
    running = (pairs["start"] <= pairs["end"] + HANDOVER_DAYS) & (pairs["end_next"] >= pairs["end"] + 1)
    bridged = np.isin(ends["index"].to_numpy(), pairs.loc[running, "index"].to_numpy())
    return ~bridged


def handovers(municipal: pd.DataFrame, af: pd.DataFrame, registrations: pd.DataFrame,
              as_of: dt.date) -> pd.DataFrame:  # fmt: skip
    """The `Handovers` dataset: one row per hand-over of the three kinds (see the module)."""
    municipal, af, registrations = prepare(as_of, municipal, af, registrations)
    m_person, a_person, r_person = person_codes(municipal, af, registrations)
    d = _day(as_of)
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool)
    af_periods = pd.DataFrame({"person": a_person[kept], "start": _days(af["start_date"])[kept],
                               "end_next": _days(af["end_date"])[kept]})  # fmt: skip
    m_periods = pd.DataFrame({"person": m_person, "start": _days(municipal["start_date"]),
                              "end_next": _days(municipal["end_date"])})  # fmt: skip
    current = current_registrations(registrations, r_person, as_of)
    m_end = _days(municipal["end_date"])
    found = []

    # insats_slut_utan_af
    ending = np.flatnonzero((m_end >= d - HANDOVER_DAYS) & (m_end <= d + HANDOVER_DAYS))
    ends = pd.DataFrame({"index": ending, "person": m_person[ending], "end": m_end[ending]})
    ends = ends[_nothing_next(ends, af_periods)].merge(current, on="person")
    found.append(_to_af_office("insats_slut_utan_af", municipal, ends, _dates(ends["end"].to_numpy())))

    # af_slut_utan_fortsattning
    a_end = _days(af["end_date"])
    ending = np.flatnonzero(kept & (a_end >= d - HANDOVER_DAYS) & (a_end <= d + HANDOVER_DAYS))
    ends = pd.DataFrame({"index": ending, "person": a_person[ending], "end": a_end[ending]})
    nothing = _nothing_next(ends, af_periods[["person", "start", "end_next"]]) & _nothing_next(ends, m_periods)
    ends = ends[nothing].merge(_records(municipal, m_person, as_of), on="person")
    rows = af.iloc[ends["index"].to_numpy()]
    found.append(pd.DataFrame({
        "kind": "af_slut_utan_fortsattning",
        "af_office": rows["af_office"].to_numpy(dtype=object),
        "kommunkod": ends["kommunkod"].to_numpy(dtype=object),
        "record_id": ends["record_id"].to_numpy(dtype=object),
        "registration_id": None,
        "assignment_id": rows["assignment_id"].to_numpy(dtype=object),
        "category": rows["category"].to_numpy(dtype=object),
        "ends_on": _dates(ends["end"].to_numpy()),
        "municipal_consent": ends["municipal_consent"].to_numpy(dtype=bool),
        "af_consent": rows["consent"].to_numpy(dtype=bool),
        "municipal_consent_for": ends["municipal_consent_for"].to_numpy(dtype=object),
        "af_consent_for": rows[CONSENT_FOR].to_numpy(dtype=object),
        "protected_identity": rows[PROTECTED].to_numpy(dtype=bool) | ends["municipal_protected"].to_numpy(dtype=bool),
    }))

    # kaa_slutar
    m_start = _days(municipal["start_date"])
    kaa = np.flatnonzero((municipal["insats_code"] == KAA_CODE).to_numpy(dtype=bool) & (m_start <= d) & (m_end >= d))
    kaa_rows = pd.DataFrame({"index": kaa, "person": m_person[kaa]}).merge(current, on="person")
    turns = _days(kaa_rows["turns_20_on"])
    kaa_rows = kaa_rows[(turns >= d) & (turns <= d + KAA_NOTICE_DAYS)]
    found.append(_to_af_office("kaa_slutar", municipal, kaa_rows,
                               pd.to_datetime(kaa_rows["turns_20_on"]).to_numpy().astype("datetime64[s]")))  # fmt: skip
    table = pd.concat(found, ignore_index=True)
    columns = list(Handovers.to_schema().columns)
    table["ends_on"] = pd.to_datetime(table["ends_on"]).astype("datetime64[s]")
    table = cast_to_model(table[columns], Handovers)
    table = table.sort_values(["kind", "kommunkod", "record_id", "ends_on", "registration_id", "assignment_id"],
                              na_position="first", kind="stable").drop_duplicates().reset_index(drop=True)  # fmt: skip
    assert set(table["kind"]) <= set(HANDOVER_KINDS)
    return validated(table[columns], Handovers)



def _to_af_office(kind: str, municipal: pd.DataFrame, matched: pd.DataFrame, ends_on: np.ndarray) -> pd.DataFrame:
    """Hand-overs of `kind` to the AF office: `matched` holds the municipal row's position
    (`index`) beside the person's current registration (office, id, AF's consent)."""
    rows = municipal.iloc[matched["index"].to_numpy()]
    return pd.DataFrame({
        "kind": kind,
        "af_office": matched["af_office"].to_numpy(dtype=object),
        "kommunkod": rows["kommunkod"].to_numpy(dtype=object),
        "record_id": rows["record_id"].to_numpy(dtype=object),
        "registration_id": matched["registration_id"].to_numpy(dtype=object),
        "assignment_id": None,
        "category": rows["category"].to_numpy(dtype=object),
        "ends_on": ends_on,
        "municipal_consent": rows["consent"].to_numpy(dtype=bool),
        "af_consent": matched["consent"].to_numpy(dtype=bool),
        "municipal_consent_for": rows[CONSENT_FOR].to_numpy(dtype=object),
        "af_consent_for": matched[CONSENT_FOR].to_numpy(dtype=object),
        "protected_identity": rows[PROTECTED].to_numpy(dtype=bool) | matched[PROTECTED].to_numpy(dtype=bool),
    })  # fmt: skip

def youth_statuses() -> tuple[str, ...]:
    return YOUTH_STATUSES
