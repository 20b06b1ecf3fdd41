"""Test homes: generated deliveries and keyrings of synthetic people only."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd

from core.ingest import ingest_source
from core.keys.keyring import Keyring, pseudonym_keys
from schemas.sources import load_sources

AS_OF = dt.date(2026, 11, 23)
PASSPHRASE = "a long enough test passphrase"
REFERENCE = Path(__file__).resolve().parent.parent / "schemas" / "reference"
KEYS_FROM = dt.date(2026, 1, 1)
NIGHT = "NIGHT"  # the key tag of the session's shared night (L1-NIGHT, L2-NIGHT)


def new_keyring(path: Path, tag: str) -> Keyring:
    """A keyring at `path` with a pipeline key L2-<tag> and a linkage key L1-<tag>."""
    ring, _ = Keyring(path=path).with_new_key("pipeline", KEYS_FROM, key_id=f"L2-{tag}")
    ring, _ = ring.with_new_key("linkage", KEYS_FROM, key_id=f"L1-{tag}")
    ring.save(PASSPHRASE)
    return ring


def new_home(home: Path, inbox: Path, tag: str) -> Keyring:
    """A Mellanrum home with its own copy of `inbox` and a keyring of keys L1-<tag>, L2-<tag>."""
    shutil.copytree(inbox, home / "inbox")
    return new_keyring(home / "keyring.json", tag)


def copy_home(home: Path, to: Path) -> Path:
    """A home of its own with everything `home` holds: the instance's config names no paths,
    and the datasets and databases sit under the home, so the copy works on its own."""
    shutil.copytree(home, to)
    return to


def synthetic_numbers() -> set[str]:
    """Every number the generator can use for a person (Skatteverket's test numbers)."""
    numbers: set[str] = set()
    for name in ("skatteverket_testpersonnummer.json", "skatteverket_testsamordningsnummer.json"):
        numbers.update(json.loads((REFERENCE / name).read_text(encoding="utf-8")))
    return numbers


def use_home(env, home: Path) -> None:
    """Point a command's environment (`env`: pytest's MonkeyPatch) at `home` alone: its
    passphrase and MELLANRUM_HOME set, every other path from the environment unset."""
    for name in ("MELLANRUM_SOURCES", "MELLANRUM_KEYRING", "MELLANRUM_RECIPIENTS", "MELLANRUM_DATABASE_URL",
                 "DAGSTER_HOME"):  # fmt: skip
        env.delenv(name, raising=False)
    env.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
    env.setenv("MELLANRUM_HOME", str(home))


def accepted_by_kind(inbox: Path, keyring: Keyring, as_of: dt.date = AS_OF) -> dict[str, pd.DataFrame]:
    """Every source of a generated inbox ingested as the night does: the accepted rows of each
    source kind (municipal, af, af_registrations), concatenated."""
    sources = load_sources(inbox / "sources.yaml")
    keys = pseudonym_keys(keyring, as_of)
    accepted = {"municipal": [], "af": [], "af_registrations": []}
    for source in sources.all:
        result = ingest_source(source, sources.files(source), sources.catalogue, keys, keyring, as_of)
        accepted[source.kind].append(result.accepted)
    return {kind: pd.concat(frames, ignore_index=True) for kind, frames in accepted.items()}
