"""Ingest one source: read its deliveries, pseudonymize, type, validate, quarantine.

Pure functions, DataFrame in, DataFrame out. The plain personal number exists only inside
`pseudonymize_identities`, in memory: what leaves it holds the level-2 pseudonym, its key
id and an age band, and its problems show the number's shape only ("NNNNNN-NNNN").

`ingest_source` returns the accepted rows (conforming to the source kind's Pandera model),
the quarantine (one row per unusable delivered row, with file, line, column and reason)
and per-file counts; for every file, rows read = rows accepted + rows quarantined. A file
with a header and no rows is a delivery of nobody (a municipality with no one to report):
it gives no rows, and the counts say so.

No delivered value leaves this module but through the accepted rows: errors about a file
are made by `schemas.errors.delivery_error`, quarantine reasons by `core.validate.problems`,
and a cell of any kept column other than the identity column that looks like a personal
identity number (`schemas.personnummer.identity_shaped`) is refused before anything is
typed (`identity_problems`): the row is quarantined with the value's shape, and the number
is never stored nor published.
"""


import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.epochs import linkage_crosswalk, older_linkage_keys
from core.keys.keyring import KEY_ID_SEPARATOR, Key, Keyring, PseudonymKeys
from core.keys.pseudonyms import (
    level1_pseudonyms,
    level2_from_level1,
    level2_pseudonyms,
)
from core.readers import LINE_COLUMN, ReadResult, read_delimited, read_workbook
from core.validate import (
    describe_date_format,
    duplicates,
    on_distinct,
    map_codes,
    model_problems,
    no_problems,
    parse_dates,
    parse_numbers,
    problems,
    required_text,
)
from schemas.catalogue import Catalogue
from schemas.datasets import (
    AGE_BAND_EDGES,
    AGE_BANDS,
    ALL_SCOPES,
    AfAssignments,
    AfRegistrations,
    MunicipalInterventions,
    Quarantine,
)
from schemas.errors import Declared, InputError, delivery_error
from schemas.municipalities import municipality_names
from schemas.personnummer import (
    IDENTITY_SHAPED_SPAN,
    birth_dates,
    identity_shaped,
    normalize,
)
from schemas.personnummer import REASONS as IDENTITY_REASONS
from schemas.sources import (
    AF_STATUSES,
    CONSENT_RECORD_COLUMNS,
    CONSENT_SCOPES,
    DEREGISTRATION_REASONS,
    LEVEL1_IDENTITY,
    MUNICIPAL_OPTIONAL_COLUMNS,
    OPTIONAL_COLUMNS,
    PLAIN_IDENTITY,
    Source,
    code_key,
)

PSEUDONYM = "pseudonym"
KEY_ID = "key_id"
AGE_BAND = "age_band"
# Registrations only: the birth date, in memory between pseudonymizing and typing, where
# the age on the registration date is computed from it; it is never stored.
BIRTH_DATE = "_birth_date"
# Each kind's accepted-rows model and its own row id.
MODELS = {"municipal": MunicipalInterventions, "af": AfAssignments, "af_registrations": AfRegistrations}
ROW_IDS = {"municipal": "record_id", "af": "assignment_id", "af_registrations": "registration_id"}
FILE_COLUMN = "file"
PLACE_COLUMNS = ["source_id", "file", "line"]  # where a delivered row was


# --- reading -----------------------------------------------------------------------------


def read_source_file(source: Source, path: Path) -> ReadResult:
    """Read one delivered file of `source` as text, with line numbers."""
    if source.format == "xlsx":
        return read_workbook(path, source.sheet)
    return read_delimited(path, encoding=source.encoding, delimiter=source.delimiter)


def to_canonical(source: Source, read: ReadResult) -> pd.DataFrame:
    """Rename the source's columns to ours and keep only those (plus the line number)."""
    missing = [their for their in source.columns if their not in read.frame.columns]
    if missing:
        # Only names of a header that passed the reader's check are ever shown (ReadResult.header).
        raise delivery_error(
            read.path, "required column {name} is missing (the sources file maps it to {ours}); columns found: {found}",
            line=1, name=Declared(missing[0]), ours=Declared(source.columns[missing[0]]), found=read.header,
        )  # fmt: skip
    frame = read.frame[[LINE_COLUMN, *source.columns]].rename(columns=source.columns)
    # The optional columns a source does not map are blank: consent for every scope and
    # without dates, nobody protected (as before they existed).
    for column in (*OPTIONAL_COLUMNS, *(MUNICIPAL_OPTIONAL_COLUMNS if source.kind == "municipal" else ())):
        if column not in frame.columns:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame.reset_index(drop=True)


# --- pseudonymizing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pseudonymized:
    frame: pd.DataFrame  # identity columns replaced by PSEUDONYM, KEY_ID and AGE_BAND
    problems: pd.DataFrame  # PROBLEM_COLUMNS, for rows whose identity is unusable
    # In a linkage-key rotation window: old -> new level-2 pseudonym of each person (core/epochs.py)
    crosswalk: pd.DataFrame | None = None


def pseudonymize_identities(
    frame: pd.DataFrame, keys: PseudonymKeys, keyring: Keyring, as_of: dt.date
) -> Pseudonymized:
    """Replace the identity column(s) by the level-2 pseudonym, its key id and an age band.

    Plain numbers are normalized and checked first. Level-1 pseudonyms delivered by a
    partner must carry a linkage key id that the keyring holds and that is valid on
    `as_of`; their age band is unknown. Rows whose identity is unusable keep an empty
    pseudonym and are reported with the value's shape only.

    While an older linkage key is still valid (a rotation window), plain numbers are also
    pseudonymized under it, for the crosswalk old -> new (`core.epochs.linkage_crosswalk`).
    """
    crosswalk = None
    if PLAIN_IDENTITY[0] in frame.columns:
        plain = frame[PLAIN_IDENTITY[0]]
        checked = normalize(plain, as_of)
        valid = checked["canonical"].notna().to_numpy(dtype=bool)
        pseudonym = level2_pseudonyms(checked["canonical"], keys.linkage.secret, keys.chain)
        older = older_linkage_keys(keyring, keys, as_of)
        crosswalk = linkage_crosswalk(checked["canonical"], keys, older) if older else None
        key_id = pd.Series(np.where(valid, keys.key_id, None), index=frame.index, dtype="string")
        births = birth_dates(checked["canonical"])
        age_band = age_bands(births, as_of)
        reasons, shapes = checked["reason"][~valid], _shape(plain[~valid])
        present = set(reasons.dropna().unique())
        found = pd.concat([no_problems()] + [
            problems(reasons.index[reasons == reason], "personnummer", shapes[reasons == reason],
                     "personnummer: {why}", why=Declared(reason))
            for reason in IDENTITY_REASONS if reason in present
        ], ignore_index=True)  # fmt: skip
        identity_columns = list(PLAIN_IDENTITY)
    else:
        level1, level1_key = (frame[c].astype("string").str.strip() for c in LEVEL1_IDENTITY)
        usable_ids = {k.id for k in keyring.keys if k.role == "linkage" and k.is_valid(as_of)}
        key_ok = level1_key.isin(usable_ids).fillna(False).to_numpy(dtype=bool)
        level2, invalid = level2_from_level1(level1, keys.chain)
        valid = key_ok & ~invalid
        pseudonym = level2.where(valid)
        key_id = (level1_key + KEY_ID_SEPARATOR + keys.pipeline.id).where(valid)
        age_band = pd.Series("unknown", index=frame.index, dtype="string")
        births = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[s]")
        bad_key, bad_value = ~key_ok, key_ok & invalid
        found = pd.concat([
            problems(frame.index[bad_key], "pseudonym_key_id", level1_key[bad_key],
                     "linkage key id unknown or not valid on the reference date"),
            problems(frame.index[bad_value], "pseudonym_l1", pd.NA,
                     "not a level-1 pseudonym (52 characters A-Z, 2-7)"),
        ], ignore_index=True)  # fmt: skip
        identity_columns = list(LEVEL1_IDENTITY)
    result = frame.drop(columns=identity_columns)
    result[PSEUDONYM], result[KEY_ID], result[AGE_BAND] = pseudonym, key_id, age_band
    result[BIRTH_DATE] = births
    return Pseudonymized(frame=result, problems=found, crosswalk=crosswalk)


def age_bands(births: pd.Series, as_of: dt.date) -> pd.Series:
    """Age at `as_of` in AGE_BANDS; 'unknown' where the birth date is (samordningsnummer)."""
    born = births.dt
    age = as_of.year - born.year - ((born.month > as_of.month) | ((born.month == as_of.month) & (born.day > as_of.day)))
    band = np.searchsorted(np.array(AGE_BAND_EDGES), age.fillna(-1).to_numpy(dtype=np.int64), side="right")
    labels = np.array(AGE_BANDS[:-1], dtype=object)[band]
    return pd.Series(np.where(births.isna().to_numpy(), AGE_BANDS[-1], labels), index=births.index, dtype="string")


def mask_identity_numbers(text: pd.Series) -> pd.Series:
    """Anything shaped like a personnummer (`schemas.personnummer.identity_shaped`) becomes
    its shape (digits N); found vectorized, masked only in the few values that hold one."""
    text = text.astype("string")
    hit = identity_shaped(text)
    if hit.any():
        text = text.copy()
        text[hit] = text[hit].str.replace(IDENTITY_SHAPED_SPAN, lambda m: re.sub(r"[0-9]", "N", m.group(0)),
                                          regex=True)  # fmt: skip
    return text


def identity_problems(source: Source, frame: pd.DataFrame) -> pd.DataFrame:
    """Problems for every cell of a kept column, other than the plain identity column, that
    looks like a personal identity number: a record id that is a personnummer, a number in
    the extent column, one pasted over a code. Checked on the delivered text, before any
    typing (so an extent of 1003110000 is never a float shown as 1.00311e+09); the value
    shows as its shape."""
    theirs = {ours: their for their, ours in source.columns.items()}
    found = [no_problems()]
    for column in frame.columns:
        if column in (LINE_COLUMN, FILE_COLUMN, *PLAIN_IDENTITY):
            continue
        hit = identity_shaped(frame[column])
        if hit.any():
            found.append(problems(frame.index[hit], column, frame[column][hit],
                                  "looks like a personal identity number in column {their!r}: never stored",
                                  their=Declared(theirs.get(column, column))))  # fmt: skip
    return pd.concat(found, ignore_index=True)


def _shape(values: pd.Series) -> pd.Series:
    """The form of a value without its content: digits become N and letters A."""
    text = values.astype("string")
    return text.str.replace(r"[^\W\d_]", "A", regex=True).str.replace(r"[0-9]", "N", regex=True)


# --- typing ------------------------------------------------------------------------------


def type_columns(source: Source, frame: pd.DataFrame, catalogue: Catalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the text columns into the model's types; problems for what cannot be parsed."""
    typed = frame.copy(deep=False)  # copy-on-write: columns are replaced, never changed in place
    found = []

    def take(column: str, result: tuple[pd.Series, pd.DataFrame]) -> None:
        typed[column] = result[0]
        found.append(result[1])

    codes = source.codes
    if source.kind == "af_registrations":
        return _type_registrations(source, frame)
    if source.kind == "municipal":
        take("record_id", required_text(frame["record_id"], "record_id"))
        take("insats_code", map_codes(frame["insats_code"], codes.get("insats_code", {}),
                                      set(catalogue.intervention_categories), "insats_code", "intervention code"))
        typed["category"] = typed["insats_code"].map(catalogue.intervention_categories)
        take("home_kommunkod", home_kommun(frame["home_kommunkod"], source.kommunkod))
    else:
        take("assignment_id", required_text(frame["assignment_id"], "assignment_id"))
        take("programme_code", map_codes(frame["programme_code"], codes.get("programme_code", {}),
                                         set(catalogue.programme_categories), "programme_code", "AF programme"))
        typed["category"] = typed["programme_code"].map(catalogue.programme_categories)
        take("status", map_codes(frame["status"], codes.get("status", {}), set(AF_STATUSES), "status", "AF status"))
        take("af_office", required_text(frame["af_office"], "af_office", max_characters=80, max_words=8))
        take("decision_date", parse_dates(frame["decision_date"], source.date_formats, "decision_date", False))
    take("start_date", parse_dates(frame["start_date"], source.date_formats, "start_date", required=True))
    take("end_date", parse_dates(frame["end_date"], source.date_formats, "end_date", required=False))
    take("extent_pct", parse_numbers(frame["extent_pct"], source.decimal, "extent_pct"))
    # Consent not recorded is no consent: a blank cell is `false`, never a problem.
    consent_words = {"true": True, "false": False}
    take("consent", map_codes(frame["consent"], codes.get("consent", consent_words),
                              {True, False}, "consent", "consent value", blank_means=False))  # fmt: skip
    found.append(_type_consent_record(source, frame, typed))
    return typed, pd.concat(found, ignore_index=True)


def _type_consent_record(source: Source, frame: pd.DataFrame, typed: pd.DataFrame) -> pd.DataFrame:
    """The optional consent record and protected identity columns typed into `typed`; the
    problems found. Reasons name the column and what was expected, never the value."""
    found = []
    for column in CONSENT_RECORD_COLUMNS[:3]:
        parsed, trouble = parse_dates(frame[column], source.date_formats, column, required=False)
        typed[column] = parsed
        expected = Declared(" or ".join(describe_date_format(f) for f in source.date_formats))
        found.append(problems(trouble["row"], column, pd.NA, "{label} is not a date in the form {expected}",
                              label=Declared(column.replace("_", " ")), expected=expected))  # fmt: skip
    scopes, trouble = consent_scopes(frame["consent_scope"], source.codes.get("consent_scope", {}))
    typed["consent_scope"] = scopes
    found.append(trouble)
    delivered = frame["protected_identity"]
    if delivered.isna().all():  # not mapped (or never filled in): nobody protected
        flag, trouble = pd.Series(False, index=frame.index), no_problems()
    else:
        flag, trouble = map_codes(delivered, source.codes.get("protected_identity", _YES_NO), {True, False},
                                  "protected_identity", "protected identity value", blank_means=False)  # fmt: skip
    typed["protected_identity"] = flag
    # A code shown is still a delivered cell: the reason says what was expected only.
    found.append(trouble.assign(value=pd.NA, reason="protected identity: expected yes/no (true or false, or a "
                                                     "value mapped in codes.protected_identity)").astype(
        {"value": "string", "reason": "string"}))  # fmt: skip
    return pd.concat(found, ignore_index=True)


_YES_NO = {"true": True, "false": False}


def home_kommun(text: pd.Series, providing: str) -> tuple[pd.Series, pd.DataFrame]:
    """The person's home municipality (folkbokföringskommun): a blank cell is the providing
    kommun; a code that is not a municipality's is a problem naming the column, never the value."""
    text = text.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    known = text.isin(set(municipality_names())).fillna(False).to_numpy(dtype=bool)
    bad = ~blank & ~known
    home = text.where(~blank, providing).where(~bad, pd.NA).astype("string")
    found = problems(text.index[bad], "home_kommunkod", pd.NA,
                     "home kommun: expected a 4-digit SCB municipality code (or empty for the providing kommun)")
    return home, found


def consent_scopes(text: pd.Series, mapping: dict) -> tuple[pd.Series, pd.DataFrame]:
    """Delivered consent scopes as stored (`schemas.datasets.ALL_SCOPES` order, joined by ','):
    several separated by `,` `;` or `|`, each ours or mapped in `codes.consent_scope`; a blank
    cell covers every scope. A part that is neither is a problem (the value is not shown)."""
    return on_distinct(text, lambda distinct: _consent_scopes(distinct, mapping))


def _consent_scopes(text: pd.Series, mapping: dict) -> tuple[pd.Series, pd.DataFrame]:
    table = {code_key(k): v for k, v in {**{s: s for s in CONSENT_SCOPES}, **mapping}.items()}
    values, bad = [], []
    for index, cell in text.items():  # distinct values only (`on_distinct`): a handful
        parts = [] if pd.isna(cell) else [p for p in re.split(r"[,;|]", str(cell)) if p.strip()]
        mapped = {table.get(code_key(p)) for p in parts}
        if None in mapped:
            bad.append(index)
            values.append(ALL_SCOPES)
        else:
            values.append(",".join(s for s in CONSENT_SCOPES if s in mapped) if mapped else ALL_SCOPES)
    found = problems(bad, "consent_scope", pd.NA,
                     "consent scope: expected samplanering and/or uppfoljning (or a value mapped in codes.consent_scope)")
    return pd.Series(values, index=text.index, dtype="string"), found


def _type_registrations(source: Source, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Registrations typed: dates, AF's de-registration codes mapped, the age band on the
    registration date and, for those under 20 then, the 20th birthday (from the birth date
    the identity gave, which is then dropped)."""
    typed = frame.copy(deep=False)
    found = []

    def take(column: str, result: tuple[pd.Series, pd.DataFrame]) -> None:
        typed[column] = result[0]
        found.append(result[1])

    codes = source.codes
    take("registration_id", required_text(frame["registration_id"], "registration_id"))
    take("af_office", required_text(frame["af_office"], "af_office", max_characters=80, max_words=8))
    take("jobseeker_category", required_text(frame["jobseeker_category"], "jobseeker_category",
                                             max_characters=80, max_words=8))  # fmt: skip
    take("registration_date", parse_dates(frame["registration_date"], source.date_formats, "registration_date",
                                          required=True))  # fmt: skip
    take("deregistration_date", parse_dates(frame["deregistration_date"], source.date_formats,
                                            "deregistration_date", required=False))  # fmt: skip
    # A blank reason is no reason: empty while registered, 'unknown' once de-registered.
    take("deregistration_reason", map_codes(frame["deregistration_reason"], codes.get("deregistration_reason", {}),
                                            set(DEREGISTRATION_REASONS), "deregistration_reason",
                                            "de-registration reason", blank_means=""))  # fmt: skip
    reason = typed["deregistration_reason"].astype("string")
    ended = typed["deregistration_date"].notna()
    blank = (reason == "").fillna(True).to_numpy(dtype=bool)
    typed["deregistration_reason"] = reason.mask(ended.to_numpy() & blank, "unknown").mask(~ended.to_numpy() & blank,
                                                                                           pd.NA)  # fmt: skip
    consent_words = {"true": True, "false": False}
    take("consent", map_codes(frame["consent"], codes.get("consent", consent_words),
                              {True, False}, "consent", "consent value", blank_means=False))  # fmt: skip
    found.append(_type_consent_record(source, frame, typed))
    births = pd.to_datetime(frame[BIRTH_DATE]).astype("datetime64[s]")
    registered = pd.to_datetime(typed["registration_date"]).astype("datetime64[s]")
    typed[AGE_BAND] = ages_on(births, registered).where(births.notna() & registered.notna(), AGE_BANDS[-1])
    twentieth = _birthdays(births, 20)
    typed["turns_20_on"] = twentieth.where((twentieth > registered).fillna(False))
    return typed.drop(columns=[BIRTH_DATE]), pd.concat(found, ignore_index=True)


def ages_on(births: pd.Series, days: pd.Series) -> pd.Series:
    """Age on each row's own day, in AGE_BANDS ('unknown' where either date is missing)."""
    b, d = births.dt, days.dt
    age = d.year - b.year - ((b.month > d.month) | ((b.month == d.month) & (b.day > d.day)))
    band = np.searchsorted(np.array(AGE_BAND_EDGES), age.fillna(-1).to_numpy(dtype=np.int64), side="right")
    labels = np.array(AGE_BANDS[:-1], dtype=object)[band]
    unknown = (births.isna() | days.isna()).to_numpy()
    return pd.Series(np.where(unknown, AGE_BANDS[-1], labels), index=births.index, dtype="string")


def _birthdays(births: pd.Series, years: int) -> pd.Series:
    """The day each person turns `years` (a 29 February birthday falls on 1 March)."""
    year = births.dt.year + years
    text = year.astype("Int64").astype("string") + births.dt.strftime("-%m-%d")
    moved = text.str.endswith("-02-29") & ~((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)))
    text = text.mask(moved.fillna(False), year.astype("Int64").astype("string") + "-03-01")
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[s]")


# --- the whole source --------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    accepted: pd.DataFrame  # MunicipalInterventions or AfAssignments
    quarantine: pd.DataFrame  # Quarantine
    files: pd.DataFrame  # file, rows, accepted, quarantined

    @property
    def rows_read(self) -> int:
        return int(self.files["rows"].sum())


def model_for(kind: str):
    """The Pandera model of what a source of `kind` delivers, once accepted."""
    return MODELS[kind]


@dataclass(frozen=True)
class Prepared:
    """One source's deliveries read, checked, pseudonymized, typed and rid of duplicates:
    what is left for the model's rules (`validate_sources`)."""

    source: Source
    candidates: pd.DataFrame  # the model's columns and types, not yet checked against its rules
    problems: pd.DataFrame  # the quarantine rows found so far, not yet masked nor validated
    delivered: dict[str, int]  # file name -> rows read
    # In a linkage-key rotation window (plain numbers only): the crosswalk old -> new; else None
    crosswalk: pd.DataFrame | None = None


def prepare_source(
    source: Source,
    paths: Sequence[Path],
    catalogue: Catalogue,
    keys: PseudonymKeys,
    keyring: Keyring,
    as_of: dt.date,
) -> Prepared:
    """Every delivered file of one source up to the model's rules (see the module docstring).

    Raises a `DeliveryError`, naming the file and the problem, when the source cannot be
    used at all: no file, an unreadable, empty or binary file, a header missing or looking
    like data, a required column missing. A file of a header only is read as no rows.
    """
    if not paths:
        raise InputError(f"source {source.id!r}: no delivered file matches {source.files!r}")
    reads = [read_source_file(source, path) for path in paths]
    frame = pd.concat(
        [to_canonical(source, read).assign(**{FILE_COLUMN: read.path.name}) for read in reads], ignore_index=True
    )
    unparsed = _unparsed_lines(source, reads)
    delivered = {read.path.name: read.rows_read for read in reads}
    # Each intermediate goes as soon as the next exists: a national AF delivery is millions
    # of rows, and the plain numbers should not outlive their hashing anyway.
    del reads

    refused = identity_problems(source, frame)
    pseudonymized = pseudonymize_identities(frame, keys, keyring, as_of)
    crosswalk = pseudonymized.crosswalk
    del frame
    typed, typing_problems = type_columns(source, pseudonymized.frame, catalogue)
    # The first problem of each cell is its reason: a number refused in the code column is
    # not also an unknown code.
    found = pd.concat([refused, pseudonymized.problems, typing_problems], ignore_index=True).drop_duplicates(
        ["row", "column"], keep="first", ignore_index=True)  # fmt: skip
    del pseudonymized
    typed = typed.rename(columns={LINE_COLUMN: "line"}).assign(source_id=source.id)
    if source.kind == "municipal":
        typed["kommunkod"] = source.kommunkod
    model = model_for(source.kind)
    columns = list(model.to_schema().columns)
    typed = typed[columns]
    # Where each quarantined row came from, kept as its rows leave the candidates.
    places = [typed.loc[typed.index.isin(found["row"]), PLACE_COLUMNS]]
    candidates = cast_to_model(typed[~typed.index.isin(found["row"])], model)
    del typed
    key = ROW_IDS[source.kind]
    content = [c for c in columns if c not in ("file", "line")]
    repeated = duplicates(candidates[content], key, candidates["line"])
    places.append(candidates.loc[candidates.index.isin(repeated["row"]), PLACE_COLUMNS])
    candidates = candidates[~candidates.index.isin(repeated["row"])].reset_index(drop=True)
    problems = pd.concat([_quarantine_rows(pd.concat(places), pd.concat([found, repeated], ignore_index=True)),
                          unparsed], ignore_index=True)  # fmt: skip
    return Prepared(source, candidates, problems, delivered, crosswalk)


def validate_sources(prepared: Sequence[Prepared]) -> dict[str, IngestResult]:
    """The model's rules over every prepared source of one kind at once, by source id.

    One Pandera pass for a whole night's deliveries of a kind: its cost is mostly fixed
    per call, and 290 municipalities' small deliveries would pay it 290 times. Every row
    keeps its source, file and line, so each source's quarantine and counts stay its own.
    """
    if not prepared:
        return {}
    kinds = {p.source.kind for p in prepared}
    if len(kinds) != 1:
        raise ValueError(f"validate sources of one kind at a time, not {', '.join(sorted(kinds))}")
    model = model_for(kinds.pop())
    candidates = pd.concat([p.candidates for p in prepared], ignore_index=True)
    broken = model_problems(candidates, model)
    failing = candidates.index.isin(broken["row"])
    quarantine = pd.concat([*(p.problems for p in prepared), _quarantine_rows(candidates[failing], broken)],
                           ignore_index=True).sort_values(["source_id", "file", "line"], ignore_index=True)  # fmt: skip
    # A number typed into the wrong column must not reach the quarantine in the clear either.
    for column in ("value", "reason"):
        quarantine[column] = mask_identity_numbers(quarantine[column])
    quarantine = Quarantine.validate(quarantine)
    accepted = candidates[~failing]
    accepted_of = dict(tuple(accepted.groupby("source_id", sort=False)))
    quarantine_of = dict(tuple(quarantine.groupby("source_id", sort=False)))
    results = {}
    for source in (p.source for p in prepared):
        own_accepted = accepted_of.get(source.id, accepted.iloc[:0]).reset_index(drop=True)
        own_quarantine = quarantine_of.get(source.id, quarantine.iloc[:0]).reset_index(drop=True)
        delivered = next(p.delivered for p in prepared if p.source.id == source.id)
        results[source.id] = IngestResult(own_accepted, own_quarantine,
                                          _file_counts(delivered, own_accepted, own_quarantine))  # fmt: skip
    return results


def ingest_source(
    source: Source,
    paths: Sequence[Path],
    catalogue: Catalogue,
    keys: PseudonymKeys,
    keyring: Keyring,
    as_of: dt.date,
) -> IngestResult:
    """One source's deliveries, from files to accepted rows, quarantine and counts.

    Raises a `DeliveryError` when the source cannot be used at all (`prepare_source`).
    """
    return validate_sources([prepare_source(source, paths, catalogue, keys, keyring, as_of)])[source.id]


def cast_to_model(frame: pd.DataFrame, model) -> pd.DataFrame:
    """The model's storage types: pandas strings, numpy bool/float/int, dates in seconds."""
    types = {}
    for name, column in model.to_schema().columns.items():
        dtype = str(column.dtype)
        types[name] = "datetime64[s]" if dtype.startswith("datetime64") else dtype
    return frame.astype(types)


def _quarantine_rows(places: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """One quarantine row per delivered row with problems: its problems' columns and reasons
    joined; `places` holds PLACE_COLUMNS of (at least) those rows."""
    if found.empty:
        return cast_to_model(pd.DataFrame(columns=list(Quarantine.to_schema().columns)), Quarantine)
    found = found.sort_values("row", kind="stable")
    grouped = found.groupby("row", sort=True).agg(
        column=("column", ", ".join), value=("value", "first"), reason=("reason", "; ".join)
    )
    rows = grouped.index.to_numpy()
    return pd.DataFrame({
        "source_id": places.loc[rows, "source_id"].to_numpy(),
        "file": places.loc[rows, "file"].to_numpy(),
        "line": places.loc[rows, "line"].to_numpy(dtype=np.int64),
        "column": grouped["column"].to_numpy(),
        "value": grouped["value"].astype("string").to_numpy(),
        "reason": grouped["reason"].to_numpy(),
    }).pipe(cast_to_model, Quarantine)  # fmt: skip


def _unparsed_lines(source: Source, reads: list[ReadResult]) -> pd.DataFrame:
    rows = [
        {"source_id": source.id, "file": read.path.name, "line": line, "column": "(row)", "value": None, "reason": reason}
        for read in reads
        for line, reason in read.bad_lines
    ]
    return cast_to_model(pd.DataFrame(rows, columns=list(Quarantine.to_schema().columns)), Quarantine)


def _file_counts(delivered: dict[str, int], accepted: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows read, accepted and quarantined per delivered file (`delivered`: name → rows read)."""
    names = list(delivered)
    return pd.DataFrame({
        "file": names,
        "rows": list(delivered.values()),
        "accepted": accepted["file"].value_counts().reindex(names, fill_value=0).to_numpy(),
        "quarantined": quarantine["file"].value_counts().reindex(names, fill_value=0).to_numpy(),
    })  # fmt: skip



# --- the partner's side: level-1 pseudonyms at source ------------------------------------


@dataclass(frozen=True)
class PseudonymizedExtract:
    """A partner's extract with its identity column replaced by the level-1 columns a
    source of pseudonyms delivers (`LEVEL1_IDENTITY`), and what could not be pseudonymized."""

    frame: pd.DataFrame
    delimiter: str
    key: Key
    invalid: pd.DataFrame  # line, reason: numbers left with an empty pseudonym

    @property
    def pseudonymized(self) -> int:
        return len(self.frame) - len(self.invalid)


_SHOWN_BAD_LINES = 20


def pseudonymize_column(path: Path, column: str, key: Key, reference_date: dt.date, *, encoding: str = "auto",
                        delimiter: str = "auto") -> PseudonymizedExtract:  # fmt: skip
    """Replace the personal numbers in `column` of a CSV extract by level-1 pseudonyms under
    the linkage `key`: the same normalization and HMAC the pipeline applies to plain numbers,
    so a source delivering the result links exactly as if it had delivered the numbers."""
    read = read_delimited(path, encoding=encoding, delimiter="\t" if delimiter == "tab" else delimiter)
    if read.bad_lines:
        raise delivery_error(path, "{count} line(s) cannot be parsed, the first at line {first}; nothing was written",
                             count=len(read.bad_lines), first=read.bad_lines[0][0])  # fmt: skip
    frame = read.frame
    if column not in frame.columns:
        raise delivery_error(path, "no column {name} (columns: {found})", line=1, name=Declared(column),
                             found=read.header)  # fmt: skip
    checked = normalize(frame[column], reference_date)
    valid = checked["canonical"].notna().to_numpy(dtype=bool)
    pseudonyms = pd.Series(pd.NA, index=frame.index, dtype="string")
    if valid.any():
        pseudonyms[valid] = level1_pseudonyms(checked["canonical"][valid], key.secret).to_numpy()
    pseudonym_column, key_id_column = LEVEL1_IDENTITY
    position = frame.columns.get_loc(column)
    result = frame.drop(columns=[LINE_COLUMN, column])
    result.insert(position - 1, pseudonym_column, pseudonyms)
    result.insert(position, key_id_column, pd.Series(key.id, index=frame.index).where(valid, pd.NA))
    invalid = pd.DataFrame({"line": frame.loc[~valid, LINE_COLUMN].to_numpy(),
                            "reason": checked.loc[~valid, "reason"].to_numpy()})  # fmt: skip
    return PseudonymizedExtract(result, read.delimiter, key, invalid)
