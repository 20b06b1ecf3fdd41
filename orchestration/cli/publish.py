"""`mellanrum contracts`, `mellanrum export` and `mellanrum checksum`: what leaves the
pipeline, to whom, and proof of what a recipient was given."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.contracts import CONTRACTS
from core.freeze import FROZEN_PREFIX
from schemas.contracts import ROW_LEVEL_PROTECTION
from schemas.published_followup import FrozenTransitionList
from orchestration.cli.options import ISO_DATE, as_date, echo_table, home_option, sources_option


def _gates(declared) -> str:
    """The gates a contract's rows pass (core/gates.py), in words."""
    if declared.recipient_column is None:
        return "none (counts everyone)"
    gates = ["protected identity"]
    if declared.consent_from:
        gates.append(f"consent valid for {declared.consent_purpose}")
        gates.append("local agreement")
    return click.wrap_text(", ".join(gates), 30)


@click.command()
def contracts() -> None:
    """Print the publication contracts: every dataset that leaves the pipeline.

    The last row is the frozen transition lists (`mellanrum publish --freeze`), one table
    per named event.

    Each names the kind of recipient, its purpose, the consent it needs and its columns;
    no other column can be published (core/contracts.py, schemas/published.py). The gates
    column says what a row-level dataset's rows must pass (core/gates.py): no protected
    identity; the consent of the party the data comes from valid on the as-of date and
    covering the dataset's scope; a local agreement in force naming the recipient's party,
    the data's party and the dataset (agreements.yaml beside recipients.yaml; without the
    file that gate is off). Aggregates pass no gate: they count everyone; the protection
    column says how their counts are protected (the Cell Key Method, core/cellkey.py).
    """
    echo_table([
        {
            "dataset": c.name,
            "version": c.version,
            "recipient": c.recipient_kind + (f" (own rows by {c.recipient_column})" if c.recipient_column else
                                             "".join(f", {kind} (own rows by {' or '.join(c.kommun_columns)})"
                                                     for kind in c.also_to)),
            "consent": f"recorded by {c.consent_from.removesuffix('_consent')}" if c.consent_from else "-",
            "gates": _gates(c),
            "protection": click.wrap_text(c.protection, 40),
            "purpose": click.wrap_text(c.purpose, 50),
            "columns": click.wrap_text(", ".join(c.columns), 40),
        }
        for c in CONTRACTS
    ] + [{
        "dataset": f"{FROZEN_PREFIX}<name>",
        "version": "1.0.0",
        "recipient": "af_office (own rows by af_office)",
        "consent": "recorded by municipal",
        "gates": "protected identity, consent valid for samplanering",
        "protection": click.wrap_text(ROW_LEVEL_PROTECTION, 40),
        "purpose": click.wrap_text("A transition list frozen for a named event (mellanrum publish --freeze): "
                                   "published once, never replaced by a nightly run.", 50),
        "columns": click.wrap_text(", ".join(FrozenTransitionList.to_schema().columns), 40),
    }])  # fmt: skip


@click.command()
@click.option("--freeze", "name", required=True, metavar="NAME",
              help="The event the transition list is frozen for, e.g. krom-2026-09-29 (lower-case letters, "
                   "digits, hyphens).")
@click.option("--cut-off", type=ISO_DATE, required=True,
              help="Interventions planned to continue past this date YYYY-MM-DD.")
@click.option("--as-of", type=ISO_DATE, help="As-of date of the data YYYY-MM-DD (default: today in Stockholm).")
@sources_option
@home_option
def publish(name: str, cut_off, as_of, sources_file, home) -> None:  # fmt: skip
    """Freeze the transition list for a named event, published once.

    Runs the `freeze_transition_list` Dagster job (the same one a coordinator launches from
    the UI's launchpad) on the stored data: the transition list as of the day with that
    cut-off, with the municipalities' consent, is published as the table
    af_pagaende_insatser_fryst_<name> (hyphens as underscores), each AF office reading its
    own rows, and logged once per office. No nightly run replaces it; a name frozen before
    is refused.

    \b
    Example:
      mellanrum publish --freeze krom-2026-09-29 --cut-off 2026-09-29
    """
    from orchestration.app.runs import freeze_list
    from orchestration.settings import Settings

    settings = Settings.load(home=home, sources=sources_file)
    outcome = freeze_list(settings, name, as_date(cut_off), as_date(as_of))
    if not outcome.ok:
        click.echo(f"freezing failed: {outcome.error}", err=True)
        sys.exit(1)
    facts = outcome.metadata
    click.echo(f"frozen {name}: {facts['rows']} rows as of {facts['as_of']} (cut-off {facts['cut_off']}) published "
               f"once as {facts['table']} for {facts['recipients']} AF offices (run {outcome.run_id})")


@click.command()
@click.option("--recipient", "recipient_id", required=True, help="Recipient id from the recipients file.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Sealed file to write (refused if it exists, unless --force).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "xlsx"]), default="csv", show_default=True,
              help="Format of each dataset inside the sealed ZIP.")
@click.option("--recipients", "recipients_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Recipients file (default: $MELLANRUM_RECIPIENTS, else recipients.yaml beside the sources file).")
@home_option
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
def export(recipient_id: str, out_path: Path, fmt: str, recipients_file: Path | None, home: Path | None,
           force: bool) -> None:  # fmt: skip
    """Export one recipient's rows of the latest publication, encrypted to its public key.

    The file is a ZIP with one member per dataset the recipient receives, holding the
    rows its database role would read, sealed so that only the recipient's private key
    opens it (`mellanrum decrypt`). The publication log records the export. The
    indicator pack (`nyckeltal`, for a kommun or a region) is also in it as nyckeltal.xlsx,
    to open in a spreadsheet as it is.

    \b
    Examples:
      mellanrum export --recipient af_goteborg_city --out af_goteborg_city.sealed
      mellanrum export --recipient kommun_1480 --format xlsx --out goteborg_nyckeltal.sealed
    """
    from orchestration.app.exports import export_sealed
    from orchestration.settings import Settings

    settings = Settings.load(home=home, recipients=recipients_file)
    made = export_sealed(settings, recipient_id, out_path, fmt, force)
    echo_table(made.log[["dataset", "key_id", "row_count", "checksum"]].to_dict("records"))
    click.echo(f"\nwrote {out_path} for {recipient_id}, sealed to key {made.log['sealed_to'].iloc[0][:16]}…")


@click.command()
@click.option("--recipient", "recipient_id", required=True, help="Recipient id from the recipients file.")
@click.option("--dataset", help="Only this dataset (default: every dataset the recipient receives).")
@click.option("--recipients", "recipients_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Recipients file (default: $MELLANRUM_RECIPIENTS, else recipients.yaml beside the sources file).")
@home_option
def checksum(recipient_id: str, dataset: str | None, recipients_file: Path | None, home: Path | None) -> None:
    """Recompute a recipient's checksums from the database and compare them with the log.

    For each dataset the recipient receives: its rows as the database holds them now
    (exactly what its role reads), their SHA-256 (rows sorted by every column, written
    as CSV, dates YYYY-MM-DD: `core.publish.checksum`), and the checksum of the latest
    publication log entry for that dataset and recipient, with when (UTC) and how it was
    published. Exits 1 when one differs. Prints counts and checksums, never a row.

    \b
    Example:
      mellanrum checksum --recipient af_goteborg_city
    """
    from core.audit import verify_checksums
    from core.database import create_engine
    from orchestration.settings import Settings
    from schemas.recipients import load_recipients

    settings = Settings.load(home=home, recipients=recipients_file)
    recipients = load_recipients(settings.recipients_file)
    engine = create_engine(settings.publication_database_url())
    try:
        checked = verify_checksums(engine, CONTRACTS, recipients.get(recipient_id), dataset)
    finally:
        engine.dispose()
    echo_table([
        {"dataset": row["dataset"], "rows": row["rows"], "sha-256 of the rows now": row["checksum now"],
         "latest log entry (UTC)": f"{row['published at (UTC)']} {row['channel']}".strip() or "none",
         "same": "yes" if row["matches"] else f"NO (logged {row['logged checksum'][:16] or 'nothing'}…)"}
        for row in checked.to_dict("records")
    ])  # fmt: skip
    differing = checked.loc[~checked["matches"], "dataset"].tolist()
    if differing:
        click.echo(f"mellanrum: the rows in the database differ from the latest logged publication to {recipient_id} "
                   f"for: {', '.join(differing)}", err=True)  # fmt: skip
        sys.exit(1)
    click.echo(f"\nevery checksum of {recipient_id} matches its latest log entry")
