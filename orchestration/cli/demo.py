"""`mellanrum demo`: the main job on generated demo data, on the embedded default.

Everything goes under $MELLANRUM_HOME/demo (default ~/.mellanrum/demo): a demo keyring,
an inbox of synthetic deliveries, the datasets and the Dagster instance. Only synthetic
people (Skatteverket's published test numbers) are ever used.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

from core.keys.keyring import PASSPHRASE_ENV, Keyring, mellanrum_home
from core.synthetic import MIN_PEOPLE
from core.synthetic import generate as generate_inbox
from orchestration.cli.options import ISO_DATE, as_date
from orchestration.cli.run import run_pipeline

# Used only when no passphrase is set: it protects a keyring of synthetic data.
DEMO_PASSPHRASE = "mellanrum demo keyring, synthetic data only"
_DEMO_KEYS_FROM = dt.date(2020, 1, 1)


@click.command()
@click.option("--people", type=click.IntRange(min=MIN_PEOPLE), default=2000, show_default=True,
              help="Synthetic people to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generator.")
@click.option("--as-of", type=ISO_DATE, help="As-of date of the run (default: today in Stockholm).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Demo folder (default: $MELLANRUM_HOME/demo).")
def demo(people: int, seed: int, as_of, home: Path | None) -> None:
    """Generate demo deliveries and run the pipeline on them.

    Creates a demo keyring if there is none, generates one delivery per Göteborgsregionen
    municipality plus AF's, and ingests every source in its own Dagster run. Safe to run
    again: the same seed and date give the same data.
    """
    day = as_date(as_of)
    home = home or mellanrum_home() / "demo"
    passphrase_given = bool(os.environ.get(PASSPHRASE_ENV))
    os.environ.setdefault(PASSPHRASE_ENV, DEMO_PASSPHRASE)
    _demo_keyring(home / "keyring.json", os.environ[PASSPHRASE_ENV])
    inbox = home / "inbox"
    click.echo(f"generating {people} synthetic people into {inbox}", err=True)
    generate_inbox(out_dir=inbox, people=people, seed=seed, as_of=day, force=True)
    succeeded = run_pipeline(home, inbox / "sources.yaml", day)
    passphrase = "$MELLANRUM_KEYRING_PASSPHRASE" if passphrase_given else f"'{DEMO_PASSPHRASE}'"
    click.echo(
        "\nsee it in the Dagster UI:\n"
        f"  MELLANRUM_HOME={home} DAGSTER_HOME={home / 'dagster'} "
        f"MELLANRUM_KEYRING_PASSPHRASE={passphrase} .venv/bin/dagster dev -w workspace.yaml"
    )
    if not succeeded:
        sys.exit(1)


def _demo_keyring(path: Path, passphrase: str) -> Keyring:
    if path.exists():
        return Keyring.load(path, passphrase)
    click.echo(f"creating a demo keyring at {path}", err=True)
    ring, _ = Keyring(path=path).with_new_key("pipeline", _DEMO_KEYS_FROM)
    ring, _ = ring.with_new_key("linkage", _DEMO_KEYS_FROM)
    ring.save(passphrase)
    return ring
