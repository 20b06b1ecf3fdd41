"""Reconciliation: day boundaries, flags and rules by example, a brute-force oracle on
generated populations, the generator's planted overlaps, and the rule table's loader."""

import base64
import datetime as dt
import hashlib
import itertools
import tracemalloc

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ingest import ingest_source
from core.keys.keyring import pseudonym_keys
from core.reconcile import (
    Window,
    classify,
    find_municipal_overlaps,
    find_overlaps,
    in_window,
    reconcile,
    transition_list,
    window_mask,
)
from schemas.catalogue import default_catalogue
from schemas.datasets import AfAssignments, MunicipalInterventions
from schemas.errors import ConfigError
from schemas.reconciled import TransitionList
from schemas.rules import DEFAULT_RULES, default_rules, load_rules
from schemas.sources import AF_STATUSES, load_sources
from testkit.homes import AS_OF

CATALOGUE = default_catalogue()
RULES = default_rules()
RULE_OF = {(r.municipal, r.af): (r.classification, r.id) for r in RULES.rules}
KEY = "L1-A+L2-A"
OTHER_KEY = "L1-B+L2-A"


def pseudonym(name: str) -> str:
    """A well-formed level-2 pseudonym (52 base32 characters) for a made-up name."""
    return base64.b32encode(hashlib.sha256(name.encode()).digest()).decode().rstrip("=")


def day(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text)


def storage_types(model) -> dict:
    """Column → dtype as ingest stores the model's columns (dates in seconds)."""
    columns = model.to_schema().columns.items()
    return {
        name: pd.api.types.pandas_dtype("datetime64[s]" if str(c.dtype).startswith("datetime64") else str(c.dtype))
        for name, c in columns
    }


MUNICIPAL_TYPES, AF_TYPES = storage_types(MunicipalInterventions), storage_types(AfAssignments)


# The consent record as a delivery without those columns gives it: no dates, every scope, not protected.
RECORD_DEFAULTS = {"consent_valid_from": None, "consent_valid_to": None, "consent_withdrawn_on": None,
                   "consent_scope": "samplanering,uppfoljning", "protected_identity": False}  # fmt: skip


def typed(records: list[dict], types: dict) -> pd.DataFrame:
    return pd.DataFrame({name: pd.array([r.get(name, RECORD_DEFAULTS.get(name)) if name in RECORD_DEFAULTS
                                         else r.get(name, r.get("kommunkod")) if name == "home_kommunkod"
                                         else r[name] for r in records], dtype=dtype)
                         for name, dtype in types.items()})  # fmt: skip


def municipal_frame(*rows: dict) -> pd.DataFrame:
    """Municipal interventions typed as ingest types them; each row gives what differs."""
    records = []
    for i, row in enumerate(rows):
        row = {"person": "anna", "kommunkod": "1480", "code": "ARBETSTRANING", "extent": 50.0, **row}
        records.append({
            "source_id": f"k{row['kommunkod']}", "file": "insatser.csv", "line": i + 2,
            "pseudonym": pseudonym(row["person"]), "key_id": row.get("key_id", KEY),
            "age_band": row.get("age_band", "30-49"), "consent": row.get("consent", True),
            "start_date": day(row["start"]), "end_date": day(row.get("end")), "extent_pct": row["extent"],
            "kommunkod": row["kommunkod"], "record_id": row.get("record_id", f"M{i}"),
            "insats_code": row["code"], "category": CATALOGUE.intervention_categories[row["code"]],
        })  # fmt: skip
    return typed(records, MUNICIPAL_TYPES)


def af_frame(*rows: dict) -> pd.DataFrame:
    """AF assignments typed as ingest types them; each row gives what differs."""
    records = []
    for i, row in enumerate(rows):
        row = {"person": "anna", "code": "KROM", "extent": 50.0, "status": "ongoing", **row}
        records.append({
            "source_id": "af", "file": "anvisningar.csv", "line": i + 2,
            "pseudonym": pseudonym(row["person"]), "key_id": row.get("key_id", KEY),
            "age_band": row.get("age_band", "30-49"), "consent": row.get("consent", True),
            "start_date": day(row["start"]), "end_date": day(row.get("end")), "extent_pct": row["extent"],
            "assignment_id": row.get("assignment_id", f"A{i}"), "programme_code": row["code"],
            "category": CATALOGUE.programme_categories[row["code"]],
            "decision_date": day(row.get("decided", row["start"])),
            "af_office": row.get("office", "Arbetsförmedlingen Partille"), "status": row["status"],
        })  # fmt: skip
    return typed(records, AF_TYPES)


def overlaps_of(municipal: pd.DataFrame, af: pd.DataFrame, as_of=dt.date(2021, 12, 31)) -> pd.DataFrame:
    return classify(find_overlaps(municipal, af, as_of), RULES)


# --- day boundaries ------------------------------------------------------------------------


def test_ending_and_starting_on_the_same_day_overlap_by_one_day():
    found = overlaps_of(municipal_frame({"start": "2021-09-01", "end": "2021-09-29"}),
                        af_frame({"start": "2021-09-29", "end": "2021-12-31"}))  # fmt: skip
    assert len(found) == 1
    row = found.iloc[0]
    assert (row.overlap_start, row.overlap_end, row.overlap_days) == (day("2021-09-29"), day("2021-09-29"), 1)
    assert (row.record_id, row.assignment_id) == ("M0", "A0")


@pytest.mark.parametrize(
    ("municipal", "af"),
    [
        ({"start": "2021-09-01", "end": "2021-09-28"}, {"start": "2021-09-29", "end": "2021-12-31"}),
        ({"start": "2021-09-29", "end": None}, {"start": "2021-01-01", "end": "2021-09-28"}),
    ],
)
def test_adjacent_days_do_not_overlap(municipal, af):
    assert overlaps_of(municipal_frame(municipal), af_frame(af)).empty


def test_one_day_periods_on_the_same_day_overlap():
    found = overlaps_of(municipal_frame({"start": "2021-05-05", "end": "2021-05-05"}),
                        af_frame({"start": "2021-05-05", "end": "2021-05-05"}))  # fmt: skip
    assert found[["overlap_start", "overlap_end", "overlap_days"]].values.tolist() == [
        [day("2021-05-05"), day("2021-05-05"), 1]
    ]


@pytest.mark.parametrize(
    ("municipal_end", "af_end", "overlap_end", "days_to_as_of"),
    [
        (None, "2021-12-31", "2021-12-31", 31),  # the municipal side ongoing
        ("2021-12-31", None, "2021-12-31", 31),  # the AF side ongoing
        (None, None, None, 31),  # both ongoing: no end, days counted up to as-of
        ("2021-12-10", None, "2021-12-10", 10),
    ],
)
def test_open_ends_mean_ongoing(municipal_end, af_end, overlap_end, days_to_as_of):
    found = overlaps_of(municipal_frame({"start": "2021-12-01", "end": municipal_end}),
                        af_frame({"start": "2021-11-01", "end": af_end}), as_of=dt.date(2021, 12, 31))  # fmt: skip
    row = found.iloc[0]
    assert row.overlap_start == day("2021-12-01")
    assert (None if pd.isna(row.overlap_end) else row.overlap_end) == day(overlap_end)
    assert row.overlap_days == days_to_as_of


def test_an_overlap_after_the_as_of_date_has_no_days_yet():
    found = overlaps_of(municipal_frame({"start": "2022-02-01", "end": None}),
                        af_frame({"start": "2022-03-01", "end": "2022-04-30"}))  # fmt: skip
    assert found.overlap_days.tolist() == [0]


def test_cancelled_assignments_never_count():
    municipal = municipal_frame({"start": "2021-01-01", "end": None})
    af = af_frame({"start": "2021-03-01", "end": "2021-05-01", "status": "cancelled"},
                  {"start": "2021-06-01", "end": "2021-07-01", "status": "ended"})  # fmt: skip
    assert overlaps_of(municipal, af).assignment_id.tolist() == ["A1"]


def test_only_the_same_pseudonym_under_the_same_key_id_links():
    municipal = municipal_frame({"start": "2021-01-01", "end": None})
    af = af_frame({"start": "2021-03-01", "key_id": OTHER_KEY}, {"start": "2021-03-01", "person": "bertil"},
                  {"start": "2021-03-01"})  # fmt: skip
    assert overlaps_of(municipal, af).assignment_id.tolist() == ["A2"]


def test_many_periods_per_person_each_pair_once_in_input_order():
    municipal = municipal_frame({"start": "2021-01-01", "end": "2021-01-31"},
                                {"start": "2021-03-01", "end": "2021-03-31"})  # fmt: skip
    af = af_frame({"start": "2021-01-15", "end": "2021-03-05"}, {"start": "2021-01-20", "end": "2021-01-20"},
                  {"start": "2020-01-01", "end": None})  # fmt: skip
    found = overlaps_of(municipal, af)
    assert list(zip(found.record_id, found.assignment_id)) == [
        ("M0", "A0"), ("M0", "A1"), ("M0", "A2"), ("M1", "A0"), ("M1", "A2")]  # fmt: skip


# --- flags, rules and extent -------------------------------------------------------------


@pytest.mark.parametrize(
    ("af_start", "risk"),
    [("2021-03-01", True), ("2021-01-01", False), ("2020-12-01", False), ("2021-06-30", True)],
)
def test_interruption_risk_when_the_assignment_starts_during_the_intervention(af_start, risk):
    found = overlaps_of(municipal_frame({"start": "2021-01-01", "end": "2021-06-30"}),
                        af_frame({"start": af_start, "end": "2021-12-31"}))  # fmt: skip
    assert found.interruption_risk.tolist() == [risk]


@pytest.mark.parametrize(
    ("af_start", "decided", "upcoming"),
    [
        ("2022-01-10", "2021-12-20", True),  # decided, not started
        ("2022-01-10", "2021-12-31", True),  # decided on the as-of date
        ("2022-01-10", "2022-01-05", False),  # decided after the as-of date (a run for an earlier date)
        ("2022-01-10", None, True),  # no decision date: being in AF's register is the decision
        ("2021-12-31", "2021-12-01", False),  # starts on the as-of date: started
    ],
)
def test_upcoming_when_decided_but_not_started(af_start, decided, upcoming):
    found = overlaps_of(municipal_frame({"start": "2021-06-01", "end": None}),
                        af_frame({"start": af_start, "decided": decided}), as_of=dt.date(2021, 12, 31))  # fmt: skip
    assert found.upcoming.tolist() == [upcoming]


@pytest.mark.parametrize(
    ("insats", "programme", "extents", "expected"),
    [
        ("ARBETSTRANING", "AF_ARBETSTRANING", (50.0, 50.0), ("conflict", "R05")),
        ("SYV", "KROM", (25.0, 50.0), ("conflict", "R13")),
        ("KOMVUX", "AMU", (50.0, 50.0), ("parallel", "R20")),
        ("SFI", "ETAB", (50.0, 50.0), ("complementary", "R22")),
        ("SFI", "ETAB", (50.0, 75.0), ("conflict", "X-EXTENT")),  # above full time in total
        ("KAA", "UGA", (62.5, 37.5), ("parallel", "R27")),  # exactly full time is fine
        ("PRAKTIK", "ARBETSPRAKTIK", (100.0, 100.0), ("conflict", "R05")),  # the table decided
    ],
)
def test_the_rule_table_and_the_extent_rule_decide_the_class(insats, programme, extents, expected):
    found = overlaps_of(municipal_frame({"start": "2021-01-01", "code": insats, "extent": extents[0]}),
                        af_frame({"start": "2021-02-01", "code": programme, "extent": extents[1]}))  # fmt: skip
    assert (found.classification.iloc[0], found.rule_id.iloc[0]) == expected
    assert found.combined_extent_pct.iloc[0] == sum(extents)


def test_classify_refuses_a_category_pair_the_table_does_not_know():
    pairs = overlaps_of(municipal_frame({"start": "2021-01-01"}), af_frame({"start": "2021-02-01"}))
    pairs["af_category"] = "coaching"
    with pytest.raises(ConfigError, match="no rule for 'work_training' × 'coaching'"):
        classify(pairs, RULES)


# --- window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "touches"),
    [
        ("2021-10-02", "2021-10-02", True),  # the window's first day (as-of − 90)
        ("2021-10-01", "2021-10-01", False),  # the day before it
        ("2022-06-29", "2022-07-10", True),  # the window's last day (as-of + 180)
        ("2022-06-30", "2022-07-10", False),
        ("2020-01-01", None, True),  # ongoing since long before
    ],
)
def test_only_overlaps_touching_the_window_are_reported(start, end, touches):
    found = overlaps_of(municipal_frame({"start": start, "end": end}), af_frame({"start": start, "end": end}))
    assert len(in_window(found, dt.date(2021, 12, 31), 90, 180)) == touches


# --- two municipalities ------------------------------------------------------------------


def test_the_same_person_in_two_municipalities_at_once_is_found_once():
    found = find_municipal_overlaps(municipal_frame(
        {"start": "2021-01-01", "end": "2021-06-30", "kommunkod": "1480"},
        {"start": "2021-06-30", "end": None, "kommunkod": "0780"},  # one shared day, with Växjö
        {"start": "2021-02-01", "end": "2021-03-01", "kommunkod": "1480"},  # same kommun: not this dataset
        {"start": "2021-01-01", "end": "2021-06-30", "kommunkod": "1402", "key_id": OTHER_KEY},  # other key
        {"start": "2021-01-01", "end": None, "kommunkod": "1402", "person": "bertil"},  # nobody else
    ), dt.date(2021, 12, 31))  # fmt: skip
    assert found[["kommunkod", "record_id", "other_kommunkod", "other_record_id", "overlap_days"]].values.tolist() == [
        ["0780", "M1", "1480", "M0", 1]
    ]


def test_two_municipality_overlaps_on_the_same_start_day_come_once():
    found = find_municipal_overlaps(municipal_frame({"start": "2021-01-01", "kommunkod": "1480"},
                                                    {"start": "2021-01-01", "kommunkod": "1402"}),
                                    dt.date(2021, 12, 31))  # fmt: skip
    assert found[["kommunkod", "other_kommunkod"]].values.tolist() == [["1402", "1480"]]
    assert pd.isna(found.overlap_end.iloc[0]) and found.overlap_days.iloc[0] == 365


# --- the transition list -------------------------------------------------------------------


def test_transition_list_holds_only_afs_ids_and_the_listed_fields():
    municipal = municipal_frame(
        {"start": "2021-10-01", "end": None, "person": "anna"},
        {"start": "2021-10-01", "end": "2022-06-30", "person": "bertil", "kommunkod": "1402", "code": "SFI"},
        {"start": "2021-10-01", "end": "2022-01-31", "person": "cecilia"},  # ends before the cut-off
        {"start": "2022-01-15", "end": None, "person": "david"},  # not started yet
        {"start": "2021-10-01", "end": None, "person": "erik"},  # not in AF's data
        {"start": "2021-10-01", "end": None, "person": "fatima"},  # only a cancelled assignment
    )
    af = af_frame(
        {"start": "2021-01-01", "end": "2021-03-31", "person": "anna", "assignment_id": "A-ended"},
        {"start": "2022-03-01", "end": None, "person": "anna", "assignment_id": "A-upcoming", "office": "AF Angered"},
        {"start": "2019-01-01", "end": "2019-06-30", "person": "bertil", "assignment_id": "A-old"},
        {"start": "2020-01-01", "end": "2020-06-30", "person": "bertil", "assignment_id": "A-newer"},
        {"start": "2021-01-01", "end": None, "person": "cecilia", "assignment_id": "A-c"},
        {"start": "2021-01-01", "end": None, "person": "david", "assignment_id": "A-d"},
        {"start": "2021-01-01", "end": None, "person": "fatima", "assignment_id": "A-f", "status": "cancelled"},
    )
    listed = transition_list(municipal, af, dt.date(2021, 12, 31), cut_off=dt.date(2022, 2, 28))
    assert list(listed.columns) == list(TransitionList.to_schema().columns)
    shown = ["assignment_id", "af_office", "kommunkod", "intervention_category", "planned_end"]
    assert listed[shown].values.tolist() == [
        ["A-upcoming", "AF Angered", "1480", "work_training", pd.NaT],
        ["A-newer", "Arbetsförmedlingen Partille", "1402", "education", day("2022-06-30")],
    ]
    assert_no_person_identifiers(listed, municipal)


def test_transition_list_refuses_a_cut_off_before_the_as_of_date():
    with pytest.raises(ValueError, match="cut-off 2021-12-30 is before the as-of date 2021-12-31"):
        transition_list(municipal_frame(), af_frame(), dt.date(2021, 12, 31), cut_off=dt.date(2021, 12, 30))


def test_transition_list_prefers_the_ongoing_assignment_that_started_last():
    municipal = municipal_frame({"start": "2021-10-01", "end": None})
    af = af_frame({"start": "2021-01-01", "end": None, "assignment_id": "A-first"},
                  {"start": "2021-06-01", "end": "2021-12-31", "assignment_id": "A-latest"},
                  {"start": "2022-01-10", "end": None, "assignment_id": "A-next"})  # fmt: skip
    listed = transition_list(municipal, af, dt.date(2021, 12, 31), cut_off=dt.date(2022, 1, 31))
    assert listed.assignment_id.tolist() == ["A-latest"]


def assert_no_person_identifiers(listed: pd.DataFrame, municipal: pd.DataFrame) -> None:
    """No column and no value of the list is a pseudonym, a key id or a municipal record id."""
    assert not {"pseudonym", "key_id", "record_id", "personnummer"} & set(listed.columns)
    values = set(listed.astype(str).to_numpy().ravel())
    assert not values & set(municipal["pseudonym"]) and not values & set(municipal["record_id"])
    assert not listed.astype(str).apply(lambda column: column.str.fullmatch(r"\d{10}|\d{12}|[A-Z2-7]{52}")).any().any()


# --- the whole run -------------------------------------------------------------------------


def test_reconcile_for_some_kommuner_keeps_their_rows_and_their_neighbours_overlaps():
    municipal = municipal_frame({"start": "2021-10-01", "kommunkod": "1480"},
                                {"start": "2021-11-01", "kommunkod": "1402"},
                                {"start": "2021-11-01", "kommunkod": "0780", "person": "bertil"})  # fmt: skip
    af = af_frame({"start": "2021-12-01"}, {"start": "2021-12-01", "person": "bertil"})
    MunicipalInterventions.validate(municipal), AfAssignments.validate(af)  # inputs as ingest makes them
    args = (municipal, af, RULES, dt.date(2021, 12, 31), Window(90, 180), dt.date(2022, 3, 31))
    everything, partille = reconcile(*args), reconcile(*args, kommuner=["1402"])
    assert sorted(everything.overlaps.kommunkod) == ["0780", "1402", "1480"]
    assert everything.overlaps.in_window.all()
    assert partille.overlaps.kommunkod.tolist() == ["1402"]
    assert partille.transition_list.kommunkod.tolist() == ["1402"]
    assert partille.municipal_overlaps[["kommunkod", "other_kommunkod"]].values.tolist() == [["1402", "1480"]]
    assert (partille.kommuner, partille.rules_version) == (("1402",), RULES.version)


def test_hundreds_of_records_of_one_person_cost_only_their_real_overlaps():
    """5,000 × 5,000 weekly periods of one person: a merge on the pseudonym makes 25 million
    pairs (over 1 GiB) before any filter; 9,999 overlap (each assignment spans two weeks)."""
    n = 5000
    weeks = pd.Timestamp("2000-01-03") + pd.to_timedelta(7 * pd.RangeIndex(n), unit="D")
    municipal = municipal_frame({"start": "2000-01-03"}).loc[[0] * n].reset_index(drop=True)
    municipal["start_date"], municipal["end_date"] = weeks.to_numpy(), (weeks + pd.Timedelta(days=6)).to_numpy()
    municipal["record_id"] = [f"M{i}" for i in range(n)]
    af = af_frame({"start": "2000-01-03"}).loc[[0] * n].reset_index(drop=True)
    af["start_date"] = (weeks + pd.Timedelta(days=3)).to_numpy()
    af["end_date"] = (weeks + pd.Timedelta(days=9)).to_numpy()
    af["assignment_id"] = [f"A{i}" for i in range(n)]
    tracemalloc.start()
    found = find_overlaps(municipal, af, dt.date(2100, 1, 1))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found) == 2 * n - 1
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MiB"


# --- a brute-force oracle on generated populations ------------------------------------------

DAY0 = dt.date(2026, 1, 1)
HORIZON = DAY0 + dt.timedelta(days=200)  # after every generated date and window: "ongoing" reaches it
PEOPLE = ("anna", "bertil")
KOMMUNER = ("0780", "1402", "1480")
INSATSER = tuple(CATALOGUE.intervention_categories)
PROGRAMMES = tuple(CATALOGUE.programme_categories)
EXTENTS = (25.0, 50.0, 75.0, 100.0)


# Attributes that vary together are drawn as one choice: fewer draws, faster examples.
WHO = tuple(itertools.product(PEOPLE, (KEY, KEY, OTHER_KEY), EXTENTS, (True, False)))
MUNICIPAL_WHAT = tuple(itertools.product(KOMMUNER, INSATSER))
AF_WHAT = tuple(itertools.product(PROGRAMMES, AF_STATUSES, ("AF Partille", "AF Växjö")))


@st.composite
def populations(draw):
    """A few people, each with several interventions and assignments in a few months,
    open ends, statuses and extents; an as-of date, a window and a cut-off."""

    def record(fields: tuple[str, ...], choices: tuple[tuple, ...]) -> dict:
        person, key_id, extent, consent = draw(st.sampled_from(WHO))
        start = DAY0 + dt.timedelta(days=draw(st.integers(0, 40)))
        length = draw(st.one_of(st.none(), st.integers(1, 20)))  # None: ongoing
        end = None if length is None else str(start + dt.timedelta(days=length - 1))
        return {"person": person, "key_id": key_id, "extent": extent, "consent": consent, "start": str(start),
                "end": end, **dict(zip(fields, draw(st.sampled_from(choices))))}  # fmt: skip

    as_of = DAY0 + dt.timedelta(days=draw(st.integers(-5, 65)))
    municipal = [record(("kommunkod", "code"), MUNICIPAL_WHAT) for _ in range(draw(st.integers(0, 7)))]
    af = [record(("code", "status", "office"), AF_WHAT) for _ in range(draw(st.integers(0, 7)))]
    for assignment in af:  # decided around the as-of date, where `upcoming` turns; None: not given
        decided = draw(st.one_of(st.none(), st.integers(-3, 3)))
        assignment["decided"] = None if decided is None else str(as_of + dt.timedelta(days=decided))
    window = (draw(st.integers(0, 30)), draw(st.integers(0, 30)))
    cut_off = as_of + dt.timedelta(days=draw(st.integers(0, 30)))
    return municipal, af, as_of, window, cut_off


def days_of(start: str, end: str | None) -> set[dt.date]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end) if end else HORIZON
    return {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}


def shared(left: dict, right: dict, as_of: dt.date, window: tuple[int, int]):
    """(overlap start, end or None, days up to as-of, touches the window), or None."""
    days = days_of(left["start"], left["end"]) & days_of(right["start"], right["end"])
    if not days:
        return None
    end = None if left["end"] is None and right["end"] is None else max(days)
    first_day, last_day = as_of - dt.timedelta(days=window[0]), as_of + dt.timedelta(days=window[1])
    return min(days), end, sum(d <= as_of for d in days), any(first_day <= d <= last_day for d in days)


def oracle_overlaps(municipal, af, as_of, window) -> set[tuple]:
    found = set()
    for i, m in enumerate(municipal):
        for j, a in enumerate(af):
            if a["status"] == "cancelled" or (m["person"], m["key_id"]) != (a["person"], a["key_id"]):
                continue
            overlap = shared(m, a, as_of, window)
            if overlap is None:
                continue
            category = (CATALOGUE.intervention_categories[m["code"]], CATALOGUE.programme_categories[a["code"]])
            rule = RULE_OF[category]
            if m["extent"] + a["extent"] > 100 and rule[0] != "conflict":
                rule = ("conflict", "X-EXTENT")
            a_start, m_start = dt.date.fromisoformat(a["start"]), dt.date.fromisoformat(m["start"])
            m_end = m["end"] and dt.date.fromisoformat(m["end"])
            risk = a_start > m_start and (m_end is None or a_start <= m_end)
            upcoming = (a["decided"] is None or dt.date.fromisoformat(a["decided"]) <= as_of) and a_start > as_of
            found.add((f"M{i}", f"A{j}", *overlap, m["extent"] + a["extent"], risk, upcoming, *rule))
    return found


def oracle_municipal_overlaps(municipal, as_of, window) -> set[tuple]:
    found = set()
    for i, first in enumerate(municipal):
        for j, second in enumerate(municipal[i + 1 :], start=i + 1):
            same_person = (first["person"], first["key_id"]) == (second["person"], second["key_id"])
            if not same_person or first["kommunkod"] == second["kommunkod"]:
                continue
            overlap = shared(first, second, as_of, window)
            if overlap is not None:
                low, high = sorted([(first["kommunkod"], f"M{i}"), (second["kommunkod"], f"M{j}")])
                found.add((low[1], high[1], *overlap, first["extent"] + second["extent"]))
    return found


def oracle_transition_list(municipal, af, as_of, cut_off) -> set[tuple]:
    def date(text):
        return text and dt.date.fromisoformat(text)

    found = set()
    for m in municipal:
        end = date(m["end"])
        if date(m["start"]) > as_of or (end is not None and end <= cut_off):
            continue
        own = [(j, a) for j, a in enumerate(af) if a["status"] != "cancelled"
               and (a["person"], a["key_id"]) == (m["person"], m["key_id"])]  # fmt: skip
        ongoing = [(j, a) for j, a in own if date(a["start"]) <= as_of and not (a["end"] and date(a["end"]) < as_of)]
        upcoming = [(j, a) for j, a in own if date(a["start"]) > as_of]
        ended = [(j, a) for j, a in own if a["end"] is not None and date(a["end"]) < as_of]
        if ongoing:
            j, a = min(ongoing, key=lambda ja: (-date(ja[1]["start"]).toordinal(), f"A{ja[0]}"))
        elif upcoming:
            j, a = min(upcoming, key=lambda ja: (date(ja[1]["start"]), f"A{ja[0]}"))
        elif ended:
            j, a = min(ended, key=lambda ja: (-date(ja[1]["end"]).toordinal(), f"A{ja[0]}"))
        else:
            continue
        every = "samplanering,uppfoljning"  # a delivery without a consent record: every scope, no end
        found.add((f"A{j}", a["office"], m["kommunkod"], CATALOGUE.intervention_categories[m["code"]], end,
                   m["consent"], a["consent"], every if m["consent"] else "", every if a["consent"] else "",
                   False))  # fmt: skip
    return found


def plain(value):
    """A frame's cell as the oracle writes it: dates as date, an empty end as None."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    return None if value is pd.NaT else value


def rows(frame: pd.DataFrame, columns: list[str]) -> set[tuple]:
    return {tuple(map(plain, row)) for row in zip(*(frame[column].tolist() for column in columns))}


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(populations())
def test_overlaps_and_their_window_equal_a_brute_force_oracle(population):
    municipal_rows, af_rows, as_of, window, _ = population
    municipal, af = municipal_frame(*municipal_rows), af_frame(*af_rows)
    overlaps = classify(find_overlaps(municipal, af, as_of), RULES)
    overlaps["in_window"] = window_mask(overlaps, as_of, *window)
    expected = oracle_overlaps(municipal_rows, af_rows, as_of, window)
    assert len(overlaps) == len(expected)
    assert rows(overlaps, [
        "record_id", "assignment_id", "overlap_start", "overlap_end", "overlap_days", "in_window",
        "combined_extent_pct", "interruption_risk", "upcoming", "classification", "rule_id",
    ]) == expected  # fmt: skip


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(populations())
def test_municipal_overlaps_and_the_transition_list_equal_a_brute_force_oracle(population):
    municipal_rows, af_rows, as_of, window, cut_off = population
    municipal, af = municipal_frame(*municipal_rows), af_frame(*af_rows)
    municipal_overlaps = find_municipal_overlaps(municipal, as_of)
    municipal_overlaps["in_window"] = window_mask(municipal_overlaps, as_of, *window)
    expected = oracle_municipal_overlaps(municipal_rows, as_of, window)
    assert len(municipal_overlaps) == len(expected)
    assert rows(municipal_overlaps, [
        "record_id", "other_record_id", "overlap_start", "overlap_end", "overlap_days", "in_window",
        "combined_extent_pct",
    ]) == expected  # fmt: skip

    listed = transition_list(municipal, af, as_of, cut_off)
    expected = oracle_transition_list(municipal_rows, af_rows, as_of, cut_off)
    assert len(listed) == len(expected)
    assert set(listed["keyed_by"]) <= {"assignment_id"} and listed["registration_id"].isna().all()
    assert rows(listed, [c for c in TransitionList.to_schema().columns if c not in ("registration_id", "keyed_by")]
                ) == expected  # fmt: skip


# --- the generator's planted overlaps ----------------------------------------------------------


@pytest.fixture(scope="module")
def ingested(inbox, keyring):
    sources = load_sources(inbox / "sources.yaml")
    keys = pseudonym_keys(keyring, AS_OF)
    results = {s.id: ingest_source(s, sources.files(s), sources.catalogue, keys, keyring, AS_OF) for s in sources.all}
    municipal = pd.concat([r.accepted for source_id, r in results.items()
                           if sources.source(source_id).kind == "municipal"], ignore_index=True)  # fmt: skip
    return municipal, results["af"].accepted


@pytest.fixture(scope="module")
def truth(inbox):
    planted = pd.read_csv(inbox / "truth" / "overlaps.csv", dtype=str, keep_default_na=False)
    return planted[planted.kind == "municipal_af"], planted[planted.kind == "two_municipalities"]


def truth_rows(planted: pd.DataFrame, columns: list[str]) -> set[tuple]:
    """The truth file's text as `rows` gives a frame's cells: booleans, dates (None if
    empty), numbers."""

    def value(column: str, text: str):
        if text in ("true", "false"):
            return text == "true"
        if column.startswith("overlap_"):
            return dt.date.fromisoformat(text) if text else None
        return float(text) if column == "combined_extent" else text

    return {tuple(value(c, v) for c, v in zip(columns, row)) for row in planted[columns].itertuples(index=False)}


def test_every_planted_overlap_is_found_with_its_flags_and_class_and_nothing_else(ingested, truth):
    municipal, af = ingested
    planted, _ = truth
    found = classify(find_overlaps(municipal, af, AS_OF), RULES)
    found["youth"] = found.age_band.isin(["16-19", "20-24"])
    columns = ["municipal_source_id", "record_id", "assignment_id", "insats_code", "programme_code", "overlap_start",
               "overlap_end", "interruption_risk", "upcoming", "municipal_consent", "af_consent",
               "combined_extent_pct", "youth"]  # fmt: skip
    expected = ["source_id", "record_id", "other_record_id", "code", "other_code", "overlap_start", "overlap_end",
                "interruption_risk", "upcoming", "consent", "other_consent", "combined_extent", "youth"]  # fmt: skip
    assert len(found) == len(planted)
    assert rows(found, columns) == truth_rows(planted, expected)
    for row in found.itertuples():
        over_full_time = row.combined_extent_pct > 100
        table_class, table_rule = RULE_OF[(row.municipal_category, row.af_category)]
        assert row.classification == ("conflict" if over_full_time else table_class)
        assert row.rule_id == ("X-EXTENT" if over_full_time and table_class != "conflict" else table_rule)


def test_every_planted_two_municipality_overlap_is_found_and_nothing_else(ingested, truth):
    municipal, _ = ingested
    _, planted = truth
    found = find_municipal_overlaps(municipal, AS_OF)
    sides = ["source_id", "record_id", "consent", "other_source_id", "other_record_id", "other_consent"]
    shared_values = ["overlap_start", "overlap_end"]

    def unordered(pairs: set[tuple]) -> set[tuple]:
        """Each pair as {one side, other side}: the truth orders them by source id, we by kommunkod."""
        return {(frozenset([pair[0:3], pair[3:6]]), *pair[6:]) for pair in pairs}

    assert len(found) == len(planted)
    assert unordered(rows(found, [*sides, *shared_values, "combined_extent_pct"])) == unordered(
        truth_rows(planted, [*sides, *shared_values, "combined_extent"])
    )


def test_reconcile_on_generated_data_lists_no_person_identifiers(ingested):
    municipal, af = ingested
    result = reconcile(municipal, af, RULES, AS_OF, Window(90, 180), cut_off=AS_OF + dt.timedelta(days=60))
    assert len(result.transition_list) > 0
    assert_no_person_identifiers(result.transition_list, municipal)
    assert 0 < result.overlaps.in_window.sum() < len(result.overlaps)


# --- the rule table ----------------------------------------------------------------------------


def test_the_rule_table_covers_every_category_pair_once():
    pairs = [(rule.municipal, rule.af) for rule in RULES.rules]
    assert sorted(pairs) == sorted((m, a) for m in CATALOGUE.municipal_categories for a in CATALOGUE.af_categories)
    assert {rule.classification for rule in RULES.rules} == {"conflict", "parallel", "complementary"}
    assert RULE_OF[("work_training", "work_training")] == ("conflict", "R05")
    assert RULE_OF[("guidance", "matching")][0] == "conflict"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    municipal: guidance\n    af: matching", "    municipal: guidanse\n    af: matching",
         "rules[12] (id 'R13').municipal: got 'guidanse': not declared under the catalogue's municipal_categories"),
        ("    municipal: guidance\n    af: training", "    municipal: guidance\n    af: matching",
         "rules[13] (id 'R14'): got municipal 'guidance' × af 'matching': that pair is already decided by rules[12]"),
        ("    municipal: guidance\n    af: training", "    municipal: guidance\n    af: matching",
         "rules: missing municipal 'guidance' × af 'training'"),
        ("class: conflict", "class: clash", "rules[4] (id 'R05').class: got 'clash': Input should be 'conflict'"),
        ("id: R14", "id: R13", "rules[13] (id 'R13').id: got 'R13': already the id of rules[12]"),
        ("  above_pct: 100", "  above_pct: -5", "extent_rule.above_pct: got -5"),
        ("    rationale: Two work", "    rational: Two work", "rules[4] (id 'R05').rational: unknown key"),
    ],
)  # fmt: skip
def test_a_broken_rule_table_is_refused_naming_file_key_and_value(tmp_path, old, new, message):
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as problem:
        load_rules(path)
    assert str(problem.value).startswith(str(path))
    assert message in str(problem.value)


def test_a_rule_without_its_pair_is_named(tmp_path):
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    last = text.index("  - id: R30")
    path = tmp_path / "rules.yaml"
    path.write_text(text[:last], encoding="utf-8")
    with pytest.raises(ConfigError, match="rules: missing municipal 'youth_activity' × af 'subsidised_job'"):
        load_rules(path)
