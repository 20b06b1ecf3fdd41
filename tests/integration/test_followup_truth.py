"""On generated data (demo scale: 2,000 people, the 13 Göteborgsregionen municipalities),
the registration-based lists equal the generator's truth by ids, per kommun."""

from __future__ import annotations

import pandas as pd
import pytest

from core.ingest import ingest_source
from core.keys.keyring import pseudonym_keys
from core.reconcile import transition_list, with_registrations
from core.registrations import handovers, youth_monitor
from core.synthetic import generate
from core.synthetic.followup_truth import COLUMNS, compare_followup, found_lists, read_truth
from schemas.sources import load_sources
from testkit.homes import AS_OF


pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

@pytest.fixture(scope="module")
def demo(tmp_path_factory, keyring):
    inbox = tmp_path_factory.mktemp("demo")
    generate(inbox, people=2000, seed=1, as_of=AS_OF)
    sources = load_sources(inbox / "sources.yaml")
    keys = pseudonym_keys(keyring, AS_OF)
    accepted = {"municipal": [], "af": [], "af_registrations": []}
    for source in sources.all:
        result = ingest_source(source, sources.files(source), sources.catalogue, keys, keyring, AS_OF)
        accepted[source.kind].append(result.accepted)
    data = {kind: pd.concat(frames, ignore_index=True) for kind, frames in accepted.items()}
    return data, read_truth(inbox / "truth")


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
