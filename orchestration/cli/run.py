"""`mellanrum run`: the pipeline on the declared sources, in-process, with a summary table."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from core.keys.keyring import mellanrum_home
from orchestration.cli.options import ISO_DATE, as_date, echo_table
from orchestration.cli.reconcile import echo_reconciliation
from schemas.errors import ConfigError
from schemas.sources import load_sources

_REASONS_WIDTH = 70


@click.command()
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file (default: $MELLANRUM_SOURCES, else $MELLANRUM_HOME/inbox/sources.yaml).")
@click.option("--as-of", type=ISO_DATE, help="As-of date of the run (default: today in Stockholm).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Mellanrum home: keyring, storage, Dagster instance (default: $MELLANRUM_HOME).")
@click.option("--source", "only", multiple=True, metavar="SOURCE_ID",
              help="Ingest only this source (repeat for several); the others keep their stored data.")
def run(sources_file: Path | None, as_of, home: Path | None, only: tuple[str, ...]) -> None:
    """The nightly pipeline: ingest every declared source, each in its own Dagster run,
    then reconcile and publish, and print a summary of each stage.

    A source whose delivery cannot be read fails alone; the others go on, what was stored
    for the failed source before stays as it was, and the reconciliation uses it. Exits 1
    when any source, the reconciliation or the publication failed.

    \b
    Examples:
      export MELLANRUM_KEYRING_PASSPHRASE='...'
      mellanrum run --sources /srv/inbox/sources.yaml
      mellanrum run --source goteborg      # re-run one municipality after a new delivery
    """
    if not run_pipeline(home or mellanrum_home(), sources_file, as_date(as_of), only):
        sys.exit(1)



def run_pipeline(home: Path, sources_file: Path | None, as_of, only: tuple[str, ...] = ()) -> bool:
    """Ingest every source, reconcile, print both summaries; True when everything succeeded.
    Shared by `run` and `demo`."""
    # Dagster loads in about a second: only the commands that run the pipeline pay for it.
    from orchestration.definitions import build_definitions, database_url, sources_path
    from orchestration.runner import (
        ingest_all,
        open_instance,
        publish_latest,
        reconcile_stored,
    )

    sources_file = sources_file or sources_path(home)
    sources = load_sources(sources_file)
    declared = [s.id for s in sources.all]
    unknown = [source_id for source_id in only if source_id not in declared]
    if unknown:
        raise ConfigError(f"--source: got {', '.join(map(repr, unknown))}: not declared in {sources_file} "
                          f"(declared: {', '.join(declared)})")  # fmt: skip
    defs = build_definitions(home, sources_file)
    instance = open_instance(home)
    count = len(only) or len(sources.all)
    with click.progressbar(length=count, label=f"ingesting {count} sources", file=sys.stderr) as progress:
        outcomes = ingest_all(defs, sources, instance, as_of, on_done=lambda _: progress.update(1), only=only)
    rows = [outcome.row() for outcome in outcomes]
    for row in rows:
        for column in ("top quarantine reasons", "error"):
            if len(row.get(column, "")) > _REASONS_WIDTH:
                row[column] = row[column][: _REASONS_WIDTH - 1] + "…"
    echo_table(rows)
    failed = [o for o in outcomes if not o.ok]
    click.echo(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} sources ingested as of {as_of}")
    for outcome in failed:
        click.echo(f"FAILED {outcome.source.id}: {outcome.error}", err=True)

    click.echo("\nreconciling the latest good data of every source", err=True)
    reconciled = reconcile_stored(defs, instance, {"as_of": as_of.isoformat()})
    if not reconciled.ok:
        click.echo(f"FAILED reconciliation: {reconciled.error}; nothing was published", err=True)
        return False
    storage = home / "storage"
    echo_reconciliation(storage / "overlaps" / "all.parquet", storage / "transition_list" / "all.parquet",
                        reconciled.metadata)  # fmt: skip

    click.echo("\npublishing", err=True)
    published = publish_latest(defs, instance)
    if not published.ok:
        click.echo(f"FAILED publication: {published.error}; the previous publication stays as it was", err=True)
        return False
    echo_publication(published.metadata, database_url(home))
    click.echo(f"runs are in the Dagster instance at {instance.root_directory}")
    return not failed


def echo_publication(metadata: dict, url: str) -> None:
    """One line per published dataset (rows, recipients, checksum) and where it went."""
    rows = [
        {"dataset": name, "rows": facts["dagster/row_count"], "recipients": facts["recipients"],
         "rows without a registered recipient": facts["rows_without_registered_recipient"],
         "checksum": facts["checksum"][:16] + "…"}
        for name, facts in metadata.items() if "checksum" in facts
    ]  # fmt: skip
    echo_table(rows)
    as_of = next(iter(metadata.values()))["as_of"]
    where = make_url(url).render_as_string(hide_password=True)
    click.echo(f"\npublished as of {as_of} to {where}")
