"""`mellanrum pnr`: check personnummer/samordningsnummer the way the pipeline does."""

import datetime
import itertools
import sys
from collections.abc import Iterator
from typing import BinaryIO

import click
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.cli.options import ISO_DATE, as_date
from schemas.errors import InputError
from schemas.personnummer import normalize

# Lines per batch: large files stream in bounded memory, and each batch is still big
# enough for the vectorized rules to pay off.
CHUNK_LINES = 100_000


@click.group()
def pnr() -> None:
    """Personnummer and samordningsnummer: normalize and check them."""


@pnr.command("normalize")
@click.option(
    "--reference-date",
    type=ISO_DATE,
    default=None,
    metavar="YYYY-MM-DD",
    help="Date that fixes the century of 10-digit numbers and rejects 12-digit numbers "
    "born after it. Default: today in Europe/Stockholm.",
)
def normalize_command(reference_date: datetime.datetime | None) -> None:
    """Normalize one number per line from stdin to the canonical 12-digit form.

    Accepts YYMMDDNNNC and YYYYMMDDNNNC, optionally with - or + before the last four
    digits (+ means 100 years or older). Writes one tab-separated line per input line:

    \b
        input  canonical  kind  reason

    input is the line as given; canonical and kind (personnummer or samordningsnummer)
    are empty when the number is invalid; reason is empty when it is valid and otherwise
    says what is wrong, without repeating any digit. Exits 0 even when some numbers are
    invalid. Example (columns shown aligned; they are separated by one tab):

    \b
        $ printf '090101+9810\\n0901019811\\n' | mellanrum pnr normalize \\
              --reference-date 2026-11-23
        090101+9810  190901019810  personnummer
        0901019811                                check digit wrong
    """
    reference = as_date(reference_date)
    for lines in _batches_of_lines(sys.stdin.buffer):
        click.echo(_report_lines(lines, reference), nl=False)


def _batches_of_lines(stream: BinaryIO) -> Iterator[list[str]]:
    """Lists of up to CHUNK_LINES lines of UTF-8 text, without their line endings.

    Decoded here, strictly, because the text stdin would let undecodable bytes through
    as surrogates, which fail later with the bytes in the message.
    """
    lines_before = 0
    encoding = "utf-8-sig"  # a byte order mark (Windows editors add one) is not input
    while chunk := list(itertools.islice(stream, CHUNK_LINES)):
        data = b"".join(chunk)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as problem:
            line_number = lines_before + data.count(b"\n", 0, problem.start) + 1
            raise InputError(
                f"stdin line {line_number} is not UTF-8 text; convert the file first, for "
                "example with iconv -f WINDOWS-1252 -t UTF-8"
            ) from None
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()  # the empty string after the last line ending
        yield [line.removesuffix("\r") for line in lines]
        lines_before += len(chunk)
        encoding = "utf-8"


def _report_lines(lines: list[str], reference_date: datetime.date) -> str:
    """The output text for one batch of input lines, newline-terminated."""
    inputs = pd.Series(lines, dtype=pd.StringDtype("pyarrow"))
    result = normalize(inputs, reference_date)
    columns = [pa.array(inputs)] + [
        pc.fill_null(pa.array(result[name]), "") for name in ("canonical", "kind", "reason")
    ]
    rows = pc.binary_join_element_wise(*columns, pa.scalar("\t", pa.large_string()))
    return "\n".join(rows.to_pylist()) + "\n"
