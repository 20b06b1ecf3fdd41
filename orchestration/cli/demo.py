"""`mellanrum demo`: the main job on generated demo data, on the embedded default.

Everything goes under $MELLANRUM_HOME/demo (default ~/.mellanrum/demo), a home of its own:
a demo keyring, an inbox of synthetic deliveries, the datasets, the Dagster instance and
the published SQLite database. Only synthetic people (Skatteverket's published test
numbers) are ever used. It ends by writing `demo.env` (the environment every later command
needs for this home) and showing the next commands.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

from core.files import replaced_atomically
from core.keys.keyring import Keyring
from core.synthetic import MIN_PEOPLE
from core.synthetic import generate as generate_inbox
from orchestration.cli import render
from orchestration.cli.options import ISO_DATE, as_date

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
    municipality plus AF's, and ingests every source in its own Dagster run, then
    reconciles and publishes to a SQLite file in the demo's home. Safe to run again: the
    same seed and date give the same data.
    """
    from orchestration.app.runs import run_nightly
    from orchestration.settings import PASSPHRASE_ENV, Settings

    day = as_date(as_of)
    home = (home or Settings.load().home / "demo").resolve()
    # The demo is a home of its own: nothing of a deployment's environment applies to it.
    settings = Settings.of(home=home)
    passphrase_given = bool(os.environ.get(PASSPHRASE_ENV))
    os.environ.setdefault(PASSPHRASE_ENV, DEMO_PASSPHRASE)
    _demo_keyring(settings.keyring_file, os.environ[PASSPHRASE_ENV])
    click.echo(f"generating {people} synthetic people into {settings.inbox}", err=True)
    generate_inbox(out_dir=settings.inbox, people=people, seed=seed, as_of=day, force=True)
    report = run_nightly(settings, day, progress=render.source_progress("ingesting {total} sources"))
    render.night(report)
    environment = _write_environment(settings, PASSPHRASE_ENV, None if passphrase_given else DEMO_PASSPHRASE)
    _next_steps(settings, environment, passphrase_given, PASSPHRASE_ENV, day)
    if not report.ok:
        sys.exit(1)


def _demo_keyring(path: Path, passphrase: str) -> Keyring:
    if path.exists():
        return Keyring.load(path, passphrase)
    click.echo(f"creating a demo keyring at {path}", err=True)
    ring, _ = Keyring(path=path).with_new_key("pipeline", _DEMO_KEYS_FROM)
    ring, _ = ring.with_new_key("linkage", _DEMO_KEYS_FROM)
    ring.save(passphrase)
    return ring


def _write_environment(settings, passphrase_variable: str, demo_passphrase: str | None) -> Path:
    """`<home>/demo.env`: the variables every command needs for this home (private: it may
    hold the demo keyring's passphrase, never one the user chose)."""
    lines = [f"MELLANRUM_HOME={settings.home}", f"DAGSTER_HOME={settings.dagster_dir}"]
    if demo_passphrase is not None:
        lines.append(f"{passphrase_variable}='{demo_passphrase}'")
    path = settings.home / "demo.env"
    with replaced_atomically(path, private=True) as temporary:
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _next_steps(settings, environment: Path, passphrase_given: bool, passphrase_variable: str, day: dt.date) -> None:
    passphrase = (f"  # and keep {passphrase_variable} set to the passphrase you ran the demo with\n"
                  if passphrase_given else "")  # fmt: skip
    click.echo(
        "\nnext, in this shell (the environment of this demo's home, from a private file):\n"
        f"  set -a; . {environment}; set +a\n{passphrase}"
        f"  .venv/bin/mellanrum reconcile --as-of {day} --kommun 1480      # a coordinator's ad-hoc reconciliation\n"
        "  .venv/bin/mellanrum contracts                                  # what leaves, to whom\n"
        "  .venv/bin/dagster-webserver --read-only -w workspace.yaml      # the steward's read-only UI\n"
        "  .venv/bin/dagster dev -w workspace.yaml                        # the operators' UI, with the daemon"
    )
