"""A transition list frozen for a named event (`mellanrum publish --freeze NAME --cut-off
DATE`) is published once as its own dated dataset, logged once, and stays byte-identical
through later nightly runs on changed data; the same name again is refused."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from testkit.homes import AS_OF, PASSPHRASE, new_home

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

MELLANRUM = Path(sys.executable).parent / "mellanrum"
NAME, TABLE = "krom-2026-11-30", "af_pagaende_insatser_fryst_krom_2026_11_30"


def _mellanrum(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELLANRUM_", "DAGSTER_"))}
    env |= {"MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE}
    return subprocess.run([str(MELLANRUM), *args], env=env, capture_output=True, text=True, timeout=900)


def _dump(database: Path, table: str) -> str:
    """The table exactly as stored: its schema and every row, as SQL."""
    with sqlite3.connect(database) as connection:
        return "\n".join(line for line in connection.iterdump() if f'"{table}"' in line or f" {table} " in line)


def _shorten(path: Path) -> None:
    """Changed data for the next night: the delivery loses its last rows."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: max(2, len(lines) - 5)]))


@pytest.fixture(scope="module")
def frozen(tmp_path_factory, inbox):
    home = tmp_path_factory.mktemp("freeze") / "home"
    new_home(home, inbox, "FRZ")
    night = _mellanrum(home, "run", "--as-of", AS_OF.isoformat())
    assert night.returncode == 0, night.stdout[-2000:] + night.stderr[-2000:]
    done = _mellanrum(home, "publish", "--freeze", NAME, "--cut-off", "2026-11-30", "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return home, done.stdout


def test_a_frozen_list_survives_three_nightly_runs_byte_identical_and_is_logged_once(frozen):
    home, said = frozen
    database = home / "published.sqlite"
    assert f"published once as {TABLE}" in said
    before = _dump(database, TABLE)
    rows = pd.read_sql(f'SELECT * FROM "{TABLE}"', sqlite3.connect(database))
    assert len(rows) > 0 and set(rows["freeze"]) == {NAME} and set(rows["cut_off"]) == {"2026-11-30"}
    assert (rows["keyed_by"] == "registration_id").any(), "people registered at AF without a programme are on it"
    nightly_before = pd.read_sql('SELECT * FROM "af_pagaende_insatser"', sqlite3.connect(database))
    for night in range(1, 4):
        _shorten(next((home / "inbox" / "af").glob("inskrivningar_*.csv")))
        _shorten(next((home / "inbox" / "kommun").glob("1480_goteborg/*")))
        done = _mellanrum(home, "run", "--as-of", (AS_OF + dt.timedelta(days=night)).isoformat())
        assert done.returncode in (0, 1), done.stderr[-2000:]
        assert "published as of" in done.stdout, done.stdout[-2000:]
    nightly_after = pd.read_sql('SELECT * FROM "af_pagaende_insatser"', sqlite3.connect(database))
    assert not nightly_after.equals(nightly_before), "the nightly list did change with the data"
    assert _dump(database, TABLE) == before
    log = pd.read_sql("SELECT * FROM publication_log", sqlite3.connect(database))
    frozen_log = log[log["dataset"] == TABLE]
    assert frozen_log["run_id"].nunique() == 1
    assert len(frozen_log) == frozen_log["recipient"].nunique() * frozen_log["key_id"].nunique() > 0
    # The agreement gate, as for the nightly list: the generated expired agreement's and the
    # uncovered municipality's rows stay out, and the log names the agreement in force.
    agreements = pd.read_csv(home / "inbox" / "truth" / "agreements.csv", dtype=str, keep_default_na=False)
    assert not set(rows["kommunkod"]) & set(agreements.loc[agreements["in_force"] == "false", "kommunkod"])
    assert set(frozen_log.loc[frozen_log["row_count"] > 0, "agreement_id"]) == {"samverkan_demo"}


def test_the_same_name_again_is_refused_and_changes_nothing(frozen):
    home, _ = frozen
    database = home / "published.sqlite"
    before = _dump(database, TABLE)
    again = _mellanrum(home, "publish", "--freeze", NAME, "--cut-off", "2026-12-31", "--as-of", AS_OF.isoformat())
    assert again.returncode == 1
    assert "never replaced" in again.stderr
    assert _dump(database, TABLE) == before


def test_a_name_that_is_not_a_plain_word_is_refused(frozen):
    home, _ = frozen
    bad = _mellanrum(home, "publish", "--freeze", "KROM 29/9", "--cut-off", "2026-11-30")
    assert bad.returncode != 0 and "--freeze" in (bad.stderr + bad.stdout)
