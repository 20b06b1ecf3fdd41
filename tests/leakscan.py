"""The plain-number leak scanner the tests run over everything a command or run leaves.

Given the canonical numbers of the people in the data, it looks for each of them in every
written form a file could hold (12 or 10 digits, with or without `-` or `+`, as UTF-8 or
UTF-16 text) in every file below a folder, zip members (xlsx) included. A hit is reported
by file, never by the number itself.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq


# Any written form of a number: 6 or 8 date digits, an optional separator, 4 more digits,
# not part of a longer run of digits (a pseudonym is base32 and has no such run).
_CANDIDATE = re.compile(rb"(?<![0-9])([0-9]{8}|[0-9]{6})[-+]?([0-9]{4})(?![0-9])")


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


def scan(root: Path, numbers: Iterable[str], exclude: Iterable[Path] = ()) -> list[str]:
    """Files (and zip members) below `root` that contain any of `numbers` in any form."""
    needles = {_ten_digits(number) for number in numbers}
    excluded = {Path(p).resolve() for p in exclude}
    hits = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or any(path.resolve().is_relative_to(e) for e in excluded):
            continue
        for name, data in _contents(path):
            if _holds_any(data, needles) or _holds_any(_utf16_to_ascii(data), needles):
                hits.append(name)
    return hits


def _holds_any(data: bytes, needles: set[bytes]) -> bool:
    return any(match[1][-6:] + match[2] in needles for match in _CANDIDATE.finditer(data))


def _utf16_to_ascii(data: bytes) -> bytes:
    # Digits stored as UTF-16 (some Windows tools) have a NUL after every byte.
    return data.replace(b"\x00", b"") if b"\x00" in data else b""
