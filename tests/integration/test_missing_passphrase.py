"""A missing keyring passphrase is one sentence naming the variable, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.keys.keyring import Keyring
from core.keys.passphrase import KEYRING_PASSPHRASE_ENV as PASSPHRASE_ENV
from schemas.errors import KeyringError
from testkit.homes import new_home

MELLANRUM = Path(sys.executable).parent / "mellanrum"


def without_passphrase(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELLANRUM_", "DAGSTER_"))}
    env["MELLANRUM_HOME"] = str(home)
    return env


def assert_one_sentence(done: subprocess.CompletedProcess) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("mellanrum: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert PASSPHRASE_ENV in errors[0]


def test_opening_the_keyring_without_a_passphrase_names_the_variable(tmp_path, keyring):
    with pytest.raises(KeyringError, match=f"^set the passphrase in the environment variable {PASSPHRASE_ENV} "):
        Keyring.load(keyring.path, "")


def test_keys_list_without_the_passphrase_is_one_sentence(tmp_path, inbox):
    new_home(tmp_path, inbox, "NOPASS")
    done = subprocess.run([str(MELLANRUM), "keys", "list"], env=without_passphrase(tmp_path), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert_one_sentence(done)


def test_run_source_without_the_passphrase_is_one_sentence(tmp_path, inbox):
    new_home(tmp_path, inbox, "NOPASS")
    done = subprocess.run([str(MELLANRUM), "run", "--source", "goteborg", "--as-of", "2026-11-23"],
                          env=without_passphrase(tmp_path), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert_one_sentence(done)
