"""On generated data (the session's night): every published row-level dataset equals the
generator's truth under the gates, per recipient, and every gate's withheld counts in the
publication's summary equal the truth's (issue 17). The truth is the generator's own
statement of what it planted (`truth/consent.csv`, `agreements.csv`, `regions.csv` and the
lists' truth), combined by `core.synthetic.gates_truth`, which uses neither `core.gates` nor
the contracts' builders."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from core.database import create_engine
from core.synthetic.gates_truth import DATASETS, GATE_ORDER, PARTLY, gated_truth, published_rows
from orchestration.app.runs import open_instance, publish_latest
from orchestration.cli import render
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.recipients import load_recipients
from schemas.sources import load_sources
from testkit.homes import AS_OF, copy_home, use_home


@pytest.fixture(scope="module")
def night(tmp_path_factory, nightly_home):
    """A copy of the session's night, published once more here for the run's summary."""
    home = copy_home(nightly_home, tmp_path_factory.mktemp("gates_truth") / "home")
    with pytest.MonkeyPatch.context() as env:
        use_home(env, home)
        settings = Settings.of(home=home, sources=home / "inbox" / "sources.yaml")
        outcome = publish_latest(build_definitions(settings), open_instance(Settings.of(home=home)))
        assert outcome.ok, outcome.error
        engine = create_engine(f"sqlite:///{home / 'published.sqlite'}")
        with engine.connect() as connection:
            tables = {name: pd.read_sql(sa.text(f'SELECT * FROM "{name}"'), connection)
                      for name in [*DATASETS, "regional_statistik", "publication_log"]}  # fmt: skip
        engine.dispose()
        yield home, outcome, tables


@pytest.fixture(scope="module")
def truth(night):
    home, _, _ = night
    sources = load_sources(home / "inbox" / "sources.yaml")
    kommun_of = {s.id: s.kommunkod for s in sources.all if s.kind == "municipal"}
    return gated_truth(home / "inbox" / "truth", kommun_of, AS_OF)


def latest_log(tables) -> pd.DataFrame:
    log = tables["publication_log"]
    return log[log["run_id"] == log.sort_values("published_at")["run_id"].iloc[-1]]


def test_the_truth_plants_every_gate_and_something_still_leaves(truth):
    for gate in GATE_ORDER:  # each gate withholds rows of some dataset on generated data
        assert sum(t.withheld[gate] for t in truth.values()) > 0, gate
    for name in ("kommun_samplanering", "af_samplanering", "unga_90_dagar", "unga_90_dagar_kommun", "overlamningar"):
        assert len(truth[name].rows) > 0, name  # an empty truth would equal an empty table


@pytest.mark.parametrize("name", list(DATASETS))
def test_each_recipient_reads_exactly_the_truth_under_the_gates(night, truth, name):
    home, _, tables = night
    expected = truth[name]
    found = published_rows(name, tables[name])
    assert set(found.itertuples(index=False, name=None)) == set(expected.rows.itertuples(index=False, name=None))
    kind = "kommun" if expected.recipient_column == "kommunkod" else "af_office"
    log = latest_log(tables)
    logged = log[log["dataset"] == name].drop_duplicates("recipient").set_index("recipient")["row_count"]
    recipients = load_recipients(home / "inbox" / "recipients.yaml").of_kind(kind)
    for recipient in recipients:
        own = found[found[expected.recipient_column] == recipient.scope]
        assert set(own.itertuples(index=False, name=None)) == expected.of(recipient.scope), recipient.id
        if name not in PARTLY:  # its assignment-keyed rows have no truth (they count in the log)
            assert logged[recipient.id] == len(expected.of(recipient.scope)), recipient.id


def test_every_gates_withheld_count_in_the_summary_equals_the_truths(night, truth, capsys):
    _, outcome, _ = night
    for name, expected in truth.items():
        if name in PARTLY:
            continue
        facts = outcome.metadata[name]
        assert {gate: facts[f"withheld_{gate}"] for gate in GATE_ORDER} == expected.withheld, name
    render.publication(outcome, "published.sqlite")
    table = capsys.readouterr().out
    for gate in GATE_ORDER:
        assert f"withheld: {gate.replace('_', ' ')}" in table


def test_the_expired_agreement_and_the_uncovered_municipality_get_no_rows_and_the_summary_names_them(night, capsys):
    home, outcome, tables = night
    agreements = pd.read_csv(home / "inbox" / "truth" / "agreements.csv", dtype=str, keep_default_na=False)
    expired = agreements[(agreements["in_force"] == "false") & (agreements["agreement_id"] != "")]
    uncovered = agreements[agreements["agreement_id"] == ""]
    assert len(expired) == 1 and len(uncovered) == 1
    withheld = {*expired["kommunkod"], *uncovered["kommunkod"]}
    for name in ("kommun_samplanering", "af_samplanering", "unga_90_dagar_kommun", "overlamningar_kommun",
                 "overlamningar", "af_pagaende_insatser"):  # fmt: skip
        assert not set(tables[name]["kommunkod"]) & withheld, name
    render.publication(outcome, "published.sqlite")
    said = capsys.readouterr().err
    assert expired["agreement_id"].iloc[0] in said and "not in force" in said
    assert f"no agreement names {uncovered['kommunkod'].iloc[0]} and AF" in said or \
        f"no agreement names AF and {uncovered['kommunkod'].iloc[0]}" in said


def test_each_region_reads_the_statistics_of_its_truth_municipalities_only(night):
    home, _, tables = night
    regions = pd.read_csv(home / "inbox" / "truth" / "regions.csv", dtype=str, keep_default_na=False)
    assert set(regions["recipient"]) == {"region_gr", "region_kronoberg"}
    assert set(regions["groupings"]) >= {"norra", "sodra", "ost", "vast"}
    statistics = tables["regional_statistik"]
    log = latest_log(tables)
    logged = log[log["dataset"] == "regional_statistik"].drop_duplicates("recipient").set_index("recipient")["row_count"]
    for region, own in regions.groupby("recipient"):
        assert logged[region] == int(statistics["kommunkod"].isin(own["kommunkod"]).sum()), region
    assert logged["region_gr"] > 0 and logged["region_kronoberg"] == 0  # the inbox has GR's municipalities only
