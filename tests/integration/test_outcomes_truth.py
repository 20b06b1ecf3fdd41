"""On generated data (demo scale: 2,000 people, the 13 Göteborgsregionen municipalities),
the outcomes after an intervention equal the generator's truth (`truth/outcomes.csv`,
computed with the day-by-day oracle, not with `core.outcomes`): the counts before any
protection exactly, every published count that is not suppressed, and the planted cases'
statuses (`truth/outcome_cases.csv`), horizons not yet reached absent."""

from __future__ import annotations

import pandas as pd
import pytest

from core.cellkey import MAX_DEVIATION
from core.contracts import CONTRACTS
from core.keys.record_keys import cell_key_secret
from core.outcomes import intervention_outcomes, outcome_cell_counts
from core.publish import gated_datasets
from core.reconcile import Window, reconcile
from core.registrations import handovers, youth_monitor
from core.synthetic import generate
from core.synthetic.outcome_cases import ABSENT, CELL, compare_outcome_counts
from schemas.agreements import load_agreements
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.rules import DEFAULT_RULES, load_rules
from testkit.homes import AS_OF, accepted_by_kind

pytestmark = pytest.mark.slow  # a whole night's stages (`-m 'not slow'` for the inner loop)

KEY = ["level", *CELL]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outcomes")
    generate(folder, people=2000, seed=3, as_of=AS_OF)
    return folder


@pytest.fixture(scope="module")
def data(inbox, keyring):
    return accepted_by_kind(inbox, keyring)


@pytest.fixture(scope="module")
def outcomes(data) -> pd.DataFrame:
    return intervention_outcomes(data["municipal"], data["af"], data["af_registrations"], AS_OF)


def _truth(inbox, name: str) -> pd.DataFrame:
    return pd.read_csv(inbox / "truth" / f"{name}.csv", dtype=str, keep_default_na=False)


def _as_text(counts: pd.DataFrame) -> pd.DataFrame:
    return counts[[*KEY, "count"]].astype(str).sort_values(KEY, ignore_index=True)


def test_the_counts_before_protection_equal_the_truth_exactly(inbox, outcomes):
    truth = _truth(inbox, "outcomes")
    assert len(truth) > 300 and set(truth.loc[truth["level"] == "cell", "status"]) == {
        "work", "studies", "af_programme", "municipal_intervention", "registered", "not_known"}  # fmt: skip
    compared = compare_outcome_counts(outcome_cell_counts(outcomes), truth)
    assert compared == {"cells": len(truth), "only_found": 0, "only_truth": 0, "count_differs": 0}


def published_differences(published: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int]:
    """(published cells absent from the truth, unsuppressed published counts that differ from
    the truth's). With a perturbation method, the second becomes a bound on the difference."""
    table = published.astype({c: str for c in CELL}).merge(_as_text(truth), on=KEY, how="left", indicator=True)
    absent = int((table["_merge"] != "both").sum())
    shown = table[~table["suppressed"].astype(bool)]
    differ = int((shown["count_x"].astype("Int64").astype(str) != shown["count_y"]).sum())
    return absent, differ


def _published(inbox, data, outcomes, secret: bytes | None) -> pd.DataFrame:
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    rules = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
    result = reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF, registrations=registrations)
    inputs = {"overlaps": result.overlaps, "transition_list": result.transition_list,
              "youth_monitor": youth_monitor(municipal, af, registrations, AS_OF),
              "handovers": handovers(municipal, af, registrations, AS_OF), "intervention_outcomes": outcomes}  # fmt: skip
    agreements = load_agreements(inbox / "agreements.yaml", [c.name for c in CONTRACTS])
    parameters = PublicationParameters(AS_OF, 5, agreements, cell_key_secret=secret)
    datasets, _ = gated_datasets(inputs, CONTRACTS, parameters)
    return datasets["uppfoljning_efter_insats"]


def test_every_published_count_not_suppressed_equals_the_truth(inbox, data, outcomes):
    published = _published(inbox, data, outcomes, secret=None)
    assert (~published["suppressed"]).sum() > 50
    assert published_differences(published, _truth(inbox, "outcomes")) == (0, 0)


def test_with_the_cell_key_every_published_count_is_within_the_table_of_the_truth(inbox, data, outcomes):
    """With the Cell Key Method nothing is suppressed: every published count is within D of
    the truth's, none is negative, and a cell is left out only where its truth is at most D."""
    published = _published(inbox, data, outcomes, secret=cell_key_secret(b"k" * 32))
    truth = _as_text(_truth(inbox, "outcomes"))
    table = published.astype({c: str for c in CELL}).merge(truth, on=KEY, how="outer", indicator=True)
    assert not (table["_merge"] == "left_only").any()
    shown = table[table["_merge"] == "both"]
    difference = (shown["count_x"].astype("int64") - shown["count_y"].astype("int64")).abs()
    assert (shown["count_x"].astype("int64") > 0).all() and difference.max() <= MAX_DEVIATION
    assert (difference > 0).any()  # perturbed, not copied
    dropped = table[table["_merge"] == "right_only"]
    assert (dropped["count_y"].astype("int64") <= MAX_DEVIATION).all()


def test_the_planted_cases_have_their_expected_statuses(inbox, data, outcomes):
    cases = _truth(inbox, "outcome_cases")
    assert len(cases) >= 30 and {"municipal_intervention", ABSENT} <= set(cases["expected"])
    found = outcomes.assign(id=outcomes["intervention_id"].astype(str), horizon=outcomes["horizon"].astype(str))
    statuses = cases.merge(found[["party", "id", "horizon", "status"]], on=["party", "id", "horizon"], how="left")
    statuses["status"] = statuses["status"].astype(object).where(statuses["status"].notna(), ABSENT)
    wrong = statuses[statuses["status"] != statuses["expected"]]
    assert wrong.empty, wrong[["case", "party", "horizon", "expected", "status"]].to_string()
    kolada = statuses[statuses["case"] == "extratjanst_after_placement"]
    assert "municipal_intervention" in set(kolada["status"]) and "work" not in set(kolada["status"])


def test_horizons_not_yet_reached_are_absent(inbox, outcomes):
    reached = outcomes["ends_on"] + pd.to_timedelta(outcomes["horizon"].astype("int64"), unit="D")
    assert (reached <= pd.Timestamp(AS_OF)).all() and len(outcomes) > 1000
    truth = _truth(inbox, "outcomes")
    cells = truth[truth["level"] == "cell"]
    years = pd.PeriodIndex(cells["year"], freq="Y")
    last_day = pd.Series(years.end_time.normalize(), index=cells.index)
    # A year whose first day plus the horizon lies after the as-of date has no row at that horizon.
    first_day = pd.Series(years.start_time, index=cells.index)
    assert not (first_day + pd.to_timedelta(cells["horizon"].astype(int), unit="D") > pd.Timestamp(AS_OF)).any()
    assert (last_day + pd.to_timedelta(cells["horizon"].astype(int), unit="D") > pd.Timestamp(AS_OF)).any()
