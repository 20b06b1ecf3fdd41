"""The generator's truth of the indicator pack (`core/synthetic/pack_truth.py`) on cases made
by hand: the figure each rule's words give, at the edges the pipeline must also get right (a
quarter's last and first day, an overlap of one day and none, a person in three months of one
quarter, the lowest kommun of a spell, totals and the share)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.synthetic.flows import with_home_column
from core.synthetic.pack_truth import latest_closed, pack_truth
from core.synthetic.systems import municipal_sources

AS_OF = dt.date(2026, 11, 23)
SOURCES = with_home_column(municipal_sources(["1480", "1402"]))
SOURCE_OF = {s.kommunkod: s.id for s in SOURCES}


def _day(text: str | None):
    return pd.Timestamp(text) if text else pd.NaT


def _municipal(*rows) -> pd.DataFrame:
    """(person, kommunkod, code, start, end, extent, home kommun as delivered)"""
    frame = pd.DataFrame([{"person": p, "source_id": SOURCE_OF[k], "kommunkod": k, "record_id": f"R{n}",
                           "insats_code": code, "start_date": _day(s), "end_date": _day(e), "extent_pct": x,
                           "home_kommunkod": home} for n, (p, k, code, s, e, x, home) in enumerate(rows)])  # fmt: skip
    return frame


def _af(*rows) -> pd.DataFrame:
    """(person, code, start, end, extent, status)"""
    return pd.DataFrame([{"person": p, "assignment_id": f"A{n}", "programme_code": code, "start_date": _day(s),
                          "end_date": _day(e), "extent_pct": x, "status": status}
                         for n, (p, code, s, e, x, status) in enumerate(rows)])  # fmt: skip


def _figures(table: pd.DataFrame) -> dict:
    return {(q, level, k, i, b): n for q, level, k, i, b, n in
            table[["quarter", "level", "kommunkod", "indicator", "breakdown", "count"]].itertuples(index=False)}  # fmt: skip


def test_the_latest_closed_quarter_is_the_one_before_the_as_of_dates():
    assert latest_closed(AS_OF) == "2026-Q3"
    assert latest_closed(dt.date(2026, 1, 1)) == "2025-Q4"
    assert latest_closed(dt.date(2026, 3, 31)) == "2025-Q4"


def test_overlaps_transition_list_and_cross_municipality_participation_by_the_rules_words():
    municipal = _municipal(
        (0, "1480", "PRAKTIK", "2026-03-20", "2026-05-10", 50, ""),  # shares 2026-04-01.. with A0: Q2, parallel
        (1, "1480", "PRAKTIK", "2026-06-25", None, 60, ""),  # shares 2026-06-30 (Q2's last day) with A2: 110 % → conflict
        (2, "1480", "PRAKTIK", "2026-07-05", "2026-09-30", 50, "1402"),  # three months of Q3: once per side
        (2, "1480", "JOBBSPAR", "2026-10-01", None, 50, "1402"),  # Q4 is not closed
        (3, "1402", "PRAKTIK", "2026-12-01", None, 50, ""),  # begins after the as-of date: not on the list
        (4, "1402", "PRAKTIK", "2026-08-01", "2026-08-15", 50, ""),  # one day shared with A4
    )
    af = _af(
        (0, "KROM", "2026-04-01", "2026-06-30", 50, "ongoing"),
        (0, "KROM", "2026-05-11", "2026-06-30", 50, "ongoing"),  # begins the day after P0's end: no day shared
        (1, "KROM", "2026-06-30", "2026-07-15", 50, "ended"),
        (3, "KROM", "2026-07-01", None, 100, "cancelled"),  # cancelled: neither an overlap nor on the list
        (4, "KROM", "2026-08-15", "2026-09-30", 50, "ended"),
    )
    figures = _figures(pack_truth(municipal, af, SOURCES, AS_OF))
    assert figures == {
        ("2026-Q2", "cell", "1480", "samtidiga_insatser", "parallel"): 1,
        ("2026-Q2", "cell", "1480", "samtidiga_insatser", "conflict"): 1,
        ("2026-Q2", "kommun", "1480", "samtidiga_insatser", "total"): 2,
        ("2026-Q2", "region", "total", "samtidiga_insatser", "total"): 2,
        ("2026-Q3", "cell", "1402", "samtidiga_insatser", "parallel"): 1,
        ("2026-Q3", "kommun", "1402", "samtidiga_insatser", "total"): 1,
        ("2026-Q3", "region", "total", "samtidiga_insatser", "total"): 1,
        # person 1 is still in P1 after the as-of date and has an AF assignment
        ("2026-Q3", "cell", "1480", "overgangslista", "assignment"): 1,
        ("2026-Q3", "kommun", "1480", "overgangslista", "total"): 1,
        ("2026-Q3", "region", "total", "overgangslista", "total"): 1,
        ("2026-Q3", "cell", "1480", "kommunoverskridande_deltagande", "tar_emot"): 1,
        ("2026-Q3", "cell", "1402", "kommunoverskridande_deltagande", "deltar_annanstans"): 1,
        ("2026-Q3", "kommun", "1480", "kommunoverskridande_deltagande", "total"): 1,
        ("2026-Q3", "kommun", "1402", "kommunoverskridande_deltagande", "total"): 1,
        ("2026-Q3", "region", "total", "kommunoverskridande_deltagande", "total"): 2,  # one person, both sides
    }


def test_youth_spells_outcomes_and_the_share_met_from_the_other_truths():
    registrations = pd.DataFrame({"registration_id": ["I1", "I2", "I3"],
                                  "start_date": _day("2026-04-01"), "person": [0, 1, 2]})  # fmt: skip
    registrations.loc[1, "start_date"] = _day("2026-04-02")
    registrations.loc[2, "start_date"] = _day("2026-08-30")  # day 90 is 2026-11-28: not yet due
    lists = {
        "transition_list": pd.DataFrame({"kommunkod": ["1402", "1402"], "registration_id": ["I9", "I9"]}),
        # I1 is held by two municipalities: it counts once, at the lowest code
        "youth_monitor": pd.DataFrame({"registration_id": ["I1", "I1", "I2", "I3"],
                                       "kommunkod": ["1480", "1402", None, "1480"],
                                       "status": ["met", "met", "ended", "pending"]}),
    }  # fmt: skip
    outcomes = pd.DataFrame({"horizon": [90, 90, 30], "on": [dt.date(2026, 9, 30), dt.date(2026, 10, 1),
                                                             dt.date(2026, 9, 1)],
                             "kommunkod": ["1480", "1480", "1402"], "status": ["work", "work", "studies"]})  # fmt: skip
    table = pack_truth(_municipal(), _af(), SOURCES, AS_OF, registrations, lists, outcomes)
    figures = _figures(table)
    assert {k: n for k, n in figures.items() if k[1] == "cell"} == {
        ("2026-Q2", "cell", "1402", "unga_90_dagar", "met"): 1,  # day 90 of 2026-04-01: 2026-06-30
        ("2026-Q3", "cell", "okand", "unga_90_dagar", "ended"): 1,  # day 90 of 2026-04-02: 2026-07-01
        ("2026-Q3", "cell", "1402", "overgangslista", "registration"): 1,
        ("2026-Q3", "cell", "1480", "utfall_90_dagar", "work"): 1,
    }
    shares = table[table["indicator"] == "unga_90_dagar_andel_uppfyllt"]
    assert shares[["quarter", "kommunkod", "count", "denominator", "share"]].values.tolist() == [
        ["2026-Q2", "1402", 1, 1, 1.0], ["2026-Q3", "okand", 0, 1, 0.0]]  # fmt: skip
    assert figures[("2026-Q3", "region", "total", "unga_90_dagar", "total")] == 1
