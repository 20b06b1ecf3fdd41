"""Shared fixtures: a generated inbox and a test keyring, made once per session."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from pgserver import postgres_server  # noqa: F401  (a real PostgreSQL server, tests/pgserver.py)

from core.keys.keyring import Keyring
from core.synthetic import generate

AS_OF = dt.date(2026, 11, 23)
PASSPHRASE = "a long enough test passphrase"
REFERENCE = Path(__file__).resolve().parent.parent / "schemas" / "reference"


@pytest.fixture(scope="session")
def inbox(tmp_path_factory) -> Path:
    """A small generated inbox (13 municipalities and AF); treat it as read-only."""
    out = tmp_path_factory.mktemp("inbox")
    generate(out, people=300, seed=7, as_of=AS_OF)
    return out


@pytest.fixture(scope="session")
def keyring(tmp_path_factory) -> Keyring:
    ring = Keyring(path=tmp_path_factory.mktemp("keys") / "keyring.json")
    ring, _ = ring.with_new_key("pipeline", dt.date(2026, 1, 1), key_id="L2-TEST")
    ring, _ = ring.with_new_key("linkage", dt.date(2026, 1, 1), key_id="L1-TEST")
    ring.save(PASSPHRASE)
    return ring


@pytest.fixture(scope="session")
def synthetic_numbers() -> set[str]:
    """Every number the generator can use for a person (Skatteverket's test numbers)."""
    numbers: set[str] = set()
    for name in ("skatteverket_testpersonnummer.json", "skatteverket_testsamordningsnummer.json"):
        numbers.update(json.loads((REFERENCE / name).read_text(encoding="utf-8")))
    return numbers


def new_home(home: Path, inbox: Path, tag: str) -> Keyring:
    """A Mellanrum home with its own copy of `inbox` and a keyring of keys L1-<tag>, L2-<tag>."""
    shutil.copytree(inbox, home / "inbox")
    ring, _ = Keyring(path=home / "keyring.json").with_new_key("pipeline", dt.date(2026, 1, 1), key_id=f"L2-{tag}")
    ring, _ = ring.with_new_key("linkage", dt.date(2026, 1, 1), key_id=f"L1-{tag}")
    ring.save(PASSPHRASE)
    return ring
