"""The indicator pack (`core/indicators.py`, issue 18 §3): the quarter rule, closed quarters
only, shares with their numerator and denominator, frozen quarters; and the counts against
a brute-force oracle (one row at a time)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import contract
from core.counts import quarter_of
from core.indicators import closed, cross_municipality_keys, latest_closed
from core.publish import conform, empty, optional_inputs
from schemas.contracts import PublicationParameters
from schemas.reconciled import Overlaps, TransitionList

AS_OF = dt.date(2026, 11, 23)  # in 2026-Q4: 2026-Q3 is the latest closed quarter
KOMMUNER = ("1480", "1402", "0780")
CLASSES = ("conflict", "parallel", "complementary")
YOUTH = ("met", "breached", "ended")


def _ts(days: list[dt.date]) -> pd.Series:
    return pd.Series(pd.to_datetime(days), dtype="datetime64[s]")


def _person(n: int) -> str:
    return ("P" + format(n, "b").replace("0", "A").replace("1", "B")).ljust(52, "Q")


def inputs_of(overlaps=(), youth=(), outcomes=(), listed=()) -> dict[str, pd.DataFrame]:
    """Only the columns the pack reads, from tuples: overlaps (start, kommun, class), youth
    (day 0, kommun or None, status), outcomes (last day, kommun, horizon, status), listed
    (kommun, keyed_by, id)."""
    frames = {**optional_inputs(), "overlaps": empty(Overlaps), "transition_list": empty(TransitionList)}
    if overlaps:
        start, kommun, cls = zip(*overlaps, strict=True)
        frames["overlaps"] = pd.DataFrame({"overlap_start": _ts(list(start)), "kommunkod": kommun,
                                           "classification": cls, "pseudonym": [_person(i) for i in range(len(start))]})  # fmt: skip
    if youth:
        day0, kommun, status = zip(*youth, strict=True)
        frames["youth_monitor"] = pd.DataFrame({"registration_id": [f"REG-{i}" for i in range(len(day0))],
                                                "registration_date": _ts(list(day0)),
                                                "kommunkod": pd.array(kommun, dtype="string"), "status": status,
                                                "pseudonym": [_person(i) for i in range(len(day0))]})  # fmt: skip
    if outcomes:
        ends, kommun, horizon, status = zip(*outcomes, strict=True)
        frames["intervention_outcomes"] = pd.DataFrame({"ends_on": _ts(list(ends)), "kommunkod": kommun,
                                                        "horizon": horizon, "status": status,
                                                        "pseudonym": [_person(i) for i in range(len(ends))]})  # fmt: skip
    if listed:
        kommun, keyed_by, ids = zip(*listed, strict=True)
        frames["transition_list"] = pd.DataFrame({
            "kommunkod": kommun, "keyed_by": keyed_by,
            "assignment_id": [i if k == "assignment_id" else None for k, i in zip(keyed_by, ids, strict=True)],
            "registration_id": [i if k == "registration_id" else None for k, i in zip(keyed_by, ids, strict=True)]})  # fmt: skip
    return frames


def pack(frames, as_of=AS_OF, threshold=2, previous=None) -> pd.DataFrame:
    declared = contract("nyckeltal")
    parameters = PublicationParameters(as_of, threshold, previous={declared.name: previous})
    return conform(declared.build(frames, parameters, declared), declared)


def figure(table: pd.DataFrame, quarter: str, kommunkod: str, indicator: str, breakdown: str) -> dict:
    row = table[(table["quarter"] == quarter) & (table["kommunkod"] == kommunkod) & (table["indicator"] == indicator)
                & (table["breakdown"] == breakdown)]  # fmt: skip
    assert len(row) == 1, (quarter, kommunkod, indicator, breakdown)
    return row.iloc[0].to_dict()


D = dt.date.fromisoformat


def test_a_date_belongs_to_its_calendar_quarter():
    days = _ts([D("2026-01-01"), D("2026-03-31"), D("2026-04-01"), D("2026-09-30"), D("2026-10-01"), D("2026-12-31")])
    assert list(quarter_of(days)) == ["2026-Q1", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-Q4"]


def test_a_quarter_is_closed_from_the_day_after_its_last_day():
    quarters = pd.Series(["2026-Q2", "2026-Q3", "2026-Q4"])
    assert list(closed(quarters, D("2026-09-30"))) == [True, False, False]
    assert list(closed(quarters, D("2026-10-01"))) == [True, True, False]
    assert list(closed(pd.Series(["2025-Q4"]), D("2026-01-01"))) == [True]
    assert latest_closed(D("2026-01-01")) == "2025-Q4" and latest_closed(AS_OF) == "2026-Q3"


def test_only_closed_quarters_are_published_the_current_one_is_absent():
    frames = inputs_of(overlaps=[(D("2026-09-30"), "1480", "conflict")] * 3 + [(D("2026-10-01"), "1480", "conflict")] * 3)
    table = pack(frames)
    assert set(table["quarter"]) == {"2026-Q3"}
    assert figure(table, "2026-Q3", "1480", "samtidiga_insatser", "conflict")["count"] == 3
    assert pack(frames, as_of=D("2026-09-30")).empty  # on the quarter's last day it is still open


def test_the_youth_promise_counts_in_the_quarter_of_day_90_with_its_share_met():
    # day 0 2026-06-01: day 90 is 2026-08-30 (Q3); day 0 2026-07-10: day 90 is 2026-10-08 (Q4, open)
    youth = ([(D("2026-06-01"), "1480", "met")] * 6 + [(D("2026-06-01"), "1480", "breached")] * 3
             + [(D("2026-06-01"), "1480", "ended")] * 3 + [(D("2026-07-10"), "1480", "met")] * 4)  # fmt: skip
    table = pack(inputs_of(youth=youth))
    assert set(table["quarter"]) == {"2026-Q3"}
    share = figure(table, "2026-Q3", "1480", "unga_90_dagar_andel_uppfyllt", "met")
    assert (share["count"], share["denominator"], share["share"], share["suppressed"]) == (6, 12, 0.5, False)
    assert figure(table, "2026-Q3", "1480", "unga_90_dagar", "total")["count"] == 12
    assert figure(table, "2026-Q3", "1480", "unga_90_dagar", "met")["count"] == 6


def test_a_share_is_withheld_when_its_numerator_is_and_published_as_zero_when_nothing_was_met():
    youth = ([(D("2026-06-01"), "1480", "met")] + [(D("2026-06-01"), "1480", "breached")] * 5
             + [(D("2026-06-01"), "1402", "breached")] * 4)  # fmt: skip
    table = pack(inputs_of(youth=youth), threshold=3)
    withheld = figure(table, "2026-Q3", "1480", "unga_90_dagar_andel_uppfyllt", "met")
    assert withheld["suppressed"] and pd.isna(withheld["count"]) and pd.isna(withheld["share"])
    assert pd.isna(withheld["denominator"])
    none_met = figure(table, "2026-Q3", "1402", "unga_90_dagar_andel_uppfyllt", "met")
    assert (none_met["count"], none_met["denominator"], none_met["share"]) == (0, 4, 0.0)


def test_outcomes_count_at_90_days_in_the_quarter_of_the_90th_day_other_horizons_not():
    outcomes = ([(D("2026-05-15"), "1480", 90, "work")] * 2 + [(D("2026-05-15"), "1480", 30, "work")] * 5
                + [(D("2026-07-15"), "1480", 90, "studies")] * 2)  # fmt: skip
    table = pack(inputs_of(outcomes=outcomes))  # 05-15 + 90 = 08-13 (Q3); 07-15 + 90 = 10-13 (Q4, open)
    rows = table[table["indicator"] == "utfall_90_dagar"]
    assert set(rows["quarter"]) == {"2026-Q3"} and figure(table, "2026-Q3", "1480", "utfall_90_dagar", "work")["count"] == 2
    assert "studies" not in set(rows["breakdown"])


def test_the_transition_list_counts_people_once_per_kommun_for_the_latest_closed_quarter():
    listed = [("1480", "registration_id", "R1"), ("1480", "registration_id", "R1"), ("1480", "registration_id", "R2"),
              ("1480", "assignment_id", "A1"), ("1480", "assignment_id", "A2"), ("1402", "registration_id", "R1"),
              ("1402", "registration_id", "R3")]
    table = pack(inputs_of(listed=listed))
    assert set(table["quarter"]) == {"2026-Q3"}
    assert figure(table, "2026-Q3", "1480", "overgangslista", "registration")["count"] == 2
    assert figure(table, "2026-Q3", "1480", "overgangslista", "total")["count"] == 4


def test_a_closed_quarter_once_published_never_changes_and_the_next_one_is_added():
    first_night = inputs_of(overlaps=[(D("2026-08-01"), "1480", "conflict")] * 4 + [(D("2026-08-01"), "1402", "parallel")] * 3,
                            listed=[("1480", "registration_id", f"R{i}") for i in range(3)])  # fmt: skip
    published = pack(first_night)
    # later, people changed: an overlap of Q3 was corrected away, another found, the list grew
    later = inputs_of(overlaps=[(D("2026-08-01"), "1480", "conflict")] * 3 + [(D("2026-08-02"), "1480", "parallel")]
                      + [(D("2026-08-01"), "1402", "parallel")] * 3 + [(D("2026-11-01"), "1480", "conflict")] * 3,
                      listed=[("1480", "registration_id", f"R{i}") for i in range(5)])  # fmt: skip
    again = pack(later, as_of=D("2026-11-24"), previous=published)
    pd.testing.assert_frame_equal(again, published)  # the current quarter (Q4) is absent
    next_quarter = pack(later, as_of=D("2027-01-01"), previous=again)
    pd.testing.assert_frame_equal(next_quarter[next_quarter["quarter"] == "2026-Q3"].reset_index(drop=True), published)
    assert figure(next_quarter, "2026-Q4", "1480", "samtidiga_insatser", "conflict")["count"] == 3
    assert figure(next_quarter, "2026-Q4", "1480", "overgangslista", "registration")["count"] == 5
    # without the previous publication the same night would have changed Q3
    assert not pack(later, as_of=D("2026-11-24")).equals(published)


def test_no_inputs_give_an_empty_pack():
    assert pack(inputs_of()).empty


# --- against a brute-force oracle --------------------------------------------------------------


def _quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _oracle(overlaps, youth, outcomes, as_of: dt.date) -> Counter:
    """Per (quarter, kommun, indicator, breakdown), one thing at a time; kommun totals as 'total'."""
    counts: Counter = Counter()
    open_quarter = _quarter(as_of)

    def add(day, kommun, indicator, breakdown):
        quarter = _quarter(day)
        if quarter < open_quarter:  # 'YYYY-Qn' sorts in time order
            counts[(quarter, kommun, indicator, breakdown)] += 1
            counts[(quarter, kommun, indicator, "total")] += 1

    for start, kommun, cls in overlaps:
        add(start, kommun, "samtidiga_insatser", cls)
    for day0, kommun, status in youth:
        add(day0 + dt.timedelta(days=90), kommun or "okand", "unga_90_dagar", status)
    for ends, kommun, horizon, status in outcomes:
        if horizon == 90:
            add(ends + dt.timedelta(days=90), kommun, "utfall_90_dagar", status)
    return counts


_days = st.dates(min_value=D("2025-10-01"), max_value=D("2026-12-31"))
_kommun = st.sampled_from(KOMMUNER)


@settings(max_examples=80, deadline=None)
@given(overlaps=st.lists(st.tuples(_days, _kommun, st.sampled_from(CLASSES)), max_size=40),
       youth=st.lists(st.tuples(_days, st.one_of(st.none(), _kommun), st.sampled_from(YOUTH)), max_size=40),
       outcomes=st.lists(st.tuples(_days, _kommun, st.sampled_from((30, 90, 180)), st.sampled_from(("work", "studies"))),
                         max_size=40),
       as_of=_days, threshold=st.integers(2, 4))  # fmt: skip
def test_every_published_figure_equals_the_oracle_and_withheld_ones_are_empty(overlaps, youth, outcomes, as_of,
                                                                               threshold):  # fmt: skip
    table = pack(inputs_of(overlaps=overlaps, youth=youth, outcomes=outcomes), as_of=as_of, threshold=threshold)
    expected = _oracle(overlaps, youth, outcomes, as_of)
    assert (closed(table["quarter"], as_of)).all()
    cells = table[(table["level"] != "region") & (table["indicator"] != "unga_90_dagar_andel_uppfyllt")]
    found = {(r.quarter, r.kommunkod, r.indicator, r.breakdown): r.count for r in cells.itertuples()}
    assert set(found) == set(expected)
    for key, count in found.items():
        assert pd.isna(count) or count == expected[key], key
    assert cells["count"].isna().eq(cells["suppressed"]).all()
    for r in table[table["indicator"] == "unga_90_dagar_andel_uppfyllt"].itertuples():
        due = expected[(r.quarter, r.kommunkod, "unga_90_dagar", "total")]
        met = expected.get((r.quarter, r.kommunkod, "unga_90_dagar", "met"), 0)
        if r.suppressed:
            assert pd.isna(r.count) and pd.isna(r.denominator) and pd.isna(r.share)
        else:
            assert (r.count, r.denominator, r.share) == (met, due, pytest.approx(round(met / due, 4)))
    region = table[table["level"] == "region"]
    for r in region.itertuples():
        total = sum(n for (q, k, i, b), n in expected.items() if q == r.quarter and i == r.indicator and b == "total")
        assert pd.isna(r.count) or r.count == total


def test_cross_municipality_participation_counts_a_person_once_per_quarter_at_both_kommuner():
    """A resident of 1481 in 1480's intervention from May to August (and again in July):
    taken in by 1480 and elsewhere for 1481, once in Q2 and once in Q3; a resident of 1480 in
    1480's own intervention counts nowhere."""
    months = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-07", "2026-07"]
    flows = pd.DataFrame({
        "month": months, "kommunkod": ["1480"] * 6,
        "home_kommunkod": ["1481"] * 5 + ["1480"],
        "pseudonym": [_person(1)] * 5 + [_person(2)],
    })  # fmt: skip
    keys = cross_municipality_keys({"municipal_flows": flows}, AS_OF)
    got = sorted(zip(keys["quarter"], keys["kommunkod"], keys["breakdown"], strict=True))
    assert got == [("2026-Q2", "1480", "tar_emot"), ("2026-Q2", "1481", "deltar_annanstans"),
                   ("2026-Q3", "1480", "tar_emot"), ("2026-Q3", "1481", "deltar_annanstans")]  # fmt: skip
