"""`mellanrum reconcile`: an ad-hoc reconciliation on the latest ingested data."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from core.keys.keyring import mellanrum_home
from orchestration.cli.options import ISO_DATE, as_date, echo_table
from schemas.municipalities import municipality_names

CLASSES = ("conflict", "parallel", "complementary")


@click.command()
@click.option("--as-of", type=ISO_DATE, help="As-of date YYYY-MM-DD (default: today in Stockholm).")
@click.option("--kommun", "kommuner", multiple=True, metavar="KOMMUNKOD",
              help="A municipality's four-digit code; repeat for several (default: every municipality).")
@click.option("--look-back", type=click.IntRange(min=0), default=90, show_default=True,
              help="Report overlaps that touch this many days before the as-of date…")
@click.option("--look-ahead", type=click.IntRange(min=0), default=180, show_default=True,
              help="…and this many days after it.")
@click.option("--cut-off", type=ISO_DATE,
              help="Transition list: interventions planned to continue past this date (default: the as-of date).")
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file (default: $MELLANRUM_SOURCES, else $MELLANRUM_HOME/inbox/sources.yaml).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Mellanrum home: storage and Dagster instance (default: $MELLANRUM_HOME).")
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
    from orchestration.definitions import build_definitions, sources_path
    from orchestration.runner import open_instance, reconcile_stored

    home = home or mellanrum_home()
    day = as_date(as_of)
    config = {
        "as_of": day.isoformat(),
        "kommuner": list(kommuner),
        "look_back_days": look_back,
        "look_ahead_days": look_ahead,
        "cut_off": as_date(cut_off).isoformat() if cut_off else "",
    }
    defs = build_definitions(home, sources_file or sources_path(home))
    outcome = reconcile_stored(defs, open_instance(home), config, adhoc=True)
    if not outcome.ok:
        click.echo(f"reconciliation failed: {outcome.error}", err=True)
        sys.exit(1)
    folder = Path(outcome.metadata["folder"])
    echo_reconciliation(folder / "overlaps.parquet", folder / "transition_list.parquet", outcome.metadata)
    click.echo(f"results: {folder} (run {outcome.run_id})")


def echo_reconciliation(overlaps_file: Path, transition_list_file: Path, metadata: dict) -> None:
    """The per-municipality table and one line on what the run was."""
    summary = summary_by_kommun(pd.read_parquet(overlaps_file), pd.read_parquet(transition_list_file))
    echo_table(summary.to_dict("records"), empty="no overlaps and no transition list rows")
    click.echo(
        f"\nreconciled as of {metadata['as_of']} (window −{metadata['look_back_days']}/+{metadata['look_ahead_days']} "
        f"days, cut-off {metadata['cut_off']}, kommuner: {metadata['kommuner']}, rules {metadata['rules_version']}); "
        f"sources without data: {metadata['sources_without_data']}; stale sources (their latest delivery failed, "
        f"their last good data was used): {metadata['stale_sources']}"
    )


def summary_by_kommun(overlaps: pd.DataFrame, transition_list: pd.DataFrame) -> pd.DataFrame:
    """Counts per kommun: overlaps (all / in window / by class / flagged) and transition list rows."""
    flags = overlaps.assign(
        **{name: overlaps["classification"] == name for name in CLASSES},
        overlaps=1,
    )
    counts = flags.groupby("kommunkod").agg(
        overlaps=("overlaps", "sum"),
        in_window=("in_window", "sum"),
        **{name: (name, "sum") for name in CLASSES},
        interruption_risk=("interruption_risk", "sum"),
        upcoming=("upcoming", "sum"),
    )
    listed = transition_list.groupby("kommunkod").size().rename("transition_list")
    table = counts.join(listed, how="outer").fillna(0).astype("int64").reset_index()
    table.insert(1, "kommun", table["kommunkod"].map(municipality_names()))
    return table
