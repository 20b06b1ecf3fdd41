"""The benchmark's national inbox plants home municipalities as the demo does (issue 18 §5):
only where they differ from the providing kommun, one per person, in a neighbour of the same
county, in the column the case systems declare; and the pipeline's ingest reads them, so the
flows between municipalities it computes equal the generator's truth (small scale, seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.ingest
from core.synthetic.flows import LIVING_ELSEWHERE_SHARE
from core.synthetic.people import _OTHER_POPULATION_THOUSANDS, _POPULATION_THOUSANDS
from schemas.municipalities import municipality_names
from schemas.sources import load_sources

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench's modules import each other by their plain names
import national  # noqa: E402
import national_data  # noqa: E402

sys.path.remove(str(BENCH))

CODES = sorted(municipality_names())
WEIGHTS = np.array([_POPULATION_THOUSANDS.get(c, _OTHER_POPULATION_THOUSANDS) for c in CODES], dtype=float)
COUNTY = np.array([c[:2] for c in CODES])
SHARED_COUNTY = np.array([(COUNTY == c).sum() > 1 for c in COUNTY])


def _neighbour_oracle(own: int, uniform: float) -> int:
    """The slow form: walk the county's other kommuner, each taking its weight of the line."""
    others = [k for k in range(len(CODES)) if COUNTY[k] == COUNTY[own] and k != own]
    total = sum(int(WEIGHTS[k]) for k in others)
    point = min(int(uniform * total), total - 1)
    for k in others:
        point -= int(WEIGHTS[k])
        if point < 0:
            return k
    raise AssertionError("the walk ran past the county")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(np.flatnonzero(SHARED_COUNTY).tolist()),
                          st.floats(0, 1, exclude_max=True)), min_size=1, max_size=40))  # fmt: skip
def test_a_neighbour_is_drawn_as_the_slow_walk_draws_it(draws):
    own = np.array([o for o, _ in draws])
    uniform = np.array([u for _, u in draws])
    drawn = national_data.neighbours(CODES, WEIGHTS, own, uniform)
    assert drawn.tolist() == [_neighbour_oracle(o, u) for o, u in draws]


def test_homes_are_a_share_of_people_in_another_kommun_of_their_county():
    kommun = np.random.default_rng(3).integers(0, len(CODES), 200_000)
    homes = national_data._homes(CODES, WEIGHTS, kommun, np.random.default_rng(4))
    elsewhere = homes != kommun
    assert (COUNTY[homes] == COUNTY[kommun]).all()
    assert not elsewhere[~SHARED_COUNTY[kommun]].any()  # Gotland: nobody to live in next door
    share = elsewhere[SHARED_COUNTY[kommun]].mean()
    assert abs(share - LIVING_ELSEWHERE_SHARE) < 0.005
    # By population: Göteborg's neighbours in Västra Götaland most often live in Göteborg.
    gothenburg = CODES.index("1480")
    neighbours_of_14 = elsewhere & (COUNTY[kommun] == "14") & (kommun != gothenburg)
    assert np.bincount(homes[neighbours_of_14]).argmax() == gothenburg


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict:
    """A small national inbox, ingested and reconciled as the bench does (its store): Halland,
    Västra Götaland and Gotland, so that a few thousand rows fill every kommun without the
    top-up from the largest one (whose moved rows would name homes far away)."""
    root = tmp_path_factory.mktemp("national")
    kommuner = [c for c in CODES if c[:2] in ("09", "13", "14")]
    inbox = national_data.write_national_inbox(root / "inbox", municipal_rows=4_000, af_rows=4_000, seed=5,
                                               municipalities=kommuner)  # fmt: skip
    national.make_keyring(root / "keyring.json")
    ingested = national.measure_ingest(inbox.to_json(), str(root / "keyring.json"), str(root / "store"))
    reconciled = national.measure_reconcile(str(root / "store"), True)
    return {"root": root, "inbox": inbox, "ingested": ingested, "reconciled": reconciled}


def _delivered(inbox) -> pd.DataFrame:
    """Every municipal source's rows as delivered (text, in our column names), with its kommun."""
    sources = load_sources(Path(inbox.sources_yaml))
    frames = []
    for facts in (f for f in inbox.sources if f.kind == "municipal"):
        source = sources.source(facts.source_id)
        for path in sources.files(source):
            frame = core.ingest.to_canonical(source, core.ingest.read_source_file(source, path))
            frames.append(frame.assign(source_id=facts.source_id, system=facts.system, provider=facts.kommunkod))
    return pd.concat(frames, ignore_index=True)


def test_the_case_systems_that_declare_the_column_deliver_it(night):
    inbox = night["inbox"]
    sources = load_sources(Path(inbox.sources_yaml))
    municipal = [f for f in inbox.sources if f.kind == "municipal"]
    declared = {f.source_id: "home_kommunkod" in sources.source(f.source_id).columns.values() for f in municipal}
    assert declared == {f.source_id: f.system != "komma_bom" for f in municipal}
    delivered = _delivered(inbox)
    written = delivered.get("home_kommunkod", pd.Series("", index=delivered.index)).fillna("").str.strip()
    by_system = written.ne("").groupby(delivered["system"]).sum()
    assert by_system["komma_bom"] == 0 and (by_system.drop("komma_bom") > 0).all()


def test_a_home_is_written_only_where_it_differs_one_per_person_mostly_next_door(night):
    delivered = _delivered(night["inbox"])
    delivered = delivered[delivered["system"] != "komma_bom"]
    home = delivered["home_kommunkod"].fillna("").str.strip()
    written = home != ""
    assert written.any()
    assert (home[written] != delivered["provider"][written]).all()  # never the providing kommun itself
    assert home[written].isin(set(CODES)).all()
    # The rows of people living in a neighbour name a kommun of the provider's county; only the
    # 1 % of rows registered in a second, random kommun (people who moved) may name another.
    same_county = home[written].str[:2] == delivered["provider"][written].str[:2]
    assert same_county.mean() > 0.95
    # One home per person: the home each accepted row stands for (the delivered one, or the
    # providing kommun where none is written) is the same on all of a person's rows.
    store = national._files(str(night["root"] / "store"))
    accepted = store.load("municipal_interventions")
    accepted = accepted[accepted["source_id"].isin(set(delivered["source_id"])).to_numpy(dtype=bool)]
    homes_per_person = accepted.groupby("pseudonym")["home_kommunkod"].nunique()
    assert homes_per_person.max() == 1
    assert (accepted["home_kommunkod"] != accepted["kommunkod"]).any()


def test_ingest_reads_the_homes_and_the_flows_equal_the_generators_truth(night):
    inbox = night["inbox"]
    expected = {f.source_id: [f.rows, f.expected_accepted, f.expected_quarantined] for f in inbox.sources}
    assert night["ingested"]["counts"] == expected  # no row quarantined for its home kommun
    assert night["reconciled"]["counts"]["municipal_flows_cross"] > 0
    check = national.check_truth(str(night["root"] / "store"), str(Path(inbox.folder) / "truth"))
    assert check["differences"] == {}
    assert check["flow_cells"] > 0 and check["flow_participants"] >= check["flow_cells"]
