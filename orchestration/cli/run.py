"""`mellanrum run`: the pipeline on the declared sources, in-process, with a summary table."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestration.cli.options import ISO_DATE, as_date, echo_table
from orchestration.keyring import mellanrum_home
from schemas.sources import load_sources

_REASONS_WIDTH = 70


@click.command()
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file (default: $MELLANRUM_SOURCES, else $MELLANRUM_HOME/inbox/sources.yaml).")
@click.option("--as-of", type=ISO_DATE, help="As-of date of the run (default: today in Stockholm).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Mellanrum home: keyring, storage, Dagster instance (default: $MELLANRUM_HOME).")
def run(sources_file: Path | None, as_of, home: Path | None) -> None:
    """Ingest every declared source, each in its own Dagster run, and print a summary.

    A source whose delivery cannot be read fails alone; the others go on, and what was
    stored for the failed source before stays as it was. Exits 1 when any source failed.

    \b
    Example:
      export MELLANRUM_KEYRING_PASSPHRASE='...'
      mellanrum run --sources /srv/inbox/sources.yaml
    """
    outcomes = run_pipeline(home or mellanrum_home(), sources_file, as_date(as_of))
    if not all(outcome.ok for outcome in outcomes):
        sys.exit(1)




def run_pipeline(home: Path, sources_file: Path | None, as_of) -> list:
    """Run every source and print the summary table; shared by `run` and `demo`."""
    # Dagster loads in about a second: only the commands that run the pipeline pay for it.
    from orchestration.definitions import build_definitions, sources_path
    from orchestration.runner import ingest_all, open_instance

    sources_file = sources_file or sources_path(home)
    sources = load_sources(sources_file)
    defs = build_definitions(home, sources_file)
    instance = open_instance(home)
    with click.progressbar(length=len(sources.all), label=f"ingesting {len(sources.all)} sources",
                           file=sys.stderr) as progress:  # fmt: skip
        outcomes = ingest_all(defs, sources, instance, as_of, on_done=lambda _: progress.update(1))
    rows = [outcome.row() for outcome in outcomes]
    for row in rows:
        for column in ("top quarantine reasons", "error"):
            if len(row.get(column, "")) > _REASONS_WIDTH:
                row[column] = row[column][: _REASONS_WIDTH - 1] + "…"
    echo_table(rows)
    failed = [o for o in outcomes if not o.ok]
    click.echo(
        f"\n{len(outcomes) - len(failed)} of {len(outcomes)} sources ingested as of {as_of}; "
        f"runs are in the Dagster instance at {instance.root_directory}"
    )
    for outcome in failed:
        click.echo(f"FAILED {outcome.source.id}: {outcome.error}", err=True)
    return outcomes
