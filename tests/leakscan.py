"""The plain-number leak scanner the tests run over everything a command or run leaves.

Given the canonical numbers of the people in the data, it looks for each of them in every
written form a file could hold (12 digits, 10 digits, with `-` or `+`, with the century
and separator, as UTF-8 or UTF-16 text) in every file below a folder, zip members (xlsx)
included. A hit is reported by file and form, never by the number itself.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path


def written_forms(canonical: str) -> set[str]:
    century_date, serial = canonical[:8], canonical[8:]
    short = century_date[2:]
    return {
        canonical,
        short + serial,
        f"{short}-{serial}",
        f"{short}+{serial}",
        f"{century_date}-{serial}",
        f"{century_date}+{serial}",
    }


def _needles(numbers: Iterable[str]) -> re.Pattern[bytes]:
    forms = sorted({form for number in numbers for form in written_forms(number)}, key=len, reverse=True)
    # Digits either side would make it part of a longer number (a pseudonym has none).
    alternatives = b"|".join(re.escape(form.encode("ascii")) for form in forms)
    return re.compile(rb"(?<![0-9])(?:" + alternatives + rb")(?![0-9])")


def _contents(path: Path) -> Iterable[tuple[str, bytes]]:
    data = path.read_bytes()
    yield str(path), data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield f"{path}!{member}", archive.read(member)


def scan(root: Path, numbers: Iterable[str], exclude: Iterable[Path] = ()) -> list[str]:
    """Files (and zip members) below `root` that contain any of `numbers` in any form."""
    pattern = _needles(numbers)
    excluded = {Path(p).resolve() for p in exclude}
    hits = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or any(path.resolve().is_relative_to(e) for e in excluded):
            continue
        for name, data in _contents(path):
            for text in (data, _utf16_to_ascii(data)):
                if pattern.search(text):
                    hits.append(name)
                    break
    return hits


def _utf16_to_ascii(data: bytes) -> bytes:
    # Digits stored as UTF-16 (some Windows tools) have a NUL after every byte.
    return data.replace(b"\x00", b"") if b"\x00" in data else b""
