"""`mellanrum pseudonymize`: level-1 pseudonyms at source, for a partner's own extract.

The partner's IT runs this on its extract before sending it, so the plain personal number
never leaves the partner. The result equals what the pipeline computes for the same
number with the same linkage key.
"""

from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.options import ISO_DATE, as_date, keyring_option

_SHOW_INVALID = 20


@click.command()
@click.option("--in", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="CSV extract holding plain personal identity numbers.")
@click.option("--column", required=True, help="Name of the column holding the personal identity numbers.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV file to write (UTF-8, same delimiter as the input).")
@click.option("--key-id", help="Linkage key to use (default: the newest valid one, see `mellanrum keys list`).")
@click.option("--encoding", default="auto", show_default=True, help="auto, utf-8, utf-8-sig or cp1252.")
@click.option("--delimiter", default="auto", show_default=True, help="auto, ';', ',', '|' or 'tab'.")
@click.option("--reference-date", type=ISO_DATE,
              help="Date the century of 10-digit numbers is inferred against (default: today).")
@keyring_option
def pseudonymize(source: Path, column: str, out: Path, key_id: str | None, encoding: str, delimiter: str,
                 reference_date, keyring_path: Path | None) -> None:  # fmt: skip
    """Replace a column of personal identity numbers with level-1 pseudonyms.

    The column is replaced by two columns: pseudonym_l1 (HMAC-SHA256 under the shared
    linkage key, in base32) and pseudonym_key_id. Every other column is copied as it is.
    Invalid numbers are reported by line number, never echoed; their rows keep an empty
    pseudonym so that nothing is lost, and the exit status is 1.

    \b
    Example:
      export MELLANRUM_KEYRING_PASSPHRASE='...'
      mellanrum pseudonymize --in extract.csv --column Personnummer --out extract.pseud.csv
    """
    from orchestration.app.partner import pseudonymize_extract
    from orchestration.settings import Settings

    settings = Settings.load(keyring=keyring_path)
    result = pseudonymize_extract(settings, source, column, out, key_id=key_id, encoding=encoding,
                                  delimiter=delimiter, reference_date=as_date(reference_date))  # fmt: skip
    click.echo(f"{source}: {result.pseudonymized} of {len(result.frame)} numbers pseudonymized with linkage key "
               f"{result.key.id} (check value {result.key.check_value}) -> {out}", err=True)  # fmt: skip
    if len(result.invalid):
        for line, reason in list(result.invalid.itertuples(index=False))[:_SHOW_INVALID]:
            click.echo(f"  line {line}: {reason}", err=True)
        if len(result.invalid) > _SHOW_INVALID:
            click.echo(f"  ... and {len(result.invalid) - _SHOW_INVALID} more", err=True)
        click.echo(f"{len(result.invalid)} invalid number(s): their rows have an empty pseudonym", err=True)
        raise SystemExit(1)
