"""A source's rows as its system writes them: personnummer in its style, dates in its format,
extents with its decimal mark, our codes in its words, and the columns we do not map."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.synthetic.systems import DATE_FIELDS, EXTRA_FIELDS, Export

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

# Every date format a source may declare, written the way the exporting systems do:
# day and month without zero padding in the day/month/year form (e.g. 29/9/2021).
_DATE_WRITERS = {
    "%Y-%m-%d": lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    "%Y%m%d": lambda y, m, d: f"{y:04d}{m:02d}{d:02d}",
    "%d/%m/%Y": lambda y, m, d: f"{d}/{m}/{y:04d}",
}


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


def scope_text(scopes: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Consent scopes ('samplanering,uppfoljning', one of them, or '') in the source's words,
    several separated by '|'; a source without a mapping writes ours."""
    words = {ours: theirs for theirs, ours in reversed(list(mapping.items()))}
    texts = {value: "|".join(words.get(part, part) for part in value.split(",")) if value else ""
             for value in scopes.unique()}  # fmt: skip
    return scopes.map(texts).astype(str)


def render(rows: pd.DataFrame, export: Export, rng) -> pd.DataFrame:
    """Text of every column, keyed by our field names, one row per canonical row."""
    text = {}
    for _, field in export.columns:
        if field == "consent_scope":
            text[field] = scope_text(rows[field], export.codes.get(field, {}))
        elif field in export.codes:
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
