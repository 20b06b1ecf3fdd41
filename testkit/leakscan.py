"""The plain-number leak scanner the tests run over everything a command or run leaves.

Given the canonical numbers of the people in the data, it looks for each of them in every
written form a file could hold (12 or 10 digits, with or without `-` or `+`, as UTF-8 or
UTF-16 text), as an unkeyed SHA-256 hex digest, and as its level-1 pseudonym, in every file
below a folder: databases, logs and zip, Parquet and gzip members included. A hit is
reported by file, never by the number itself.

It also looks for arbitrary delivered text (`texts`: free-text cells, names): each as
UTF-8, UTF-16, Windows-1252 and JSON-escaped ASCII (`v\u00e4ntar`, as Dagster's event log
stores it). `leaks_in` applies the same search to captured terminal output.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

# Any written form of a number: 6 or 8 date digits, an optional separator (- or +, maybe
# spaced), 4 more digits, not part of a longer run of digits (a pseudonym is base32 and
# has no such run).
_CANDIDATE = re.compile(rb"(?<![0-9])([0-9]{8}|[0-9]{6})[ \t]?[-+]?[ \t]?([0-9]{4})(?![0-9])")


_HEX = re.compile(rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_BASE32 = re.compile(rb"(?<![A-Z2-7])[A-Z2-7]{52}(?![A-Z2-7])")


def _ten_digits(canonical: str) -> bytes:
    return canonical[2:].encode("ascii")


def _contents(path: Path) -> Iterable[tuple[str, bytes]]:
    """The file's bytes, and the decoded content of containers that compress (zip, Parquet, gzip)."""
    data = path.read_bytes()
    yield str(path), data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield f"{path}!{member}", archive.read(member)
    elif data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        yield f"{path}!rows", "\n".join(str(row) for row in table.to_pylist()).encode("utf-8")
    elif data[:2] == b"\x1f\x8b":
        yield f"{path}!gunzip", gzip.decompress(data)


def scan(
    root: Path,
    numbers: Iterable[str],
    exclude: Iterable[Path] = (),
    level1: Iterable[str] = (),
    texts: Iterable[str] = (),
) -> list[str]:
    """Files (and zip members) below `root` that hold any of `numbers` or `texts`.

    Besides every written form of the numbers, it looks for their unkeyed SHA-256 hex
    digests and for the given level-1 pseudonyms (only level 2 may be stored), and for every
    given text in each of its encodings (`text_forms`).
    """
    needles = _Needles(numbers, level1, texts)
    # Excluded by where a path is and by where it leads (a link into an excluded folder).
    excluded = {Path(p).absolute() for p in exclude} | {Path(p).resolve() for p in exclude}
    hits = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or any(p.is_relative_to(e) for p in (path.absolute(), path.resolve()) for e in excluded):
            continue
        for name, data in _contents(path):
            if needles.found_in(data):
                hits.append(name)
    return hits


def leaks_in(data: bytes | str, numbers: Iterable[str], texts: Iterable[str] = ()) -> bool:
    """Whether captured output (a terminal's, a log's) holds any of `numbers` or `texts`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _Needles(numbers, (), texts).found_in(data)


def text_forms(text: str) -> set[bytes]:
    """The byte forms a delivered text could be stored in."""
    forms = {text.encode("utf-8"), text.encode("utf-16-le"), json.dumps(text)[1:-1].encode("ascii")}
    try:
        forms.add(text.encode("cp1252"))
    except UnicodeEncodeError:
        pass
    return forms


class _Needles:
    def __init__(self, numbers: Iterable[str], level1: Iterable[str], texts: Iterable[str]) -> None:
        numbers = list(numbers)
        self.numbers = {_ten_digits(number) for number in numbers}
        self.digests = {hashlib.sha256(number.encode("ascii")).hexdigest().encode("ascii") for number in numbers}
        self.pseudonyms = {p.encode("ascii") for p in level1}
        self.texts = {form for text in texts if text for form in text_forms(text)}

    def found_in(self, data: bytes) -> bool:
        for text in (data, _utf16_to_ascii(data)):
            if (
                _holds_any(text, self.numbers)
                or any(token.lower() in self.digests for token in _HEX.findall(text))
                or any(token in self.pseudonyms for token in _BASE32.findall(text))
            ):
                return True
        return any(form in data for form in self.texts)


def _holds_any(data: bytes, needles: set[bytes]) -> bool:
    return any(match[1][-6:] + match[2] in needles for match in _CANDIDATE.finditer(data))


def _utf16_to_ascii(data: bytes) -> bytes:
    # Digits stored as UTF-16 (some Windows tools) have a NUL after every byte.
    return data.replace(b"\x00", b"") if b"\x00" in data else b""
