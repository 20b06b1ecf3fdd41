"""Faults of the machine stop the night at once, in one sentence, and leave things as they were
(issue 12): a full disk (before the run and during it), a publication database that does not
exist or cannot be reached, a wrong or missing passphrase, an invalid recipients file, a run
killed or interrupted. After each: a non-zero exit, no traceback, no run left STARTED, the
previous publication intact, and the publication log consistent with Dagster."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from core.audit import read_log
from core.database import create_engine
from orchestration.app import runs
from orchestration.settings import Settings
from schemas.errors import MachineFault
from testkit.homes import AS_OF, PASSPHRASE, copy_home

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

MELLANRUM = Path(sys.executable).parent / "mellanrum"
NEXT = AS_OF.replace(day=AS_OF.day + 1)
UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


def _env(home: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELLANRUM_", "DAGSTER_"))}
    return {**env, "MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE, **more}


def _mellanrum(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MELLANRUM), *args], env=_env(home, **env), capture_output=True, text=True, timeout=600)


@pytest.fixture
def home(nightly_home, tmp_path) -> Path:
    """A copy of the session's night (published once); each test breaks its own."""
    return copy_home(nightly_home, tmp_path / "home")


def _one_sentence(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("mellanrum: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def _state(home: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    engine = create_engine(f"sqlite:///{home / 'published.sqlite'}")
    try:
        log = read_log(engine)
        tables = {name: pd.read_sql_table(name, engine) for name in ("kommun_samplanering", "af_samplanering")}
    finally:
        engine.dispose()
    return log, tables


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return list(instance.get_runs())


def _unchanged(home: Path, before) -> None:
    """The previous publication intact, no run left going, the log consistent with Dagster."""
    log, tables = _state(home)
    pd.testing.assert_frame_equal(log, before[0])
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, before[1][name])
    runs_now = _runs(home)
    assert not [r for r in runs_now if r.status in UNFINISHED]
    finished = {r.run_id for r in runs_now if r.status == dg.DagsterRunStatus.SUCCESS}
    committed = {r.run_id for r in runs_now if r.tags.get(runs.PUBLICATION_TAG)}
    assert set(log.loc[log["channel"] == "database", "run_id"]) <= finished | committed


def test_a_wrong_passphrase_stops_before_any_source(home):
    before, count = _state(home), len(_runs(home))
    done = _mellanrum(home, "run", "--as-of", NEXT.isoformat(), MELLANRUM_KEYRING_PASSPHRASE="not the keyring's passphrase")
    _one_sentence(done, "wrong passphrase")
    assert len(_runs(home)) == count  # not one source was tried
    _unchanged(home, before)


def test_an_invalid_recipients_file_stops_before_any_source(home):
    before, count = _state(home), len(_runs(home))
    (home / "inbox" / "recipients.yaml").write_text("version: 1\nrecipients:\n  - id: Bad Id\n    kind: kommun\n")
    done = _mellanrum(home, "run", "--as-of", NEXT.isoformat())
    _one_sentence(done, "recipients.yaml")
    assert "recipients[0]" in done.stderr  # the key, on the line below the sentence
    assert len(_runs(home)) == count
    _unchanged(home, before)


def test_a_publication_database_that_does_not_exist_is_named_without_its_password(home, postgres_server):
    url = postgres_server.url_for("postgres", "s3cret-in-the-url", "no_such_database")
    before, count = _state(home), len(_runs(home))
    done = _mellanrum(home, "run", "--as-of", NEXT.isoformat(), MELLANRUM_DATABASE_URL=url)
    sentence = _one_sentence(done, "no_such_database", "does not exist")
    assert "s3cret" not in done.stderr + done.stdout and "s3cret" not in sentence
    assert len(_runs(home)) == count
    _unchanged(home, before)


def test_a_publication_database_that_cannot_be_reached_is_one_sentence(home):
    before = _state(home)
    done = _mellanrum(home, "run", "--as-of", NEXT.isoformat(),
                      MELLANRUM_DATABASE_URL="postgresql+psycopg2://mellanrum:pw@127.0.0.1:9/mellanrum")  # fmt: skip
    _one_sentence(done, "cannot be reached")
    _unchanged(home, before)


def test_a_disk_too_full_for_the_night_stops_before_any_source(home, monkeypatch):
    before, count = _state(home), len(_runs(home))
    tmpfs = home.parent / "small-disk"
    tmpfs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(tmpfs)],
                             capture_output=True).returncode == 0  # fmt: skip
    try:
        if mounted:  # a real small disk: the home moved onto it
            small_home = tmpfs / "home"
            shutil.copytree(home, small_home)
            done = _mellanrum(small_home, "run", "--as-of", NEXT.isoformat())
            _one_sentence(done, f"the disk holding {small_home}", "free some space")
            assert len(_runs(small_home)) == count
        else:  # no mount here: the same check, told the disk is nearly full
            usage = shutil.disk_usage(home)
            monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=2**20))
            with pytest.raises(MachineFault, match="free some space"):
                runs.run_nightly(Settings.of(home=home), NEXT)
    finally:
        if mounted:
            subprocess.run(["umount", str(tmpfs)], check=True)
    _unchanged(home, before)


def test_a_disk_that_fills_during_the_ingest_stops_the_night_at_the_first_write(home, monkeypatch):
    before = _state(home)
    monkeypatch.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
    written = []

    def fills_up(frame, path, *args, **kwargs):
        written.append(path)
        if len(written) > 2:
            raise OSError(28, "No space left on device")  # ENOSPC, as a full disk says
        return real(frame, path, *args, **kwargs)

    real = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", fills_up)
    with pytest.raises(MachineFault, match=r"^the disk holding .*storage.* is full .*: free some space, then run again$"):
        runs.run_nightly(Settings.of(home=home), NEXT)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    assert len(written) == 3  # it stopped at the first write that failed
    _unchanged(home, before)


def test_a_real_small_disk_that_fills_during_the_night_stops_it_and_the_next_start_cleans_up(home, monkeypatch):
    """A tmpfs with room for the home and a little more: the night's own writes fill it (the
    preflight's margin is lifted, as if the disk had filled after it looked)."""
    disk = home.parent / "nearly-full-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("no tmpfs here: test_a_disk_that_fills_during_the_ingest_... simulates the same fault")
    try:
        small_home = copy_home(home, disk / "home")
        # Ballast that leaves the night far less room than it writes (its event log alone is more).
        with open(disk / "ballast", "wb") as ballast:
            ballast.truncate(0)
            ballast.write(b"\0" * max(0, shutil.disk_usage(disk).free - 128 * 1024))
        before = _state(small_home)
        monkeypatch.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
        monkeypatch.setattr(runs, "check_free_space", lambda where, needed: None)
        with pytest.raises(MachineFault, match=r"^the disk holding .* is full \(.*\): free some space, then run again$"):
            runs.run_nightly(Settings.of(home=small_home), NEXT)

        # Space is freed; the next start fails what the fault left going, and nothing was lost.
        (disk / "ballast").unlink()
        runs.open_instance(Settings.of(home=small_home)).dispose()
        _unchanged(small_home, before)
        report = runs.run_nightly(Settings.of(home=small_home), NEXT)
        assert report.publication is not None and report.publication.ok
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_a_run_interrupted_after_the_commit_is_failed_next_time_and_agrees_with_the_log(home, monkeypatch):
    """The worst case of a nearly full disk: the publication committed, then Dagster could
    not record the run's end. The next start fails that run and tags it as published."""
    monkeypatch.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
    real, full = dg.DagsterInstance.handle_new_event, []

    def full_after_the_commit(instance, event, *args, **kwargs):
        # The publication's first materialization comes after its commit: from there on the
        # instance's disk is full, for every write.
        if event.is_dagster_event and event.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION \
                and event.dagster_event.asset_key == dg.AssetKey("kommun_samplanering"):  # fmt: skip
            full.append(True)
        if full:
            raise OSError(28, "No space left on device")
        return real(instance, event, *args, **kwargs)

    monkeypatch.setattr(dg.DagsterInstance, "handle_new_event", full_after_the_commit)
    with pytest.raises(MachineFault, match="free some space"):
        runs.run_nightly(Settings.of(home=home), NEXT)
    monkeypatch.setattr(dg.DagsterInstance, "handle_new_event", real)
    assert [r for r in _runs(home) if r.status in UNFINISHED]  # what the fault left behind

    # The next start: the interrupted run is failed, tagged as published, and the night runs.
    report = runs.run_nightly(Settings.of(home=home), NEXT)
    assert report.publication is not None and report.publication.ok
    runs_now = _runs(home)
    assert not [r for r in runs_now if r.status in UNFINISHED]
    tagged = [r for r in runs_now if r.tags.get(runs.PUBLICATION_TAG)]
    assert len(tagged) == 1 and tagged[0].status == dg.DagsterRunStatus.FAILURE
    log, _ = _state(home)
    finished = {r.run_id for r in runs_now if r.status == dg.DagsterRunStatus.SUCCESS} | {tagged[0].run_id}
    assert set(log.loc[log["channel"] == "database", "run_id"]) <= finished
