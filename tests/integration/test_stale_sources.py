"""Staleness from facts (issue 12), said the same way by the run's summary, the
reconciliation's metadata and its `sources_fresh` check, in four situations: a failure the
same night, an ad-hoc run as of a past date, a source never delivered, a source recovered."""

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from schemas.sources import load_sources
from testkit.homes import AS_OF, PASSPHRASE, new_home

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

MELLANRUM = Path(sys.executable).parent / "mellanrum"
NEXT = AS_OF + dt.timedelta(days=1)


def _mellanrum(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELLANRUM_", "DAGSTER_"))}
    env.update(MELLANRUM_HOME=str(home), MELLANRUM_KEYRING_PASSPHRASE=PASSPHRASE)
    done = subprocess.run([str(MELLANRUM), *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done.stdout + done.stderr


def _said(output: str) -> tuple[str, str]:
    """(sources without data, stale sources) as the summary line says them."""
    found = re.search(r"sources without data: (.*); stale sources \(.*?\): (.*)$", output, re.M)
    assert found, output[-2000:]
    return found.group(1), found.group(2)


def _check(home: Path) -> dg.AssetCheckEvaluation:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("overlaps"), "sources_fresh")])[dg.AssetCheckKey(dg.AssetKey("overlaps"), "sources_fresh")]
        return record.event.dagster_event.event_specific_data


@pytest.fixture(scope="module")
def home(tmp_path_factory, inbox) -> Path:
    home = tmp_path_factory.mktemp("stale") / "home"
    new_home(home, inbox, "STALE")
    # One more municipality declared, which never delivers anything.
    sources_file = home / "inbox" / "sources.yaml"
    spec = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    silent = {**next(s for s in spec["sources"] if s["id"] == "ale"), "id": "bollebygd", "kommunkod": "1443",
              "files": "kommun/1443_bollebygd/*.csv"}  # fmt: skip
    spec["sources"].append(silent)
    sources_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return home


def test_four_situations_said_the_same_by_summary_metadata_and_check(home):
    declared = [s.id for s in load_sources(home / "inbox" / "sources.yaml").all if s.id != "bollebygd"]

    # Night one: every source but the silent one delivers. It has no data; nothing is stale.
    without, stale = _said(_mellanrum(home, "run", "--as-of", AS_OF.isoformat(), *[f"--source={s}" for s in declared]))
    assert (without, stale) == ("bollebygd (never ingested)", "none")
    check = _check(home)
    assert not check.passed and check.metadata["sources_without_data"].value == without
    assert check.metadata["stale_sources"].value == stale

    # An ad-hoc run as of a past date sees today's data: not stale, and nothing "failed".
    without, stale = _said(_mellanrum(home, "reconcile", "--as-of", (AS_OF - dt.timedelta(days=60)).isoformat()))
    assert stale == "none" and without == "bollebygd (never ingested)"

    # The next night goteborg's delivery fails (after a good one the same day, from a sensor):
    # stale, though its data is as of that very night.
    _mellanrum(home, "run", "--as-of", NEXT.isoformat(), "--source", "goteborg")
    sources = load_sources(home / "inbox" / "sources.yaml")
    (path,) = sources.files(sources.source("goteborg"))
    original = path.read_bytes()
    path.write_bytes(b"\x00\x01binary\xff" * 100)
    output = _mellanrum(home, "run", "--as-of", NEXT.isoformat())
    without, stale = _said(output)
    assert stale == f"goteborg (last good {NEXT}; latest attempt as of {NEXT} failed)"
    assert without == f"bollebygd (latest attempt as of {NEXT} failed)"
    check = _check(home)
    assert (check.metadata["stale_sources"].value, check.metadata["sources_without_data"].value) == (stale, without)
    freshness = {row["source_id"]: row["status"] for row in
                 (record.data for record in check.metadata["freshness"].value.records)}  # fmt: skip
    assert freshness["goteborg"] == "stale" and freshness["bollebygd"] == "no data" and freshness["ale"] == "fresh"

    # Recovered: goteborg delivers again and is fresh; the summary and the check agree.
    path.write_bytes(original)
    without, stale = _said(_mellanrum(home, "run", "--as-of", NEXT.isoformat()))
    assert stale == "none"
    assert _check(home).metadata["stale_sources"].value == "none"
