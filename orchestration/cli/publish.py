"""`mellanrum contracts` and `mellanrum export`: what leaves the pipeline, and to whom."""

from __future__ import annotations

from pathlib import Path

import click

from core.contracts import CONTRACTS
from orchestration.cli.options import echo_table, home_option


@click.command()
def contracts() -> None:
    """Print the publication contracts: every dataset that leaves the pipeline.

    Each names the kind of recipient, its purpose, the consent it needs and its columns;
    no other column can be published (core/contracts.py, schemas/published.py).
    """
    echo_table([
        {
            "dataset": c.name,
            "version": c.version,
            "recipient": c.recipient_kind + (f" (own rows by {c.recipient_column})" if c.recipient_column else ""),
            "consent": f"recorded by {c.consent_from.removesuffix('_consent')}" if c.consent_from else "-",
            "purpose": click.wrap_text(c.purpose, 50),
            "columns": click.wrap_text(", ".join(c.columns), 40),
        }
        for c in CONTRACTS
    ])  # fmt: skip


@click.command()
@click.option("--recipient", "recipient_id", required=True, help="Recipient id from the recipients file.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Sealed file to write (refused if it exists, unless --force).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
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
    opens it (`mellanrum decrypt`). The publication log records the export.

    \b
    Example:
      mellanrum export --recipient af_goteborg_city --out af_goteborg_city.sealed
    """
    from orchestration.app.exports import export_sealed
    from orchestration.settings import Settings

    settings = Settings.load(home=home, recipients=recipients_file)
    made = export_sealed(settings, recipient_id, out_path, fmt, force)
    echo_table(made.log[["dataset", "key_id", "row_count", "checksum"]].to_dict("records"))
    click.echo(f"\nwrote {out_path} for {recipient_id}, sealed to key {made.log['sealed_to'].iloc[0][:16]}…")
