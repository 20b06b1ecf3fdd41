"""`mellanrum pseudonymize`: level-1 pseudonyms at source, for a partner's own extract.

The partner's IT runs this on its extract before sending it, so the plain personal number
never leaves the partner. The result equals what the pipeline computes for the same
number with the same linkage key.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from core.files import replaced_atomically
from core.keys.keyring import Keyring, default_keyring_path, passphrase_from_env
from core.keys.pseudonyms import level1_pseudonyms
from core.readers import LINE_COLUMN, read_delimited
from orchestration.cli.options import ISO_DATE, as_date, keyring_option
from schemas.errors import InputError
from schemas.personnummer import normalize

PSEUDONYM_COLUMN = "pseudonym_l1"
KEY_ID_COLUMN = "pseudonym_key_id"
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
    on = as_date(reference_date)
    keyring = Keyring.load(keyring_path or default_keyring_path(), passphrase_from_env())
    key = keyring.usable(key_id, "linkage", on) if key_id else keyring.active("linkage", on)

    read = read_delimited(source, encoding=encoding, delimiter="\t" if delimiter == "tab" else delimiter)
    if read.bad_lines:
        lines = ", ".join(str(line) for line, _ in read.bad_lines[:_SHOW_INVALID])
        raise InputError(f"{source}: {len(read.bad_lines)} line(s) cannot be parsed ({read.bad_lines[0][1]}): "
                         f"line {lines}; nothing was written")
    frame = read.frame
    if column not in frame.columns:
        available = ", ".join(repr(c) for c in frame.columns if c != LINE_COLUMN)
        raise InputError(f"{source}: line 1: no column {column!r} (columns: {available})")
    if out.resolve() == source.resolve():
        raise InputError(f"{out}: would overwrite the input; choose another --out")

    checked = normalize(frame[column], on)
    valid = checked["canonical"].notna().to_numpy(dtype=bool)
    pseudonyms = pd.Series(pd.NA, index=frame.index, dtype="string")
    if valid.any():
        pseudonyms[valid] = level1_pseudonyms(checked["canonical"][valid], key.secret).to_numpy()

    position = frame.columns.get_loc(column)
    result = frame.drop(columns=[LINE_COLUMN, column])
    result.insert(position - 1, PSEUDONYM_COLUMN, pseudonyms)
    result.insert(position, KEY_ID_COLUMN, pd.Series(key.id, index=frame.index).where(valid, pd.NA))
    _write_atomically(result, out, read.delimiter)

    invalid_lines = frame.loc[~valid, LINE_COLUMN].to_numpy()
    reasons = checked.loc[~valid, "reason"].to_numpy()
    click.echo(f"{source}: {int(valid.sum())} of {len(frame)} numbers pseudonymized with linkage key {key.id} "
               f"(check value {key.check_value}) -> {out}", err=True)
    if len(invalid_lines):
        for line, reason in list(zip(invalid_lines, reasons))[:_SHOW_INVALID]:
            click.echo(f"  line {line}: {reason}", err=True)
        if len(invalid_lines) > _SHOW_INVALID:
            click.echo(f"  ... and {len(invalid_lines) - _SHOW_INVALID} more", err=True)
        click.echo(f"{len(invalid_lines)} invalid number(s): their rows have an empty pseudonym", err=True)
        raise SystemExit(1)


def _write_atomically(frame: pd.DataFrame, out: Path, delimiter: str) -> None:
    """Never a half-written extract: the file appears whole or not at all."""
    with replaced_atomically(out) as temporary:
        frame.to_csv(temporary, sep=delimiter, index=False, encoding="utf-8", lineterminator="\n")
