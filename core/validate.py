"""Validate: turn a source's text columns into typed values, and find the rows to quarantine.

Every function here is vectorized over the whole delivery and returns, next to its
result, a `Problems` frame (row index, column, value, reason) for the rows it cannot
use. A row is never dropped silently: either it is accepted, or it is in quarantine with
the first problem found in each column and a reason a person understands.

Validation runs after pseudonymization, so no value seen here is a personal number.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from schemas.datasets import REASONS

PROBLEM_COLUMNS = ["row", "column", "value", "reason"]
_STRFTIME_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%y": "YY", "%b": "Mon", "%B": "Month"}


def problems(rows, column: str, values, reasons) -> pd.DataFrame:
    """A Problems frame; `values` and `reasons` are scalars or aligned with `rows`."""
    rows = np.asarray(rows, dtype=np.int64)
    count = len(rows)
    values = list(values) if isinstance(values, (pd.Series, list, np.ndarray)) else [values] * count
    reasons = [reasons] * count if isinstance(reasons, str) else list(reasons)
    return pd.DataFrame(
        {"row": rows, "column": [column] * count, "value": pd.array(values, dtype="string"), "reason": reasons},
        columns=PROBLEM_COLUMNS,
    )


def no_problems() -> pd.DataFrame:
    return problems(np.array([], dtype=np.int64), "", [], [])


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
    label = column.replace("_", " ")
    unparseable = parsed.isna() & ~blank
    expected = " or ".join(describe_date_format(f) for f in formats)
    found = [
        problems(text.index[unparseable], column, text[unparseable],
                 [f"{label} {value!r} is not a date in the form {expected}" for value in text[unparseable]]),
    ]  # fmt: skip
    if required:
        found.append(problems(text.index[blank], column, pd.NA, f"{label} is missing"))
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
    label = column.replace("_", " ")
    found = pd.concat(
        [
            problems(text.index[bad], column, text[bad], [f"{label} {v!r} is not a number" for v in text[bad]]),
            problems(text.index[blank], column, pd.NA, f"{label} is missing"),
        ],
        ignore_index=True,
    )
    return numbers, found


def map_codes(
    text: pd.Series, mapping: dict, allowed: set, column: str, what: str, blank_means=None
) -> tuple[pd.Series, pd.DataFrame]:
    """Map the source's local values to ours; values already ours pass unchanged.

    `blank_means` is the value of a blank cell (e.g. consent: not recorded means no), or
    None when a blank is a problem.
    """
    return on_distinct(text, lambda distinct: _map_codes(distinct, mapping, allowed, column, what, blank_means))


def _map_codes(
    text: pd.Series, mapping: dict, allowed: set, column: str, what: str, blank_means
) -> tuple[pd.Series, pd.DataFrame]:
    blank = text.isna() | (text == "")
    table = {**{value: value for value in allowed}, **mapping}
    mapped = text.map(table)
    unknown = mapped.isna() & ~blank
    found = [problems(text.index[unknown], column, text[unknown],
                      [f"unknown {what} {v!r}: not mapped in the sources file" for v in text[unknown]])]  # fmt: skip
    if blank_means is None:
        found.append(problems(text.index[blank], column, pd.NA, f"{what} is missing"))
    else:
        mapped = mapped.where(~blank, blank_means)
    return mapped, pd.concat(found, ignore_index=True)


def required_text(text: pd.Series, column: str) -> tuple[pd.Series, pd.DataFrame]:
    text = text.astype("string").str.strip()
    blank = text.isna() | (text == "")
    return text, problems(text.index[blank], column, pd.NA, f"{column.replace('_', ' ')} is missing")


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
    label = key.replace("_", " ")
    return pd.concat(
        [
            problems(repeats.index[exact], key, repeats.loc[exact, key],
                     [f"duplicate of line {line}" for line in first_line[exact]]),
            problems(repeats.index[conflict], key, repeats.loc[conflict, key],
                     [f"{label} {value!r} already at line {line} with different content"
                      for value, line in zip(repeats.loc[conflict, key], first_line[conflict])]),
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
        found.append(problems(rows, column, failing[column],
                              [template.format(**values) for values in failing.to_dict("records")]))  # fmt: skip
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
            text[name] = column.map(lambda value: f"{value:g}")
        else:
            text[name] = column.astype("string").fillna("")
    return pd.DataFrame(text, index=frame.index)
