"""Flows between municipalities (issue 18 §2): the month rule, a person once per cell and
direction, the rows each recipient reads, and both against brute-force oracles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import contract
from core.flows import cross_municipality_participants, municipal_flows
from core.publish import conform, rows_for
from schemas.contracts import PublicationParameters
from schemas.recipients import load_yaml_text

D = dt.date.fromisoformat
AS_OF = D("2026-03-10")


def person(n: int) -> str:
    return ("P" + "A" * 51)[:52 - len(str(n))] + "".join("BCDEFGHIJK"[int(d)] for d in str(n))


def interventions(*rows: dict) -> pd.DataFrame:
    """Municipal interventions as ingest stores them; each row gives what differs."""
    records = [{"pseudonym": person(r.get("person", 0)), "key_id": "L1-TEST+L2-TEST", "record_id": f"R-{i}",
                "kommunkod": "1480", "home_kommunkod": "1402", "category": "arbetstraning", "age_band": "20-24",
                **{k: v for k, v in r.items() if k != "person"}} for i, r in enumerate(rows)]  # fmt: skip
    frame = pd.DataFrame(records)
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[s]")
    return frame


def months_of(flows: pd.DataFrame) -> dict[str, list[str]]:
    return {r: sorted(g["month"]) for r, g in flows.groupby("record_id")}


def test_active_months_run_from_the_start_month_to_the_month_of_min_end_as_of():
    frame = interventions(
        {"start_date": "2025-11-30", "end_date": "2026-01-01"},  # one day of January counts
        {"start_date": "2026-01-15", "end_date": None},  # open: up to the as-of month
        {"start_date": "2026-02-01", "end_date": "2026-09-30"},  # ends after the as-of date: up to its month
        {"start_date": "2026-03-10", "end_date": None},  # starts on the as-of day: that month only
        {"start_date": "2026-03-11", "end_date": None},  # starts after the as-of date: no month
    )
    assert months_of(municipal_flows(frame, AS_OF)) == {
        "R-0": ["2025-11", "2025-12", "2026-01"], "R-1": ["2026-01", "2026-02", "2026-03"],
        "R-2": ["2026-02", "2026-03"], "R-3": ["2026-03"],
    }  # fmt: skip


def test_a_delivery_without_a_home_kommun_stays_in_its_own_kommun():
    frame = interventions({"start_date": "2026-01-01", "end_date": None}).drop(columns="home_kommunkod")
    flows = municipal_flows(frame, AS_OF)
    assert (flows["home_kommunkod"] == "1480").all()
    assert cross_municipality_participants(flows).empty


def _published(frame: pd.DataFrame, threshold: int = 2) -> pd.DataFrame:
    declared = contract("kommunoverskridande_insatser")
    flows = municipal_flows(frame, AS_OF)
    return conform(declared.build({"municipal_flows": flows}, PublicationParameters(AS_OF, threshold), declared),
                   declared)  # fmt: skip


def test_a_person_counts_once_per_cell_at_both_kommuner_and_only_when_they_differ():
    frame = interventions(
        # person 0: two interventions in Göteborg in February: once in each cell
        {"person": 0, "start_date": "2026-02-01", "end_date": "2026-02-10"},
        {"person": 0, "start_date": "2026-02-15", "end_date": "2026-02-28"},
        {"person": 1, "start_date": "2026-02-01", "end_date": "2026-02-28"},
        {"person": 2, "start_date": "2026-02-01", "end_date": "2026-02-28"},
        # living in Göteborg itself: not a flow
        *({"person": n, "start_date": "2026-02-01", "end_date": "2026-02-28", "home_kommunkod": "1480"}
          for n in range(3, 8)),
    )  # fmt: skip
    cells = _published(frame).query("level == 'cell'")
    assert [(r.year, r.kommunkod, r.direction, r.count) for r in cells.itertuples()] == [
        ("2026", "1402", "deltar_annanstans", 3), ("2026", "1480", "tar_emot", 3)]


def test_each_kommun_reads_its_own_rows_and_a_region_its_kommuners():
    frame = interventions(*({"person": n, "start_date": "2025-11-01", "end_date": None} for n in range(4)))
    published = _published(frame)
    declared = contract("kommunoverskridande_insatser")
    recipients = load_yaml_text(
        "version: 1\nrecipients:\n  - {id: k1480, kind: kommun, kommunkod: '1480'}\n"
        "  - {id: k1402, kind: kommun, kommunkod: '1402'}\n  - {id: k0780, kind: kommun, kommunkod: '0780'}\n"
        "  - {id: home, kind: region, kommuner: ['1402']}\n  - {id: far, kind: region, kommuner: ['0780']}\n",
        Path("r.yaml"))  # fmt: skip
    cells = published[published["level"] == "cell"]
    assert len(cells) == 4 and (cells["count"] == 4).all()  # 2025 and 2026 × two sides, each person once a year
    provider = rows_for(published, declared, recipients.get("k1480"))
    assert set(provider["kommunkod"]) == {"1480"} and set(provider["direction"]) == {"tar_emot", "total"}
    home = rows_for(published, declared, recipients.get("k1402"))
    assert set(home["kommunkod"]) == {"1402"} and set(home["direction"]) == {"deltar_annanstans", "total"}
    assert rows_for(published, declared, recipients.get("k0780")).empty
    assert rows_for(published, declared, recipients.get("home")).equals(home)
    assert rows_for(published, declared, recipients.get("far")).empty


def _oracle_months(start: dt.date, end: dt.date | None, as_of: dt.date) -> set[str]:
    """Day by day: every month holding a day of the intervention up to the as-of date."""
    last = min(end or as_of, as_of)
    found, day = set(), start
    while day <= last:
        found.add(day.strftime("%Y-%m"))
        day += dt.timedelta(days=1)
    return found


_day = st.dates(min_value=D("2025-06-01"), max_value=D("2026-08-31"))
_kommun = st.sampled_from(["1480", "1402", "1401"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), _kommun, _kommun, st.sampled_from(["arbetstraning", "praktik"]),
                          _day, st.one_of(st.none(), st.integers(0, 200))), min_size=1, max_size=25),
       st.dates(min_value=D("2025-09-01"), max_value=D("2026-06-30")))  # fmt: skip
def test_months_and_cells_equal_a_day_by_day_oracle(drawn, as_of):
    rows = [{"person": p, "kommunkod": k, "home_kommunkod": h, "category": c, "start_date": s.isoformat(),
             "end_date": None if n is None else (s + dt.timedelta(days=n)).isoformat()}
            for p, k, h, c, s, n in drawn]  # fmt: skip
    frame = interventions(*rows)
    flows = municipal_flows(frame, as_of)
    expected = {f"R-{i}": _oracle_months(s, None if n is None else s + dt.timedelta(days=n), as_of)
                for i, (_, _, _, _, s, n) in enumerate(drawn)}  # fmt: skip
    assert {r: set(m) for r, m in months_of(flows).items()} == {r: m for r, m in expected.items() if m}
    assert len(flows) == sum(len(m) for m in expected.values())  # each month once per intervention

    cells: dict[tuple, set] = {}
    for i, (p, k, h, c, s, n) in enumerate(drawn):
        if k != h:
            for month in expected[f"R-{i}"]:
                cells.setdefault((month[:4], k, "tar_emot"), set()).add(p)
                cells.setdefault((month[:4], h, "deltar_annanstans"), set()).add(p)
    counted = cross_municipality_participants(flows)
    found = counted.groupby(["year", "kommunkod", "direction"]).size().to_dict()
    assert found == {cell: len(people) for cell, people in cells.items()}
