"""On generated data (demo scale: 2,000 people, the 13 Göteborgsregionen municipalities),
the registration-based lists equal the generator's truth by ids, per kommun; and every
row-level dataset built through the library stages equals the truth under the gates, with
each gate's count (a second seed besides the session's night: tests/integration/test_gates_truth.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contracts import CONTRACTS
from core.publish import gated_datasets
from core.reconcile import Window, reconcile, transition_list, with_registrations
from core.registrations import handovers, youth_monitor
from core.synthetic import generate
from core.synthetic.followup_truth import COLUMNS, compare_followup, found_lists, read_truth
from core.synthetic.gates_truth import GATE_ORDER, PARTLY, gated_truth, published_rows
from schemas.agreements import load_agreements
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.rules import DEFAULT_RULES, load_rules
from schemas.sources import load_sources
from testkit.homes import AS_OF, accepted_by_kind


pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

@pytest.fixture(scope="module")
def demo_inbox(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("demo")
    generate(inbox, people=2000, seed=1, as_of=AS_OF)
    return inbox


@pytest.fixture(scope="module")
def demo(demo_inbox, keyring):
    return accepted_by_kind(demo_inbox, keyring), read_truth(demo_inbox / "truth")


def test_the_registration_source_is_ingested_whole(demo):
    data, _ = demo
    assert len(data["af_registrations"]) > 500
    assert data["af_registrations"]["deregistration_reason"].dropna().isin(["work", "studies", "other", "unknown"]).all()


@pytest.fixture(scope="module")
def found(demo) -> dict[str, pd.DataFrame]:
    data, _ = demo
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    listed = with_registrations(transition_list(municipal, af, AS_OF, AS_OF), municipal, af, registrations, AS_OF, AS_OF)
    return found_lists(listed, youth_monitor(municipal, af, registrations, AS_OF),
                       handovers(municipal, af, registrations, AS_OF))  # fmt: skip


def test_the_transition_lists_registration_rows_equal_the_truth_per_kommun(demo, found):
    _, truth = demo
    assert len(found["transition_list"]) > 50
    assert compare_followup(found, truth).get("transition_list", {}) == {}


def test_every_youth_status_equals_the_truth_per_kommun(demo, found):
    _, truth = demo
    assert {"met", "approaching", "breached", "pending"} <= set(found["youth_monitor"]["status"])
    assert compare_followup(found, truth).get("youth_monitor", {}) == {}


def test_every_hand_over_equals_the_truth_per_kommun(demo, found):
    _, truth = demo
    assert set(found["handovers"]["kind"]) == {"insats_slut_utan_af", "af_slut_utan_fortsattning", "kaa_slutar"}
    assert compare_followup(found, truth).get("handovers", {}) == {}


def test_the_truth_files_are_not_empty(demo):
    _, truth = demo  # the comparison of an empty truth with an empty list would pass
    assert all(len(truth[name]) > 20 for name in COLUMNS)


def test_every_row_level_dataset_equals_the_truth_under_the_gates_with_each_gates_count(demo, demo_inbox):
    data, _ = demo
    inbox = demo_inbox
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    rules = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
    result = reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF, registrations=registrations)
    inputs = {"overlaps": result.overlaps, "transition_list": result.transition_list,
              "youth_monitor": youth_monitor(municipal, af, registrations, AS_OF),
              "handovers": handovers(municipal, af, registrations, AS_OF)}  # fmt: skip
    agreements = load_agreements(inbox / "agreements.yaml", [c.name for c in CONTRACTS])
    datasets, withheld = gated_datasets(inputs, CONTRACTS, PublicationParameters(AS_OF, 5, agreements))
    sources = load_sources(inbox / "sources.yaml")
    truth = gated_truth(inbox / "truth", {s.id: s.kommunkod for s in sources.all if s.kind == "municipal"}, AS_OF)
    for name, expected in truth.items():
        found = published_rows(name, datasets[name])
        assert set(found.itertuples(index=False, name=None)) == set(expected.rows.itertuples(index=False, name=None)), name
        assert len(expected.rows) > 0, name
        if name not in PARTLY:
            assert {gate: withheld[name][gate] for gate in GATE_ORDER} == expected.withheld, name
    for gate in GATE_ORDER:
        assert sum(t.withheld[gate] for t in truth.values()) > 0, gate
