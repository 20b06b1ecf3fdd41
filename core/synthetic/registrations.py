"""AF's registrations (inskrivningar) for the synthetic inbox, and the truth of what the
pipeline must find with them: the registration-keyed rows of the transition list, the youth
monitor and the hand-over lists, by ids only, per kommun.

Who is registered: everyone with an AF assignment that counts (from a little before their
first programme; de-registered some weeks after their last one when it ended long ago),
half of the people with municipal interventions and no assignment (the KROM case: at AF
without a programme), and young people among them from recent dates, so that every status
of the youth monitor occurs. A tenth of the long registrations are split in two with a gap
of 5, 30, 31 or 60 days, so that the 30-day continuation rule is exercised on both sides.

The truth is computed by the slow, obvious rules of `core.synthetic.followup` over the rows
the pipeline accepts (the planted bad rows left out), one person at a time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pandas as pd

from core.synthetic.followup import nothing_next, youth_spells, youth_status
from core.synthetic.systems import Export, Source
from core.synthetic.text import date_text, number_text
from schemas.personnummer import birth_dates

REGISTRATION_EXPORT = Export(
    format="csv",
    file_stem="inskrivningar",
    columns=(
        ("Personnummer", "personnummer"), ("Inskrivnings-ID", "registration_id"),
        ("Inskrivningsdatum", "registration_date"), ("Avaktualiseringsdatum", "deregistration_date"),
        ("Avaktualiseringsorsak", "deregistration_reason"), ("Sökandekategori", "jobseeker_category"),
        ("Arbetsförmedlingskontor", "af_office"), ("Samtycke", "consent"),
    ),
    codes={
        # AF's own de-registration codes (avaktualiseringsorsaker), mapped onto ours.
        "deregistration_reason": {"01 Arbete": "work", "02 Studier": "studies", "03 Övrigt": "other",
                                  "99 Okänd": "unknown"},  # fmt: skip
        "consent": {"Ja": True, "Nej": False},
    },
    unknown_code="",
    number_style="YYYYMMDDNNNN",
    date_format="%Y-%m-%d",
    decimal=",",
    record_id_pattern="I{seq:09d}",
    delimiter=";",
)
REGISTRATION_SOURCE = Source("af_inskrivningar", "af_registrations", "Arbetsförmedlingen", None, "af",
                             REGISTRATION_EXPORT)  # fmt: skip
_REASON_TEXT = {"work": "01 Arbete", "studies": "02 Studier", "other": "03 Övrigt", "unknown": "99 Okänd"}
_CATEGORIES = ("11", "21", "22", "68", "69", "70")  # AF's jobseeker category codes
YOUTH = ("16-19", "20-24")


def plant_kaa(people: pd.DataFrame, interventions: pd.DataFrame, as_of: dt.date, rng: np.random.Generator,
              count: int = 12) -> tuple[pd.DataFrame, np.ndarray]:  # fmt: skip
    """Up to `count` young people who turn 20 within 60 days of `as_of` and have an intervention
    going on then (not a planted overlap case) get KAA as that intervention: the `kaa_slutar`
    hand-overs. Returns the interventions and those people (to be registered at AF)."""
    births = birth_dates(people["personnummer"])
    twentieth = births + pd.DateOffset(years=20)
    base = pd.Timestamp(as_of)
    soon = ((twentieth >= base) & (twentieth <= base + pd.Timedelta(days=60))).to_numpy()
    rows = interventions
    ongoing = ((rows["start_date"] <= base) & (rows["end_date"].isna() | (rows["end_date"] >= base))).to_numpy()
    eligible = np.flatnonzero(ongoing & soon[rows["person"].to_numpy()] & ~rows["protected"].to_numpy(dtype=bool))
    chosen = rng.permutation(eligible)[:count] if len(eligible) else eligible
    rows = rows.copy()
    rows.loc[rows.index[chosen], "insats_code"] = "KAA"
    return rows, np.unique(rows["person"].to_numpy()[chosen])


def draw_registrations(people: pd.DataFrame, interventions: pd.DataFrame, assignments: pd.DataFrame,
                       as_of: dt.date, rng: np.random.Generator,
                       always: np.ndarray | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per registration: person, registration_id, start_date, end_date, reason,
    af_office, consent, jobseeker_category."""
    base = pd.Timestamp(as_of)
    counted = assignments[assignments["status"] != "cancelled"]
    first_af = counted.groupby("person")["start_date"].min()
    # The last end, or none while any assignment is open (vectorized: a lambda per person is slow at scale).
    by_person = counted.groupby("person")["end_date"]
    last_af = by_person.max().where(~counted["end_date"].isna().groupby(counted["person"]).any())
    first_m = interventions.groupby("person")["start_date"].min()
    people_index = np.arange(len(people))
    rows = []
    with_af = first_af.index.to_numpy()
    start = first_af.to_numpy() - pd.to_timedelta(rng.integers(0, 61, len(with_af)), unit="D")
    ended = last_af.reindex(with_af).to_numpy()
    long_ago = ~pd.isna(ended) & (ended < (base - pd.Timedelta(days=60)).to_datetime64())
    end = np.where(long_ago, ended + pd.to_timedelta(rng.integers(0, 21, len(with_af)), unit="D"), np.datetime64("NaT"))
    rows.append(pd.DataFrame({"person": with_af, "start_date": start, "end_date": end}))
    only_m = np.setdiff1d(first_m.index.to_numpy(), with_af)
    chosen = only_m[(rng.random(len(only_m)) < 0.5) | np.isin(only_m, always if always is not None else [])]
    youth = people["youth"].to_numpy()[chosen]
    recent = base - pd.to_timedelta(rng.integers(0, 160, len(chosen)), unit="D")
    around = first_m.reindex(chosen).to_numpy() - pd.to_timedelta(rng.integers(-30, 90, len(chosen)), unit="D")
    begin = np.where(youth & (rng.random(len(chosen)) < 0.6), recent.to_numpy(), around)
    begin = np.minimum(begin, base.to_datetime64())
    rows.append(pd.DataFrame({"person": chosen, "start_date": begin, "end_date": np.datetime64("NaT")}))
    nobody = np.setdiff1d(people_index, np.r_[with_af, only_m])
    young = nobody[people["youth"].to_numpy()[nobody] & (rng.random(len(nobody)) < 0.3)]
    rows.append(pd.DataFrame({"person": young, "start_date": base - pd.to_timedelta(rng.integers(0, 160, len(young)),
                                                                                    unit="D"),
                              "end_date": np.datetime64("NaT")}))  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    frame["start_date"] = pd.to_datetime(frame["start_date"]).astype("datetime64[s]")
    frame["end_date"] = pd.to_datetime(frame["end_date"]).astype("datetime64[s]")
    frame = _split_some(frame, base, rng)
    frame["reason"] = np.where(frame["end_date"].isna(), "",
                               rng.choice(["work", "studies", "other", "unknown"], len(frame)))  # fmt: skip
    frame["af_office"] = people["af_office"].to_numpy()[frame["person"]]
    frame["consent"] = rng.random(len(frame)) < 0.85
    frame["jobseeker_category"] = rng.choice(_CATEGORIES, len(frame))
    frame = frame.sort_values(["start_date", "person"], kind="stable", ignore_index=True)
    frame["registration_id"] = [f"I{n:09d}" for n in 300_000_000 + np.cumsum(rng.integers(1, 30, len(frame)))]
    return frame


def _split_some(frame: pd.DataFrame, base: pd.Timestamp, rng) -> pd.DataFrame:
    """A tenth of the registrations longer than 120 days split in two around a gap."""
    length = (frame["end_date"].fillna(base) - frame["start_date"]).dt.days
    split = (length > 120) & (rng.random(len(frame)) < 0.1)
    first = frame[split].copy()
    cut = first["start_date"] + pd.to_timedelta(rng.integers(20, 60, len(first)), unit="D")
    gap = rng.choice([5, 30, 31, 60], len(first))
    second = first.copy()
    first["end_date"] = cut
    second["start_date"] = cut + pd.to_timedelta(gap, unit="D")
    keep = second["end_date"].isna() | (second["end_date"] >= second["start_date"])
    second = second[keep & (second["start_date"] <= base)]
    return pd.concat([frame[~split], first, second], ignore_index=True)


def registration_text(frame: pd.DataFrame, personnummer: pd.Series) -> bytes:
    """The delivery as AF's export writes it (semicolons, UTF-8, AF's own reason codes)."""
    export = REGISTRATION_EXPORT
    text = pd.DataFrame({
        "Personnummer": number_text(personnummer.reset_index(drop=True), export.number_style),
        "Inskrivnings-ID": frame["registration_id"].to_numpy(),
        "Inskrivningsdatum": date_text(frame["start_date"], export.date_format).to_numpy(),
        "Avaktualiseringsdatum": date_text(frame["end_date"], export.date_format).to_numpy(),
        "Avaktualiseringsorsak": frame["reason"].map(_REASON_TEXT).fillna("").to_numpy(),
        "Sökandekategori": frame["jobseeker_category"].to_numpy(),
        "Arbetsförmedlingskontor": frame["af_office"].to_numpy(),
        "Samtycke": np.where(frame["consent"], "Ja", "Nej"),
    })  # fmt: skip
    return text.to_csv(index=False, sep=export.delimiter, lineterminator="\n").encode(export.encoding)


# --- the truth -----------------------------------------------------------------------------------


def as_day(value) -> dt.date | None:
    """A delivered date cell as a date, None where empty."""
    return None if pd.isna(value) else pd.Timestamp(value).date()


def records_by_person(interventions: pd.DataFrame, assignments: pd.DataFrame,
                      registrations: pd.DataFrame) -> tuple[dict, dict, dict]:  # fmt: skip
    """Each person's municipal interventions, AF assignments not cancelled and registrations
    (rows), for the truths that go one person at a time."""
    m_of, a_of, r_of = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in interventions.itertuples():
        m_of[row.person].append(row)
    for row in assignments.itertuples():
        if row.status != "cancelled":
            a_of[row.person].append(row)
    for row in registrations.itertuples():
        r_of[row.person].append(row)
    return m_of, a_of, r_of


def _age_band(born: dt.date | None, on: dt.date) -> str:
    if born is None:
        return "unknown"
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return "16-19" if 16 <= age <= 19 else "20-24" if 20 <= age <= 24 else "other"


def truth(people: pd.DataFrame, interventions: pd.DataFrame, assignments: pd.DataFrame, registrations: pd.DataFrame,
          as_of: dt.date) -> dict[str, pd.DataFrame]:  # fmt: skip
    """The transition list's registration-keyed rows (cut-off = as-of), the youth monitor and
    the hand-overs, from the accepted rows, by ids: one person at a time, day by day."""
    births = birth_dates(people["personnummer"])
    birth_days = births.to_numpy()
    m_of, a_of, r_of = records_by_person(interventions, assignments, registrations)
    transitions, youth, handovers = [], [], []
    twenty_days = 60
    for person, regs in r_of.items():
        born = as_day(birth_days[person])
        plain = [{"id": r.registration_id, "start": as_day(r.start_date), "end": as_day(r.end_date),
                  "office": r.af_office, "consent": bool(r.consent),
                  "age_band": _age_band(born, as_day(r.start_date))} for r in regs]  # fmt: skip
        current = [r for r in plain if r["start"] <= as_of and (r["end"] is None or r["end"] >= as_of)]
        current = min(current, key=lambda r: (-r["start"].toordinal(), r["id"])) if current else None
        m_rows, a_rows = m_of.get(person, []), a_of.get(person, [])
        if current and not a_rows:
            for m in m_rows:
                end = as_day(m.end_date)
                if as_day(m.start_date) <= as_of and (end is None or end > as_of):
                    transitions.append({"registration_id": current["id"], "af_office": current["office"],
                                        "kommunkod": m.kommunkod, "record_id": m.record_id, "planned_end": end,
                                        "municipal_consent": bool(m.consent), "af_consent": current["consent"]})  # fmt: skip
        starts = [as_day(a.start_date) for a in a_rows] + [as_day(m.start_date) for m in m_rows]
        kommuner = _records(m_rows, as_of)
        # A spell's age band is that of a registration of the person's: without a young one, no
        # spell can be a youth spell (skipping the day-by-day walk keeps the truth quick at scale).
        young = any(r["age_band"] in YOUTH for r in plain)
        for spell in youth_spells([r for r in plain if r["start"] <= as_of], as_of) if young else ():
            if spell["age_band"] not in YOUTH or (not spell["open"] and (as_of - spell["last"]).days > 365):
                continue
            status, days = youth_status(spell, starts, as_of)
            for kommunkod, (record_id, consent) in (kommuner.items() or [(None, (None, False))]):
                youth.append({"registration_id": spell["registration_id"], "af_office": spell["af_office"],
                              "status": status, "days_to_start": days, "kommunkod": kommunkod,
                              "record_id": record_id, "af_consent": spell["consent"]})  # fmt: skip
        if current:
            af_periods = [(as_day(a.start_date), as_day(a.end_date)) for a in a_rows]
            for m in m_rows:
                end = as_day(m.end_date)
                if end is not None and abs((end - as_of).days) <= 30 and nothing_next(end, af_periods):
                    handovers.append({"kind": "insats_slut_utan_af", "kommunkod": m.kommunkod, "record_id": m.record_id,
                                      "id": current["id"], "ends_on": end})  # fmt: skip
            turns = _birthday(born, 20)
            for m in m_rows:
                end = as_day(m.end_date)
                if (m.insats_code == "KAA" and as_day(m.start_date) <= as_of and (end is None or end >= as_of)
                        and turns is not None and 0 <= (turns - as_of).days <= twenty_days
                        and current["start"] < turns):  # fmt: skip
                    handovers.append({"kind": "kaa_slutar", "kommunkod": m.kommunkod, "record_id": m.record_id,
                                      "id": current["id"], "ends_on": turns})  # fmt: skip
    for person, a_rows in a_of.items():
        m_rows = m_of.get(person, [])
        if not m_rows:
            continue
        periods = [(as_day(a.start_date), as_day(a.end_date)) for a in a_rows] + [(as_day(m.start_date), as_day(m.end_date))
                                                                           for m in m_rows]  # fmt: skip
        kommuner = _records(m_rows, as_of)
        for a in a_rows:
            end = as_day(a.end_date)
            if end is not None and abs((end - as_of).days) <= 30 and nothing_next(end, periods):
                for kommunkod, (record_id, _) in kommuner.items():
                    handovers.append({"kind": "af_slut_utan_fortsattning", "kommunkod": kommunkod,
                                      "record_id": record_id, "id": a.assignment_id, "ends_on": end})  # fmt: skip
    youth_frame = pd.DataFrame(youth, columns=["registration_id", "af_office", "status", "days_to_start", "kommunkod",
                                               "record_id", "af_consent"])  # fmt: skip
    youth_frame["days_to_start"] = youth_frame["days_to_start"].astype("Int64")
    return {"transition_list": pd.DataFrame(transitions), "youth_monitor": youth_frame,
            "handovers": pd.DataFrame(handovers)}  # fmt: skip


def _records(m_rows, as_of: dt.date) -> dict[str, tuple[str, bool]]:
    """Per kommun: the most relevant record (the latest started by as-of, else the next;
    ties: the lowest id) and its consent."""
    best: dict[str, tuple] = {}
    for m in m_rows:
        start = as_day(m.start_date)
        rank = (0, -start.toordinal()) if start <= as_of else (1, start.toordinal())
        key = (*rank, m.record_id)
        if m.kommunkod not in best or key < best[m.kommunkod][0]:
            best[m.kommunkod] = (key, m.record_id, bool(m.consent))
    return {k: (v[1], v[2]) for k, v in best.items()}


def _birthday(born: dt.date | None, years: int) -> dt.date | None:
    if born is None:
        return None
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return dt.date(born.year + years, 3, 1)
