"""The gates through the publication asset, on a copy of the session's night (issue 17): the
generated home has an agreements.yaml (the gate on), an expired agreement withholds every
row-level row and the summary names it, and without the file the run says so in one line.
Counts in the metadata are per gate, and the log records each recipient's agreement."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from core.contracts import CONTRACTS
from core.database import create_engine
from orchestration.app.runs import open_instance, publish_latest
from orchestration.cli import render
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.agreements import NO_AGREEMENTS_FILE
from testkit.homes import copy_home, use_home

ROW_LEVEL = [c.name for c in CONTRACTS if c.recipient_column is not None]


@pytest.fixture(scope="module")
def home(tmp_path_factory, nightly_home):
    home = copy_home(nightly_home, tmp_path_factory.mktemp("gates") / "home")
    with pytest.MonkeyPatch.context() as env:
        use_home(env, home)
        yield home


@pytest.fixture()
def agreements(home):
    """The generated agreements.yaml, as generated at the start of each test (any order)."""
    path = home / "inbox" / "agreements.yaml"
    original = ORIGINAL.setdefault("text", path.read_text(encoding="utf-8"))
    path.write_text(original, encoding="utf-8")
    return path


ORIGINAL: dict[str, str] = {}


def publish(home: Path):
    settings = Settings.of(home=home, sources=home / "inbox" / "sources.yaml")
    outcome = publish_latest(build_definitions(settings), open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    return outcome


def rows(home: Path, table: str) -> int:
    engine = create_engine(f"sqlite:///{home / 'published.sqlite'}")
    with engine.connect() as connection:
        count = connection.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
    engine.dispose()
    return count


def test_the_generated_agreements_withhold_only_the_expired_and_the_uncovered_and_the_log_names_the_one_in_force(
        home, agreements):  # fmt: skip
    """The generator's agreements.yaml: one in force (samverkan_demo), one expired, one
    municipality without any (truth/agreements.csv). The exact counts per gate against the
    truth: tests/integration/test_gates_truth.py."""
    outcome = publish(home)
    facts = outcome.metadata
    truth = pd.read_csv(home / "inbox" / "truth" / "agreements.csv", dtype=str, keep_default_na=False)
    expired = truth.loc[(truth.in_force == "false") & (truth.agreement_id != ""), ["kommunkod", "agreement_id"]]
    uncovered = truth.loc[truth.agreement_id == "", "kommunkod"]
    assert len(expired) == len(uncovered) == 1
    status = facts["kommun_samplanering"]["agreements"]
    assert all(facts[name]["agreements"] == status for name in ROW_LEVEL)
    assert f"agreement {expired.agreement_id.iloc[0]} " in status and "not in force" in status
    assert f"no agreement names {uncovered.iloc[0]} and AF" in status or f"no agreement names AF and {uncovered.iloc[0]}" in status
    assert "samverkan_demo" not in status  # the agreement in force withholds nothing
    assert sum(facts[name]["withheld_no_agreement"] for name in ROW_LEVEL) > 0
    assert facts["unga_90_dagar"]["withheld_no_agreement"] == 0  # AF's own data to its own offices needs none
    assert facts["kommun_samplanering"]["withheld_consent_missing"] > 0  # the generator plants no-consent rows
    engine = create_engine(f"sqlite:///{home / 'published.sqlite'}")
    with engine.connect() as connection:
        logged = connection.execute(sa.text(
            "SELECT DISTINCT agreement_id FROM publication_log WHERE dataset = 'kommun_samplanering' AND row_count > 0"
        )).scalars().all()  # fmt: skip
    engine.dispose()
    assert logged == ["samverkan_demo"]


def test_an_expired_agreement_withholds_every_row_level_row_and_the_summary_names_it(home, agreements, capsys):
    path = agreements
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    first = publish(home)
    before = {name: rows(home, name) for name in ROW_LEVEL}
    # Rows the generated expired agreement and the uncovered municipality already withhold.
    already = {name: first.metadata[name]["withheld_no_agreement"] for name in ROW_LEVEL}
    assert sum(already.values()) > 0
    assert before["kommun_samplanering"] > 0
    spec["agreements"][0]["valid_from"], spec["agreements"][0]["valid_to"] = "2025-01-01", "2025-12-31"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    outcome = publish(home)
    for name in ROW_LEVEL:
        facts = outcome.metadata[name]
        assert rows(home, name) == 0 or name == "unga_90_dagar", name  # AF's own list to its offices needs none
        if name != "unga_90_dagar":
            assert facts["withheld_no_agreement"] == before[name] + already[name], name
    render.publication(outcome, "published.sqlite")
    said = capsys.readouterr()
    assert "WITHHELD for want of a local agreement in force" in said.err
    assert "samverkan_demo" in said.err and "not in force" in said.err
    assert "withheld: no agreement" in said.out


def test_without_an_agreements_file_the_gate_is_off_and_the_run_says_so(home, agreements, capsys):
    agreements.unlink()
    outcome = publish(home)
    assert all(outcome.metadata[name]["agreements"] == NO_AGREEMENTS_FILE for name in ROW_LEVEL)
    assert rows(home, "kommun_samplanering") > 0
    render.publication(outcome, "published.sqlite")
    assert f"NOTE: {NO_AGREEMENTS_FILE}" in capsys.readouterr().err
