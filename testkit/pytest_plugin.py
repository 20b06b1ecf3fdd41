"""The fixtures every test module may use (loaded by tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.keys.keyring import Keyring
from core.synthetic import generate
from testkit import homes
from testkit.pgserver import postgres_server  # noqa: F401  (a real PostgreSQL server)


@pytest.fixture(scope="session")
def inbox(tmp_path_factory) -> Path:
    """A small generated inbox (13 municipalities and AF); treat it as read-only."""
    out = tmp_path_factory.mktemp("inbox")
    generate(out, people=300, seed=7, as_of=homes.AS_OF)
    return out


@pytest.fixture(scope="session")
def keyring(tmp_path_factory) -> Keyring:
    return homes.new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "TEST")


@pytest.fixture(scope="session")
def synthetic_numbers() -> set[str]:
    return homes.synthetic_numbers()
