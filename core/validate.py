"""Validate: turn a source's text columns into typed values, and find the rows to quarantine.

Every function here is vectorized over the whole delivery and returns, next to its
result, a `Problems` frame (row index, column, value, reason) for the rows it cannot
use. A row is never dropped silently: either it is accepted, or it is in quarantine with
the first problem found in each column and a reason a person understands.

Validation runs after pseudonymization, and the cells of every kept column that look like
a personal identity number were refused before it (`identity_problems`). Still, every
reason is made in one place, `problems`, from a fixed template: a delivered value goes
into it only as `schemas.errors.shown_values` shows it (a code as it is, an
identity-shaped value as its shape, free text as `<free text, N characters>`), so no
delivered personal number or free text can reach a quarantine table.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from schemas.datasets import REASONS
from schemas.errors import Declared, code_shaped, quoted, shown_values
from schemas.sources import code_key

PROBLEM_COLUMNS = ["row", "column", "value", "reason"]
_STRFTIME_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%y": "YY", "%b": "Mon", "%B": "Month"}


def problems(rows, column: str, values, reason: str, **facts) -> pd.DataFrame:
    """A Problems frame: the one place a quarantine reason is made.

    `reason` is a fixed template (a literal, or one of `schemas.datasets.REASONS`). Its
    `{value}` field is the delivered value as `shown_values` shows it, which is also what the
    frame's `value` column holds; `{value!r}` puts it in quotes. Other fields come from
    `facts`, each a scalar or aligned with `rows`: whole numbers (line numbers), `Declared`
    text (our own words), or text the pipeline rendered itself from typed values (dates,
    numbers), which is shown through `shown_values` too. A plain delivered `str` is refused.
    """
    rows = np.asarray(rows, dtype=np.int64)
    count = len(rows)
    if count == 0:  # the common case, many times per source: no rows, no text to build
        for name, fact in facts.items():
            if isinstance(fact, str) and not isinstance(fact, Declared):
                raise TypeError(f"problems: fact {name!r} is a plain str; wrap our own words in Declared")
        missing = _fields(reason) - {"value", *facts}
        if missing:  # the same mistake the template would raise with rows
            raise KeyError(sorted(missing)[0])
        return _NO_PROBLEMS.copy()
    shown = shown_values(_aligned(values, count))
    fields = {"value": shown}
    for name, fact in facts.items():
        fields[name] = _fact_text(name, fact, count)
    text = pd.Series([""] * count, dtype="string")
    for literal, name, _, conversion in string.Formatter().parse(reason):
        text = text + literal
        if name is not None:
            piece = fields[name].reset_index(drop=True)
            text = text + (quoted(piece) if conversion == "r" else piece.fillna(""))
    return pd.DataFrame(
        {"row": rows, "column": [column] * count, "value": shown.to_numpy(), "reason": text.to_numpy()},
        columns=PROBLEM_COLUMNS,
    ).astype({"value": "string", "reason": "string"})


_NO_PROBLEMS = pd.DataFrame({"row": np.array([], dtype=np.int64), "column": [],
                             "value": pd.Series([], dtype="string"), "reason": pd.Series([], dtype="string")},
                            columns=PROBLEM_COLUMNS)  # fmt: skip


@functools.lru_cache(maxsize=512)
def _fields(reason: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(reason) if name is not None)


def _aligned(values, count: int) -> pd.Series:
    if isinstance(values, (pd.Series, list, np.ndarray, pd.api.extensions.ExtensionArray)):
        return pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), dtype="object")
    return pd.Series([values] * count, dtype="object")


def _fact_text(name: str, fact, count: int) -> pd.Series:
    """A fact of a reason as text, aligned with the rows."""
    if isinstance(fact, (Declared, int, np.integer)) and not isinstance(fact, bool):
        return pd.Series([str(fact)] * count, dtype="string")
    if isinstance(fact, str):
        raise TypeError(f"problems: fact {name!r} is a plain str; wrap our own words in Declared")
    series = pd.Series(fact.to_numpy() if isinstance(fact, pd.Series) else list(fact))
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype("string")
    return shown_values(series.astype("object")).reset_index(drop=True)


def no_problems() -> pd.DataFrame:
    return problems(np.array([], dtype=np.int64), "", [], "")


def describe_date_format(fmt: str) -> str:
    """'%Y-%m-%d' -> 'YYYY-MM-DD', for reasons a person reads."""
    return re.sub(r"%[YmdybB]", lambda m: _STRFTIME_WORDS[m.group(0)], fmt)


def on_distinct(
    text: pd.Series, parse: Callable[[pd.Series], tuple[pd.Series, pd.DataFrame]]
) -> tuple[pd.Series, pd.DataFrame]:
    """Apply `parse` once per distinct value and spread values and problems to the rows.

    A delivered column repeats few values (dates, codes, extents): parsing a million rows
    is parsing a few hundred values. `parse` gives at most one problem per value.
    """
    codes, distinct = pd.factorize(text.astype("string").str.strip(), use_na_sentinel=False)
    values, found = parse(pd.Series(distinct, dtype="string"))
    spread = values.take(codes)
    spread.index = text.index
    if found.empty:
        return spread, found
    problem_of = found.set_index("row")
    rows = np.flatnonzero(np.isin(codes, found["row"].to_numpy()))
    per_row = problem_of.loc[codes[rows]].reset_index(drop=True)
    per_row.insert(0, "row", text.index[rows])
    return spread, per_row[PROBLEM_COLUMNS]


def parse_dates(text: pd.Series, formats: list[str], column: str, required: bool) -> tuple[pd.Series, pd.DataFrame]:
    """Parse with each declared format in turn; unparseable non-empty text is a problem."""
    return on_distinct(text, lambda distinct: _parse_dates(distinct, formats, column, required))


def _parse_dates(text: pd.Series, formats: list[str], column: str, required: bool) -> tuple[pd.Series, pd.DataFrame]:
    blank = text.isna() | (text == "")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna() & ~blank
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce").astype("datetime64[s]")
    label = Declared(column.replace("_", " "))
    unparseable = parsed.isna() & ~blank
    expected = Declared(" or ".join(describe_date_format(f) for f in formats))
    found = [problems(text.index[unparseable], column, text[unparseable],
                      "{label} {value!r} is not a date in the form {expected}",
                      label=label, expected=expected)]  # fmt: skip
    if required:
        found.append(problems(text.index[blank], column, pd.NA, "{label} is missing", label=label))
    return parsed, pd.concat(found, ignore_index=True)


def parse_numbers(text: pd.Series, decimal: str, column: str) -> tuple[pd.Series, pd.DataFrame]:
    """Numbers with the source's decimal mark; a blank is a problem (the extent is required)."""
    return on_distinct(text, lambda distinct: _parse_numbers(distinct, decimal, column))


def _parse_numbers(text: pd.Series, decimal: str, column: str) -> tuple[pd.Series, pd.DataFrame]:
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    text = text.str.removesuffix("%").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    blank = text.isna() | (text == "")
    bad = numbers.isna() & ~blank
    label = Declared(column.replace("_", " "))
    found = pd.concat(
        [
            problems(text.index[bad], column, text[bad], "{label} {value!r} is not a number", label=label),
            problems(text.index[blank], column, pd.NA, "{label} is missing", label=label),
        ],
        ignore_index=True,
    )
    return numbers, found


def map_codes(
    text: pd.Series, mapping: dict, allowed: set, column: str, what: str, blank_means=None
) -> tuple[pd.Series, pd.DataFrame]:
    """Map the source's local values to ours; values already ours pass unchanged.

    Matching ignores case and spacing: `at`, `AT` and ` At ` are one code, and so are
    `Studie- och  yrkesvägledning` and `studie- och yrkesvägledning` (the sources file
    may not map two such spellings to different values; `schemas.sources` refuses it).
    `blank_means` is the value of a blank cell (e.g. consent: not recorded means no), or
    None when a blank is a problem.
    """
    return on_distinct(text, lambda distinct: _map_codes(distinct, mapping, allowed, column, what, blank_means))


def _map_codes(
    text: pd.Series, mapping: dict, allowed: set, column: str, what: str, blank_means
) -> tuple[pd.Series, pd.DataFrame]:
    blank = text.isna() | (text == "")
    table = {code_key(their): ours for their, ours in {**{value: value for value in allowed}, **mapping}.items()
             if isinstance(their, str)}  # fmt: skip
    # `text` holds distinct values (`on_distinct`): a few hundred keys, whatever the rows.
    mapped = text.map(code_key, na_action="ignore").map(table)
    if mapped.isna().all():  # nothing mapped: an all-null (Arrow) column takes no fill value
        mapped = mapped.astype(object)
    unknown = mapped.isna() & ~blank
    found = [problems(text.index[unknown], column, text[unknown],
                      "unknown {what} {value!r}: not mapped in the sources file", what=Declared(what))]  # fmt: skip
    if blank_means is None:
        found.append(problems(text.index[blank], column, pd.NA, "{what} is missing", what=Declared(what)))
    else:
        mapped = mapped.where(~blank, blank_means)
    return mapped, pd.concat(found, ignore_index=True)


def required_text(text: pd.Series, column: str, max_characters: int = 40, max_words: int = 4
                  ) -> tuple[pd.Series, pd.DataFrame]:  # fmt: skip
    """An id or a name that must be there, and must be one: not free text, not a formula.

    A value that is not code-shaped (`schemas.errors.code_shaped`, within `max_characters`
    and `max_words`) is free text and is refused, so that a comment typed into the id
    column is never stored nor published; so is a value starting with `=`, `+`, `-` or `@`,
    which a spreadsheet opening a recipient's export would run as a formula.
    """
    text = text.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    formula = text.str.match(r"[=+@-]").fillna(False).to_numpy(dtype=bool) & ~blank
    free = ~code_shaped(text, max_characters, max_words) & ~blank & ~formula
    label = Declared(column.replace("_", " "))
    found = pd.concat([
        problems(text.index[blank], column, pd.NA, "{label} is missing", label=label),
        problems(text.index[formula], column, text[formula],
                 "{label} starts like a spreadsheet formula (=, +, - or @): never stored", label=label),
        problems(text.index[free], column, text[free], "{label} is free text, not an id or a name: never stored",
                 label=label),
    ], ignore_index=True)  # fmt: skip
    return text, found



def duplicates(frame: pd.DataFrame, key: str, lines: pd.Series) -> pd.DataFrame:
    """Repeated records: an exact copy is reported once and kept once (the first).

    A repeated key with different content is a conflict: the later rows are quarantined
    and the first is kept, with the reason naming the line of the first.
    """
    # Comparing whole rows is costly; only rows whose key repeats can be copies.
    repeats = frame[frame[key].duplicated(keep=False).to_numpy(dtype=bool)]
    if repeats.empty:
        return no_problems()
    first_line = lines[repeats.index].groupby(repeats[key].to_numpy()).transform("first")
    exact = repeats.duplicated(keep="first")
    conflict = repeats[key].duplicated(keep="first") & ~exact
    label = Declared(key.replace("_", " "))
    return pd.concat(
        [
            problems(repeats.index[exact], key, repeats.loc[exact, key], "duplicate of line {line}",
                     line=first_line[exact].astype(np.int64)),
            problems(repeats.index[conflict], key, repeats.loc[conflict, key],
                     "{label} {value!r} already at line {line} with different content",
                     label=label, line=first_line[conflict].astype(np.int64)),
        ],
        ignore_index=True,
    )  # fmt: skip


def model_problems(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """Rows breaking the Pandera model's checks, with the model's plain-words reasons.

    Pandera's failure cases hold raw values: they are turned into reasons here and go no
    further (never into a log, an error message or metadata).
    """
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return no_problems()
    if cases["index"].isna().any():
        # A wrong type or a missing column is our bug, not a bad row: say which, no values.
        schema_level = cases.loc[cases["index"].isna(), ["column", "check"]].astype(str).drop_duplicates()
        raise RuntimeError(f"{model.__name__}: typed data breaks the schema: {schema_level.to_dict('records')}")
    cases = cases.copy()
    cases["check"] = cases["check"].astype(str).str.split("(").str[0]  # 'in_range(0, 100)' -> 'in_range' 
    # A dataframe-level check is reported once per column of each failing row.
    whole_frame = cases["schema_context"] == "DataFrameSchema"
    cases.loc[whole_frame, "column"] = cases.loc[whole_frame, "check"].map(_column_of)
    found = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        template = REASONS.get((column, str(check)))
        if template is None:
            raise RuntimeError(f"no plain-words reason for the check {check!r} on column {column!r}")
        rows = pd.Index(group["index"].astype(np.int64).unique())
        failing = _as_text(frame.loc[rows])
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        found.append(problems(rows, column, failing[column], template,
                              **{name: failing[name] for name in fields}))  # fmt: skip
    return pd.concat(found, ignore_index=True) if found else no_problems()


def schema_failures(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> dict[str, int]:
    """Failure counts per check of `model` on `frame`: counts only, for check metadata."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _failure_counts(errors)
    return {}


def validated(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """`frame` validated against `model`. A failure is our bug, not the data's: its message
    names the failed checks with counts, never the failing values (pandera's would)."""
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        counts = "; ".join(f"{label} ({count})" for label, count in _failure_counts(errors).items())
        raise RuntimeError(f"{len(frame)} rows do not match {model.__name__}: {counts}") from None


def _failure_counts(errors: pa.errors.SchemaErrors) -> dict[str, int]:
    cases = errors.failure_cases
    labels = cases["column"].fillna("(table)").astype(str) + ": " + cases["check"].astype(str)
    return {str(label): int(count) for label, count in labels.value_counts().items()}


def _column_of(check: str) -> str:
    """The column a dataframe-level check is reported on."""
    for column, name in REASONS:
        if name == check:
            return column
    raise RuntimeError(f"no plain-words reason for the dataframe check {check!r}")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as text for a reason: dates as YYYY-MM-DD, numbers without trailing zeros."""
    text = {}
    for name, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            text[name] = column.dt.strftime("%Y-%m-%d").fillna("")
        elif pd.api.types.is_float_dtype(column):
            text[name] = _number_text(column)
        else:
            text[name] = column.astype("string").fillna("")
    return pd.DataFrame(text, index=frame.index)


def _number_text(column: pd.Series) -> pd.Series:
    """Numbers as a person writes them: never in scientific notation (`1003110000`, not
    `1.00311e+09`), no trailing zeros (`62.5`, `100`). Formatted once per distinct value."""
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    words = np.array([np.format_float_positional(value, trim="-") for value in distinct] + [""], dtype=object)
    return pd.Series(words[codes], index=column.index, dtype="string")
