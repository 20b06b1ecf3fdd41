"""The fixtures every test module may use (loaded by tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from core.keys.keyring import Keyring
from core.keys.passphrase import KEYRING_PASSPHRASE_ENV
from core.synthetic import generate
from orchestration.app.runs import run_nightly
from orchestration.settings import Settings
from testkit import homes
from testkit.pgserver import postgres_server  # noqa: F401  (a real PostgreSQL server)


# How many examples each property test tries against its brute-force oracle. The suite's
# profile keeps the whole suite within CI's budget; before a release (or when a rule changes)
# run `pytest tests/unit --hypothesis-profile=thorough`, twenty times the examples. A failure
# found either way is kept in .hypothesis/ and tried first the next time.
settings.register_profile("suite", max_examples=150, deadline=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def inbox(tmp_path_factory) -> Path:
    """A small generated inbox (13 municipalities and AF); treat it as read-only."""
    out = tmp_path_factory.mktemp("inbox")
    generate(out, people=300, seed=7, as_of=homes.AS_OF)
    return out


@pytest.fixture(scope="session")
def nightly_home(tmp_path_factory, inbox) -> Path:
    """One night, run once for the whole session through the application layer: every source
    of the inbox ingested as of AS_OF, reconciled and published on SQLite, with keys
    L1-NIGHT and L2-NIGHT. Read-only: a test module that changes a home takes
    `homes.copy_home(nightly_home, ...)` (a copy costs milliseconds, a night seconds)."""
    home = tmp_path_factory.mktemp("night") / "home"
    homes.new_home(home, inbox, homes.NIGHT)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEYRING_PASSPHRASE_ENV, homes.PASSPHRASE)
        report = run_nightly(Settings.of(home=home), homes.AS_OF)
    assert all(outcome.ok for outcome in report.sources), [o.error for o in report.sources if not o.ok]
    assert report.reconciliation.outcome.ok and report.publication.ok
    return home


@pytest.fixture(scope="session")
def keyring(tmp_path_factory) -> Keyring:
    return homes.new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "TEST")


@pytest.fixture(scope="session")
def synthetic_numbers() -> set[str]:
    return homes.synthetic_numbers()
