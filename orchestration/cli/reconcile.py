"""`mellanrum reconcile`: an ad-hoc reconciliation on the latest ingested data."""

from __future__ import annotations

import sys

import click

from orchestration.cli import render
from orchestration.cli.options import (
    ISO_DATE,
    as_date,
    home_option,
    optional_date,
    sources_option,
)


@click.command()
@click.option("--as-of", type=ISO_DATE, help="As-of date YYYY-MM-DD (default: today in Stockholm).")
@click.option("--kommun", "kommuner", multiple=True, metavar="KOMMUNKOD",
              help="A municipality's four-digit code; repeat for several (default: every municipality).")
@click.option("--look-back", type=click.IntRange(min=0),
              help="Report overlaps that touch this many days before the as-of date (default: the settings', 90)…")
@click.option("--look-ahead", type=click.IntRange(min=0),
              help="…and this many days after it (default: the settings', 180).")
@click.option("--cut-off", type=ISO_DATE,
              help="Transition list: interventions planned to continue past this date (default: the as-of date).")
@sources_option
@home_option
def reconcile(as_of, kommuner, look_back, look_ahead, cut_off, sources_file, home) -> None:  # fmt: skip
    """Reconcile the latest ingested data as of a date, for some municipalities.

    Runs the `reconcile_adhoc` Dagster job (the same one coordinators launch from the
    UI's launchpad): nothing is re-ingested and the nightly datasets are left alone. The
    results go to storage/adhoc/<run id>/ under the Mellanrum home; the terminal gets
    counts per municipality.

    \b
    Example:
      mellanrum reconcile --as-of 2026-12-01 --kommun 1480 --kommun 1481
    """
    from orchestration.app.runs import reconcile_adhoc
    from orchestration.settings import Settings

    settings = Settings.load(home=home, sources=sources_file)
    report = reconcile_adhoc(settings, as_date(as_of), kommuner, look_back_days=look_back, look_ahead_days=look_ahead,
                             cut_off=optional_date(cut_off))  # fmt: skip
    if not report.outcome.ok:
        click.echo(f"reconciliation failed: {report.outcome.error}", err=True)
        sys.exit(1)
    render.reconciliation(report)
    click.echo(f"results: {report.folder} (run {report.outcome.run_id})")
