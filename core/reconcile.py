"""Reconcile: find overlapping interventions, classify them, build AF's transition list.

Pure functions, DataFrame in, DataFrame out; the inputs are the ingested datasets
(`MunicipalInterventions`, `AfAssignments`). `reconcile` composes the building blocks
below and validates its three datasets against the models in `schemas/reconciled.py`
(the building blocks do not validate: pandera costs more than they do on small inputs).

Periods are whole days with both ends inclusive: an intervention ending 2021-09-29 and an
assignment starting 2021-09-29 share one day. An empty end means ongoing. A person is a
pseudonym *under its key id*: the same pseudonym under another key id is nobody in
particular, so it never links. Cancelled AF assignments never count.

How the join stays near-linear: two periods of one person overlap exactly when one of
them starts on a day within the other (the one that starts later, or either on a tie).
So every overlapping pair is found by a range search on sorted (person, start) keys,
once for "the AF assignment starts within the intervention" and once for "the
intervention starts strictly within the assignment"; each range holds only true pairs.
Memory is O(input + output), however many records one person has (a person with
hundreds of sequential records costs only their real overlaps, not their square).
"""

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from core.gates import CONSENT_FOR, PROTECTED, consent_columns, prepare, protect_people
from core.ingest import cast_to_model
from core.registrations import person_codes, registration_transitions
from core.validate import validated
from schemas.errors import ConfigError
from schemas.municipalities import municipality_names
from schemas.reconciled import (
    MunicipalOverlaps,
    Overlaps,
    ReconciliationParameters,
    TransitionList,
)
from schemas.rules import CLASSES, RuleTable

CANCELLED = "cancelled"
UNKNOWN_AGE_BAND = "unknown"

# Dates become day numbers (days since 1970-01-01); an open end is a day after every real one.
OPEN_END = 2**31 - 1
# A (person, day) pair packed into one sortable int64: person in the high 32 bits, the day
# shifted to be non-negative in the low 32 bits. Person codes stay far below 2**31.
_DAY_BITS = 32
_DAY_SHIFT = 2**31


@dataclass(frozen=True)
class Window:
    """The days an overlap must touch to be reported for samplanering, around the as-of date
    (the defaults are settings: `orchestration/settings.py`)."""

    look_back_days: int
    look_ahead_days: int

    def __post_init__(self) -> None:
        if self.look_back_days < 0 or self.look_ahead_days < 0:
            raise ValueError(f"window days must not be negative: got {self.look_back_days} / {self.look_ahead_days}")


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation run: its parameters and its three datasets."""

    as_of: dt.date
    window: Window
    cut_off: dt.date
    kommuner: tuple[str, ...] | None  # None: every kommun
    rules_version: str
    key_ids: tuple[str, ...]  # the pseudonym key ids of the data it linked
    overlaps: pd.DataFrame  # Overlaps
    municipal_overlaps: pd.DataFrame  # MunicipalOverlaps
    transition_list: pd.DataFrame  # TransitionList

    def parameters(self) -> pd.DataFrame:
        """The run's parameters as data (`ReconciliationParameters`): one row per key id."""
        frame = pd.DataFrame({
            "as_of": pd.Timestamp(self.as_of), "cut_off": pd.Timestamp(self.cut_off),
            "look_back_days": self.window.look_back_days, "look_ahead_days": self.window.look_ahead_days,
            "rules_version": self.rules_version, "key_id": list(self.key_ids),
        }, columns=list(ReconciliationParameters.to_schema().columns))  # fmt: skip
        return validated(frame.astype({"as_of": "datetime64[s]", "cut_off": "datetime64[s]", "look_back_days": "int64",
                                       "look_ahead_days": "int64", "key_id": "str"}), ReconciliationParameters)  # fmt: skip


def check_kommuner(kommuner: Collection[str], declared: Collection[str], where: object) -> None:
    """Every kommunkod asked for is one of a declared municipal source's (`where`: the sources file)."""
    unknown = sorted(set(kommuner) - set(declared))
    if unknown:
        raise ConfigError(
            f"kommuner: got {', '.join(map(repr, unknown))}: not the kommunkod of any municipal source in "
            f"{where} (declared: {', '.join(sorted(declared))})"
        )


# --- days and people as integers ---------------------------------------------------------


def _day_numbers(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as int64; an empty date (an open end) is OPEN_END."""
    days = dates.to_numpy().astype("datetime64[D]")
    return np.where(np.isnat(days), OPEN_END, days.astype(np.int64))


def _dates(days: np.ndarray) -> np.ndarray:
    """datetime64[s] (the datasets' unit) from day numbers; OPEN_END becomes NaT."""
    dates = days.astype("datetime64[D]").astype("datetime64[s]")
    dates[days == OPEN_END] = np.datetime64("NaT")
    return dates


def _day_number(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _person_codes(*frames: pd.DataFrame) -> list[np.ndarray]:
    """One integer per (pseudonym, key id), equal across `frames`."""
    pseudonyms, _ = pd.factorize(pd.concat([frame["pseudonym"] for frame in frames], ignore_index=True))
    key_ids, distinct_key_ids = pd.factorize(pd.concat([frame["key_id"] for frame in frames], ignore_index=True))
    codes = pseudonyms.astype(np.int64) * len(distinct_key_ids) + key_ids
    return np.split(codes, np.cumsum([len(frame) for frame in frames])[:-1])


@dataclass(frozen=True)
class _Periods:
    """A frame's periods as day numbers, with its rows sorted by (person, start)."""

    person: np.ndarray
    start: np.ndarray
    end: np.ndarray
    order: np.ndarray  # row positions sorted by (person, start)
    sorted_keys: np.ndarray  # _key(person, start) in that order

    @classmethod
    def of(cls, frame: pd.DataFrame, person: np.ndarray) -> "_Periods":
        start, end = _day_numbers(frame["start_date"]), _day_numbers(frame["end_date"])
        keys = _key(person, start)
        order = np.argsort(keys, kind="stable")
        return cls(person, start, end, order, keys[order])


def _key(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (person << _DAY_BITS) | (day + _DAY_SHIFT)


def _starting_within(queries: _Periods, targets: _Periods, days_after_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (query row, target row) of one person where the target starts on a day from
    the query's start + `days_after_start` to the query's end, both inclusive.

    Queries are searched in sorted order: random needles thrash the cache at scale.
    """
    person = queries.person[queries.order]
    lowest = _key(person, queries.start[queries.order] + days_after_start)
    highest = _key(person, queries.end[queries.order])
    first = np.searchsorted(targets.sorted_keys, lowest, side="left")
    counts = np.maximum(np.searchsorted(targets.sorted_keys, highest, side="right") - first, 0)
    query_rows = np.repeat(queries.order, counts)
    # Position of each pair within its range, added to the range's first target.
    block_starts = np.cumsum(counts) - counts
    positions = np.arange(counts.sum()) + np.repeat(first - block_starts, counts)
    return query_rows, targets.order[positions]


# --- overlaps between municipal interventions and AF assignments -------------------------


def find_overlaps(municipal: pd.DataFrame, af: pd.DataFrame, as_of: dt.date,
                  persons: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:  # fmt: skip
    """Every municipal intervention × non-cancelled AF assignment of one person that share
    at least one day, with the shared period and the two flags (`Overlaps` without
    the class, the rule id and `in_window`).

    - `overlap_end` is empty only when both periods are open; `overlap_days` counts the
      shared days on or before `as_of` (0 for an overlap that lies ahead).
    - `interruption_risk`: the assignment starts after the intervention started (and so,
      sharing a day, while it is still going on): the case where AF's start breaks off
      the municipal intervention.
    - `upcoming`: the assignment is decided (decision date on or before `as_of`, or not
      given: being in AF's register is the decision) and starts after `as_of`.
    Rows are in the order of the municipal rows, then the AF rows. `persons`: the frames'
    person codes from `_person_codes`, when the caller has them already.
    """
    municipal_person, af_person = persons or _person_codes(municipal, af)
    municipal, af = consent_columns(municipal, as_of), consent_columns(af, as_of)
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool)
    af, af_person = af[kept], af_person[kept]
    m, a = _Periods.of(municipal, municipal_person), _Periods.of(af, af_person)
    m_first, a_within = _starting_within(m, a, 0)  # the assignment starts within the intervention
    a_first, m_within = _starting_within(a, m, 1)  # the intervention starts strictly later: ties are above
    m_rows, a_rows = np.r_[m_first, m_within], np.r_[a_within, a_first]
    order = np.lexsort((a_rows, m_rows))
    m_rows, a_rows = m_rows[order], a_rows[order]

    start = np.maximum(m.start[m_rows], a.start[a_rows])
    end = np.minimum(m.end[m_rows], a.end[a_rows])
    as_of_day = _day_number(as_of)
    decision = af["decision_date"].to_numpy()[a_rows]
    decided = np.isnat(decision) | (decision <= np.datetime64(as_of, "s"))
    m_extent = municipal["extent_pct"].to_numpy(dtype=float)[m_rows]
    a_extent = af["extent_pct"].to_numpy(dtype=float)[a_rows]

    return pd.DataFrame({
        "pseudonym": municipal["pseudonym"].array.take(m_rows),
        "key_id": municipal["key_id"].array.take(m_rows),
        "age_band": _age_band(municipal["age_band"].array.take(m_rows), af["age_band"].array.take(a_rows)),
        "municipal_source_id": municipal["source_id"].array.take(m_rows),
        "kommunkod": municipal["kommunkod"].array.take(m_rows),
        "record_id": municipal["record_id"].array.take(m_rows),
        "insats_code": municipal["insats_code"].array.take(m_rows),
        "municipal_category": municipal["category"].array.take(m_rows),
        "municipal_extent_pct": m_extent,
        "municipal_consent": municipal["consent"].to_numpy(dtype=bool)[m_rows],
        "municipal_consent_for": municipal[CONSENT_FOR].array.take(m_rows),
        "af_source_id": af["source_id"].array.take(a_rows),
        "assignment_id": af["assignment_id"].array.take(a_rows),
        "programme_code": af["programme_code"].array.take(a_rows),
        "af_category": af["category"].array.take(a_rows),
        "af_office": af["af_office"].array.take(a_rows),
        "af_extent_pct": a_extent,
        "af_consent": af["consent"].to_numpy(dtype=bool)[a_rows],
        "af_consent_for": af[CONSENT_FOR].array.take(a_rows),
        "protected_identity": municipal[PROTECTED].to_numpy(dtype=bool)[m_rows] | af[PROTECTED].to_numpy(dtype=bool)[a_rows],
        "overlap_start": _dates(start),
        "overlap_end": _dates(end),
        "overlap_days": np.maximum(np.minimum(end, as_of_day) - start + 1, 0),
        "combined_extent_pct": m_extent + a_extent,
        "interruption_risk": a.start[a_rows] > m.start[m_rows],
        "upcoming": decided & (a.start[a_rows] > as_of_day),
    })


def _age_band(first: ExtensionArray, second: ExtensionArray) -> ExtensionArray:
    """The first side's age band, or the second's where the first is unknown (a partner
    that pseudonymized at source sends no birth date)."""
    bands = first.copy()
    unknown = (bands == UNKNOWN_AGE_BAND).to_numpy(dtype=bool)
    bands[unknown] = second[unknown]
    return bands


def classify(pairs: pd.DataFrame, rules: RuleTable) -> pd.DataFrame:
    """`pairs` with `classification` and `rule_id`: the rule table's class for the category
    pair, unless the combined extent is above the extent rule's limit, which makes the
    overlap a conflict. The extent rule is recorded only where it changed the class: a
    pair the table already calls a conflict keeps the table's (more specific) rule."""
    position = {(rule.municipal, rule.af): i for i, rule in enumerate(rules.rules)}
    # Few distinct categories: look each combination up once, then index by codes.
    municipal, municipal_categories = pd.factorize(pairs["municipal_category"])
    af, af_categories = pd.factorize(pairs["af_category"])
    by_codes = np.array(
        [[position.get((m, a), -1) for a in af_categories] for m in municipal_categories], dtype=np.int64
    ).reshape(len(municipal_categories), len(af_categories))
    rule = by_codes[municipal, af]
    if (rule < 0).any():
        unknown = pairs.loc[rule < 0, ["municipal_category", "af_category"]].drop_duplicates()
        named = ", ".join(f"{m!r} × {a!r}" for m, a in unknown.itertuples(index=False))
        raise ConfigError(
            f"the rule table (version {rules.version}) has no rule for {named}: "
            "was it checked against the catalogue the data was ingested with?"
        )
    classes = np.array([rule.classification for rule in rules.rules] + ["conflict"], dtype=object)
    rule_ids = np.array([rule.id for rule in rules.rules] + [rules.extent_rule.id], dtype=object)
    over_full_time = pairs["combined_extent_pct"].to_numpy() > rules.extent_rule.above_pct
    # The deciding rule: a rule of the table, or one past its end for the extent rule.
    decider = np.where(over_full_time & (classes[rule] != "conflict"), len(rules.rules), rule)
    return pairs.assign(
        classification=pd.array(classes[decider], dtype="string"), rule_id=pd.array(rule_ids[decider], dtype="string")
    )


# --- the same person in two municipalities -----------------------------------------------


def find_municipal_overlaps(municipal: pd.DataFrame, as_of: dt.date, person: np.ndarray | None = None) -> pd.DataFrame:
    """Every pair of one person's interventions in two different municipalities (by
    kommunkod) that share at least one day, each pair once with the lower kommunkod
    first (`MunicipalOverlaps` without `in_window`). Rows are in the order of the first
    row of each pair."""
    if person is None:
        (person,) = _person_codes(municipal)
    # The gates' columns (`core/gates.py`): each side's consent on the as-of date, protection.
    municipal = consent_columns(protect_people(municipal)[0], as_of)
    m = _Periods.of(municipal, person)
    # One search finds every pair: in a self-join the later-starting side is always a
    # target; on a tie both orders are found, and the one with the lower row is kept.
    first, second = _starting_within(m, m, 0)
    kommun, _ = pd.factorize(municipal["kommunkod"], sort=True)
    keep = (kommun[first] != kommun[second]) & ((m.start[first] < m.start[second]) | (first < second))
    first, second = first[keep], second[keep]
    swap = kommun[first] > kommun[second]
    first, second = np.where(swap, second, first), np.where(swap, first, second)
    order = np.lexsort((second, first))
    first, second = first[order], second[order]

    start = np.maximum(m.start[first], m.start[second])
    end = np.minimum(m.end[first], m.end[second])
    extent = municipal["extent_pct"].to_numpy(dtype=float)
    consent = municipal["consent"].to_numpy(dtype=bool)

    def side(rows: np.ndarray, prefix: str) -> dict:
        return {
            f"{prefix}source_id": municipal["source_id"].array.take(rows),
            f"{prefix}kommunkod": municipal["kommunkod"].array.take(rows),
            f"{prefix}record_id": municipal["record_id"].array.take(rows),
            f"{prefix}insats_code": municipal["insats_code"].array.take(rows),
            f"{prefix}category": municipal["category"].array.take(rows),
            f"{prefix}extent_pct": extent[rows],
            f"{prefix}consent": consent[rows],
            f"{prefix}consent_for": municipal[CONSENT_FOR].astype("string").array.take(rows),
        }

    return pd.DataFrame({
        "pseudonym": municipal["pseudonym"].array.take(first),
        "key_id": municipal["key_id"].array.take(first),
        "age_band": _age_band(municipal["age_band"].array.take(first), municipal["age_band"].array.take(second)),
        **side(first, ""),
        **side(second, "other_"),
        "overlap_start": _dates(start),
        "overlap_end": _dates(end),
        "overlap_days": np.maximum(np.minimum(end, _day_number(as_of)) - start + 1, 0),
        "combined_extent_pct": extent[first] + extent[second],
        # One person: protected in one record is protected in both (`protect_people`).
        PROTECTED: municipal[PROTECTED].to_numpy(dtype=bool)[first],
    })


# --- the reporting window ----------------------------------------------------------------


def window_mask(overlaps: pd.DataFrame, as_of: dt.date, look_back_days: int, look_ahead_days: int) -> np.ndarray:
    """Whether each overlap shares a day with [as_of − look_back_days, as_of + look_ahead_days];
    an ongoing overlap touches it when it starts on or before the window's last day."""
    as_of_day = _day_number(as_of)
    start, end = _day_numbers(overlaps["overlap_start"]), _day_numbers(overlaps["overlap_end"])  # open: OPEN_END
    return (start <= as_of_day + look_ahead_days) & (end >= as_of_day - look_back_days)


def in_window(overlaps: pd.DataFrame, as_of: dt.date, look_back_days: int, look_ahead_days: int) -> pd.DataFrame:
    """Only the overlaps that touch the window (see `window_mask`)."""
    return overlaps[window_mask(overlaps, as_of, look_back_days, look_ahead_days)]


# --- AF's transition list ----------------------------------------------------------------


def transition_list(municipal: pd.DataFrame, af: pd.DataFrame, as_of: dt.date, cut_off: dt.date,
                    persons: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:  # fmt: skip
    """For AF: the municipal interventions that have started on or before `as_of` and are
    planned to continue past `cut_off` (open, or ending after it; `cut_off` is not before
    `as_of`, so they are ongoing), of people with a non-cancelled assignment in AF's data
    (`TransitionList`).

    Each row is keyed by the person's most relevant AF assignment: the ongoing one that
    started last, else the next upcoming one, else the one that ended last (ties: the
    lowest assignment id). It never holds a pseudonym or a municipal record id; rows
    that would be identical without them are listed once.
    """
    if cut_off < as_of:
        raise ValueError(f"the cut-off {cut_off} is before the as-of date {as_of}")
    as_of_day, cut_off_day = _day_number(as_of), _day_number(cut_off)
    start, end = _day_numbers(municipal["start_date"]), _day_numbers(municipal["end_date"])
    continuing = (start <= as_of_day) & (end > cut_off_day)  # an open end is OPEN_END
    m_person, af_person = persons or _person_codes(municipal, af)
    municipal, af = consent_columns(municipal, as_of), consent_columns(af, as_of)
    municipal, end, m_person = municipal[continuing], end[continuing], m_person[continuing]
    kept = (af["status"] != CANCELLED).to_numpy(dtype=bool)
    af, af_person = af[kept], af_person[kept]
    on_the_list = np.isin(af_person, m_person)  # only they need a reference assignment
    af, af_person = af[on_the_list], af_person[on_the_list]

    af_start, af_end = _day_numbers(af["start_date"]), _day_numbers(af["end_date"])
    upcoming, ended = af_start > as_of_day, af_end < as_of_day
    tier = np.select([upcoming, ended], [1, 2], 0)  # 0: ongoing
    recency = np.select([upcoming, ended], [af_start, -af_end], -af_start)  # lower is more relevant
    id_rank, _ = pd.factorize(af["assignment_id"], sort=True)
    order = np.lexsort((id_rank, recency, tier, af_person))  # by person, then the most relevant first
    persons, first_of_person = np.unique(af_person[order], return_index=True)
    most_relevant = order[first_of_person]

    in_af = np.isin(m_person, persons)
    m_rows = np.flatnonzero(in_af)
    a_rows = most_relevant[np.searchsorted(persons, m_person[in_af])]
    listed = pd.DataFrame({
        "assignment_id": af["assignment_id"].array.take(a_rows),
        "registration_id": pd.array([pd.NA] * len(a_rows), dtype="string"),
        "keyed_by": "assignment_id",
        "af_office": af["af_office"].array.take(a_rows),
        "kommunkod": municipal["kommunkod"].array.take(m_rows),
        "intervention_category": municipal["category"].array.take(m_rows),
        "planned_end": _dates(end[m_rows]),
        "municipal_consent": municipal["consent"].to_numpy(dtype=bool)[m_rows],
        "af_consent": af["consent"].to_numpy(dtype=bool)[a_rows],
        "municipal_consent_for": municipal[CONSENT_FOR].array.take(m_rows),
        "af_consent_for": af[CONSENT_FOR].array.take(a_rows),
        "protected_identity": municipal[PROTECTED].to_numpy(dtype=bool)[m_rows] | af[PROTECTED].to_numpy(dtype=bool)[a_rows],
    })
    return (
        listed.drop_duplicates()
        .sort_values(["af_office", "assignment_id", "registration_id", "kommunkod", "intervention_category",
                      "planned_end"])
        .reset_index(drop=True)
    )


def with_registrations(listed: pd.DataFrame, municipal: pd.DataFrame, af: pd.DataFrame,
                       registrations: pd.DataFrame, as_of: dt.date, cut_off: dt.date) -> pd.DataFrame:  # fmt: skip
    """The transition list completed with the people registered at AF on `as_of` who have no
    assignment there (`core.registrations.registration_transitions`), keyed by registration."""
    m_person, a_person, r_person = person_codes(municipal, af, registrations)
    with_assignment = a_person[(af["status"] != CANCELLED).to_numpy(dtype=bool)]
    added = registration_transitions(municipal, registrations, as_of, cut_off, with_assignment, (m_person, r_person))
    listed = cast_to_model(pd.concat([listed, added], ignore_index=True), TransitionList)
    return listed.sort_values(
        ["af_office", "keyed_by", "assignment_id", "registration_id", "kommunkod", "intervention_category",
         "planned_end"], na_position="first").reset_index(drop=True)  # fmt: skip


# --- the whole reconciliation ------------------------------------------------------------


def reconcile(
    municipal: pd.DataFrame,
    af: pd.DataFrame,
    rules: RuleTable,
    as_of: dt.date,
    window: Window,
    cut_off: dt.date,
    kommuner: Collection[str] | None = None,
    registrations: pd.DataFrame | None = None,
) -> Reconciliation:
    """Overlaps (classified, each marked `in_window`), municipal overlaps and the
    transition list as of `as_of`.

    `kommuner` (an ad-hoc run for some municipalities; None or empty: all) limits the
    municipal interventions considered; a municipal overlap is kept when either of its
    two municipalities is among them, since both need to know of it.
    """
    if cut_off < as_of:
        raise ConfigError(f"cut_off: got {cut_off}: it must not be before the as-of date {as_of}")
    selected = tuple(sorted(kommuner)) if kommuner else None
    # The gates' columns: each row's consent on the as-of date, protection by person.
    municipal, af, registrations = prepare(as_of, municipal, af, registrations)
    # One person code per (pseudonym, key id) for all three searches: factorizing the
    # pseudonyms is the costliest step, so it is done once.
    municipal_person, af_person = _person_codes(municipal, af)
    in_scope, in_scope_person = municipal, municipal_person
    if selected is not None:
        scope = municipal["kommunkod"].isin(selected).to_numpy(dtype=bool)
        in_scope, in_scope_person = municipal[scope], municipal_person[scope]
    days = (window.look_back_days, window.look_ahead_days)

    overlaps = classify(find_overlaps(in_scope, af, as_of, persons=(in_scope_person, af_person)), rules)
    overlaps["in_window"] = window_mask(overlaps, as_of, *days)

    municipal_overlaps = find_municipal_overlaps(municipal, as_of, person=municipal_person)
    if selected is not None:
        touched = municipal_overlaps["kommunkod"].isin(selected) | municipal_overlaps["other_kommunkod"].isin(selected)
        municipal_overlaps = municipal_overlaps[touched.to_numpy(dtype=bool)].reset_index(drop=True)
    municipal_overlaps["in_window"] = window_mask(municipal_overlaps, as_of, *days)
    listed = transition_list(in_scope, af, as_of, cut_off, persons=(in_scope_person, af_person))
    if registrations is not None and len(registrations):
        listed = with_registrations(listed, in_scope, af, registrations, as_of, cut_off)

    key_ids = pd.concat([in_scope["key_id"], af["key_id"]], ignore_index=True).dropna().unique()
    return Reconciliation(
        as_of=as_of,
        window=window,
        cut_off=cut_off,
        kommuner=selected,
        rules_version=rules.version,
        key_ids=tuple(sorted(str(k) for k in key_ids)),
        overlaps=validated(overlaps, Overlaps),
        municipal_overlaps=validated(municipal_overlaps, MunicipalOverlaps),
        transition_list=validated(listed, TransitionList),
    )



# --- a summary for people ----------------------------------------------------------------

def summary_by_kommun(overlaps: pd.DataFrame, transition_list: pd.DataFrame) -> pd.DataFrame:
    """Counts per kommun: overlaps (all / in window / by class / flagged) and transition list rows."""
    flags = overlaps.assign(**{name: overlaps["classification"] == name for name in CLASSES}, overlaps=1)
    counts = flags.groupby("kommunkod").agg(
        overlaps=("overlaps", "sum"),
        in_window=("in_window", "sum"),
        **{name: (name, "sum") for name in CLASSES},
        interruption_risk=("interruption_risk", "sum"),
        upcoming=("upcoming", "sum"),
    )
    listed = transition_list.groupby("kommunkod").size().rename("transition_list")
    table = counts.join(listed, how="outer").fillna(0).astype("int64").reset_index()
    table.insert(1, "kommun", table["kommunkod"].map(municipality_names()))
    return table
