"""Named fixtures for the registration-based lists: small deliveries of Skatteverket's test
numbers (`schemas/reference`), written as CSV in our own column names and ingested through
`core.ingest` like any delivery, so that ages on the registration date and 20th birthdays
come from the numbers themselves."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from core.ingest import ingest_source
from core.keys.keyring import Keyring, pseudonym_keys
from schemas.sources import AF_COLUMNS, MUNICIPAL_COLUMNS, OPTIONAL_COLUMNS, REGISTRATION_COLUMNS, load_sources
from testkit.homes import REFERENCE

_TEST_NUMBERS = tuple(json.loads((REFERENCE / "skatteverket_testpersonnummer.json").read_text(encoding="utf-8")))


def test_number(born_in: int, nth: int = 0) -> str:
    """The `nth` Skatteverket test personnummer (12 digits) of someone born in `born_in`."""
    return [n for n in _TEST_NUMBERS if n.startswith(str(born_in))][nth]


def born_on(number: str) -> dt.date:
    return dt.date(int(number[:4]), int(number[4:6]), int(number[6:8]))


def turning(age: int, on: dt.date, nth: int = 0) -> str:
    """A test number of someone who is `age` on `on` (born in the year that makes it so at
    some point of that year: checked)."""
    for year in (on.year - age, on.year - age - 1):
        for n in range(40):
            try:
                number = test_number(year, nth + n)
            except IndexError:
                break
            born = born_on(number)
            years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
            if years == age:
                return number
    raise LookupError(f"no test number aged {age} on {on}")


def born_between(first: dt.date, last: dt.date) -> str:
    """A test number of someone born from `first` to `last` (both included)."""
    for number in _TEST_NUMBERS:
        if number[4:8] != "0229" and first <= born_on(number) <= last:
            return number
    raise LookupError(f"no test number born from {first} to {last}")


@dataclass
class Deliveries:
    """Rows for one municipality (kommun 1764 Grums unless given), AF's assignments and registrations."""

    municipal: list[dict] = field(default_factory=list)
    af: list[dict] = field(default_factory=list)
    registrations: list[dict] = field(default_factory=list)

    def intervention(self, pnr: str, record_id: str, start: str, end: str = "", code: str = "ARBETSTRANING",
                     consent: bool = True, kommunkod: str = "1764", **record: str) -> None:  # fmt: skip
        """`record`: the optional columns (`OPTIONAL_COLUMNS`), as delivered text."""
        self.municipal.append({"personnummer": pnr, "record_id": record_id, "insats_code": code, "start_date": start,
                               "end_date": end, "extent_pct": "50", "consent": str(consent).lower(),
                               "kommunkod": kommunkod, **_record(record)})  # fmt: skip

    def assignment(self, pnr: str, assignment_id: str, start: str, end: str = "", code: str = "KROM",
                   status: str = "ongoing", office: str = "Arbetsförmedlingen Karlstad", consent: bool = True,
                   **record: str) -> None:  # fmt: skip
        self.af.append({"personnummer": pnr, "assignment_id": assignment_id, "programme_code": code,
                        "decision_date": "", "start_date": start, "end_date": end, "extent_pct": "50",
                        "af_office": office, "status": status, "consent": str(consent).lower(),
                        **_record(record)})  # fmt: skip

    def registration(self, pnr: str, registration_id: str, start: str, end: str = "", reason: str = "",
                     office: str = "Arbetsförmedlingen Karlstad", consent: bool = True, **record: str) -> None:  # fmt: skip
        self.registrations.append({"personnummer": pnr, "registration_id": registration_id, "registration_date": start,
                                   "deregistration_date": end, "deregistration_reason": reason,
                                   "jobseeker_category": "11", "af_office": office,
                                   "consent": str(consent).lower(), **_record(record)})  # fmt: skip

    def ingest(self, folder: Path, keyring: Keyring, as_of: dt.date) -> dict[str, pd.DataFrame]:
        """Write the deliveries and a sources file into `folder`, ingest them: the accepted
        datasets by name (municipal, af, registrations), each asserted free of quarantine."""
        folder.mkdir(parents=True, exist_ok=True)
        sources = []
        kommuner = sorted({row["kommunkod"] for row in self.municipal}) or ["1764"]
        for kommunkod in kommuner:
            rows = [{k: v for k, v in r.items() if k != "kommunkod"} for r in self.municipal if r["kommunkod"] == kommunkod]
            columns = ("personnummer", *MUNICIPAL_COLUMNS, *_optional(rows))
            _write(folder / f"k{kommunkod}.csv", rows, columns)
            sources.append(_source(f"k{kommunkod}", "municipal", f"k{kommunkod}.csv", columns, kommunkod=kommunkod))
        columns = ("personnummer", *AF_COLUMNS, *_optional(self.af))
        _write(folder / "af.csv", self.af, columns)
        sources.append(_source("af", "af", "af.csv", columns))
        columns = ("personnummer", *REGISTRATION_COLUMNS, *_optional(self.registrations))
        _write(folder / "inskrivningar.csv", self.registrations, columns)
        sources.append(_source("af_inskrivningar", "af_registrations", "inskrivningar.csv", columns))
        (folder / "sources.yaml").write_text(yaml.safe_dump({"version": 1, "sources": sources}), encoding="utf-8")
        loaded = load_sources(folder / "sources.yaml")
        keys = pseudonym_keys(keyring, as_of)
        out: dict[str, list[pd.DataFrame]] = {"municipal": [], "af": [], "registrations": []}
        for source in loaded.all:
            paths = loaded.files(source)
            result = ingest_source(source, paths, loaded.catalogue, keys, keyring, as_of)
            assert result.quarantine.empty, result.quarantine[["line", "column", "reason"]].to_dict("records")
            name = {"municipal": "municipal", "af": "af", "af_registrations": "registrations"}[source.kind]
            out[name].append(result.accepted)
        return {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}


def _record(record: dict) -> dict:
    unknown = set(record) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise TypeError(f"not an optional column: {', '.join(sorted(unknown))}")
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in record.items()}


def _optional(rows: list[dict]) -> tuple[str, ...]:
    """The optional columns any row gives: a delivery without them has no such column."""
    return tuple(c for c in OPTIONAL_COLUMNS if any(c in row for row in rows))


def _write(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)


def _source(source_id: str, kind: str, file: str, columns: tuple[str, ...], kommunkod: str | None = None) -> dict:
    entry = {"id": source_id, "kind": kind, "files": file, "format": "csv", "encoding": "utf-8", "delimiter": ",",
             "columns": {c: c for c in columns}}  # fmt: skip
    if kommunkod:
        entry["kommunkod"] = kommunkod
    return entry
