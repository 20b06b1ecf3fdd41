"""Synthetic inbox: messy municipal deliveries, AF's assignments and the ground truth.

`generate` writes what the pipeline reads in production, only made up:

    DIR/sources.yaml                      every source, its format and its code mappings
    DIR/recipients.yaml                   who receives the published datasets
    DIR/kommun/<kommunkod>_<slug>/<file>  one delivery per municipality, in its own format
    DIR/af/anvisningar_<as-of>.csv        AF's programme assignments (anvisningar)
    DIR/truth/overlaps.csv                planted overlaps, by record ids only
    DIR/truth/bad_rows.csv                planted bad rows: file, line, defect, column
    DIR/truth/expected_counts.csv         rows, expected accepted and quarantined per source
    DIR/README.txt                        what this is

People are Skatteverket's published test personnummer and samordningsnummer, numbers
reserved for testing and never assigned to anyone. Only when more people are asked for
than the test numbers cover in an age band are the rest made up (a valid date, a serial,
a correct check digit); such a number could coincide with a real person's, but no data
about anyone real is behind it.

Each municipality exports from one of six made-up case systems (`CASE_SYSTEMS`), chosen
by kommunkod, so the 13 Göteborgsregionen defaults exercise every encoding, delimiter,
date format and personnummer style the readers must handle.

Apart from the planted cases nobody's periods overlap: a person's own interventions are
sequential, and their AF assignments sit before or after them. Cancelled AF assignments
may overlap (they do not count) and a few are planted to prove it. Planted overlaps only
involve valid rows; bad rows are made from the other rows.

Everything is a function of the arguments: the same arguments give byte-identical files.
Randomness comes from generators derived from the seed per purpose (`_rng`), and the
workbooks' timestamps are fixed to the as-of date.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import yaml
from openpyxl.packaging.core import DocumentProperties
from openpyxl.xml.functions import tostring

from schemas.errors import MellanrumError
from schemas.municipalities import GOTEBORGSREGIONEN, municipality_names

_REFERENCE = Path(__file__).resolve().parent.parent / "schemas" / "reference"
TEST_PERSONNUMMER = _REFERENCE / "skatteverket_testpersonnummer.json"
TEST_SAMORDNINGSNUMMER = _REFERENCE / "skatteverket_testsamordningsnummer.json"

# What generate writes into DIR (and clears there first).
GENERATED_ENTRIES = ("sources.yaml", "recipients.yaml", "README.txt", "kommun", "af", "truth")

MIN_PEOPLE = 100  # room for every planted case, and a few people in every kommun
MIN_PEOPLE_PER_KOMMUN = 8
YOUTH_SHARE = 0.30  # people aged 16–24: DUA follows youth separately
SAMORDNING_SHARE = 0.05
MONTH_ZERO_PEOPLE = 2  # samordningsnummer with birth month 00, as Skatteverket issues some
MIN_AGE, YOUTH_MAX_AGE, TEEN_MAX_AGE, MAX_AGE = 16, 24, 19, 66
TEEN, YOUNG, ADULT = 0, 1, 2  # age bands: 16–19 (KAA age), 20–24, 25–66

DEFECT_KINDS = (
    "wrong_check_digit",
    "impossible_date",
    "end_before_start",
    "unknown_code",
    "extent_out_of_range",
    "duplicate_row",
    "blank_personnummer",
    "leading_zero_lost",
)

# --------------------------------------------------------------------------------------
# Reference tables
# --------------------------------------------------------------------------------------

# Approximate population in thousands (SCB, 2023) for the default region; any other
# kommun weighs as a mid-sized one.
_POPULATION_THOUSANDS = {
    "1480": 604, "1384": 85, "1481": 71, "1482": 48, "1441": 44, "1489": 42, "1402": 41,
    "1401": 39, "1440": 32, "1415": 27, "1419": 16, "1462": 14, "1407": 13,
}  # fmt: skip
_OTHER_POPULATION_THOUSANDS = 30

# The AF office that serves each kommun in the region; Göteborg has two.
_AF_OFFICES = {
    "1480": ("Arbetsförmedlingen Göteborg City", "Arbetsförmedlingen Angered"),
    "1481": ("Arbetsförmedlingen Mölndal",),
    "1401": ("Arbetsförmedlingen Mölndal",),
    "1384": ("Arbetsförmedlingen Kungsbacka",),
    "1489": ("Arbetsförmedlingen Alingsås",),
    "1482": ("Arbetsförmedlingen Kungälv",),
    "1440": ("Arbetsförmedlingen Kungälv",),
    "1462": ("Arbetsförmedlingen Kungälv",),
    "1407": ("Arbetsförmedlingen Göteborg City",),
    "1402": ("Arbetsförmedlingen Partille",),
    "1441": ("Arbetsförmedlingen Lerum",),
    "1415": ("Arbetsförmedlingen Stenungsund",),
    "1419": ("Arbetsförmedlingen Stenungsund",),
}

# Catalogue code: weights for the TEEN, YOUNG and ADULT bands, and shortest and longest
# duration in days. KAA is only for those under 20; the guarantees have age limits.
_INTERVENTIONS = {
    "ARBETSTRANING": ((1, 3, 5), (60, 270)),
    "PRAKTIK": ((2, 3, 3), (30, 120)),
    "FERIEJOBB": ((4, 2, 0), (14, 28)),
    "EXTRATJANST": ((0, 1, 2), (180, 365)),
    "KOMMUNAL_ANSTALLNING": ((0, 1, 2), (180, 365)),
    "SYV": ((2, 2, 1), (14, 90)),
    "JOBBSPAR": ((0, 2, 2), (60, 180)),
    "JOBBCOACHNING": ((1, 2, 3), (30, 180)),
    "SFI": ((1, 1, 2), (90, 365)),
    "KOMVUX": ((1, 2, 2), (120, 365)),
    "KAA": ((5, 0, 0), (30, 270)),
}
_PROGRAMMES = {
    "KROM": ((1, 3, 4), (90, 365)),
    "AMU": ((0, 1, 2), (60, 270)),
    "FUB": ((1, 2, 1), (30, 180)),
    "JOB": ((0, 0, 2), (180, 450)),
    "UGA": ((3, 4, 0), (90, 450)),
    "ETAB": ((0, 1, 1), (180, 730)),
    "AF_ARBETSTRANING": ((0, 1, 1), (60, 270)),
    "ARBETSPRAKTIK": ((1, 2, 1), (30, 180)),
    "INTROJOBB": ((0, 0, 1), (180, 365)),
}
_EXTENTS = np.array([25.0, 37.5, 50.0, 62.5, 75.0, 100.0])
_MUNICIPAL_EXTENT_WEIGHTS = np.array([1, 1, 3, 1, 2, 3]) / 11
_AF_EXTENT_WEIGHTS = np.array([1, 0.5, 2, 0.5, 2, 5]) / 11
_MUNICIPAL_CONSENT_RATE, _AF_CONSENT_RATE = 0.8, 0.7
# Share of latest periods, already started or placed last, that have no end date yet:
# AF often leaves the end of a running assignment open.
_MUNICIPAL_OPEN_END_RATE, _AF_OPEN_END_RATE = 0.2, 0.4

# Planted geometries, in days relative to as-of (None: no end date). Each case shifts its
# geometry by up to a week either way, which keeps every property named below.
# (municipal start, municipal end, AF start, AF end)
_MUNICIPAL_AF_GEOMETRIES = {
    "af_starts_during_municipal": (-150, None, -20, 100),  # interruption risk, open municipal
    "upcoming_af": (-60, 200, 30, None),  # decided, starts after as-of, open AF
    "one_day_af_starts_on_last_day": (-120, -10, -10, 90),
    "one_day_af_ends_on_first_day": (5, 100, -200, 5),
    "both_open": (-300, None, -100, None),
    "municipal_within_af": (-30, 30, -200, 60),
    "long_past": (-700, -400, -500, -350),  # outside a 90-days-back window
    "far_ahead": (200, 400, 250, 350),  # outside a 180-days-ahead window
    "same_first_day": (-40, 80, -40, 40),  # AF start not after the municipal start: no risk
}
# (first municipality start, end, second municipality start, end)
_TWO_MUNICIPALITIES_GEOMETRIES = {
    "moved_before_closing": (-200, -20, -60, None),
    "parallel": (-100, None, -30, 90),
    "one_day": (-150, -30, -30, 60),
}
# A cancelled AF assignment inside a municipal intervention: not an overlap.
_CANCELLED_DECOY_GEOMETRY = (-100, 100, -50, 50)
_GEOMETRY_SHIFT_DAYS = 7
# Consent (municipal side, AF side), cycled over the planted cases.
_CONSENT_COMBINATIONS = ((True, True), (True, False), (False, True), (False, False))

_COMMENT_RATE = 0.25
_COMMENTS = (
    "Uppföljning om tre veckor",
    "Bokat möte med handledare, ring först",
    "Avbrott p.g.a. sjukdom; återupptas",
    "Behöver tolk, arabiska",
    "Önskar praktik inom äldreomsorg",
    "Väntar på läkarintyg; förlängning möjlig",
    'Har körkort, s.k. "B-behörighet"',
    "Flyttat till annan stadsdel, kontrollera adress",
    "Deltar även i SFI på förmiddagar",
)
_UNITS = ("Arbetsmarknadsenheten", "Jobbtorget", "Ungdomsteamet", "Vuxenutbildningen", "Integrationsenheten")
_CASEWORKERS_PER_SOURCE = 12

# Texts that are no date (month/day), for the impossible_date defect.
_IMPOSSIBLE_MONTH_DAYS = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1))
_OUT_OF_RANGE_EXTENTS = (0.0, 150.0, -50.0)

# Every date format a source may declare, written the way the exporting systems do:
# day and month without zero padding in the day/month/year form (e.g. 29/9/2021).
_DATE_WRITERS = {
    "%Y-%m-%d": lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    "%Y%m%d": lambda y, m, d: f"{y:04d}{m:02d}{d:02d}",
    "%d/%m/%Y": lambda y, m, d: f"{d}/{m}/{y:04d}",
}

# --------------------------------------------------------------------------------------
# Export formats
# --------------------------------------------------------------------------------------

DATE_FIELDS = ("decision_date", "start_date", "end_date")
EXTRA_FIELDS = ("handlaggare", "kommentar", "enhet")  # columns we do not map


@dataclass(frozen=True)
class Export:
    """How one system writes its delivery file: everything the sources file declares.

    `columns` lists (their column name, our field) in file order; fields in
    `EXTRA_FIELDS` are columns the pipeline must ignore. `number_style` is the shape of
    their personnummer: YYYYMMDD-NNNN, YYMMDD-NNNN, YYYYMMDDNNNN or YYMMDDNNNN.
    `encoding_declared`/`delimiter_declared` False: the sources file says `auto` and the
    reader must detect it.
    """

    format: str
    file_stem: str
    columns: tuple[tuple[str, str], ...]
    codes: Mapping[str, Mapping[str, str | bool]]
    unknown_code: str
    number_style: str
    date_format: str
    decimal: str
    record_id_pattern: str  # str.format with {seq} (and {year}: the start year)
    encoding: str = "utf-8"
    encoding_declared: bool = True
    delimiter: str = ","
    delimiter_declared: bool = True
    line_ending: str = "\n"
    sheet: str | None = None

    @property
    def code_field(self) -> str:
        return "insats_code" if "insats_code" in self.codes else "programme_code"

    @property
    def ten_digit_unseparated(self) -> bool:
        """The style a spreadsheet reads as a number, losing a leading zero."""
        return self.number_style == "YYMMDDNNNN"

    def their_column(self, field: str) -> str:
        return next(their for their, ours in self.columns if ours == field)


_JA_NEJ = {"Ja": True, "Nej": False}
_J_N = {"J": True, "N": False}

CASE_SYSTEMS: dict[str, Export] = {
    "semikolon_cp1252": Export(
        format="csv",
        file_stem="insatser",
        columns=(
            ("Personnummer", "personnummer"), ("Ärende-ID", "record_id"), ("Insats", "insats_code"),
            ("Startdatum", "start_date"), ("Slutdatum", "end_date"), ("Omfattning (%)", "extent_pct"),
            ("Samtycke", "consent"), ("Handläggare", "handlaggare"), ("Kommentar", "kommentar"),
        ),
        codes={
            "insats_code": {
                "Arbetsträning": "ARBETSTRANING", "Praktik": "PRAKTIK", "Feriejobb": "FERIEJOBB",
                "Extratjänst": "EXTRATJANST", "Visstidsanställning med stöd": "KOMMUNAL_ANSTALLNING",
                "Studie- och yrkesvägledning": "SYV", "Jobbspår": "JOBBSPAR",
                "Jobbcoachning": "JOBBCOACHNING",
                "SFI": "SFI", "Komvux": "KOMVUX", "Aktivitetsansvar": "KAA",
            },
            "consent": _JA_NEJ,
        },
        unknown_code="Språkpraktik",
        number_style="YYYYMMDD-NNNN",
        date_format="%Y-%m-%d",
        decimal=",",
        record_id_pattern="{year}-{seq:05d}",
        encoding="cp1252",
        delimiter=";",
        line_ending="\r\n",
    ),
    "komma_bom": Export(
        format="csv",
        file_stem="insatser",
        columns=(
            ("Löpnummer", "record_id"), ("Personnr", "personnummer"), ("Insatskod", "insats_code"),
            ("Från", "start_date"), ("Till", "end_date"), ("Sysselsättningsgrad", "extent_pct"),
            ("Samtycke informationsutbyte", "consent"), ("Kommentar", "kommentar"),
        ),
        codes={
            "insats_code": {
                "AT": "ARBETSTRANING", "PRA": "PRAKTIK", "FERIE": "FERIEJOBB", "EXTRA": "EXTRATJANST",
                "KVA": "KOMMUNAL_ANSTALLNING", "SYV": "SYV", "JSP": "JOBBSPAR", "JC": "JOBBCOACHNING",
                "SFI": "SFI", "KVX": "KOMVUX", "KAA": "KAA",
            },
            "consent": _J_N,
        },
        unknown_code="AT9",
        number_style="YYMMDDNNNN",
        date_format="%Y%m%d",
        decimal=".",
        record_id_pattern="L{seq:07d}",
        encoding="utf-8-sig",
        encoding_declared=False,
        delimiter=",",
        delimiter_declared=False,
    ),
    "tabb_utf8": Export(
        format="csv",
        file_stem="uttag_insatser",
        columns=(
            ("Födelsenummer", "personnummer"), ("Ärendenummer", "record_id"), ("Handläggare", "handlaggare"),
            ("Insatstyp", "insats_code"), ("Insats från", "start_date"), ("Insats till", "end_date"),
            ("Omfattning", "extent_pct"), ("Samtycke", "consent"),
        ),
        codes={
            "insats_code": {
                "Arbetsträning": "ARBETSTRANING", "Praktikplats": "PRAKTIK", "Feriearbete": "FERIEJOBB",
                "Extratjänst": "EXTRATJANST", "Vägledning": "SYV", "Jobbspår": "JOBBSPAR",
                "Coachning": "JOBBCOACHNING", "Sfi": "SFI", "KAA": "KAA",
            },
            "consent": {"1": True, "0": False},
        },
        unknown_code="Friskvård",
        number_style="YYYYMMDDNNNN",
        date_format="%d/%m/%Y",
        decimal=",",
        record_id_pattern="KF-{seq:06d}",
        encoding="utf-8",
        delimiter="\t",
        delimiter_declared=False,
    ),
    "excel_iso": Export(
        format="xlsx",
        file_stem="insatser",
        columns=(
            ("Ärende-ID", "record_id"), ("Personnummer", "personnummer"), ("Enhet", "enhet"),
            ("Insatskod", "insats_code"), ("Startdatum", "start_date"), ("Slutdatum", "end_date"),
            ("Omfattning (%)", "extent_pct"), ("Samtycke", "consent"), ("Handläggare", "handlaggare"),
        ),
        codes={
            "insats_code": {
                "ARBTR": "ARBETSTRANING", "PRAKT": "PRAKTIK", "FERIE": "FERIEJOBB", "EXTRA": "EXTRATJANST",
                "ANST": "KOMMUNAL_ANSTALLNING", "SYV": "SYV", "JOBBSP": "JOBBSPAR", "COACH": "JOBBCOACHNING",
                "SFI": "SFI", "KOMVUX": "KOMVUX", "KAA": "KAA",
            },
            "consent": _JA_NEJ,
        },
        unknown_code="ARBTR2",
        number_style="YYYYMMDD-NNNN",
        date_format="%Y-%m-%d",
        decimal=",",
        record_id_pattern="INS{seq:06d}",
        sheet="Insatser",
    ),
    "excel_kompakt": Export(
        format="xlsx",
        file_stem="deltagare",
        columns=(
            ("Personnr", "personnummer"), ("Löpnr", "record_id"), ("Insatstyp", "insats_code"),
            ("Från datum", "start_date"), ("Till datum", "end_date"), ("Sysselsättningsgrad", "extent_pct"),
            ("Samtycke informationsutbyte", "consent"), ("Kommentar", "kommentar"),
        ),
        # Numeric codes, written as text so that they stay codes.
        codes={
            "insats_code": {
                "110": "ARBETSTRANING", "120": "PRAKTIK", "210": "FERIEJOBB", "220": "EXTRATJANST",
                "230": "KOMMUNAL_ANSTALLNING", "310": "SYV", "320": "JOBBSPAR", "330": "JOBBCOACHNING",
                "410": "SFI", "420": "KOMVUX", "510": "KAA",
            },
            "consent": _J_N,
        },
        unknown_code="999",
        number_style="YYMMDDNNNN",
        date_format="%Y%m%d",
        decimal=".",
        record_id_pattern="LNR{seq:06d}",
        sheet="Deltagare",
    ),
    "komma_cp1252": Export(
        format="csv",
        file_stem="insatser",
        columns=(
            ("Personnummer", "personnummer"), ("Ärendenr", "record_id"), ("Insats", "insats_code"),
            ("Startdatum", "start_date"), ("Slutdatum", "end_date"), ("Omfattning i procent", "extent_pct"),
            ("Samtycke till informationsutbyte", "consent"), ("Handläggare", "handlaggare"),
            ("Kommentar", "kommentar"),
        ),
        # An old and a new code for work training side by side, and consent typed by hand.
        codes={
            "insats_code": {
                "AT": "ARBETSTRANING", "ARBTR": "ARBETSTRANING", "PRA": "PRAKTIK", "FERIE": "FERIEJOBB",
                "EXTRA": "EXTRATJANST", "SYV": "SYV", "Jobbspår": "JOBBSPAR", "SFI": "SFI", "KAA": "KAA",
            },
            "consent": {"Ja": True, "J": True, "Nej": False, "N": False},
        },
        unknown_code="Språkstöd",
        number_style="YYMMDD-NNNN",
        date_format="%d/%m/%Y",
        decimal=",",
        record_id_pattern="D-{seq:05d}",
        encoding="cp1252",
        encoding_declared=False,
        delimiter=",",
        line_ending="\r\n",
    ),
}

# The region's kommuner cover every system; any other kommun gets one by its code.
_SYSTEM_BY_KOMMUN = {
    "1480": "semikolon_cp1252", "1462": "semikolon_cp1252",
    "1384": "komma_bom", "1440": "komma_bom",
    "1402": "tabb_utf8", "1419": "tabb_utf8",
    "1482": "excel_iso", "1407": "excel_iso",
    "1481": "excel_kompakt", "1401": "excel_kompakt",
    "1441": "komma_cp1252", "1489": "komma_cp1252", "1415": "komma_cp1252",
}  # fmt: skip

AF_EXPORT = Export(
    format="csv",
    file_stem="anvisningar",
    columns=(
        ("Personnummer", "personnummer"), ("Anvisnings-ID", "assignment_id"), ("Program", "programme_code"),
        ("Beslutsdatum", "decision_date"), ("Startdatum", "start_date"), ("Slutdatum", "end_date"),
        ("Omfattning (%)", "extent_pct"), ("Arbetsförmedlingskontor", "af_office"), ("Status", "status"),
        ("Samtycke", "consent"),
    ),
    codes={
        "programme_code": {
            "Kundval Rusta och matcha": "KROM", "Arbetsmarknadsutbildning": "AMU",
            "Förberedande utbildning": "FUB", "Jobb- och utvecklingsgarantin": "JOB",
            "Jobbgarantin för ungdomar": "UGA", "Etableringsprogrammet": "ETAB",
            "Arbetsträning": "AF_ARBETSTRANING", "Arbetspraktik": "ARBETSPRAKTIK",
            "Introduktionsjobb": "INTROJOBB",
        },
        "status": {
            "Planerad": "planned", "Pågående": "ongoing", "Avslutad": "ended", "Avbruten": "cancelled",
        },
        "consent": _JA_NEJ,
    },
    unknown_code="Stöd och matchning",  # the programme KROM replaced: a stale name
    number_style="YYYYMMDDNNNN",
    date_format="%Y-%m-%d",
    decimal=",",
    record_id_pattern="A{seq:09d}",
    delimiter=";",
)


def export_for(kommunkod: str) -> Export:
    systems = list(CASE_SYSTEMS)
    return CASE_SYSTEMS[_SYSTEM_BY_KOMMUN.get(kommunkod, systems[int(kommunkod) % len(systems)])]


@dataclass(frozen=True)
class Source:
    """One source as generated: its id, where its file goes, and how it is written."""

    id: str
    kind: str
    name: str
    kommunkod: str | None
    folder: str
    export: Export

    def file(self, as_of: dt.date) -> str:
        return f"{self.folder}/{self.export.file_stem}_{as_of.isoformat()}.{self.export.format}"

    @property
    def files_glob(self) -> str:
        return f"{self.folder}/{self.export.file_stem}_*.{self.export.format}"


def slug(name: str) -> str:
    """ASCII source id from a municipality name: 'Lilla Edet' → 'lilla_edet', 'Öckerö' → 'ockero'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


@cache
def _shared_slugs() -> frozenset[str]:
    slugs = [slug(name) for name in municipality_names().values()]
    return frozenset(s for s in slugs if slugs.count(s) > 1)


def source_id(kommunkod: str) -> str:
    """'goteborg' for 1480; with the kommunkod where two names fold alike (Håbo, Habo)."""
    name_slug = slug(municipality_names()[kommunkod])
    return f"{name_slug}_{kommunkod}" if name_slug in _shared_slugs() else name_slug


def municipal_sources(municipalities: Iterable[str]) -> list[Source]:
    sources = []
    for code in municipalities:
        name = municipality_names()[code]
        folder = f"kommun/{code}_{slug(name)}"
        sources.append(Source(source_id(code), "municipal", name, code, folder, export_for(code)))
    return sources


AF_SOURCE = Source("af", "af", "Arbetsförmedlingen", None, "af", AF_EXPORT)


def validate_municipalities(codes: Iterable[str]) -> tuple[str, ...]:
    """The kommunkoder sorted, or ValueError naming the first unknown or repeated code."""
    known = municipality_names()
    seen: list[str] = []
    for code in codes:
        if code not in known:
            short = code.isdigit() and len(code) < 4
            hint = f" (kommunkoder have four digits, e.g. {code.zfill(4)!r})" if short else ""
            raise ValueError(f"unknown kommunkod {code!r}: not one of Sweden's 290{hint}")
        if code in seen:
            raise ValueError(f"kommunkod {code!r} is listed twice")
        seen.append(code)
    if not seen:
        raise ValueError("give at least one kommunkod")
    return tuple(sorted(seen))


# --------------------------------------------------------------------------------------
# Randomness and small helpers
# --------------------------------------------------------------------------------------


def _rng(seed: int, *labels: str) -> np.random.Generator:
    """An independent generator per purpose, derived from the seed and stable labels.

    crc32 rather than hash(): Python salts string hashes per process.
    """
    return np.random.default_rng([seed, *(zlib.crc32(label.encode()) for label in labels)])


def _luhn_check_digits(nine_digits: pd.Series) -> np.ndarray:
    """Check digit for each YYMMDDNNN string (Luhn: double every other digit from the left)."""
    digits = np.frombuffer("".join(nine_digits).encode("ascii"), dtype=np.uint8).reshape(-1, 9) - ord("0")
    products = digits * np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])
    total = (products // 10 + products % 10).sum(axis=1)
    return (10 - total % 10) % 10


def _ages(birth: pd.Series, as_of: dt.date) -> np.ndarray:
    """Completed years at as-of."""
    before_birthday = birth.dt.month * 100 + birth.dt.day > as_of.month * 100 + as_of.day
    return (as_of.year - birth.dt.year - before_birthday).to_numpy()


def _band(age: np.ndarray) -> np.ndarray:
    return np.select([age <= TEEN_MAX_AGE, age <= YOUTH_MAX_AGE], [TEEN, YOUNG], ADULT)


def _weighted_choice(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of `weights` (rows need not be normalized)."""
    cumulative = weights.cumsum(axis=1)
    threshold = rng.random(len(weights)) * cumulative[:, -1]
    return (cumulative <= threshold[:, None]).sum(axis=1)


def _days(offsets: np.ndarray | pd.Series, as_of: dt.date) -> pd.Series:
    """Dates from day offsets relative to as-of; NaN (no end date) becomes NaT."""
    return pd.Timestamp(as_of) + pd.to_timedelta(np.asarray(offsets, dtype=float), unit="D")


# --------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------


@cache
def _skatteverket_numbers() -> pd.DataFrame:
    """The published test numbers: number (12 digits) and whether it is a samordningsnummer."""
    frames = [
        pd.DataFrame({"number": json.loads(path.read_text(encoding="utf-8")), "samordning": samordning})
        for path, samordning in ((TEST_PERSONNUMMER, False), (TEST_SAMORDNINGSNUMMER, True))
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates("number", ignore_index=True)


def skatteverket_pool(as_of: dt.date) -> pd.DataFrame:
    """Test numbers of people aged 16–66 at as-of: number, samordning, month_zero, band.

    Samordningsnummer count only when their date (day − 60) is a calendar date, or when
    the month is 00 and the whole birth year falls in one age band.
    """
    numbers = _skatteverket_numbers()
    year = numbers.number.str[:4].astype(int)
    month = numbers.number.str[4:6].astype(int)
    day = numbers.number.str[6:8].astype(int) - np.where(numbers.samordning, 60, 0)
    month_zero = numbers.samordning & (month == 0) & day.between(1, 31)
    earliest = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month.where(~month_zero, 1), "day": day.where(~month_zero, 1)}),
        errors="coerce",
    )
    latest = earliest.where(~month_zero, pd.to_datetime(pd.DataFrame({"year": year, "month": 12, "day": 31})))
    oldest, youngest = _ages(earliest, as_of), _ages(latest, as_of)
    band = _band(oldest)
    usable = (
        earliest.notna().to_numpy()
        & (youngest >= MIN_AGE)
        & (oldest <= MAX_AGE)
        & (band == _band(youngest))
    )
    return pd.DataFrame({
        "number": numbers.number,
        "samordning": numbers.samordning,
        "month_zero": month_zero,
        "band": band,
        "made_up": False,
    })[usable].reset_index(drop=True)


def _birth_dates(numbers: pd.Series, samordning: bool) -> pd.Series:
    day = numbers.str[6:8].astype(int) - (60 if samordning else 0)
    return pd.to_datetime(numbers.str[:6] + day.map("{:02d}".format), format="%Y%m%d")


def made_up_numbers(
    count: int, youth: bool, samordning: bool, as_of: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    """Valid numbers (date, serial 001–999, Luhn) for when the test numbers run out."""
    lowest_age, highest_age = (MIN_AGE, YOUTH_MAX_AGE) if youth else (YOUTH_MAX_AGE + 1, MAX_AGE)
    first_birth = pd.Timestamp(as_of) - pd.DateOffset(years=highest_age + 1) + pd.Timedelta(days=1)
    span = (pd.Timestamp(as_of) - pd.DateOffset(years=lowest_age) - first_birth).days + 1
    test_numbers = _skatteverket_numbers().number
    numbers = pd.Series([], dtype=str)
    while len(numbers) < count:
        birth = pd.Series(first_birth + pd.to_timedelta(rng.integers(0, span, size=count), unit="D"))
        day = birth.dt.day + (60 if samordning else 0)
        serial = pd.Series(rng.integers(1, 1000, size=count)).map("{:03d}".format)
        nine = birth.dt.strftime("%y%m") + day.map("{:02d}".format) + serial
        made = birth.dt.strftime("%Y").str[:2] + nine + pd.Series(_luhn_check_digits(nine)).astype(str)
        numbers = pd.concat([numbers, made[~made.isin(test_numbers)]], ignore_index=True).drop_duplicates()
    numbers = numbers[:count].reset_index(drop=True)
    band = _band(_ages(_birth_dates(numbers, samordning), as_of))
    return pd.DataFrame(
        {"number": numbers, "samordning": samordning, "month_zero": False, "band": band, "made_up": True}
    )


def _draw_numbers(
    count: int, youth: bool, samordning: bool, pool: pd.DataFrame, as_of: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    in_group = pool[(pool.samordning == samordning) & ((pool.band != ADULT) == youth)]
    month_zero = in_group[in_group.month_zero]
    calendar = in_group[~in_group.month_zero]
    wanted_zero = min(MONTH_ZERO_PEOPLE, len(month_zero), count) if samordning and not youth else 0
    drawn = [
        month_zero.iloc[rng.choice(len(month_zero), wanted_zero, replace=False)],
        calendar.iloc[rng.choice(len(calendar), min(count - wanted_zero, len(calendar)), replace=False)],
    ]
    missing = count - sum(len(d) for d in drawn)
    if missing:
        drawn.append(made_up_numbers(missing, youth, samordning, as_of, rng))
    return pd.concat(drawn, ignore_index=True)


def draw_people(count: int, municipalities: Sequence[str], as_of: dt.date, seed: int) -> pd.DataFrame:
    """People in random order: personnummer (12 digits), samordning, made_up, band, youth,
    kommunkod, af_office."""
    rng = _rng(seed, "people")
    pool = skatteverket_pool(as_of)
    youth_count = round(YOUTH_SHARE * count)
    groups = []
    for youth, group_count in ((True, youth_count), (False, count - youth_count)):
        samordning_count = round(SAMORDNING_SHARE * group_count)
        groups.append(_draw_numbers(samordning_count, youth, True, pool, as_of, rng))
        groups.append(_draw_numbers(group_count - samordning_count, youth, False, pool, as_of, rng))
    people = pd.concat(groups, ignore_index=True)
    people = people.iloc[rng.permutation(count)].reset_index(drop=True)
    weights = np.array([_POPULATION_THOUSANDS.get(code, _OTHER_POPULATION_THOUSANDS) for code in municipalities])
    # A few people in every kommun first, so that no delivery is empty (an empty file is
    # an error the pipeline reports); the rest by population.
    per_kommun = min(MIN_PEOPLE_PER_KOMMUN, count // len(municipalities))
    floor = np.repeat(np.arange(len(municipalities)), per_kommun)
    weighted = rng.choice(len(municipalities), size=count - len(floor), p=weights / weights.sum())
    kommun = np.asarray(municipalities)[np.concatenate([floor, weighted])]
    return pd.DataFrame({
        "personnummer": people.number,
        "samordning": people.samordning,
        "made_up": people.made_up,
        "band": people.band,
        "youth": people.band != ADULT,
        "kommunkod": kommun,
        "af_office": _af_offices(kommun, rng),
    })


def _offices_of(kommunkod: str) -> tuple[str, ...]:
    """The AF offices that serve a kommun: the region's real ones, else one named after it."""
    return _AF_OFFICES.get(kommunkod, (f"Arbetsförmedlingen {municipality_names()[kommunkod]}",))


def _af_offices(kommun: np.ndarray, rng: np.random.Generator) -> list[str]:
    """The office serving each person's kommun (Göteborg's people split between two)."""
    pick = rng.random(len(kommun))
    offices = [_offices_of(code) for code in kommun]
    return [choices[int(p * len(choices))] for choices, p in zip(offices, pick, strict=True)]


# --------------------------------------------------------------------------------------
# Interventions and assignments (day offsets relative to as-of; NaN end = open)
# --------------------------------------------------------------------------------------


def _draw_codes(
    table: Mapping[str, tuple], bands: np.ndarray, rng: np.random.Generator, offered: np.ndarray | None = None
) -> np.ndarray:
    """Catalogue codes by age band; `offered` (rows × codes) masks what a source has."""
    weights = np.array([band_weights for band_weights, _ in table.values()], dtype=float).T[bands]
    if offered is not None:
        weights = weights * offered
    return np.array(list(table))[_weighted_choice(weights, rng)]


def _offered(sources: np.ndarray, by_source: Mapping[str, Source]) -> np.ndarray:
    """Rows × intervention codes: whether each row's source has a local code for it."""
    catalogue = list(_INTERVENTIONS)
    masks = {
        source_id: np.isin(catalogue, list(source.export.codes["insats_code"].values()))
        for source_id, source in by_source.items()
    }
    return np.array([masks[source_id] for source_id in sources], dtype=bool).reshape(len(sources), len(catalogue))


def _durations(codes: np.ndarray, table: Mapping[str, tuple], rng: np.random.Generator) -> np.ndarray:
    shortest = np.array([table[code][1][0] for code in codes])
    longest = np.array([table[code][1][1] for code in codes])
    return rng.integers(shortest, longest + 1)


def _extents(count: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(_EXTENTS, size=count, p=weights)


def _latest_of_owner(owner: np.ndarray) -> np.ndarray:
    """The first row of each owner's group, which holds their latest period."""
    return np.r_[True, owner[1:] != owner[:-1]]


def _sequential_periods(
    owner: np.ndarray, duration: np.ndarray, latest_start: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of each owner's periods, which never share a day.

    Rows are grouped by owner, latest period first; it starts at `latest_start`, and each
    earlier period ends with 1–120 free days before the one after it begins.
    """
    step = np.where(_latest_of_owner(owner), 0, rng.integers(1, 121, size=len(owner)) + duration)
    start = latest_start - pd.Series(step).groupby(owner).cumsum().to_numpy()
    return start, start + duration - 1


def _open_latest(owner: np.ndarray, start: np.ndarray, end: np.ndarray, rate: float, rng) -> np.ndarray:
    """End offsets where some latest, already started periods have no end date."""
    return np.where(_latest_of_owner(owner) & (start <= 0) & (rng.random(len(owner)) < rate), np.nan, end)


def regular_interventions(
    people: pd.DataFrame, persons: np.ndarray, by_kommun: Mapping[str, Source], rng: np.random.Generator
) -> pd.DataFrame:
    """0–3 sequential interventions per person in their own kommun (0: AF only)."""
    counts = rng.choice([0, 1, 2, 3], size=len(persons), p=[0.10, 0.65, 0.18, 0.07])
    owner = np.repeat(persons, counts)
    sources = np.array([by_kommun[code].id for code in people.kommunkod.to_numpy()[owner]], dtype=object)
    by_source = {source.id: source for source in by_kommun.values()}
    codes = _draw_codes(_INTERVENTIONS, people.band.to_numpy()[owner], rng, _offered(sources, by_source))
    duration = _durations(codes, _INTERVENTIONS, rng)
    latest_start = np.repeat(rng.integers(-400, 61, size=len(persons)), counts)
    start, end = _sequential_periods(owner, duration, latest_start, rng)
    return pd.DataFrame({
        "person": owner,
        "source_id": sources,
        "insats_code": codes,
        "start": start,
        "end": _open_latest(owner, start, end, _MUNICIPAL_OPEN_END_RATE, rng),
        "extent_pct": _extents(len(owner), _MUNICIPAL_EXTENT_WEIGHTS, rng),
        "consent": rng.random(len(owner)) < _MUNICIPAL_CONSENT_RATE,
    })


def _assignments(owner: np.ndarray, codes: np.ndarray, start, end, rng) -> pd.DataFrame:
    return pd.DataFrame({
        "person": owner,
        "programme_code": codes,
        "start": start,
        "end": end,
        "extent_pct": _extents(len(owner), _AF_EXTENT_WEIGHTS, rng),
        "consent": rng.random(len(owner)) < _AF_CONSENT_RATE,
    })


def _af_only_assignments(people: pd.DataFrame, persons: np.ndarray, rng) -> pd.DataFrame:
    """1–2 sequential assignments for each of `persons`, who have no intervention."""
    counts = rng.choice([1, 2], size=len(persons), p=[0.7, 0.3])
    owner = np.repeat(persons, counts)
    codes = _draw_codes(_PROGRAMMES, people.band.to_numpy()[owner], rng)
    latest_start = np.repeat(rng.integers(-400, 61, size=len(persons)), counts)
    start, end = _sequential_periods(owner, _durations(codes, _PROGRAMMES, rng), latest_start, rng)
    return _assignments(owner, codes, start, _open_latest(owner, start, end, _AF_OPEN_END_RATE, rng), rng)


def _assignments_beside(people: pd.DataFrame, interventions: pd.DataFrame, rng) -> pd.DataFrame:
    """One assignment for about a third of those with interventions, with 1–60 free days
    before their first or, when their last has an end date, after it."""
    spans = (
        interventions.assign(open=interventions.end.isna())
        .groupby("person")
        .agg(first=("start", "min"), last_end=("end", "max"), open=("open", "any"))
    )
    spans = spans[rng.random(len(spans)) < 0.35]
    owner = spans.index.to_numpy()
    codes = _draw_codes(_PROGRAMMES, people.band.to_numpy()[owner], rng)
    duration = _durations(codes, _PROGRAMMES, rng)
    gap = rng.integers(1, 61, size=len(owner))
    after = ~spans.open.to_numpy() & (rng.random(len(owner)) < 0.5)
    start_after = spans.last_end.to_numpy() + gap + 1
    end_before = spans["first"].to_numpy() - gap - 1
    start = np.where(after, start_after, end_before - duration + 1)
    # Only an assignment after the last intervention may be open-ended.
    open_end = after & (rng.random(len(owner)) < _AF_OPEN_END_RATE)
    end = np.where(open_end, np.nan, np.where(after, start_after + duration - 1, end_before))
    return _assignments(owner, codes, start, end, rng)


def regular_assignments(
    people: pd.DataFrame, persons: np.ndarray, interventions: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """AF assignments that share no day with any of the person's interventions; about 4 %
    are cancelled, whatever their dates."""
    af_only = np.setdiff1d(persons, interventions.person)
    assignments = pd.concat(
        [_af_only_assignments(people, af_only, rng), _assignments_beside(people, interventions, rng)],
        ignore_index=True,
    )
    assignments["cancelled"] = rng.random(len(assignments)) < 0.04
    return assignments


@dataclass(frozen=True)
class PlantedCases:
    people: np.ndarray  # everyone used by a planted case or a decoy
    interventions: pd.DataFrame  # with case_id ("" for decoys)
    assignments: pd.DataFrame  # with case_id ("" for decoys)


def _pick_people(available: np.ndarray, people: pd.DataFrame, count: int, rng) -> np.ndarray:
    """`count` people, about YOUTH_SHARE of them (and at least one) aged 16–24."""
    youth = people.youth.to_numpy()[available]
    wanted_youth = min(max(1, round(YOUTH_SHARE * count)), youth.sum(), count)
    chosen = np.r_[
        rng.choice(available[youth], wanted_youth, replace=False),
        rng.choice(available[~youth], count - wanted_youth, replace=False),
    ]
    return rng.permutation(chosen)


def _geometry(table: Sequence[tuple], count: int, rng) -> np.ndarray:
    """count × 4 day offsets, cycling through the geometries, each case shifted a little."""
    geometries = np.array([[np.nan if day is None else day for day in row] for row in table], dtype=float)
    shift = rng.integers(-_GEOMETRY_SHIFT_DAYS, _GEOMETRY_SHIFT_DAYS + 1, size=count)
    return geometries[np.arange(count) % len(geometries)] + shift[:, None]


def _planted_extents(count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Every other case has a combined extent above 100 %."""
    high = np.arange(count) % 2 == 0
    municipal = np.where(high, rng.choice([62.5, 75.0, 100.0], count), rng.choice([25.0, 37.5, 50.0], count))
    af = np.where(high, rng.choice([50.0, 75.0, 100.0], count), rng.choice([25.0, 50.0], count))
    return municipal, af


def _municipal_af_pairs(
    people: pd.DataFrame,
    persons: np.ndarray,
    case_ids: np.ndarray,
    geometries: Sequence[tuple],
    cancelled: bool,
    home: np.ndarray,
    by_source: Mapping[str, Source],
    rng,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One intervention in the person's own kommun and one AF assignment each, cycling
    through the geometries, consent combinations and combined extents."""
    geometry = _geometry(geometries, len(persons), rng)
    municipal_extent, af_extent = _planted_extents(len(persons), rng)
    consent = np.array(_CONSENT_COMBINATIONS)[np.arange(len(persons)) % len(_CONSENT_COMBINATIONS)]
    bands = people.band.to_numpy()[persons]
    sources = home[persons]
    intervention = pd.DataFrame({
        "person": persons,
        "source_id": sources,
        "insats_code": _draw_codes(_INTERVENTIONS, bands, rng, _offered(sources, by_source)),
        "start": geometry[:, 0],
        "end": geometry[:, 1],
        "extent_pct": municipal_extent,
        "consent": consent[:, 0],
        "case_id": case_ids,
    })
    assignment = pd.DataFrame({
        "person": persons,
        "programme_code": _draw_codes(_PROGRAMMES, bands, rng),
        "start": geometry[:, 2],
        "end": geometry[:, 3],
        "extent_pct": af_extent,
        "consent": consent[:, 1],
        "cancelled": cancelled,
        "case_id": case_ids,
    })
    return intervention, assignment


def _two_municipality_pairs(
    people: pd.DataFrame, persons: np.ndarray, case_ids: np.ndarray, home: np.ndarray,
    by_source: Mapping[str, Source], rng,
) -> pd.DataFrame:
    """Overlapping interventions in the person's own kommun and in another one."""
    others = np.array(sorted(by_source), dtype=object)
    elsewhere = np.array([rng.choice(others[others != own]) for own in home[persons]], dtype=object)
    geometry = _geometry(list(_TWO_MUNICIPALITIES_GEOMETRIES.values()), len(persons), rng)
    bands = people.band.to_numpy()[persons]
    return pd.concat(
        [
            pd.DataFrame({
                "person": persons,
                "source_id": sources,
                "insats_code": _draw_codes(_INTERVENTIONS, bands, rng, _offered(sources, by_source)),
                "start": start,
                "end": end,
                "extent_pct": _extents(len(persons), _MUNICIPAL_EXTENT_WEIGHTS, rng),
                "consent": rng.random(len(persons)) < _MUNICIPAL_CONSENT_RATE,
                "case_id": case_ids,
            })
            for sources, start, end in (
                (home[persons], geometry[:, 0], geometry[:, 1]),
                (elsewhere, geometry[:, 2], geometry[:, 3]),
            )
        ],
        ignore_index=True,
    )


def plant_cases(
    people: pd.DataFrame, by_kommun: Mapping[str, Source], rng: np.random.Generator
) -> PlantedCases:
    """Municipal × AF overlaps, people in two municipalities at once, and cancelled decoys
    (a cancelled AF assignment inside an intervention, which is no overlap)."""
    count = len(people)
    municipal_af_count = max(2 * len(_MUNICIPAL_AF_GEOMETRIES), round(0.05 * count))
    two_count = max(len(_TWO_MUNICIPALITIES_GEOMETRIES), round(0.01 * count)) if len(by_kommun) > 1 else 0
    decoy_count = max(2, round(0.002 * count))

    municipal_af = _pick_people(np.arange(count), people, municipal_af_count, rng)
    available = np.setdiff1d(np.arange(count), municipal_af)
    two = _pick_people(available, people, two_count, rng) if two_count else np.array([], dtype=int)
    decoys = rng.choice(np.setdiff1d(available, two), decoy_count, replace=False)

    case_ids = np.array([f"C{i:04d}" for i in range(1, municipal_af_count + two_count + 1)])
    home = np.array([by_kommun[code].id for code in people.kommunkod], dtype=object)
    by_source = {source.id: source for source in by_kommun.values()}
    cases = _municipal_af_pairs(
        people, municipal_af, case_ids[:municipal_af_count], list(_MUNICIPAL_AF_GEOMETRIES.values()), False,
        home, by_source, rng,
    )
    decoy = _municipal_af_pairs(
        people, decoys, np.full(decoy_count, ""), [_CANCELLED_DECOY_GEOMETRY], True, home, by_source, rng
    )
    two_municipalities = _two_municipality_pairs(
        people, two, case_ids[municipal_af_count:], home, by_source, rng
    )
    return PlantedCases(
        np.r_[municipal_af, two, decoys],
        pd.concat([cases[0], decoy[0], two_municipalities], ignore_index=True),
        pd.concat([cases[1], decoy[1]], ignore_index=True),
    )


def _af_status(start: pd.Series, end: pd.Series, cancelled: pd.Series) -> pd.Series:
    """Status consistent with the dates at as-of (offset 0), unless cancelled."""
    status = np.select([cancelled, start > 0, end < 0], ["cancelled", "planned", "ended"], "ongoing")
    return pd.Series(status, index=start.index)


def _decision_offsets(start: pd.Series, rng) -> np.ndarray:
    """Decided 0–30 days before the start, and never after as-of."""
    return np.minimum(start, 0) - rng.integers(0, 31, size=len(start))


def _numbered(
    frame: pd.DataFrame, order_by: list[str], column: str, pattern: str, seq: np.ndarray
) -> pd.DataFrame:
    """Ids in the order the system created the rows (`pattern` takes {seq} and {year})."""
    frame = frame.sort_values([*order_by, "person"], kind="stable", ignore_index=True)
    years = frame["start_date"].dt.year.to_numpy()
    frame[column] = [pattern.format(seq=s, year=y) for s, y in zip(seq, years, strict=True)]
    return frame


def _af_sequence(count: int, rng) -> np.ndarray:
    """AF's assignment numbers: increasing with gaps (other regions take the numbers between)."""
    return rng.integers(100_000_000, 200_000_000) + np.cumsum(rng.integers(1, 40, size=count))


@dataclass(frozen=True)
class Population:
    people: pd.DataFrame
    interventions: pd.DataFrame  # one row per municipal record, canonical values
    assignments: pd.DataFrame  # one row per AF assignment, canonical values


def build_population(people: pd.DataFrame, sources: Sequence[Source], as_of: dt.date, seed: int) -> Population:
    """Everyone's interventions and assignments with dates, ids and the planted cases."""
    by_kommun = {source.kommunkod: source for source in sources}
    planted = plant_cases(people, by_kommun, _rng(seed, "planted"))
    rng = _rng(seed, "records")
    regular_people = np.setdiff1d(np.arange(len(people)), planted.people)
    regular = regular_interventions(people, regular_people, by_kommun, rng)
    interventions = pd.concat([regular.assign(case_id=""), planted.interventions], ignore_index=True)
    assignments = pd.concat(
        [regular_assignments(people, regular_people, regular, rng).assign(case_id=""), planted.assignments],
        ignore_index=True,
    )
    # Planted rows and decoys stay valid: bad rows are made from the others.
    interventions["protected"] = interventions.person.isin(planted.people)
    assignments["protected"] = assignments.person.isin(planted.people)
    assignments["status"] = _af_status(assignments.start, assignments.end, assignments.cancelled)
    assignments["decision_date"] = _days(_decision_offsets(assignments.start, rng), as_of)

    for frame in (interventions, assignments):
        frame["personnummer"] = people.personnummer.to_numpy()[frame.person]
        frame["start_date"] = _days(frame.pop("start"), as_of)
        frame["end_date"] = _days(frame.pop("end"), as_of)
    assignments["af_office"] = people.af_office.to_numpy()[assignments.person]

    municipal = []
    for source in sources:
        own = interventions[interventions.source_id == source.id]
        seq = np.arange(1, len(own) + 1)
        municipal.append(_numbered(own, ["start_date"], "record_id", source.export.record_id_pattern, seq))
    af = _numbered(
        assignments, ["decision_date", "start_date"], "assignment_id", AF_EXPORT.record_id_pattern,
        _af_sequence(len(assignments), rng),
    )
    return Population(people, pd.concat(municipal, ignore_index=True), af)


# --------------------------------------------------------------------------------------
# Truth: planted overlaps
# --------------------------------------------------------------------------------------

OVERLAP_COLUMNS = (
    "case_id", "kind", "source_id", "record_id", "other_source_id", "other_record_id", "code", "other_code",
    "overlap_start", "overlap_end", "interruption_risk", "upcoming", "consent", "other_consent",
    "combined_extent", "youth",
)  # fmt: skip


def planted_overlaps(population: Population, as_of: dt.date) -> pd.DataFrame:
    """One row per planted case, identified by record and assignment ids only."""
    municipal = population.interventions[population.interventions.case_id != ""]
    af = population.assignments[population.assignments.case_id != ""]
    with_af = municipal.merge(af, on=["case_id", "person"], suffixes=("", "_af"))
    municipal_af = pd.DataFrame({
        "case_id": with_af.case_id,
        "kind": "municipal_af",
        "source_id": with_af.source_id,
        "record_id": with_af.record_id,
        "other_source_id": AF_SOURCE.id,
        "other_record_id": with_af.assignment_id,
        "code": with_af.insats_code,
        "other_code": with_af.programme_code,
        "start": with_af.start_date,
        "end": with_af.end_date,
        "other_start": with_af.start_date_af,
        "other_end": with_af.end_date_af,
        "interruption_risk": with_af.start_date_af > with_af.start_date,
        "upcoming": with_af.start_date_af > pd.Timestamp(as_of),
        "consent": with_af.consent,
        "other_consent": with_af.consent_af,
        "combined_extent": with_af.extent_pct + with_af.extent_pct_af,
        "person": with_af.person,
    })
    pairs = municipal[municipal.case_id.duplicated(keep=False)].sort_values(["case_id", "source_id"])
    first, second = pairs.iloc[0::2].reset_index(drop=True), pairs.iloc[1::2].reset_index(drop=True)
    two = pd.DataFrame({
        "case_id": first.case_id,
        "kind": "two_municipalities",
        "source_id": first.source_id,
        "record_id": first.record_id,
        "other_source_id": second.source_id,
        "other_record_id": second.record_id,
        "code": first.insats_code,
        "other_code": second.insats_code,
        "start": first.start_date,
        "end": first.end_date,
        "other_start": second.start_date,
        "other_end": second.end_date,
        "interruption_risk": pd.NA,  # defined for an AF assignment starting only
        "upcoming": pd.NA,
        "consent": first.consent,
        "other_consent": second.consent,
        "combined_extent": first.extent_pct + second.extent_pct,
        "person": first.person,
    })
    cases = pd.concat([municipal_af, two], ignore_index=True).sort_values("case_id", ignore_index=True)
    cases["overlap_start"] = cases[["start", "other_start"]].max(axis=1)
    cases["overlap_end"] = cases[["end", "other_end"]].min(axis=1)  # NaT only when both are open
    cases["youth"] = population.people.youth.to_numpy()[cases.person]
    return cases[list(OVERLAP_COLUMNS)]


# --------------------------------------------------------------------------------------
# Rendering a source's rows as its system writes them
# --------------------------------------------------------------------------------------


def number_text(canonical: pd.Series, style: str) -> pd.Series:
    """12-digit numbers in a source's style (everyone is under 100, so '-' not '+')."""
    digits = canonical if style.startswith("YYYY") else canonical.str[2:]
    return digits.str[:-4] + "-" + digits.str[-4:] if "-" in style else digits


def date_text(dates: pd.Series, date_format: str) -> pd.Series:
    """Dates as text in the declared format; no date gives an empty field."""
    write = _DATE_WRITERS[date_format]
    unique = dates.dropna().unique()
    texts = dates.map({day: write(day.year, day.month, day.day) for day in unique})
    return texts.astype(object).fillna("").astype(str)  # object first: all-empty maps to floats


def extent_text(extents: pd.Series, decimal: str) -> pd.Series:
    """'75' for whole percentages, '62,5' or '62.5' otherwise."""
    texts = {value: f"{value:g}".replace(".", decimal) for value in extents.unique()}
    return extents.map(texts).astype(str)


def _local_words(values: pd.Series, mapping: Mapping[str, str | bool], rng) -> pd.Series:
    """Our values in the source's words; where several words mean one value, any of them."""
    aliases: dict[str | bool, list[str]] = {}
    for theirs, ours in mapping.items():
        aliases.setdefault(ours, []).append(theirs)
    pick = rng.random(len(values))
    words = pd.Series("", index=values.index, dtype=object)
    for ours, theirs in aliases.items():
        rows = (values == ours).to_numpy()
        words[rows] = np.array(theirs, dtype=object)[(pick[rows] * len(theirs)).astype(int)]
    return words.astype(str)


def _extra_text(field: str, count: int, rng) -> np.ndarray:
    if field == "handlaggare":
        codes = rng.choice(np.arange(100, 1000), _CASEWORKERS_PER_SOURCE, replace=False)
        return rng.choice([f"H{code}" for code in codes], count)
    if field == "kommentar":
        return np.where(rng.random(count) < _COMMENT_RATE, rng.choice(_COMMENTS, count), "")
    return rng.choice(_UNITS, count)


def render(rows: pd.DataFrame, export: Export, rng) -> pd.DataFrame:
    """Text of every column, keyed by our field names, one row per canonical row."""
    text = {}
    for _, field in export.columns:
        if field in export.codes:
            text[field] = _local_words(rows[field], export.codes[field], rng)
        elif field in DATE_FIELDS:
            text[field] = date_text(rows[field], export.date_format)
        elif field == "personnummer":
            text[field] = number_text(rows[field], export.number_style)
        elif field == "extent_pct":
            text[field] = extent_text(rows[field], export.decimal)
        elif field in EXTRA_FIELDS:
            text[field] = _extra_text(field, len(rows), rng)
        else:  # ids and the AF office are written as they are
            text[field] = rows[field]
    return pd.DataFrame(text, index=rows.index)


# --------------------------------------------------------------------------------------
# Bad rows
# --------------------------------------------------------------------------------------

_DEFECT_FIELD = {
    "duplicate_row": "",  # the whole row
    "wrong_check_digit": "personnummer",
    "impossible_date": "start_date",
    "end_before_start": "end_date",
    "extent_out_of_range": "extent_pct",
    "blank_personnummer": "personnummer",
    "leading_zero_lost": "personnummer",
}


def defect_field(kind: str, export: Export) -> str:
    """Our column a defect concerns ('' for a duplicate, which concerns the whole row)."""
    return export.code_field if kind == "unknown_code" else _DEFECT_FIELD[kind]


def _defect_eligible(kind: str, rows: pd.DataFrame, export: Export) -> np.ndarray:
    """Rows that can carry the defect: a lost zero needs a 10-digit number from the 2000s."""
    if kind == "leading_zero_lost":
        born_2000s = rows.personnummer.str.startswith("200").to_numpy()
        return born_2000s & export.ten_digit_unseparated
    return np.ones(len(rows), dtype=bool)


def plan_defects(
    rows: pd.DataFrame, export: Export, quota: int, kind_order: list[str], rng
) -> tuple[list[tuple[int, str]], list[str]]:
    """(row position, defect kind) for up to `quota` rows, never a protected row, never
    one row twice (a duplicated row's first copy must stay valid too).

    Kinds are dealt in turn across all sources: each row gets the first kind in
    `kind_order` this source can carry, which then moves to the back. A kind it cannot
    carry (a lost leading zero) keeps its place at the front for a source that can.
    """
    candidates = rng.permutation(np.flatnonzero(~rows.protected.to_numpy()))
    # One queue per kind, consumed once overall, so planning stays linear in the rows.
    queues = {kind: iter(candidates[_defect_eligible(kind, rows, export)[candidates]]) for kind in DEFECT_KINDS}
    used: set[int] = set()
    plan: list[tuple[int, str]] = []
    # At most half the unprotected rows, so that a tiny source still delivers valid rows.
    for _ in range(min(quota, len(candidates) // 2)):
        for kind in kind_order:
            row = next((int(r) for r in queues[kind] if r not in used), None)
            if row is not None:
                break
        else:
            break
        kind_order = [*(k for k in kind_order if k != kind), kind]
        used.add(row)
        plan.append((row, kind))
    return plan, kind_order


def defect_text(kind: str, text: pd.Series, facts: pd.Series, export: Export, rng) -> str:
    """The faulty text for the defect's column."""
    if kind == "wrong_check_digit":
        number = text.personnummer
        return number[:-1] + str((int(number[-1]) + rng.integers(1, 10)) % 10)
    if kind == "impossible_date":
        month, day = _IMPOSSIBLE_MONTH_DAYS[rng.integers(len(_IMPOSSIBLE_MONTH_DAYS))]
        return _DATE_WRITERS[export.date_format](facts.start_date.year, month, day)
    if kind == "end_before_start":
        end = facts.start_date - pd.Timedelta(days=int(rng.integers(1, 61)))
        return _DATE_WRITERS[export.date_format](end.year, end.month, end.day)
    if kind == "unknown_code":
        return export.unknown_code
    if kind == "extent_out_of_range":
        return extent_text(pd.Series([rng.choice(_OUT_OF_RANGE_EXTENTS)]), export.decimal)[0]
    if kind == "blank_personnummer":
        return ""
    if kind == "leading_zero_lost":
        return text.personnummer[1:]
    raise ValueError(f"no text for defect {kind!r}")


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    file: str
    content: bytes
    rows: int
    bad_rows: pd.DataFrame  # BAD_ROW_COLUMNS


BAD_ROW_COLUMNS = ("source_id", "file", "line", "record_id", "kind", "column", "source_column")


def _with_defects(text: pd.DataFrame, rows: pd.DataFrame, plan: list[tuple[int, str]], export: Export, rng):
    """The rendered rows with each planned defect written into its column."""
    text = text.copy()
    for row, kind in plan:
        field = defect_field(kind, export)
        if field:  # a duplicate changes no text: its copy is added when the file is laid out
            text.loc[row, field] = defect_text(kind, text.loc[row], rows.loc[row], export, rng)
    return text


def _file_layout(row_count: int, duplicated: Sequence[int], rng) -> pd.DataFrame:
    """Which row goes on which line: every row in order, and the copy of each duplicated
    row somewhere after its original (the later copy is the bad one)."""
    duplicated = np.asarray(duplicated, dtype=int)
    layout = pd.DataFrame({
        "row": np.r_[np.arange(row_count), duplicated],
        "copy": np.r_[np.zeros(row_count, bool), np.ones(len(duplicated), bool)],
        "key": np.r_[np.arange(row_count), rng.integers(duplicated + 1, row_count + 1) - 0.5],
    }).sort_values("key", kind="stable", ignore_index=True)
    layout["line"] = layout.index + 2  # line 1 is the header, in a CSV file and a sheet alike
    return layout.drop(columns="key")


def _bad_rows(
    source: Source, file: str, rows: pd.DataFrame, plan: list[tuple[int, str]], layout: pd.DataFrame
) -> pd.DataFrame:
    lines = layout.set_index(["row", "copy"]).line
    id_field = "record_id" if source.kind == "municipal" else "assignment_id"
    records = []
    for row, kind in plan:
        field = defect_field(kind, source.export)
        records.append({
            "source_id": source.id,
            "file": file,
            "line": lines[(row, kind == "duplicate_row")],
            "record_id": rows.loc[row, id_field],
            "kind": kind,
            "column": field,
            "source_column": source.export.their_column(field) if field else "",
        })
    return pd.DataFrame(records, columns=list(BAD_ROW_COLUMNS))


def deliver(
    source: Source, rows: pd.DataFrame, as_of: dt.date, quota: int, kind_order: list[str], rng
) -> tuple[Delivery, list[str]]:
    """The source's file with its planted bad rows, and the order to deal defect kinds on."""
    export = source.export
    rows = rows.reset_index(drop=True)
    plan, kind_order = plan_defects(rows, export, quota, kind_order, rng)
    text = _with_defects(render(rows, export, rng), rows, plan, export, rng)
    layout = _file_layout(len(rows), [row for row, kind in plan if kind == "duplicate_row"], rng)
    table = text.loc[layout.row].set_axis([their for their, _ in export.columns], axis=1)
    content = _csv_bytes(table, export) if export.format == "csv" else _xlsx_bytes(table, export, as_of)
    file = source.file(as_of)
    return Delivery(file, content, len(table), _bad_rows(source, file, rows, plan, layout)), kind_order


def _csv_bytes(table: pd.DataFrame, export: Export) -> bytes:
    # Minimal quoting: only values holding the delimiter, a quote or a line break.
    text = table.to_csv(index=False, sep=export.delimiter, lineterminator=export.line_ending)
    return text.encode(export.encoding)


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _xlsx_bytes(table: pd.DataFrame, export: Export, as_of: dt.date) -> bytes:
    """One sheet, every cell text (keeps leading zeros and the dates as written)."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(export.sheet)
    sheet.append(list(table.columns))
    for values in table.itertuples(index=False, name=None):
        sheet.append([value or None for value in values])  # an empty field is an empty cell
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _stable_zip(buffer.getvalue(), _core_properties(as_of))


def _core_properties(as_of: dt.date) -> bytes:
    stamp = dt.datetime.combine(as_of, dt.time())
    return tostring(DocumentProperties(creator="mellanrum generate", created=stamp, modified=stamp).to_tree())


def _stable_zip(data: bytes, core_properties: bytes) -> bytes:
    """The workbook with fixed timestamps: openpyxl stamps the save time into
    docProps/core.xml and every zip entry, which would make each run's file differ."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = core_properties if entry.filename == "docProps/core.xml" else source.read(entry)
            info = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
            info.create_system, info.external_attr = 3, 0o644 << 16
            target.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def source_entry(source: Source) -> dict:
    """The sources-file entry describing how the source writes its files."""
    export = source.export
    entry: dict = {"id": source.id, "kind": source.kind}
    if source.kommunkod is not None:
        entry["kommunkod"] = source.kommunkod
    entry |= {"name": source.name, "files": source.files_glob, "format": export.format}
    if export.format == "csv":
        entry["encoding"] = export.encoding if export.encoding_declared else "auto"
        entry["delimiter"] = export.delimiter if export.delimiter_declared else "auto"
    else:
        entry["sheet"] = export.sheet
    entry |= {
        "date_formats": [export.date_format],
        "decimal": export.decimal,
        "columns": {their: ours for their, ours in export.columns if ours not in EXTRA_FIELDS},
        "codes": {field: dict(mapping) for field, mapping in export.codes.items()},
    }
    return entry


_SOURCES_HEADER = """\
# Sources of a synthetic inbox written by `mellanrum generate` (synthetic data only).
# Each municipality exports from its own case system: its own column names, local codes,
# encoding, delimiter, date format and personnummer style. Paths are relative to this file.
"""


def sources_yaml(sources: Sequence[Source]) -> bytes:
    document = {"version": 1, "sources": [source_entry(source) for source in sources]}
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return (_SOURCES_HEADER + body).encode("utf-8")


_RECIPIENTS_HEADER = """\
# Recipients of the published datasets for a synthetic inbox (`mellanrum generate`):
# each municipality, each AF office that serves them, and the regional federation.
# Register a recipient's public key (`mellanrum recipient-key new`) to export to it.
"""


def recipients_yaml(municipalities: Sequence[str]) -> bytes:
    offices = sorted({office for code in municipalities for office in _offices_of(code)})
    recipients = [
        *({"id": f"kommun_{code}", "kind": "kommun", "kommunkod": code} for code in municipalities),
        *({"id": f"af_{slug(office.removeprefix('Arbetsförmedlingen '))}", "kind": "af_office", "af_office": office}
          for office in offices),
        {"id": "region", "kind": "region", "description": "Göteborgsregionen (GR) and DUA follow-up"},
    ]  # fmt: skip
    body = yaml.safe_dump({"version": 1, "recipients": recipients}, sort_keys=False, allow_unicode=True, width=120)
    return (_RECIPIENTS_HEADER + body).encode("utf-8")


def readme(seed: int, as_of: dt.date, people: int, made_up: int) -> bytes:
    """README.txt: one paragraph on what the inbox is, and that nobody real is in it."""
    made_up_note = (
        f" The test numbers did not cover {made_up} of the people in their age band: they have "
        "made-up valid numbers, which may coincide with a real person's number but carry no "
        "data about anyone."
        if made_up
        else ""
    )
    text = (
        f"Synthetic data written by `mellanrum generate` (seed {seed}, as of {as_of.isoformat()}, "
        f"{people} people). Every person is made up: the identity numbers are Skatteverket's "
        "published test personnummer and samordningsnummer, reserved for testing and never "
        f"assigned to anyone, so these files never describe real people.{made_up_note} "
        "sources.yaml declares each municipality's delivery under kommun/ and AF's assignments "
        "under af/, each in its own messy format; truth/ holds what was planted, by record and "
        "assignment ids only: the overlaps the pipeline must find, the bad rows it must "
        "quarantine (file and line) and the expected row counts per source.\n"
    )
    return text.encode("utf-8")


def _csv_text(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _truth_overlaps(overlaps: pd.DataFrame) -> pd.DataFrame:
    written = overlaps.copy()
    for column in ("overlap_start", "overlap_end"):
        written[column] = date_text(written[column], "%Y-%m-%d")
    for column in ("interruption_risk", "upcoming", "consent", "other_consent", "youth"):
        written[column] = written[column].map({True: "true", False: "false"}).fillna("")
    written["combined_extent"] = written.combined_extent.map("{:g}".format)
    return written


# --------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------


class OutDirNotEmpty(MellanrumError):
    """The folder to write into holds files, and replacing an inbox there was not asked for."""


@dataclass(frozen=True)
class SourceSummary:
    source_id: str
    file: str
    format: str
    encoding: str  # as written; "(auto)" appended where the sources file leaves it to the reader
    delimiter: str
    rows: int
    bad_rows: int


@dataclass(frozen=True)
class Inbox:
    files: dict[str, bytes]  # path relative to DIR → content
    sources: tuple[SourceSummary, ...]
    overlaps: int
    made_up_numbers: int  # people beyond what the test numbers cover


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    as_of: dt.date
    people: int
    sources: tuple[SourceSummary, ...]
    overlaps: int
    made_up_numbers: int

    @property
    def truth_dir(self) -> Path:
        return self.out_dir / "truth"


def _summary(source: Source, delivery: Delivery) -> SourceSummary:
    export = source.export
    if export.format == "xlsx":
        encoding, delimiter = "-", "-"
    else:
        encoding = export.encoding + ("" if export.encoding_declared else " (auto)")
        shown = "tab" if export.delimiter == "\t" else export.delimiter
        delimiter = shown + ("" if export.delimiter_declared else " (auto)")
    return SourceSummary(
        source.id, delivery.file, export.format, encoding, delimiter, delivery.rows, len(delivery.bad_rows)
    )


def build_inbox(
    *, people: int, seed: int, municipalities: Sequence[str], as_of: dt.date, bad_share: float
) -> Inbox:
    """Every file of the inbox, in memory: a pure function of its arguments."""
    if people < MIN_PEOPLE:
        raise ValueError(f"people: got {people}, need at least {MIN_PEOPLE} for every planted case and a delivery from every kommun")
    sources = municipal_sources(validate_municipalities(municipalities))
    persons = draw_people(people, [source.kommunkod for source in sources], as_of, seed)
    population = build_population(persons, sources, as_of, seed)
    interventions = population.interventions
    rows_of = {source.id: interventions[interventions.source_id == source.id] for source in sources}
    rows_of[AF_SOURCE.id] = population.assignments

    files: dict[str, bytes] = {}
    summaries, bad_rows, counts = [], [], []
    kind_order = list(DEFECT_KINDS)
    for source in [*sources, AF_SOURCE]:
        rows = rows_of[source.id]
        quota = max(1, round(bad_share * len(rows))) if bad_share > 0 else 0
        delivery, kind_order = deliver(source, rows, as_of, quota, kind_order, _rng(seed, "source", source.id))
        files[delivery.file] = delivery.content
        summaries.append(_summary(source, delivery))
        bad_rows.append(delivery.bad_rows)
        quarantined = len(delivery.bad_rows)
        counts.append({
            "source_id": source.id,
            "file": delivery.file,
            "rows": delivery.rows,
            "expected_accepted": delivery.rows - quarantined,
            "expected_quarantined": quarantined,
        })

    overlaps = planted_overlaps(population, as_of)
    files["sources.yaml"] = sources_yaml([*sources, AF_SOURCE])
    files["recipients.yaml"] = recipients_yaml([source.kommunkod for source in sources])
    files["truth/overlaps.csv"] = _csv_text(_truth_overlaps(overlaps))
    files["truth/bad_rows.csv"] = _csv_text(pd.concat(bad_rows, ignore_index=True))
    files["truth/expected_counts.csv"] = _csv_text(pd.DataFrame(counts))
    made_up = int(population.people.made_up.sum())
    files["README.txt"] = readme(seed, as_of, people, made_up)
    return Inbox(files, tuple(summaries), len(overlaps), made_up)


def generate(
    out_dir: Path,
    *,
    people: int = 2000,
    seed: int = 1,
    municipalities: Sequence[str] = GOTEBORGSREGIONEN,
    as_of: dt.date,
    bad_share: float = 0.02,
    force: bool = False,
) -> GenerationSummary:
    """Write a synthetic inbox into `out_dir` (see the module docstring for the layout).

    A non-empty `out_dir` is refused unless `force`, which first removes a previous inbox
    there, so that no stale delivery is left for a sources glob to pick up.
    """
    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutDirNotEmpty(f"{out_dir} is not empty: choose an empty folder, or force replacing the inbox there")
    inbox = build_inbox(
        people=people, seed=seed, municipalities=municipalities, as_of=as_of, bad_share=bad_share
    )
    _remove_previous_inbox(out_dir)
    for relative, content in inbox.files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return GenerationSummary(out_dir, as_of, people, inbox.sources, inbox.overlaps, inbox.made_up_numbers)


def _remove_previous_inbox(out_dir: Path) -> None:
    """Remove what an earlier run wrote into `out_dir`; anything else there stays."""
    for name in GENERATED_ENTRIES:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
