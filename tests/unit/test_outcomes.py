"""Outcomes after an intervention (issue 18 §1): named fixtures of Skatteverket test numbers
delivered and ingested like any delivery, and the status rule against a day-by-day oracle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.outcomes import intervention_outcomes, outcome_status
from core.synthetic.outcomes import outcome_on
from testkit.followup import Deliveries, turning
from testkit.homes import new_keyring

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "out")


@pytest.fixture()
def outcomes(tmp_path, ring):
    def run(deliveries: Deliveries, as_of: dt.date) -> pd.DataFrame:
        data = deliveries.ingest(tmp_path / "inbox", ring, as_of)
        return intervention_outcomes(data["municipal"], data["af"], data["registrations"], as_of)

    return run


def _by(table: pd.DataFrame, intervention_id: str) -> dict[int, str]:
    rows = table[table["intervention_id"] == intervention_id]
    return dict(zip(rows["horizon"], rows["status"], strict=True))


def test_a_subsidised_job_after_a_placement_is_a_municipal_intervention_not_work(outcomes):
    as_of = D("2026-11-23")
    d = Deliveries()
    p = turning(30, as_of)
    d.intervention(p, "PRAKTIK-1", "2026-01-01", "2026-03-31", code="PRAKTIK")
    d.intervention(p, "EXTRA-1", "2026-04-15", "2026-12-31", code="EXTRATJANST")
    d.registration(p, "R-1", "2025-12-01")  # still registered: the subsidised job outranks that
    table = outcomes(d, as_of)
    assert _by(table, "PRAKTIK-1") == {30: "municipal_intervention", 90: "municipal_intervention",
                                       180: "municipal_intervention"}  # fmt: skip
    assert not (table["intervention_id"] == "EXTRA-1").any()  # not ended: not in the cohort


def test_horizons_not_reached_are_absent_and_the_horizon_day_itself_counts(outcomes):
    as_of = D("2026-11-23")
    d = Deliveries()
    p = turning(40, as_of)
    end = as_of - dt.timedelta(days=90)  # horizon 90 falls on the as-of date
    d.assignment(p, "A-1", "2026-01-01", end.isoformat(), code="AMU")
    d.registration(p, "R-1", "2025-12-01", (end + dt.timedelta(days=40)).isoformat(), reason="work")
    table = outcomes(d, as_of)
    assert _by(table, "A-1") == {30: "registered", 90: "work"}
    row = table[table["intervention_id"] == "A-1"].iloc[0]
    assert (row["party"], row["kommunkod"], row["category"]) == ("af", "okand", "training")


def test_priority_work_studies_programme_registered_and_unknown(outcomes):
    as_of = D("2026-11-23")
    d = Deliveries()
    p, q, r, s = (turning(age, as_of) for age in (25, 35, 45, 55))
    # p: de-registered to studies 10 days after, re-registered at 60 days, AF programme from 170
    d.intervention(p, "P-1", "2026-01-01", "2026-03-01")
    d.registration(p, "RP-1", "2025-11-01", "2026-03-11", reason="studies")
    d.registration(p, "RP-2", "2026-04-30")
    d.assignment(p, "AP-1", "2026-08-18", "2026-12-31", code="KROM")
    # q: de-registered to work before the intervention began: not its outcome
    d.intervention(q, "Q-1", "2026-02-01", "2026-03-01")
    d.registration(q, "RQ-1", "2025-01-01", "2025-06-30", reason="work")
    # r: de-registered to work on the last day of the intervention, and an AF programme at 90: work wins
    d.intervention(r, "R-1", "2026-01-01", "2026-03-01", kommunkod="1780")
    d.registration(r, "RR-1", "2025-06-01", "2026-03-01", reason="work")
    d.assignment(r, "AR-1", "2026-05-20", "2026-06-10", code="KROM")
    # s: de-registered for another reason: not known afterwards
    d.intervention(s, "S-1", "2026-01-01", "2026-03-01")
    d.registration(s, "RS-1", "2025-06-01", "2026-03-05", reason="other")
    table = outcomes(d, as_of)
    assert _by(table, "P-1") == {30: "studies", 90: "registered", 180: "af_programme"}
    assert _by(table, "Q-1") == {30: "not_known", 90: "not_known", 180: "not_known"}
    assert _by(table, "R-1") == {30: "work", 90: "work", 180: "work"}
    assert _by(table, "S-1") == {30: "not_known", 90: "not_known", 180: "not_known"}
    assert set(table.loc[table["intervention_id"] == "R-1", "kommunkod"]) == {"1780"}
    # the AF programmes that ended: kommun of the municipality holding the person
    assert set(table.loc[table["intervention_id"] == "AR-1", "kommunkod"]) == {"1780"}
    # ... which began after the de-registration to work: not its outcome (and 180 not reached)
    assert _by(table, "AR-1") == {30: "not_known", 90: "not_known"}


# --- the rule against a day-by-day oracle --------------------------------------------------------

_BASE = D("2026-01-01")
_days = st.integers(0, 120)


@st.composite
def _people(draw):
    people = []
    for person in range(draw(st.integers(1, 4))):
        regs = []
        for _ in range(draw(st.integers(0, 3))):
            start = draw(_days)
            end = draw(st.none() | st.integers(start, 130))
            regs.append((start, end, None if end is None else draw(st.sampled_from(["work", "studies", "other"]))))
        periods = {kind: [(s, draw(st.none() | st.integers(s, 130))) for s in draw(st.lists(_days, max_size=2))]
                   for kind in ("af", "municipal")}  # fmt: skip
        observed = [(draw(_days), draw(_days)) for _ in range(draw(st.integers(1, 3)))]
        people.append((person, regs, periods, observed))
    return people


_OPEN = 2**31 - 1


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype({c: np.int64 for c in columns if c not in ("reason",)})


@settings(max_examples=300, deadline=None)
@given(_people())
def test_the_status_rule_equals_a_day_by_day_oracle(people):
    date = lambda n: None if n is None else _BASE + dt.timedelta(days=n)  # noqa: E731
    observed, af, municipal, regs, expected = [], [], [], [], []
    for person, registrations, periods, days in people:
        regs += [(person, s, _OPEN if e is None else e, r or "") for s, e, r in registrations]
        af += [(person, s, _OPEN if e is None else e) for s, e in periods["af"]]
        municipal += [(person, s, _OPEN if e is None else e) for s, e in periods["municipal"]]
        for first, day in days:
            observed.append((len(observed), person, day, first))
            expected.append(outcome_on(date(day), date(first), [(date(s), date(e), r) for s, e, r in registrations],
                                       [(date(s), date(e)) for s, e in periods["af"]],
                                       [(date(s), date(e)) for s, e in periods["municipal"]]))  # fmt: skip
    found = outcome_status(_frame(observed, ["obs", "person", "day", "first"]),
                           _frame(af, ["person", "start", "end"]), _frame(municipal, ["person", "start", "end"]),
                           _frame(regs, ["person", "start", "end", "reason"]))  # fmt: skip
    assert list(found) == expected


# --- the published counts ------------------------------------------------------------------------


def test_the_published_counts_add_up_the_outcomes_and_leave_unreached_horizons_out(outcomes):
    from core.contracts import contract
    from core.publish import conform, rows_for
    from schemas.contracts import PublicationParameters
    from schemas.recipients import load_yaml_text

    as_of = D("2026-11-23")
    d = Deliveries()
    for n in range(6):  # six placements in Grums ending 2026-05-31, each followed by an extratjänst
        p = turning(30, as_of, nth=n)
        d.intervention(p, f"P-{n}", "2026-02-01", "2026-05-31", code="PRAKTIK")
        d.intervention(p, f"E-{n}", "2026-06-10", "2027-06-09", code="EXTRATJANST")
    for n in range(3):  # three in Kil ending 2026-10-31: no horizon reached yet
        d.intervention(turning(45, as_of, nth=n), f"K-{n}", "2026-01-01", "2026-10-31", kommunkod="1715")
    d.registration(turning(30, as_of), "R-0", "2026-01-01")
    table = outcomes(d, as_of)
    declared = contract("uppfoljning_efter_insats")
    published = conform(declared.build({"intervention_outcomes": table}, PublicationParameters(as_of, 2), declared),
                        declared)  # fmt: skip
    cells = published[published["level"] == "cell"]
    found = {(r.horizon, r.status): r.count for r in cells.itertuples()}
    # 2026-05-31 + 180 days is after the as-of date: that horizon is absent
    assert found == {("30", "municipal_intervention"): 6, ("90", "municipal_intervention"): 6}
    assert set(cells["kommunkod"]) == {"1764"} and set(cells["year"]) == {"2026"}
    assert not (published["kommunkod"] == "1715").any()  # Kil's horizons are absent, not zero
    recipients = load_yaml_text("version: 1\nrecipients:\n  - {id: k1764, kind: kommun, kommunkod: '1764'}\n"
                                "  - {id: k1715, kind: kommun, kommunkod: '1715'}\n"
                                "  - {id: r, kind: region, kommuner: ['1715']}\n", Path("r.yaml"))  # fmt: skip
    assert set(rows_for(published, declared, recipients.get("k1764"))["kommunkod"]) == {"1764"}
    assert rows_for(published, declared, recipients.get("k1715")).empty
    assert rows_for(published, declared, recipients.get("r")).empty
