"""`mellanrum run`: the nightly pipeline on the declared sources, in-process, with a summary."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestration.cli import render
from orchestration.cli.options import ISO_DATE, as_date, home_option, sources_option


@click.command()
@sources_option
@click.option("--as-of", type=ISO_DATE, help="As-of date of the run (default: today in Stockholm).")
@home_option
@click.option("--source", "only", multiple=True, metavar="SOURCE_ID",
              help="Ingest only this source (repeat for several); the others keep their stored data.")
def run(sources_file: Path | None, as_of, home: Path | None, only: tuple[str, ...]) -> None:
    """The nightly pipeline: ingest every declared source, each in its own Dagster run,
    then reconcile and publish, and print a summary of each stage.

    A source whose delivery cannot be read fails alone; the others go on, what was stored
    for the failed source before stays as it was, and the reconciliation uses it. Exits 1
    when any source, the reconciliation or the publication failed, or a source was left
    behind by a key rotation (its data under an older linkage key: docs/runbook.md).

    \b
    Examples:
      export MELLANRUM_KEYRING_PASSPHRASE='...'
      mellanrum run --sources /srv/inbox/sources.yaml
      mellanrum run --source goteborg      # re-run one municipality after a new delivery
    """
    # Dagster loads in about a second: only the commands that run the pipeline pay for it.
    from orchestration.app.runs import run_nightly
    from orchestration.settings import Settings

    settings = Settings.load(home=home, sources=sources_file)
    report = run_nightly(settings, as_date(as_of), only, progress=render.source_progress("ingesting {total} sources"))
    render.night(report)
    if not report.ok:
        sys.exit(1)
