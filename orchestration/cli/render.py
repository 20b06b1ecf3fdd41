"""How the commands show the application's reports: tables and one-line summaries.

Counts, ids and dates only: a report never holds a row's values.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from core.gates import GATES
from orchestration.cli.options import echo_table
from schemas.agreements import NO_AGREEMENTS_FILE

if TYPE_CHECKING:  # the reports' module loads Dagster; rendering needs only their fields
    from orchestration.app.runs import NightReport, ReconcileReport, StageOutcome

_REASONS_WIDTH = 70


def source_progress(label: str):
    """A progress bar on stderr that a `(done, total)` callback moves; closed by the caller."""
    bar: dict = {}

    def advance(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label=label.format(total=total), file=sys.stderr)
            bar["bar"].__enter__()
        bar["bar"].update(done - bar["bar"].pos)
        if done == total:
            bar.pop("bar").__exit__(None, None, None)

    return advance


def night(report: NightReport) -> None:
    """Every stage of a night's run: sources, reconciliation, publication."""
    rows = [outcome.row() for outcome in report.sources]
    for row in rows:
        for column in ("top quarantine reasons", "error"):
            if len(row.get(column, "")) > _REASONS_WIDTH:
                row[column] = row[column][: _REASONS_WIDTH - 1] + "…"
    echo_table(rows)
    failed = report.failed_sources
    click.echo(f"\n{len(report.sources) - len(failed)} of {len(report.sources)} sources ingested as of {report.as_of}")
    for outcome in failed:
        click.echo(f"FAILED {outcome.source.id}: {outcome.error}", err=True)
    if report.reconciliation is None:
        return
    click.echo("\nreconciling the latest good data of every source", err=True)
    if not report.reconciliation.outcome.ok:
        click.echo(f"FAILED reconciliation: {report.reconciliation.outcome.error}; nothing was published", err=True)
        return
    reconciliation(report.reconciliation)
    if report.publication is None:
        return
    click.echo("\npublishing", err=True)
    if not report.publication.ok:
        click.echo(f"FAILED publication: {report.publication.error}; the previous publication stays as it was",
                   err=True)  # fmt: skip
        return
    publication(report.publication, report.database)
    click.echo(f"runs are in the Dagster instance at {report.instance_dir}")


def reconciliation(report: ReconcileReport) -> None:
    """The per-municipality table and one line on what the run was."""
    metadata = report.outcome.metadata
    echo_table(report.by_kommun.to_dict("records"), empty="no overlaps and no transition list rows")
    click.echo(
        f"\nreconciled as of {metadata['as_of']} (window −{metadata['look_back_days']}/+{metadata['look_ahead_days']} "
        f"days, cut-off {metadata['cut_off']}, kommuner: {metadata['kommuner']}, rules {metadata['rules_version']}); "
        f"sources without data: {metadata['sources_without_data']}; stale sources (their latest delivery failed, "
        f"their last good data was used): {metadata['stale_sources']}"
    )
    _key_epochs(metadata)


def _key_epochs(metadata: dict) -> None:
    """The night's key id, the sources brought to it, and any left behind (in the runbook's words)."""
    if "key_id" not in metadata:
        return
    brought = metadata.get("sources_brought_forward", "none")
    click.echo(f"linked on key id {metadata['key_id']}"
               + (f"; brought forward to it: {brought}" if brought != "none" else ""))  # fmt: skip
    if metadata.get("sources_behind", "none") != "none":
        click.echo(f"KEY EPOCHS: {metadata['sources_behind']}", err=True)


def publication(outcome: StageOutcome, database: str) -> None:
    """One line per published dataset (rows, recipients, checksum) and where it went."""
    rows = [
        {"dataset": name, "rows": facts["dagster/row_count"], "recipients": facts["recipients"],
         "rows without a registered recipient": facts["rows_without_registered_recipient"],
         **{f"withheld: {gate.replace('_', ' ')}": facts.get(f"withheld_{gate}", 0) for gate in GATES},
         "checksum": facts["checksum"][:16] + "…"}
        for name, facts in outcome.metadata.items() if "checksum" in facts
    ]  # fmt: skip
    echo_table(rows)
    as_of = next(iter(outcome.metadata.values()))["as_of"]
    click.echo(f"\npublished as of {as_of} to {database}")
    agreements = next((facts["agreements"] for facts in outcome.metadata.values() if "agreements" in facts), None)
    if agreements == NO_AGREEMENTS_FILE:
        click.echo(f"NOTE: {NO_AGREEMENTS_FILE}", err=True)
    elif agreements not in (None, "every row covered"):
        click.echo(f"WITHHELD for want of a local agreement in force: {agreements}", err=True)
    kept = {name: facts["kept_previous"] for name, facts in outcome.metadata.items()
            if facts.get("kept_previous", "none") != "none"}  # fmt: skip
    if kept:
        reason = next(facts["held_back"] for facts in outcome.metadata.values() if "held_back" in facts)
        click.echo("KEPT the previous publication: " + "; ".join(f"{name}: {what}" for name, what in kept.items())
                   + f" ({reason})", err=True)  # fmt: skip
