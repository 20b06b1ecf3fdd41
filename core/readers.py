"""Read delivered files into all-text DataFrames, keeping every row's line number.

Real municipal exports differ: `;`, `,` or tab; UTF-8, UTF-8 with a BOM or Windows-1252;
quoted fields. The encoding and the delimiter are detected when the sources file says
`auto`. Every value is read as text (a kommunkod or a personnummer loses its leading zero
otherwise); typing is validation's job.

Rows with the wrong number of fields are not dropped: they come back in `bad_lines` with
their line number and a reason. Error messages never quote the content of a row, because
it may hold a personal identity number (pyarrow's own parse errors do quote it).
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from schemas.errors import InputError

LINE_COLUMN = "_line"
CANDIDATE_DELIMITERS = (";", ",", "\t", "|")
_SNIFF_BYTES = 64 * 1024


@dataclass
class ReadResult:
    """The rows of one file as text, with their line numbers in `LINE_COLUMN`."""

    path: Path
    frame: pd.DataFrame
    encoding: str
    delimiter: str
    bad_lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Data rows in the file: parsed ones plus those with the wrong number of fields."""
        return len(self.frame) + len(self.bad_lines)


def detect_encoding(head: bytes) -> str:
    """utf-8-sig when there is a BOM, utf-8 when the bytes decode as such, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as problem:
        # A multi-byte character cut off at the end of the sample is still UTF-8.
        if problem.start < len(head) - 3:
            return "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """The candidate that occurs most often in the header line; a one-column file gets ','."""
    counts = {candidate: header_line.count(candidate) for candidate in CANDIDATE_DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_delimited(path: Path, encoding: str = "auto", delimiter: str = "auto") -> ReadResult:
    """Read a CSV-like file as text; see the module docstring."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise InputError(f"{path}: cannot be read ({problem.strerror})") from None
    head = data[:_SNIFF_BYTES]
    if not head.strip():
        raise InputError(f"{path}: the file is empty")
    encoding = detect_encoding(head) if encoding == "auto" else encoding
    header_line = _first_line(head, encoding, path)
    delimiter = detect_delimiter(header_line) if delimiter == "auto" else delimiter
    names = next(csv.reader([header_line], delimiter=delimiter))
    names = [name.strip() for name in names]
    _check_header(names, path)

    skipped: list[tuple[int, int, int, int]] = []  # (record number, expected, actual, newlines)

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        skipped.append((row.number, row.expected_columns, row.actual_columns, row.text.count("\n")))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                encoding=encoding, use_threads=False, skip_rows=1, column_names=names, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as problem:
        raise InputError(f"{path}: {_safe_reason(problem, encoding)}") from None

    if _unclosed_quote_at_end(data, table):
        raise InputError(f"{path}: a quoted field is never closed (unbalanced quotes)")
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    frame = frame.astype({name: "string[pyarrow]" for name in names}) if len(names) else frame
    good_lines, skipped_lines = _physical_lines(frame, skipped, quoted=b'"' in data)
    frame.insert(0, LINE_COLUMN, good_lines)
    # A blank line (or one of delimiters only) parses as a row of empty strings: no record.
    blank = np.logical_and.reduce([(frame[name] == "").to_numpy(dtype=bool) for name in names])
    frame = frame[~blank].reset_index(drop=True)
    bad_lines = [
        (int(line), f"expected {expected} fields separated by {_describe(delimiter)}, found {actual}")
        for line, (_, expected, actual, _) in zip(skipped_lines, skipped)
    ]
    return ReadResult(path=path, frame=frame, encoding=encoding, delimiter=delimiter, bad_lines=bad_lines)


def _unclosed_quote_at_end(data: bytes, table: pa.Table) -> bool:
    """pyarrow lets an unclosed quote in the last column swallow the rest of the file."""
    if table.num_rows == 0 or table.num_columns == 0:
        return False
    last_value = table.column(table.num_columns - 1)[-1].as_py() or ""
    return "\n" in last_value and not data.rstrip(b"\r\n").endswith(b'"')


def _first_line(head: bytes, encoding: str, path: Path) -> str:
    first = head.split(b"\n", 1)[0]
    try:
        return codecs.decode(first, encoding).lstrip("\ufeff").rstrip("\r")
    except UnicodeDecodeError:
        raise InputError(f"{path}: line 1: not valid {encoding} text") from None
    except LookupError:
        raise InputError(f"{path}: unknown encoding {encoding!r}") from None


def _check_header(names: list[str], path: Path) -> None:
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank:
        raise InputError(f"{path}: line 1: column {blank[0]} has no name")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InputError(f"{path}: line 1: column name {duplicated[0]!r} appears more than once")


def _physical_lines(
    frame: pd.DataFrame, skipped: list[tuple[int, int, int, int]], quoted: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Physical line numbers (header = line 1) of the parsed and of the skipped records.

    pyarrow counts records; a quoted value with a line break makes a record span several
    lines, so a record's first line is its record number plus the line breaks inside all
    records before it. Only a quoted value can hold one: unless the file has quotes
    (`quoted`), there are none to count.
    """
    total = len(frame) + len(skipped)
    skipped_numbers = np.array([number for number, *_ in skipped], dtype=np.int64)
    is_good = np.ones(total + 2, dtype=bool)
    is_good[:2] = False
    is_good[skipped_numbers] = False
    good_numbers = np.flatnonzero(is_good)
    breaks = np.zeros(total + 2, dtype=np.int64)
    for column in frame.columns if quoted else []:
        breaks[good_numbers] += frame[column].str.count("\n").fillna(0).to_numpy(dtype=np.int64)
    breaks[skipped_numbers] = [newlines for *_, newlines in skipped]
    first_line = np.arange(total + 2) + np.concatenate([[0], np.cumsum(breaks)[:-1]])
    return first_line[good_numbers], first_line[skipped_numbers]


def _describe(delimiter: str) -> str:
    return {"\t": "tab", ";": "';'", ",": "','", "|": "'|'"}.get(delimiter, repr(delimiter))


def _safe_reason(problem: Exception, encoding: str) -> str:
    """A reason for a read failure that never quotes the file's content."""
    if isinstance(problem, UnicodeDecodeError):
        return f"not valid {encoding} text (byte {problem.start}); check the encoding in the sources file"
    if isinstance(problem, LookupError):
        return f"unknown encoding {encoding!r}"
    text = str(problem)
    if "unterminated" in text.lower() or "quote" in text.lower():
        return "a quoted field is never closed (unbalanced quotes)"
    if "decode" in text.lower() or "utf" in text.lower():
        return f"not valid {encoding} text; check the encoding in the sources file"
    return "cannot be parsed as delimited text"
