"""Read delivered files into all-text DataFrames, keeping every row's line number.

Real municipal exports differ: `;`, `,` or tab; UTF-8, UTF-8 with a BOM or Windows-1252;
quoted fields. The encoding and the delimiter are detected when the sources file says
`auto`. Every value is read as text (a kommunkod or a personnummer loses its leading zero
otherwise); typing is validation's job.

Rows with the wrong number of fields are not dropped: they come back in `bad_lines` with
their line number and a reason, and so does a copy of the header line inside the file
(files concatenated by hand). A file with a header and no rows is read as no rows.

Errors are made by `schemas.errors.delivery_error` only, so they never quote the content
of a row, which may hold a personal identity number or free text (pyarrow's own parse
errors do quote it). Line 1 must be a header: a line that looks like data
(`looks_like_data`) is refused before any of its cells could be named as a column, and
only names of a header that passed (`check_header`) are ever shown. A file that is not
text (a NUL byte, control characters) is refused by name before it is parsed.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from schemas.errors import Declared, DeliveryError, HeaderName, delivery_error
from schemas.personnummer import identity_shaped

LINE_COLUMN = "_line"
CANDIDATE_DELIMITERS = (";", ",", "\t", "|")
_SNIFF_BYTES = 64 * 1024
REPEATED_HEADER = "the header line again, inside the file: skipped"


@dataclass
class ReadResult:
    """The rows of one file as text, with their line numbers in `LINE_COLUMN`."""

    path: Path
    frame: pd.DataFrame
    encoding: str
    delimiter: str
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    header: tuple[HeaderName, ...] = ()  # the names of line 1, checked by `check_header`

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
        why = Declared(problem.strerror or type(problem).__name__)
        raise delivery_error(path, "cannot be read ({why})", why=why) from None
    head = data[:_SNIFF_BYTES]
    if not head.strip():
        raise delivery_error(path, "the file is empty")
    encoding = detect_encoding(head) if encoding == "auto" else encoding
    if _looks_binary(head, encoding):
        raise delivery_error(
            path, "not a text file in the {encoding!s} encoding: it holds control characters that text never has "
            "(a zip, a workbook or another binary file?)", encoding=Declared(encoding),
        )  # fmt: skip
    header_line = _first_line(head, len(data), encoding, path)
    delimiter = detect_delimiter(header_line) if delimiter == "auto" else delimiter
    try:
        cells = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error:
        raise delivery_error(path, "line 1 cannot be read as a header line") from None
    names = list(check_header(cells, path))

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
        raise _read_failure(path, problem, encoding) from None

    if _unclosed_quote_at_end(data, table):
        raise delivery_error(path, "a quoted field is never closed (unbalanced quotes)")
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
    frame, repeated = _without_repeated_header(frame, names)
    return ReadResult(path=path, frame=frame, encoding=encoding, delimiter=delimiter,
                      bad_lines=sorted(bad_lines + repeated), header=tuple(names))  # fmt: skip


def read_workbook(path: Path, sheet: str | None = None) -> ReadResult:
    """Read one sheet of an .xlsx workbook as text, the header in sheet row 1.

    The same rules as for delimited files: the header must not look like data, names are
    unique and not blank (a column without a name and without values is dropped: sheets
    often carry formatted but empty columns), the header repeated inside is skipped.
    """
    path = Path(path)
    try:
        rows = pd.read_excel(path, sheet_name=sheet or 0, header=None, dtype=str, engine="calamine")
    except ValueError as problem:
        # pandas says "Worksheet named 'X' not found"; nothing of the message is repeated.
        if sheet is not None and "not found" in str(problem):
            raise delivery_error(path, "the workbook has no sheet named {sheet}", sheet=Declared(sheet)) from None
        raise delivery_error(path, "not a readable .xlsx workbook") from None
    except Exception:  # noqa: BLE001 (a corrupt workbook fails in many ways, all of them this)
        raise delivery_error(path, "not a readable .xlsx workbook") from None
    rows = rows.astype("string[pyarrow]")
    if rows.empty:
        raise delivery_error(path, "the sheet is empty")
    cells = rows.iloc[0].fillna("").tolist()
    named = [bool(cell.strip()) or rows.iloc[1:, i].notna().any() for i, cell in enumerate(cells)]
    rows = rows.loc[:, named]
    names = list(check_header([cell for cell, keep in zip(cells, named) if keep], path))
    frame = rows.iloc[1:].set_axis(names, axis=1).reset_index(drop=True)
    # The header is sheet row 1, so data row i is sheet row i + 2; blank rows hold no record.
    frame.insert(0, LINE_COLUMN, np.arange(2, len(frame) + 2, dtype=np.int64))
    blank = frame.drop(columns=LINE_COLUMN).isna().all(axis=1).to_numpy(dtype=bool)
    frame, repeated = _without_repeated_header(frame[~blank].reset_index(drop=True), names)
    return ReadResult(path=path, frame=frame, encoding="xlsx", delimiter="", bad_lines=repeated, header=tuple(names))


# --- the header line ---------------------------------------------------------------------------

# A cell that is a date: YYYY-MM-DD, YYYY/MM/DD, D/M/YYYY, D.M.YY and the like, maybe with a time.
_DATE_CELL = re.compile(
    r"^(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.](?:[0-9]{4}|[0-9]{2}))(?:$|[ T])"
)
MAX_HEADER_NAME_CHARACTERS = 80
MAX_HEADER_NAME_WORDS = 8
# A mark that ends a clause inside a sentence, then more text: what a comment has and a name not.
_SENTENCE_MARK = re.compile(r"[,;:!?.]\s+\S")


def looks_like_data(cells: Sequence[str]) -> bool:
    """Whether a would-be header line is in fact a row of data (the header is missing).

    The line is data, not a header, when any one of its cells (stripped)

    - holds something shaped like a personal identity number
      (`schemas.personnummer.identity_shaped`), e.g. `19090101-9810`, `0901019810`;
    - is a date: `2021-09-29`, `2021/9/29`, `29/9/2021`, `29.09.21`, with or without a
      time after it (a workbook's date cell reads `2021-09-29 00:00:00`);
    - is mostly digits: more than half of its characters, spaces aside, are digits
      (`100`, `37,5`, `20210929`, `L0000001`, `2024-00001`): an extent, an id, a date;
    - is free text: more than 80 characters, more than 8 words, or a clause mark inside
      (`,` `;` `:` `.` `!` `?` followed by a space and more text, as in
      `Sjukskriven sedan mars, väntar på intyg`).

    Every delivery holds a start date and an extent, so a data row always trips it. The
    price: a real header with a column named like a number (`2025`, `Q1 2025`) or like a
    sentence (`Omfattning, procent`) is refused too, with the same message, and must be
    renamed.
    """
    stripped = [cell.strip() for cell in cells]
    if identity_shaped(pd.Series(stripped, dtype="string")).any():
        return True
    for cell in stripped:
        characters = "".join(cell.split())
        digits = sum(c in "0123456789" for c in characters)
        if _DATE_CELL.match(cell) or 2 * digits > len(characters) > 0:
            return True
        if len(cell) > MAX_HEADER_NAME_CHARACTERS or len(cell.split()) > MAX_HEADER_NAME_WORDS:
            return True
        if _SENTENCE_MARK.search(cell):
            return True
    return False


def check_header(cells: Sequence[str], path: Path) -> tuple[HeaderName, ...]:
    """The column names of line 1, once they are known to be a header; else a `DeliveryError`.

    In this order, so that no cell of a data row is ever quoted: the line must not look like
    data (`looks_like_data`), then no name may be blank, then no name may repeat.
    """
    if looks_like_data(cells):
        raise delivery_error(path, "line 1 looks like data, not a header: is the header missing?")
    names = [HeaderName(cell.strip()) for cell in cells]
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank:
        raise delivery_error(path, "column {number} has no name", line=1, number=blank[0])
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise delivery_error(path, "column name {name} appears more than once", line=1, name=duplicated[0])
    return tuple(names)


def _without_repeated_header(frame: pd.DataFrame, names: Sequence[str]) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Rows that repeat the header line (files concatenated by hand) leave the frame, each
    reported once as a bad line."""
    if frame.empty or not names:
        return frame, []
    repeated = np.logical_and.reduce(
        [(frame[name].str.strip() == name).fillna(False).to_numpy(dtype=bool) for name in names]
    )
    if not repeated.any():
        return frame, []
    lines = frame.loc[repeated, LINE_COLUMN].tolist()
    return frame[~repeated].reset_index(drop=True), [(int(line), REPEATED_HEADER) for line in lines]


def _looks_binary(head: bytes, encoding: str) -> bool:
    """A NUL byte, or more than 1 % control characters (tab, line breaks, form feed and the
    DOS end-of-file mark aside), in the first bytes: no text file in an 8-bit or UTF-8
    encoding has them. UTF-16 and UTF-32 have NULs by nature and are not checked."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if name.startswith(("utf-16", "utf-32")):
        return False
    if b"\x00" in head:
        return True
    return 100 * (len(head) - len(head.translate(None, _CONTROL_BYTES))) > len(head)


_CONTROL_BYTES = bytes(sorted(set(range(32)) - {9, 10, 12, 13, 26})) + b"\x7f"


def _unclosed_quote_at_end(data: bytes, table: pa.Table) -> bool:
    """pyarrow lets an unclosed quote in the last column swallow the rest of the file."""
    if table.num_rows == 0 or table.num_columns == 0:
        return False
    last_value = table.column(table.num_columns - 1)[-1].as_py() or ""
    return "\n" in last_value and not data.rstrip(b"\r\n").endswith(b'"')


def _first_line(head: bytes, size: int, encoding: str, path: Path) -> str:
    """Line 1, up to the first line break of any kind (pyarrow ends a line at \\n, \\r\\n or \\r)."""
    end = re.search(rb"\r\n|\r|\n", head)
    if end is None and size > len(head):
        raise delivery_error(path, "line 1 is longer than {limit} bytes: not a header line", limit=len(head))
    first = head[: end.start()] if end else head
    try:
        return codecs.decode(first, encoding).lstrip("\ufeff")
    except UnicodeDecodeError:
        raise delivery_error(path, "line 1 is not valid {encoding!s} text; check the encoding in the sources file",
                             encoding=Declared(encoding)) from None  # fmt: skip
    except LookupError:
        raise delivery_error(path, "unknown encoding {encoding!s}", encoding=Declared(encoding)) from None


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


def _read_failure(path: Path, problem: Exception, encoding: str) -> DeliveryError:
    """The error for a failed parse; it never repeats pyarrow's message, which quotes the row."""
    declared = Declared(encoding)
    if isinstance(problem, UnicodeDecodeError):
        return delivery_error(path, "not valid {encoding!s} text (byte {byte}); check the encoding in the sources file",
                              encoding=declared, byte=problem.start)  # fmt: skip
    if isinstance(problem, LookupError):
        return delivery_error(path, "unknown encoding {encoding!s}", encoding=declared)
    text = str(problem).lower()
    if "unterminated" in text or "quote" in text:
        return delivery_error(path, "a quoted field is never closed (unbalanced quotes)")
    if "decode" in text or "utf" in text:
        return delivery_error(path, "not valid {encoding!s} text; check the encoding in the sources file",
                              encoding=declared)  # fmt: skip
    if "straddl" in text or "block" in text:
        return delivery_error(path, "a line is longer than {limit} bytes: not a delivery of rows", limit=1 << 24)
    return delivery_error(path, "cannot be parsed as delimited text")
