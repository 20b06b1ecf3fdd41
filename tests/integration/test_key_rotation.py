"""Key rotations end to end, with the runbook's commands, through the real Dagster definitions.

A generated region runs a night before the rotation; then a key is rotated with
`mellanrum keys rotate`, and Göteborg's delivery breaks (a required column missing), so for
three nights its last good data is under the old keys while every other source delivers
under the new ones (`mellanrum run --as-of`, as the nightly schedule would):

- linkage key, in the rotation window: the ingests of plain numbers keep a crosswalk, the
  reconciliation brings Göteborg's stored data through it, and the overlaps are the same
  pairs as before the rotation (the people's data did not change);
- linkage key, the window already over when the night runs (`--overlap-days 0`): Göteborg
  cannot be brought forward. The run names it and both key ids, the check `one_key_epoch`
  fails, and Göteborg's recipients keep their previous publication: never an empty list
  without a word. When Göteborg delivers again, everything is as before;
- pipeline key: the stored data is re-keyed by chaining (the re-key log says so) and the
  next reconciliations find exactly the same overlaps.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from core.database import create_engine, read_rows
from core.epochs import CROSSWALK, REKEY_LOG
from core.keys.keyring import Keyring
from core.keys.pseudonyms import level1_pseudonyms
from orchestration.cli import cli
from orchestration.settings import Settings
from schemas.published import AfSamplanering, KommunSamplanering
from schemas.sources import load_sources
from schemas.statistics import RegionalStatistik
from testkit.homes import AS_OF, PASSPHRASE, new_home
from testkit.leakscan import scan

BEFORE = AS_OF + dt.timedelta(days=1)  # the night before the rotation
ROTATION = AS_OF + dt.timedelta(days=2)  # the new key's first day
NIGHTS = [ROTATION + dt.timedelta(days=n) for n in range(3)]  # Göteborg fails on each
OVERLAP_PAIRS = ["municipal_source_id", "record_id", "af_source_id", "assignment_id"]
MUNICIPAL_PAIRS = ["source_id", "record_id", "other_source_id", "other_record_id"]


def mellanrum(home, *args):
    """A command as the runbook writes it, with the environment README states."""
    return CliRunner().invoke(cli, [str(a) for a in args], env={
        "MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE, "DAGSTER_HOME": None,
        "MELLANRUM_KEYRING": None, "MELLANRUM_SOURCES": None, "MELLANRUM_DATABASE_URL": None,
    }, catch_exceptions=False)  # fmt: skip


def night(home, as_of):
    result = mellanrum(home, "run", "--sources", home / "inbox" / "sources.yaml", "--as-of", as_of.isoformat())
    return result


def pairs(home, dataset="overlaps", columns=OVERLAP_PAIRS) -> set[tuple]:
    frame = pd.read_parquet(home / "storage" / dataset / "all.parquet")
    return set(frame[columns].itertuples(index=False, name=None))


def epochs(home) -> pd.DataFrame:
    return pd.read_parquet(home / "storage" / "key_epochs" / "all.parquet").set_index("source_id")


def published(home, name, model) -> pd.DataFrame:
    engine = create_engine(Settings.of(home=home).publication_database_url())
    try:
        return read_rows(engine, name, model).sort_values(list(model.to_schema().columns), ignore_index=True)
    finally:
        engine.dispose()


def break_goteborg(home):
    """Göteborg's delivery loses a required column: its ingest fails, its last good data stays."""
    sources = load_sources(home / "inbox" / "sources.yaml")
    source = sources.source("goteborg")
    (path,) = sources.files(source)
    shutil.copy(path, path.with_name(path.name + ".good"))
    frame = pd.read_csv(path, sep=source.delimiter, encoding=source.encoding, dtype=str, keep_default_na=False)
    frame.drop(columns=["Slutdatum"]).to_csv(path, sep=source.delimiter, encoding=source.encoding, index=False)
    return lambda: shutil.move(path.with_name(path.name + ".good"), path)


def key_ids(home, role):
    ring = Keyring.load(home / "keyring.json", PASSPHRASE)
    return sorted((k for k in ring.keys if k.role == role), key=lambda k: k.valid_from)


@pytest.fixture(scope="module")
def before(tmp_path_factory, inbox):
    """A home after one good night before any rotation: its overlaps and publication."""
    home = tmp_path_factory.mktemp("rotation") / "home"
    new_home(home, inbox, "ROT")
    result = night(home, BEFORE)
    assert result.exit_code == 0, result.output
    return home


def copy_of(before, tmp_path):
    """An independent copy of the home after the good night (storage, instance, database)."""
    home = tmp_path / "home"
    shutil.copytree(before, home)
    return home


@pytest.fixture(scope="module")
def baseline(before):
    return {"overlaps": pairs(before), "municipal": pairs(before, "municipal_overlaps", MUNICIPAL_PAIRS),
            "kommun": published(before, "kommun_samplanering", KommunSamplanering),
            "af": published(before, "af_samplanering", AfSamplanering),
            "statistik": published(before, "regional_statistik", RegionalStatistik)}  # fmt: skip


def test_a_linkage_rotation_in_its_window_keeps_the_same_overlaps_while_goteborg_fails(before, baseline, tmp_path,
                                                                                      synthetic_numbers):  # fmt: skip
    home = copy_of(before, tmp_path)
    assert any(m == "goteborg" for m, *_ in baseline["overlaps"]), "the test needs Göteborg in some overlaps"
    rotated = mellanrum(home, "keys", "rotate", "--role", "linkage", "--valid-from", ROTATION, "--overlap-days", 30)
    assert rotated.exit_code == 0, rotated.output
    old, new = (k.id for k in key_ids(home, "linkage"))
    pipeline = key_ids(home, "pipeline")[0].id
    break_goteborg(home)

    for as_of in NIGHTS:
        result = night(home, as_of)
        assert result.exit_code == 1 and "FAILED goteborg" in result.output  # its delivery, not the keys
        assert "KEY EPOCHS" not in result.output and "KEPT" not in result.output, result.output
        assert f"linked on key id {new}+{pipeline}" in result.output
        assert pairs(home) == baseline["overlaps"], as_of
        assert pairs(home, "municipal_overlaps", MUNICIPAL_PAIRS) == baseline["municipal"], as_of
        table = epochs(home)
        assert set(table["target_key_id"]) == {f"{new}+{pipeline}"} and (table["behind"] == 0).all()
        assert table.loc["goteborg", "status"] == "brought forward"

    # Göteborg's stored rows were brought through the crosswalk, in the store itself; those of
    # people no plain delivery showed under both keys stay under the old key, left out.
    stored = pd.read_parquet(home / "storage" / "municipal_interventions" / "goteborg.parquet")
    brought = (stored["key_id"] == f"{new}+{pipeline}").sum()
    assert brought > 0 and set(stored["key_id"]) <= {f"{new}+{pipeline}", f"{old}+{pipeline}"}
    assert epochs(home).loc["goteborg", "crosswalked"] == 0  # brought on the first night, current since
    assert (home / "storage" / CROSSWALK / "af.parquet").exists()
    log = [json.loads(line) for line in (home / "storage" / REKEY_LOG).read_text().splitlines()]
    assert [(c["dataset"], c["partition"]) for c in log] == [("municipal_interventions", "goteborg")]
    assert log[0]["rows_crosswalked"] == brought and log[0]["from_key_ids"] == [f"{old}+{pipeline}"]
    # Every recipient kept its lists: Göteborg's kommun rows are there, under the new keys.
    assert len(published(home, "kommun_samplanering", KommunSamplanering).query("kommunkod == '1480'")) > 0
    assert not (home / "storage" / "overlaps" / "all.parquet").read_bytes().count(old.encode())
    # The crosswalk holds level-2 pseudonyms only: no number, hash or level-1 pseudonym anywhere.
    ring = Keyring.load(home / "keyring.json", PASSPHRASE)
    people = sorted(synthetic_numbers)
    level1 = [p for key in (old, new) for p in level1_pseudonyms(pd.Series(people), ring.get(key).secret)]
    assert scan(home, people, exclude=[home / "inbox" / "kommun", home / "inbox" / "af"], level1=level1) == []


def test_after_the_window_goteborg_is_named_and_its_recipients_keep_their_previous_publication(
        before, baseline, tmp_path):  # fmt: skip
    home = copy_of(before, tmp_path)
    # The rotation's window is over before any night runs under the new key.
    rotated = mellanrum(home, "keys", "rotate", "--role", "linkage", "--valid-from", NIGHTS[0] - dt.timedelta(days=1),
                        "--overlap-days", 0)  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    old, new = (k.id for k in key_ids(home, "linkage"))
    restore = break_goteborg(home)

    for as_of in NIGHTS:
        result = night(home, as_of)
        assert result.exit_code == 1
        words = f"goteborg (1480 Göteborg)'s data is under linkage key {old}; the others under {new}"
        assert words in result.output, result.output
        assert re.search(r"KEPT the previous publication: kommun_samplanering: the previous rows of kommun 1480", result.output)
        assert "regional_statistik: the whole previous publication" in result.output
        table = epochs(home)
        assert table.loc["goteborg", "status"] == "behind"
        assert (table.drop(index="goteborg")["status"] == "current").all()
        # Not compared: no overlap of Göteborg tonight, and no Göteborg row under two keys.
        assert not any(m == "goteborg" for m, *_ in pairs(home))
        assert pairs(home) == {p for p in baseline["overlaps"] if p[0] != "goteborg"}
        # Göteborg's recipients keep exactly what they had; the others' lists are tonight's.
        kommun = published(home, "kommun_samplanering", KommunSamplanering)
        assert kommun.query("kommunkod == '1480'").reset_index(drop=True).equals(
            baseline["kommun"].query("kommunkod == '1480'").reset_index(drop=True))
        assert len(kommun.query("kommunkod == '1480'")) > 0
        af = published(home, "af_samplanering", AfSamplanering)
        assert af.query("kommunkod == '1480'").reset_index(drop=True).equals(
            baseline["af"].query("kommunkod == '1480'").reset_index(drop=True))
        pd.testing.assert_frame_equal(published(home, "regional_statistik", RegionalStatistik), baseline["statistik"])
    check = _latest_check(home, "one_key_epoch")
    assert check.passed is False and words in check.description
    shown = mellanrum(home, "keys", "epochs")  # the runbook's tool says the same
    assert shown.exit_code == 1 and words in shown.output

    restore()  # Göteborg delivers again, under the new key: everything as before the rotation
    result = night(home, NIGHTS[-1] + dt.timedelta(days=1))
    assert result.exit_code == 0, result.output
    assert pairs(home) == baseline["overlaps"]
    assert (epochs(home)["status"] == "current").all()
    assert _latest_check(home, "one_key_epoch").passed is True


def test_a_pipeline_rotation_rekeys_the_stored_data_and_finds_the_same_overlaps(before, baseline, tmp_path):
    home = copy_of(before, tmp_path)
    rotated = mellanrum(home, "keys", "rotate", "--role", "pipeline", "--valid-from", ROTATION, "--overlap-days", 0)
    assert rotated.exit_code == 0, rotated.output
    linkage = key_ids(home, "linkage")[0].id
    old, new = (k.id for k in key_ids(home, "pipeline"))
    goteborg = home / "storage" / "municipal_interventions" / "goteborg.parquet"
    before_rekey = pd.read_parquet(goteborg)
    shown = mellanrum(home, "keys", "epochs", "--on", ROTATION)  # what the night will do; nothing changes yet
    assert shown.exit_code == 0 and f"the keys of {ROTATION}: {linkage}+{new}" in shown.output, shown.output
    assert re.search(rf"goteborg +municipal +1480 +{len(before_rekey)} +{linkage}\+{new} +brought forward", shown.output)
    assert pd.read_parquet(goteborg).equals(before_rekey) and not (home / "storage" / REKEY_LOG).exists()
    break_goteborg(home)

    for as_of in NIGHTS:
        result = night(home, as_of)
        assert result.exit_code == 1 and "FAILED goteborg" in result.output and "KEY EPOCHS" not in result.output
        assert pairs(home) == baseline["overlaps"], as_of
        assert pairs(home, "municipal_overlaps", MUNICIPAL_PAIRS) == baseline["municipal"], as_of
        assert (epochs(home)["status"] != "behind").all()

    after = pd.read_parquet(goteborg)
    assert set(after["key_id"]) == {f"{linkage}+{new}"}
    assert len(after) == len(before_rekey) and (after["pseudonym"] != before_rekey["pseudonym"]).all()
    assert after.drop(columns=["pseudonym", "key_id"]).equals(before_rekey.drop(columns=["pseudonym", "key_id"]))
    log = [json.loads(line) for line in (home / "storage" / REKEY_LOG).read_text().splitlines()]
    assert [(c["partition"], c["rows_rekeyed"], c["to_key_id"]) for c in log] == [
        ("goteborg", len(before_rekey), f"{linkage}+{new}")]  # fmt: skip
    assert not any(p in (home / "storage" / REKEY_LOG).read_text() for p in after["pseudonym"])


def _latest_check(home, name):
    from orchestration.app.runs import open_instance

    instance = open_instance(Settings.of(home=home))
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("overlaps"), name)]
    )[dg.AssetCheckKey(dg.AssetKey("overlaps"), name)]
    return record.evaluation
