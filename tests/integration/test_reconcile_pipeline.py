"""Reconciliation through Dagster: the nightly assets and the coordinators' ad-hoc job.

One home is ingested once (one run per source); then the nightly reconciliation runs,
ad-hoc runs with other municipalities, windows and cut-offs run from the runner, the CLI
and `dagster job launch`, and each result is compared with the nightly one filtered as
its config says. Nothing is re-ingested by a reconciliation.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from assets.configs import adhoc_run_config
from core.keys.keyring import Keyring
from core.keys.pseudonyms import level1_pseudonyms
from core.reconcile import window_mask
from orchestration.app.runs import open_instance, reconcile_stored
from orchestration.cli import cli
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.rules import default_rules
from testkit.homes import AS_OF, NIGHT, PASSPHRASE, copy_home
from testkit.leakscan import scan

REPO = Path(__file__).resolve().parents[2]
GOTEBORG, MOLNDAL = "1480", "1481"
RULE_OF = {(r.municipal, r.af): (r.classification, r.id) for r in default_rules().rules}


@pytest.fixture(scope="module")
def home(tmp_path_factory, nightly_home):
    """A copy of the session's night: every source ingested as of AS_OF."""
    home = copy_home(nightly_home, tmp_path_factory.mktemp("reconcile") / "home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
        env.setenv("MELLANRUM_HOME", str(home))
        env.delenv("MELLANRUM_SOURCES", raising=False)
        env.delenv("MELLANRUM_KEYRING", raising=False)
        env.delenv("DAGSTER_HOME", raising=False)
        yield home


@pytest.fixture(scope="module")
def defs(home):
    return build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml"))


@pytest.fixture(scope="module")
def nightly(home, defs):
    outcome = reconcile_stored(defs, open_instance(Settings.of(home=home)), AS_OF)
    assert outcome.ok, outcome.error
    storage = home / "storage"
    return outcome, {name: pd.read_parquet(storage / name / "all.parquet")
                     for name in ("overlaps", "municipal_overlaps", "transition_list")}  # fmt: skip


def adhoc_config(as_of: str = AS_OF.isoformat(), kommuner=(), look_back_days=None, look_ahead_days=None,
                 cut_off: str | None = None) -> dict:  # fmt: skip
    return adhoc_run_config(dt.date.fromisoformat(as_of), list(kommuner), look_back_days, look_ahead_days,
                            dt.date.fromisoformat(cut_off) if cut_off else None)  # fmt: skip


def adhoc(home, defs, **config) -> tuple:
    as_of = dt.date.fromisoformat(config.get("as_of", AS_OF.isoformat()))
    outcome = reconcile_stored(defs, open_instance(Settings.of(home=home)), as_of, adhoc_config(**config), adhoc=True)
    assert outcome.ok, outcome.error
    return outcome, read_folder(Path(outcome.metadata["folder"]))


def read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    return {path.stem: pd.read_parquet(path) for path in folder.glob("*.parquet")}


def same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True))


def test_the_nightly_overlaps_are_the_planted_ones_with_their_class_and_flags(home, nightly):
    outcome, found = nightly
    overlaps = found["overlaps"]
    planted = pd.read_csv(home / "inbox" / "truth" / "overlaps.csv", dtype=str, keep_default_na=False)
    planted = planted[planted.kind == "municipal_af"]
    expected = {
        (row.source_id, row.record_id, row.other_record_id, row.interruption_risk == "true", row.upcoming == "true")
        for row in planted.itertuples()
    }
    assert set(zip(overlaps.municipal_source_id, overlaps.record_id, overlaps.assignment_id,
                   overlaps.interruption_risk, overlaps.upcoming)) == expected  # fmt: skip
    for row in overlaps.itertuples():
        table_class, _ = RULE_OF[(row.municipal_category, row.af_category)]
        assert row.classification == ("conflict" if row.combined_extent_pct > 100 else table_class)
    assert outcome.metadata["dagster/row_count"] == len(overlaps) == len(planted)
    assert outcome.metadata["sources_without_data"] == "none" and outcome.metadata["stale_sources"] == "none"
    assert outcome.metadata["kommuner"] == "all"


def test_the_nightly_municipal_overlaps_are_the_planted_ones(home, nightly):
    _, found = nightly
    planted = pd.read_csv(home / "inbox" / "truth" / "overlaps.csv", dtype=str, keep_default_na=False)
    planted = planted[planted.kind == "two_municipalities"]
    pairs = found["municipal_overlaps"]
    assert {frozenset([(a, b), (c, d)]) for a, b, c, d in zip(pairs.source_id, pairs.record_id, pairs.other_source_id,
                                                                 pairs.other_record_id)} == {
        frozenset([(row.source_id, row.record_id), (row.other_source_id, row.other_record_id)])
        for row in planted.itertuples()
    }  # fmt: skip


def test_an_adhoc_run_for_some_kommuner_is_the_nightly_result_filtered_to_them(home, defs, nightly):
    _, night = nightly
    outcome, result = adhoc(home, defs, kommuner=[GOTEBORG, MOLNDAL])
    chosen = {GOTEBORG, MOLNDAL}
    assert len(result["overlaps"]) > 0
    same(result["overlaps"], night["overlaps"][night["overlaps"].kommunkod.isin(chosen)])
    pairs = night["municipal_overlaps"]
    same(result["municipal_overlaps"], pairs[pairs.kommunkod.isin(chosen) | pairs.other_kommunkod.isin(chosen)])
    same(result["transition_list"], night["transition_list"][night["transition_list"].kommunkod.isin(chosen)])
    assert outcome.metadata["kommuner"] == f"{GOTEBORG}, {MOLNDAL}"


def test_an_adhoc_window_and_cut_off_change_only_what_they_decide(home, defs, nightly):
    _, night = nightly
    cut_off = AS_OF + dt.timedelta(days=60)
    _, result = adhoc(home, defs, look_back_days=0, look_ahead_days=10, cut_off=cut_off.isoformat())
    expected = night["overlaps"].assign(in_window=window_mask(night["overlaps"], AS_OF, 0, 10))
    assert not expected.in_window.equals(night["overlaps"].in_window), "the window should change something"
    same(result["overlaps"], expected)
    listed, nightly_list = result["transition_list"], night["transition_list"]
    assert len(listed) < len(nightly_list)
    assert ((listed.planned_end > pd.Timestamp(cut_off)) | listed.planned_end.isna()).all()
    later = nightly_list[(nightly_list.planned_end > pd.Timestamp(cut_off)) | nightly_list.planned_end.isna()]
    same(listed, later)


def test_an_adhoc_run_leaves_the_nightly_datasets_alone_and_does_not_reingest(home, defs, nightly):
    storage = home / "storage"
    stamps = {path: path.stat().st_mtime_ns for path in storage.rglob("*.parquet") if "adhoc" not in path.parts}
    outcome, _ = adhoc(home, defs, kommuner=[GOTEBORG], as_of="2027-01-15")
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    instance = open_instance(Settings.of(home=home))
    (run,) = instance.get_runs(filters=dg.RunsFilter(run_ids=[outcome.run_id]))
    assert run.job_name == "reconcile_adhoc"
    planned = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    assert [step.key for step in planned.steps] == ["adhoc_reconciliation"]


def test_a_later_as_of_date_moves_the_days_counted_and_the_flags(home, defs, nightly):
    _, night = nightly
    later = AS_OF + dt.timedelta(days=400)
    _, result = adhoc(home, defs, as_of=later.isoformat())
    overlaps = result["overlaps"]
    assert list(overlaps.record_id) == list(night["overlaps"].record_id)
    assert not overlaps.upcoming.any()  # every planted upcoming assignment has started by then
    assert (overlaps.overlap_days >= night["overlaps"].overlap_days).all()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kommuner": ["9999"]}, "kommuner: got '9999': not the kommunkod of any municipal source"),
        ({"cut_off": "2026-11-01"}, "cut_off: got 2026-11-01: it must not be before the as-of date 2026-11-23"),
    ],
)
def test_a_wrong_adhoc_config_fails_saying_which_key(home, defs, config, message):
    outcome = reconcile_stored(defs, open_instance(Settings.of(home=home)), AS_OF, adhoc_config(**config), adhoc=True)
    assert not outcome.ok
    assert message in outcome.error


def test_the_cli_runs_the_adhoc_job_and_prints_counts_per_kommun(home):
    result = CliRunner().invoke(cli, ["reconcile", "--home", str(home), "--as-of", AS_OF.isoformat(),
                                      "--kommun", GOTEBORG, "--look-ahead", "30"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:2] == [GOTEBORG, "Göteborg"] for line in lines)
    assert not any(line.split()[:1] == [MOLNDAL] for line in lines)
    assert "window −90/+30 days" in result.output and f"kommuner: {GOTEBORG}" in result.output
    folder = Path(result.output.split("results: ")[1].split(" (run")[0])
    assert sorted(p.name for p in folder.iterdir()) == ["municipal_overlaps.parquet", "overlaps.parquet",
                                                        "transition_list.parquet"]  # fmt: skip


@pytest.mark.slow
def test_dagster_job_launch_runs_the_adhoc_job_with_its_config(home, defs, tmp_path):
    """The way a coordinator's launch reaches Dagster: a run submitted to the instance,
    executed in its own process from the code location in workspace.yaml."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    # No daemon runs in the test: launch at once instead of queueing.
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n",
        encoding="utf-8",
    )
    config = {"as_of": AS_OF.isoformat(), "kommuner": [MOLNDAL, GOTEBORG], "look_back_days": 30, "look_ahead_days": 60}
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "MELLANRUM_HOME": str(home),
           "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE}  # fmt: skip
    launched = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "reconcile_adhoc",
         "--config-json", json.dumps({"ops": {"adhoc_reconciliation": {"config": config}}})],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-2000:]
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    deadline = time.monotonic() + 120
    while (run := instance.get_runs(limit=1)[0]).status not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
        assert time.monotonic() < deadline, f"the launched run is still {run.status}"
        time.sleep(1)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.job_name == "reconcile_adhoc"
    launched_result = read_folder(home / "storage" / "adhoc" / run.run_id)
    _, in_process = adhoc(home, defs, **{k: v for k, v in config.items() if k != "as_of"})
    assert set(launched_result) == set(in_process)
    for name, frame in launched_result.items():
        same(frame, in_process[name])


def test_nothing_a_reconciliation_leaves_behind_holds_a_personal_number(home, nightly, synthetic_numbers):
    people = sorted(synthetic_numbers)
    linkage = Keyring.load(home / "keyring.json", PASSPHRASE).get(f"L1-{NIGHT}").secret
    level1 = level1_pseudonyms(pd.Series(people), linkage).tolist()
    assert any((home / "storage" / "adhoc").rglob("*.parquet")), "the ad-hoc results must have been scanned"
    deliveries = [home / "inbox" / "kommun", home / "inbox" / "af"]
    assert scan(home, people, exclude=deliveries, level1=level1) == []


def test_run_can_reingest_one_source_and_refuses_an_unknown_one(home):
    runner = CliRunner()
    one = runner.invoke(cli, ["run", "--home", str(home), "--as-of", AS_OF.isoformat(), "--source", "molndal"])
    assert one.exit_code == 0, one.output
    assert "1 of 1 sources ingested" in one.output and "published as of 2026-11-23" in one.output
    unknown = runner.invoke(cli, ["run", "--home", str(home), "--source", "nowhere"])
    assert unknown.exit_code == 2
    assert "--source: got 'nowhere': not declared in" in unknown.output
