"""Pandera models of the internal datasets: the single definition of their columns and rules.

- `MunicipalInterventions`: one row per accepted municipal intervention (insats), the
  person as a level-2 pseudonym with its key id; no birth date, no sex, only an age band.
- `AfAssignments`: one row per accepted AF programme assignment (anvisning).
- `Quarantine`: one row per delivered row that could not be used, with where it was
  (source, file, line, column), the value as `schemas.errors.shown_values` shows it (a
  personal number as its shape, free text as its length) and a reason.

The shared parts are mixins listed in reverse (Pandera puts the last base's columns first).
A rule that rejects rows carries its reason in plain words in `REASONS`, keyed by column
and check name; `{column}` placeholders are filled in from the row through
`core.validate.problems` (so as `shown_values` shows them, numbers never in scientific
notation), never from the personnummer (which is gone before validation starts). A
reason keeps its fixed limits visible ("outside the range above 0 up to 100 %").
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.municipalities import KOMMUNKOD_PATTERN
from schemas.sources import AF_STATUSES

PSEUDONYM_PATTERN = r"^[A-Z2-7]{52}$"
KEY_ID_PATTERN = r"^[A-Za-z0-9_.-]+\+[A-Za-z0-9_.-]+$"

# Age at the reference date, in the bands DUA and the statistics follow (16–24 is youth).
AGE_BANDS = ("under 16", "16-19", "20-24", "25-29", "30-49", "50-64", "65+", "unknown")
AGE_BAND_EDGES = (16, 20, 25, 30, 50, 65)


class _Lineage(pa.DataFrameModel):
    """Where each row came from, so the steward can trace it back to the delivery."""

    source_id: Series[str]
    file: Series[str] = pa.Field(description="Delivered file name")
    line: Series[int] = pa.Field(ge=1, description="Line (CSV) or sheet row (xlsx) in the delivered file")


class _Person(pa.DataFrameModel):
    pseudonym: Series[str] = pa.Field(
        str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym (base32): never the personnummer"
    )
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="<linkage key id>+<pipeline key id>")
    age_band: Series[str] = pa.Field(isin=AGE_BANDS, description="Age at the reference date, banded")
    consent: Series[bool] = pa.Field(description="Consent to information exchange between the parties is recorded")


class _Period(pa.DataFrameModel):
    start_date: Series[pa.DateTime] = pa.Field(description="First day (inclusive)")
    end_date: Series[pa.DateTime] = pa.Field(nullable=True, description="Last day (inclusive); empty: ongoing")
    extent_pct: Series[float] = pa.Field(
        in_range={"min_value": 0, "max_value": 100, "include_min": False},
        description="Extent in percent of full time",
    )

    @pa.dataframe_check(name="end_not_before_start")
    @classmethod
    def end_not_before_start(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["end_date"].isna() | (frame["end_date"] >= frame["start_date"])


class MunicipalInterventions(_Period, _Person, _Lineage):
    """Accepted municipal interventions (insatser), one row per intervention."""

    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="SCB municipality code")
    record_id: Series[str] = pa.Field(str_length={"min_value": 1}, description="The municipality's own record id")
    insats_code: Series[str] = pa.Field(description="Catalogue intervention code")
    category: Series[str] = pa.Field(description="Catalogue category of the intervention")

    class Config:
        strict = True
        unique = ["source_id", "record_id"]


class AfAssignments(_Period, _Person, _Lineage):
    """Accepted AF programme assignments (anvisningar), one row per assignment."""

    assignment_id: Series[str] = pa.Field(str_length={"min_value": 1}, description="AF's own assignment id")
    programme_code: Series[str] = pa.Field(description="Catalogue programme code")
    category: Series[str] = pa.Field(description="Catalogue category of the programme")
    decision_date: Series[pa.DateTime] = pa.Field(nullable=True, description="Day AF decided the assignment")
    af_office: Series[str] = pa.Field(str_length={"min_value": 1}, description="AF office responsible")
    status: Series[str] = pa.Field(isin=AF_STATUSES, description="planned, ongoing, ended or cancelled")

    class Config:
        strict = True
        unique = ["source_id", "assignment_id"]


class Quarantine(_Lineage):
    """Delivered rows that could not be used, with a reason a person understands."""

    column: Series[str] = pa.Field(description="Our column name(s) the problem concerns")
    value: Series[str] = pa.Field(
        nullable=True,
        description="The value as it may be shown: a code as delivered, anything shaped like a personnummer "
        "as its shape (NNNNNN-NNNN), free text as its length only",
    )
    reason: Series[str] = pa.Field(description="Why the row was not used, in plain words")

    class Config:
        strict = True


# Plain-words reasons for the checks above, filled in from the row (dates as YYYY-MM-DD).
REASONS: dict[tuple[str, str], str] = {
    ("extent_pct", "in_range"): "extent {extent_pct} % is outside the range above 0 up to 100 %",
    ("end_date", "end_not_before_start"): "end date {end_date} before start {start_date}",
    ("status", "isin"): "AF status {status!r} is not one of planned, ongoing, ended, cancelled",
}
