"""The README's main command, end to end, and the leak scan over everything it wrote."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from orchestration.cli import cli
from testkit.leakscan import scan

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

ROOT = Path(__file__).resolve().parents[2]


def test_demo_ingests_every_source_and_leaks_no_number(tmp_path, synthetic_numbers, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MELLANRUM_KEYRING_PASSPHRASE", raising=False)
    home = tmp_path / "demo"
    result = CliRunner().invoke(
        cli,
        ["demo", "--home", str(home), "--people", "300", "--as-of", "2026-11-23"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "goteborg" in result.output and "af" in result.output

    assert "15 of 15 sources ingested" in result.output  # 13 municipalities, AF assignments and registrations
    stored = home / "storage" / "municipal_interventions"
    assert len(list(stored.glob("*.parquet"))) == 13
    frame = pd.read_parquet(stored / "goteborg.parquet")
    assert "personnummer" not in frame.columns
    assert frame["pseudonym"].str.fullmatch(r"[A-Z2-7]{52}").all()

    # Only the generator's own delivery files may hold plain numbers.
    deliveries = [home / "inbox" / "kommun", home / "inbox" / "af"]
    assert scan(home / "inbox" / "kommun", synthetic_numbers), "the scanner must see the deliveries' numbers"
    assert scan(home, synthetic_numbers, exclude=deliveries) == []


def test_the_dagster_workspace_loads(tmp_path, inbox):
    """What `dagster dev -w workspace.yaml` loads, checked the way Dagster's own CLI does."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "MELLANRUM_HOME": str(tmp_path),
           "MELLANRUM_SOURCES": str(inbox / "sources.yaml")}  # fmt: skip
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert "All code locations passed validation" in output
