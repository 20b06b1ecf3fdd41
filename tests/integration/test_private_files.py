"""Everything Mellanrum writes under its home is its user's only: files 0600 in 0700 folders,
whatever the umask it was started with (issue 12: the published database, its journal
files, the Dagster instance, the datasets, ad-hoc results, a partner's output)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.homes import AS_OF, PASSPHRASE, new_home

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

MELLANRUM = Path(sys.executable).parent / "mellanrum"


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELLANRUM_", "DAGSTER_"))}
    env.update(MELLANRUM_HOME=str(home), MELLANRUM_KEYRING_PASSPHRASE=PASSPHRASE)
    # A shell's usual umask: without Mellanrum's own care, files would be world-readable.
    return subprocess.run([str(MELLANRUM), *args], env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=lambda: os.umask(0o022))  # fmt: skip


def test_a_whole_run_leaves_only_private_files_under_the_home(tmp_path, inbox):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    new_home(home, inbox, "PRIV")
    assert _run(home, "run", "--as-of", AS_OF.isoformat()).returncode in (0, 1)
    assert _run(home, "reconcile", "--as-of", AS_OF.isoformat(), "--kommun", "1480").returncode == 0
    extract = tmp_path / "extract.csv"
    extract.write_text("Personnummer;Ort\n189001019802;Ale\n", encoding="utf-8")
    out = home / "partner" / "extract.pseud.csv"
    done = _run(home, "pseudonymize", "--in", str(extract), "--column", "Personnummer", "--out", str(out))
    assert done.returncode == 0, done.stderr

    written = [p for p in home.rglob("*") if not p.is_relative_to(home / "inbox")]
    assert any(p.name == "published.sqlite-wal" for p in written) or any(p.name == "published.sqlite" for p in written)
    for expected in ("published.sqlite", "private.sqlite", "keyring.json", "dagster", "storage"):
        assert (home / expected).exists(), expected
    assert out.exists() and any((home / "storage" / "adhoc").iterdir())
    loose = [f"{p.relative_to(home)} {stat.filemode(p.stat().st_mode)}" for p in [home, *written]
             if (p.stat().st_mode & 0o077) or (p.is_dir() and p.stat().st_mode & 0o700 != 0o700)]  # fmt: skip
    assert loose == []
