"""The sources file: every delivery the pipeline ingests, declared once.

One source per municipality (kind `municipal`, with its kommunkod), one for AF's programme
assignments (kind `af`) and, optionally, one for AF's registrations (kind
`af_registrations`: inskrivningar, one row per registration spell; AF's own
de-registration codes map onto work, studies, other, unknown in
`codes.deregistration_reason`). Real exports differ, so each source says where its files are, how they are
encoded and delimited (or `auto`), which of its own column names mean which of ours,
how its local codes map onto the catalogue, and how it writes dates and decimals.

Example (the generator writes a complete one):

    version: 1
    sources:
      - id: goteborg
        kind: municipal
        kommunkod: "1480"
        files: "goteborg/insatser_*.csv"
        format: csv
        encoding: auto            # or utf-8, utf-8-sig, cp1252
        delimiter: auto           # or ";", ",", "|", tab (also written "\\t")
        date_formats: ["%Y-%m-%d"]
        decimal: ","
        columns:                  # their column name: our column name
          Personnummer: personnummer
          Ärende-ID: record_id
        codes:                    # our column: {their value: our value}
          insats_code: {AT: ARBETSTRANING}
          consent: {Ja: true, Nej: false}

**Files stay in the inbox.** `files` is a glob relative to the folder of the sources file
(the inbox). A pattern that is absolute (`/etc/passwd`, `C:\\x`, `~/x`) or has a `..`
part is refused on load; a matched file that resolves outside the inbox (a symlinked file
or folder pointing out) makes its source fail with an error naming the file, never
anything of what it points to.

**Local codes** are matched ignoring case and spacing: `AT`, `at` and ` At ` are one
code, `Studie- och  yrkesvägledning` and `studie- och yrkesvägledning` too. Two spellings
that match alike must map to the same value.

**Consent as a record, and protected identity** (optional columns, every kind of source).
Besides `consent` (yes/no) a source may map:

- `consent_valid_from`, `consent_valid_to`: the consent's period (dates in the source's
  `date_formats`, both days included; empty: no start, no end);
- `consent_withdrawn_on`: the day the person withdrew it (from that day on it is no consent);
- `consent_scope`: what it covers, `samplanering` and/or `uppfoljning` (several separated by
  `,` `;` or `|`; local words mapped in `codes.consent_scope`); an empty cell, or no such
  column at all, covers every scope, as before;
- `protected_identity`: the person has a protected identity (skyddad identitet); blank is no.

The consent of a row is *valid on a day* when consent is yes, the day is within its period
and before any withdrawal. A row about a person leaves for the other party only where the
consent of the party it comes from is valid on the as-of date and covers the dataset's
purpose (each contract declares its own, `mellanrum contracts`). A person flagged as
protected by any source is left out of every row-level dataset and counted in the
statistics only. Bad cells (a date that does not parse, a period ending before it starts, a
scope outside the list) quarantine the row with a reason naming the column, never the value.

    columns:
      Samtycke: consent
      Samtycke från: consent_valid_from
      Samtycke till: consent_valid_to
      Återkallat: consent_withdrawn_on
      Ändamål: consent_scope
      Skyddad: protected_identity
    codes:
      consent_scope: {Planering: samplanering, Uppföljning: uppfoljning}
      protected_identity: {Ja: true, Nej: false}

**Home municipality** (optional, municipal sources only). `home_kommunkod`: the person's
home municipality (folkbokföringskommun), a 4-digit SCB code, when it differs from the
municipality providing the intervention; an empty cell, or no such column, means the
providing one. A code that is not a Swedish municipality's quarantines the row with a reason
naming the column, never the value. It is what `kommunoverskridande_insatser` counts.

    columns:
      Folkbokföringskommun: home_kommunkod

**Delimiter** `tab` (or a real tab, `"\\t"` in double quotes, or `'\\t'` as typed in single
quotes) declares tab-separated files.
"""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Literal

import pydantic

from schemas.catalogue import DEFAULT_CATALOGUE, Catalogue, load_catalogue
from schemas.errors import ConfigError, Declared, delivery_error
from schemas.municipalities import municipality_names
from schemas.yamlconfig import StrictModel, load_yaml_model

# A source delivers either plain personal numbers (pseudonymized in memory at ingest) or
# level-1 pseudonyms it computed itself with `mellanrum pseudonymize`, with their key id.
PLAIN_IDENTITY = ("personnummer",)
LEVEL1_IDENTITY = ("pseudonym_l1", "pseudonym_key_id")

# Our column names, per kind of source, besides the identity columns.
MUNICIPAL_COLUMNS = ("record_id", "insats_code", "start_date", "end_date", "extent_pct", "consent")
AF_COLUMNS = (
    "assignment_id", "programme_code", "decision_date", "start_date", "end_date",
    "extent_pct", "af_office", "status", "consent",
)  # fmt: skip
AF_STATUSES = ("planned", "ongoing", "ended", "cancelled")
# AF's registrations (inskrivningar): one row per registration spell. AF's own
# de-registration codes map onto these in the sources file (`codes.deregistration_reason`).
REGISTRATION_COLUMNS = (
    "registration_id", "registration_date", "deregistration_date", "deregistration_reason",
    "jobseeker_category", "af_office", "consent",
)  # fmt: skip
DEREGISTRATION_REASONS = ("work", "studies", "other", "unknown")
SOURCE_KINDS = ("municipal", "af", "af_registrations")
# Optional on every kind of source: the consent as a record (samtycke with its period,
# withdrawal and scope) and the protected identity flag (skyddad identitet). A delivery
# without them is read as before: consent yes/no for every scope and no end, nobody protected.
CONSENT_SCOPES = ("samplanering", "uppfoljning")
CONSENT_RECORD_COLUMNS = ("consent_valid_from", "consent_valid_to", "consent_withdrawn_on", "consent_scope")
OPTIONAL_COLUMNS = (*CONSENT_RECORD_COLUMNS, "protected_identity")
# Optional on a municipal source only: the person's home municipality (folkbokföringskommun);
# blank or not mapped is the providing kommun.
MUNICIPAL_OPTIONAL_COLUMNS = ("home_kommunkod",)

DELIMITERS = ("auto", ";", ",", "\t", "|")
# Ways to write a tab in YAML: a real tab ("\t" in double quotes), the word, or '\t' in
# single quotes (two characters), which is what most people type.
_TAB_SPELLINGS = ("\t", "tab", "\\t")


def code_key(text: str) -> str:
    """A local code as matched: case folded, spacing collapsed (`' Studie-  och SYV'` → `'studie- och syv'`)."""
    return " ".join(text.casefold().split())


class Source(StrictModel):
    id: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=40)
    kind: Literal["municipal", "af", "af_registrations"]
    kommunkod: str | None = None
    name: str | None = None
    files: str
    format: Literal["csv", "xlsx"]
    encoding: str = "auto"
    # Not stripped like other text: the tab delimiter is whitespace.
    delimiter: Annotated[str, pydantic.StringConstraints(strip_whitespace=False)] = "auto"
    sheet: str | None = None
    date_formats: list[str] = ["%Y-%m-%d"]
    decimal: Literal[".", ","] = "."
    columns: dict[str, str]
    codes: dict[str, dict[str, str | bool]] = {}
    # Asset checks: the share of a delivery's rows that may be quarantined, and how old
    # the newest delivered file may be, before the steward is alerted.
    max_quarantine_share: float = pydantic.Field(default=0.05, ge=0, le=1)
    max_delivery_age_days: int = pydantic.Field(default=7, ge=1)

    @pydantic.field_validator("kommunkod", mode="before")
    @classmethod
    def _kommunkod_is_text(cls, value: object) -> object:
        if isinstance(value, int):
            raise ValueError('write the kommunkod in quotes, e.g. "0780": a number loses its leading zero')
        return value

    @pydantic.field_validator("kommunkod")
    @classmethod
    def _kommunkod_exists(cls, value: str | None) -> str | None:
        if value is not None and value not in municipality_names():
            raise ValueError("not one of Sweden's 290 kommunkoder")
        return value

    @pydantic.field_validator("encoding")
    @classmethod
    def _encoding_known(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError("unknown encoding; use auto, utf-8, utf-8-sig or cp1252") from None
        return value

    @pydantic.field_validator("delimiter")
    @classmethod
    def _delimiter_known(cls, value: str) -> str:
        if value.lower() in _TAB_SPELLINGS:
            return "\t"
        if value.strip() in DELIMITERS:
            return value.strip()
        raise ValueError("expected one of auto, ';', ',', '|', tab")

    @pydantic.field_validator("files")
    @classmethod
    def _files_stay_in_the_inbox(cls, value: str) -> str:
        if not value:
            raise ValueError("give a file pattern relative to the sources file's folder, e.g. 'goteborg/*.csv'")
        if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive \
                or value.startswith("~"):  # fmt: skip
            raise ValueError("an absolute path (or ~): files must be a pattern relative to the sources file's folder")
        if ".." in value.replace("\\", "/").split("/"):
            raise ValueError("'..' leaves the inbox: files must stay in the sources file's folder")
        return value

    @pydantic.field_validator("date_formats")
    @classmethod
    def _date_formats_round_trip(cls, formats: list[str]) -> list[str]:
        if not formats:
            raise ValueError("give at least one date format, e.g. '%Y-%m-%d'")
        probe = dt.date(2021, 9, 29)
        for fmt in formats:
            try:
                ok = dt.datetime.strptime(probe.strftime(fmt), fmt).date() == probe
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{fmt!r} is not a date format with day, month and year (strftime codes)")
        return formats

    @pydantic.field_validator("codes", mode="before")
    @classmethod
    def _code_keys_are_text(cls, value: object) -> object:
        # YAML reads `1: true` with an integer key; local codes are always text.
        if isinstance(value, dict):
            return {
                column: {str(k): v for k, v in mapping.items()} if isinstance(mapping, dict) else mapping
                for column, mapping in value.items()
            }
        return value

    @pydantic.model_validator(mode="after")
    def _codes_match_alike_map_alike(self) -> "Source":
        for column, mapping in self.codes.items():
            seen: dict[str, str] = {}
            for their, ours in mapping.items():
                key = code_key(their)
                if key in seen and mapping[seen[key]] != ours:
                    raise ValueError(
                        f"codes.{column}: {seen[key]!r} and {their!r} are the same code (matching ignores case "
                        f"and spacing) but map to {mapping[seen[key]]!r} and {ours!r}"
                    )
                seen.setdefault(key, their)
        return self

    @pydantic.model_validator(mode="after")
    def _columns_complete(self) -> "Source":
        if self.kind == "municipal" and self.kommunkod is None:
            raise ValueError("a municipal source needs its kommunkod")
        if self.kind != "municipal" and self.kommunkod is not None:
            raise ValueError(f"an {self.kind} source has no kommunkod (AF offices are a column)")
        if self.format == "csv" and self.sheet is not None:
            raise ValueError("sheet is only for format xlsx")
        targets = list(self.columns.values())
        allowed = set(self.canonical_columns) | set(OPTIONAL_COLUMNS) | set(PLAIN_IDENTITY) | set(LEVEL1_IDENTITY)
        if self.kind == "municipal":
            allowed |= set(MUNICIPAL_OPTIONAL_COLUMNS)
        for their, ours in self.columns.items():
            if ours not in allowed:
                raise ValueError(
                    f"columns: {their!r} maps to {ours!r}, which is not one of ours: {', '.join(sorted(allowed))}"
                )
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            raise ValueError(f"columns: more than one column maps to {', '.join(duplicated)}")
        missing = [c for c in self.canonical_columns if c not in targets]
        if missing:
            raise ValueError(f"columns: nothing maps to {', '.join(missing)}")
        has_plain = set(PLAIN_IDENTITY) <= set(targets)
        has_level1 = set(LEVEL1_IDENTITY) <= set(targets)
        if has_plain == has_level1:
            raise ValueError(
                "columns: map exactly one identity: either personnummer, "
                "or pseudonym_l1 together with pseudonym_key_id"
            )
        for column in self.codes:
            if column not in self.codeable_columns:
                raise ValueError(
                    f"codes: {column!r} cannot be mapped; codes apply to {', '.join(self.codeable_columns)}"
                )
        return self

    @property
    def canonical_columns(self) -> tuple[str, ...]:
        return {"municipal": MUNICIPAL_COLUMNS, "af": AF_COLUMNS, "af_registrations": REGISTRATION_COLUMNS}[self.kind]

    @property
    def codeable_columns(self) -> tuple[str, ...]:
        own = {"municipal": ("insats_code", "consent"), "af": ("programme_code", "status", "consent"),
               "af_registrations": ("deregistration_reason", "consent")}[self.kind]  # fmt: skip
        return (*own, "consent_scope", "protected_identity")

    @property
    def identity(self) -> Literal["plain", "level1"]:
        return "plain" if "personnummer" in self.columns.values() else "level1"


class SourcesFile(StrictModel):
    version: Literal[1]
    catalogue: Path | None = None
    sources: list[Source]

    @pydantic.model_validator(mode="after")
    def _ids_unique(self) -> "SourcesFile":
        ids = [source.id for source in self.sources]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"source ids must be unique: {', '.join(duplicated)} declared twice")
        if not self.sources:
            raise ValueError("declare at least one source")
        return self

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)


def _check_codes_against_catalogue(sources: SourcesFile, catalogue: Catalogue) -> list[str]:
    """Every mapped value must be a catalogue code, a boolean consent, or an AF status."""
    allowed = {
        "insats_code": set(catalogue.intervention_categories),
        "programme_code": set(catalogue.programme_categories),
        "status": set(AF_STATUSES),
        "deregistration_reason": set(DEREGISTRATION_REASONS),
    }
    problems = []
    for index, source in enumerate(sources.sources):
        for column, mapping in source.codes.items():
            for their, ours in mapping.items():
                where = f"sources[{index}] (id {source.id!r}).codes.{column}.{their}"
                if column in ("consent", "protected_identity"):
                    if not isinstance(ours, bool):
                        problems.append(f"  {where}: got {ours!r}: {column} maps to true or false")
                elif column == "consent_scope":
                    if ours not in CONSENT_SCOPES:
                        problems.append(f"  {where}: got {ours!r}: expected one of {', '.join(CONSENT_SCOPES)}")
                elif ours not in allowed[column]:
                    problems.append(
                        f"  {where}: got {ours!r}: not in the catalogue's {column} codes "
                        f"(catalogue version {catalogue.version})"
                        if column not in ("status", "deregistration_reason")
                        else f"  {where}: got {ours!r}: expected one of "
                        f"{', '.join(AF_STATUSES if column == 'status' else DEREGISTRATION_REASONS)}"
                    )
    return problems


class Sources:
    """A loaded, validated sources file with its catalogue and the folder it lives in."""

    def __init__(self, path: Path, spec: "SourcesFile | None", catalogue: Catalogue) -> None:
        self.path = path
        self.spec = spec
        self.catalogue = catalogue

    @classmethod
    def empty(cls, path: Path) -> "Sources":
        """No sources declared yet (the file does not exist): nothing to ingest."""
        return cls(path, None, load_catalogue(DEFAULT_CATALOGUE))

    @property
    def inbox(self) -> Path:
        """File globs are relative to the folder the sources file is in."""
        return self.path.parent

    @property
    def all(self) -> list[Source]:
        return list(self.spec.sources) if self.spec else []

    def source(self, source_id: str) -> Source:
        if self.spec is None:
            raise KeyError(source_id)
        return self.spec.source(source_id)

    def files(self, source: Source) -> list[Path]:
        """The delivered files of a source, sorted by name (a delivery's date is in its name).

        Raises a `DeliveryError` naming the first matched file that resolves outside the
        inbox (a symlink, or a file in a symlinked folder, pointing out): the source fails,
        and nothing of the file it points to is read or named.
        """
        inbox = self.inbox.resolve()
        matched = sorted(path for path in self.inbox.glob(source.files) if path.is_file())
        for path in matched:
            if not path.resolve().is_relative_to(inbox):
                raise delivery_error(
                    path, "resolves outside the inbox {inbox} (a symbolic link pointing out?): not read",
                    inbox=Declared(str(self.inbox)),
                )  # fmt: skip
        return matched


def load_sources(path: Path) -> Sources:
    """Load and validate a sources file and the catalogue it names (or the default one)."""
    path = Path(path)
    spec = load_yaml_model(path, SourcesFile)
    catalogue_path = DEFAULT_CATALOGUE if spec.catalogue is None else path.parent / spec.catalogue
    catalogue = load_catalogue(catalogue_path)
    problems = _check_codes_against_catalogue(spec, catalogue)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s)\n" + "\n".join(problems))
    return Sources(path, spec, catalogue)
