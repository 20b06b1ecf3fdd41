"""The plain-number leak scanner the tests run over everything a command or run leaves.

Given the canonical numbers of the people in the data, it looks for each of them in every
written form a file could hold (12 or 10 digits, with or without `-` or `+`, as UTF-8 or
UTF-16 text), as an unkeyed SHA-256 hex digest, and as its level-1 pseudonym, in every file
below a folder: databases, logs and zip, Parquet and gzip members included. A hit is
reported by file, never by the number itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

# Any written form of a number: 6 or 8 date digits, an optional separator, 4 more digits,
# not part of a longer run of digits (a pseudonym is base32 and has no such run).
_CANDIDATE = re.compile(rb"(?<![0-9])([0-9]{8}|[0-9]{6})[-+]?([0-9]{4})(?![0-9])")


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


def scan(root: Path, numbers: Iterable[str], exclude: Iterable[Path] = (), level1: Iterable[str] = ()) -> list[str]:
    """Files (and zip members) below `root` that hold any of `numbers`.

    Besides every written form of the numbers, it looks for their unkeyed SHA-256 hex
    digests and for the given level-1 pseudonyms (only level 2 may be stored).
    """
    numbers = list(numbers)
    needles = {_ten_digits(number) for number in numbers}
    digests = {hashlib.sha256(number.encode("ascii")).hexdigest().encode("ascii") for number in numbers}
    pseudonyms = {p.encode("ascii") for p in level1}
    excluded = {Path(p).resolve() for p in exclude}
    hits = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or any(path.resolve().is_relative_to(e) for e in excluded):
            continue
        for name, data in _contents(path):
            for text in (data, _utf16_to_ascii(data)):
                if (
                    _holds_any(text, needles)
                    or any(token.lower() in digests for token in _HEX.findall(text))
                    or any(token in pseudonyms for token in _BASE32.findall(text))
                ):
                    hits.append(name)
                    break
    return hits


def _holds_any(data: bytes, needles: set[bytes]) -> bool:
    return any(match[1][-6:] + match[2] in needles for match in _CANDIDATE.finditer(data))


def _utf16_to_ascii(data: bytes) -> bytes:
    # Digits stored as UTF-16 (some Windows tools) have a NUL after every byte.
    return data.replace(b"\x00", b"") if b"\x00" in data else b""
