"""The case systems: how each municipality's system and AF's write their delivery files
(`Export`, `CASE_SYSTEMS`, `AF_EXPORT`), and the sources made from them (`Source`, slugs,
source ids, `AF_SOURCE`)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from schemas.municipalities import municipality_names

DATE_FIELDS = ("decision_date", "start_date", "end_date", "consent_valid_from", "consent_valid_to",
               "consent_withdrawn_on")  # fmt: skip
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
            ("Samtycke", "consent"), ("Samtycke från", "consent_valid_from"), ("Samtycke till", "consent_valid_to"),
            ("Återkallat", "consent_withdrawn_on"), ("Ändamål", "consent_scope"), ("Skyddad", "protected_identity"),
            ("Handläggare", "handlaggare"), ("Kommentar", "kommentar"),
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
            "consent_scope": {"Planering": "samplanering", "Uppföljning": "uppfoljning"},
            "protected_identity": _JA_NEJ,
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
            ("Samtycke informationsutbyte", "consent"), ("Samtycke fr.o.m.", "consent_valid_from"),
            ("Samtycke t.o.m.", "consent_valid_to"), ("Samtycke återkallat", "consent_withdrawn_on"),
            ("Samtycke avser", "consent_scope"), ("Skyddad identitet", "protected_identity"), ("Kommentar", "kommentar"),
        ),
        codes={
            "insats_code": {
                "AT": "ARBETSTRANING", "PRA": "PRAKTIK", "FERIE": "FERIEJOBB", "EXTRA": "EXTRATJANST",
                "KVA": "KOMMUNAL_ANSTALLNING", "SYV": "SYV", "JSP": "JOBBSPAR", "JC": "JOBBCOACHNING",
                "SFI": "SFI", "KVX": "KOMVUX", "KAA": "KAA",
            },
            "consent": _J_N,
            "consent_scope": {"SAMPL": "samplanering", "UPPF": "uppfoljning"},
            "protected_identity": _J_N,
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
            ("Omfattning", "extent_pct"), ("Samtycke", "consent"), ("Samtycke giltigt från", "consent_valid_from"),
            ("Samtycke giltigt till", "consent_valid_to"), ("Återkallelse", "consent_withdrawn_on"),
            ("Syfte", "consent_scope"), ("Sekretessmarkering", "protected_identity"),
        ),
        codes={
            "insats_code": {
                "Arbetsträning": "ARBETSTRANING", "Praktikplats": "PRAKTIK", "Feriearbete": "FERIEJOBB",
                "Extratjänst": "EXTRATJANST", "Vägledning": "SYV", "Jobbspår": "JOBBSPAR",
                "Coachning": "JOBBCOACHNING", "Sfi": "SFI", "KAA": "KAA",
            },
            "consent": {"1": True, "0": False},
            "protected_identity": {"1": True, "0": False},
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
            ("Omfattning (%)", "extent_pct"), ("Samtycke", "consent"), ("Samtycke från", "consent_valid_from"),
            ("Samtycke till", "consent_valid_to"), ("Återkallat", "consent_withdrawn_on"),
            ("Ändamål", "consent_scope"), ("Skyddad", "protected_identity"), ("Handläggare", "handlaggare"),
        ),
        codes={
            "insats_code": {
                "ARBTR": "ARBETSTRANING", "PRAKT": "PRAKTIK", "FERIE": "FERIEJOBB", "EXTRA": "EXTRATJANST",
                "ANST": "KOMMUNAL_ANSTALLNING", "SYV": "SYV", "JOBBSP": "JOBBSPAR", "COACH": "JOBBCOACHNING",
                "SFI": "SFI", "KOMVUX": "KOMVUX", "KAA": "KAA",
            },
            "consent": _JA_NEJ,
            "consent_scope": {"Samplanering": "samplanering", "Uppföljning": "uppfoljning"},
            "protected_identity": _JA_NEJ,
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
            ("Samtycke till informationsutbyte", "consent"), ("Samtycke gäller från", "consent_valid_from"),
            ("Samtycke gäller till", "consent_valid_to"), ("Återkallat den", "consent_withdrawn_on"),
            ("Samtycket avser", "consent_scope"), ("Skyddad folkbokföring", "protected_identity"),
            ("Handläggare", "handlaggare"), ("Kommentar", "kommentar"),
        ),
        # An old and a new code for work training side by side, and consent typed by hand.
        codes={
            "insats_code": {
                "AT": "ARBETSTRANING", "ARBTR": "ARBETSTRANING", "PRA": "PRAKTIK", "FERIE": "FERIEJOBB",
                "EXTRA": "EXTRATJANST", "SYV": "SYV", "Jobbspår": "JOBBSPAR", "SFI": "SFI", "KAA": "KAA",
            },
            "consent": {"Ja": True, "J": True, "Nej": False, "N": False},
            "consent_scope": {"Samplanering": "samplanering", "Uppföljning": "uppfoljning"},
            "protected_identity": {"Ja": True, "J": True, "Nej": False, "N": False},
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
        ("Samtycke", "consent"), ("Samtycke från", "consent_valid_from"), ("Samtycke till", "consent_valid_to"),
        ("Samtycke återkallat", "consent_withdrawn_on"), ("Samtycke avser", "consent_scope"),
        ("Skyddad identitet", "protected_identity"),
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
        "consent_scope": {"Gemensam planering": "samplanering", "Uppföljning": "uppfoljning"},
        "protected_identity": _JA_NEJ,
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
