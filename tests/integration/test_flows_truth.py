"""Flows between municipalities through the real night (issue 18 §2): on generated data
(2,000 people, the 13 Göteborgsregionen municipalities, one case system without a home
column) the participants counted before publication equal the generator's truth cell for
cell, and every published (perturbed) count is within the cell key's maximum deviation of it."""

from __future__ import annotations

import pandas as pd
import pytest

from core.cellkey import MAX_DEVIATION
from core.contracts import contract
from core.database import create_engine, read_rows
from core.flows import cross_municipality_participants
from core.keys.passphrase import KEYRING_PASSPHRASE_ENV
from core.store import DatasetFiles
from core.synthetic import generate
from core.synthetic.flows import FLOW_CELL, published_against_truth
from orchestration.app.runs import run_nightly
from orchestration.settings import Settings
from testkit import homes

pytestmark = pytest.mark.slow  # a whole night


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("flows") / "inbox"
    generate(inbox, people=2000, seed=1, as_of=homes.AS_OF)
    home = tmp_path_factory.mktemp("flows-night") / "home"
    homes.new_home(home, inbox, "FLOWS")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEYRING_PASSPHRASE_ENV, homes.PASSPHRASE)
        report = run_nightly(Settings.of(home=home), homes.AS_OF)
    assert report.reconciliation.outcome.ok and report.publication.ok
    truth = pd.read_csv(inbox / "truth" / "flows.csv", dtype={c: str for c in FLOW_CELL})
    return home, truth


def test_the_participants_counted_before_publication_equal_the_truth(night):
    home, truth = night
    flows = DatasetFiles(home / "storage").load("municipal_flows")
    counted = cross_municipality_participants(flows).groupby(FLOW_CELL).size()
    expected = truth.set_index(FLOW_CELL)["participants"]
    assert len(expected) > 20 and expected.max() >= 5
    assert counted.sort_index().to_dict() == expected.sort_index().to_dict()


def test_every_published_count_is_within_the_perturbation_tables_maximum_of_the_truth(night):
    """The night publishes with the cell key: nothing suppressed, every count within D of the
    truth and never below 1, a cell left out only where the truth has at most D."""
    home, truth = night
    declared = contract("kommunoverskridande_insatser")
    published = read_rows(create_engine(f"sqlite:///{home / 'published.sqlite'}"), declared.name, declared.model)
    shown = published[(published["level"] == "cell") & ~published["suppressed"]]
    assert len(shown) > 5 and (shown["count"] >= 1).all()  # the comparison below is about something
    assert published_against_truth(published, truth, deviation=MAX_DEVIATION).empty
    assert not published_against_truth(published, truth).empty  # perturbed, not copied
    listed = shown[FLOW_CELL].astype(str).apply(tuple, axis=1)
    left_out = truth[~truth[FLOW_CELL].astype(str).apply(tuple, axis=1).isin(set(listed))]
    assert (left_out["participants"] <= MAX_DEVIATION).all()
    cells = published[published["level"] == "cell"]
    assert set(cells["direction"]) == {"tar_emot", "deltar_annanstans"}
