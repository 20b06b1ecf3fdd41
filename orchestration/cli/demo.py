"""`mellanrum demo`: the main job on generated demo data, on the embedded default.

Everything goes under $MELLANRUM_HOME/demo (default ~/.mellanrum/demo): a demo keyring,
an inbox of synthetic deliveries, and the pseudonymized datasets. Only synthetic people
(Skatteverket's published test numbers) are ever used.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

from assets.ingest import pseudonymize_identities, read_source_file, to_canonical
from assets.synthetic import generate as generate_inbox
from orchestration.cli.options import ISO_DATE, as_date, echo_table
from orchestration.keyring import PASSPHRASE_ENV, Keyring, mellanrum_home, pseudonym_keys
from schemas.sources import load_sources

# Used only when no passphrase is set: it protects a keyring of synthetic data.
DEMO_PASSPHRASE = "mellanrum demo keyring, synthetic data only"
_DEMO_KEYS_FROM = dt.date(2020, 1, 1)


@click.command()
@click.option("--people", type=click.IntRange(min=50), default=2000, show_default=True,
              help="Synthetic people to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generator.")
@click.option("--as-of", type=ISO_DATE, help="As-of date of the run (default: today in Stockholm).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Demo folder (default: $MELLANRUM_HOME/demo).")
def demo(people: int, seed: int, as_of, home: Path | None) -> None:
    """Generate demo deliveries and run the pipeline on them.

    Creates a demo keyring if there is none, generates one delivery per Göteborgsregionen
    municipality plus AF's, and pseudonymizes every source. Safe to run again: the same
    seed and date give the same data.
    """
    day = as_date(as_of)
    home = home or mellanrum_home() / "demo"
    keyring = _demo_keyring(home / "keyring.json")
    inbox = home / "inbox"
    click.echo(f"generating {people} synthetic people into {inbox}", err=True)
    generate_inbox(out_dir=inbox, people=people, seed=seed, as_of=day, force=True)
    sources = load_sources(inbox / "sources.yaml")
    keys = pseudonym_keys(keyring, day)
    out = home / "pseudonymized"
    out.mkdir(parents=True, exist_ok=True)

    summary = []
    with click.progressbar(sources.all, label="pseudonymizing", file=sys.stderr,
                           item_show_func=lambda s: s.id if s else "") as progress:  # fmt: skip
        for source in progress:
            for path in sources.files(source):
                read = read_source_file(source, path)
                result = pseudonymize_identities(to_canonical(source, read), keys, keyring, day)
                result.frame.to_parquet(out / f"{source.id}.parquet", index=False)
                summary.append({
                    "source": source.id,
                    "file": path.name,
                    "rows": read.rows_read,
                    "pseudonymized": int(result.frame["pseudonym"].notna().sum()),
                    "unusable identity": len(result.problems),
                })  # fmt: skip
    echo_table(summary)
    click.echo(f"\nkey id {keys.key_id}; pseudonymized datasets in {out}")


def _demo_keyring(path: Path) -> Keyring:
    passphrase = os.environ.get(PASSPHRASE_ENV) or DEMO_PASSPHRASE
    if path.exists():
        return Keyring.load(path, passphrase)
    click.echo(f"creating a demo keyring at {path}", err=True)
    ring, _ = Keyring(path=path).with_new_key("pipeline", _DEMO_KEYS_FROM)
    ring, _ = ring.with_new_key("linkage", _DEMO_KEYS_FROM)
    ring.save(passphrase)
    return ring
