"""Pandera models of the internal datasets: the single definition of their columns and rules.

- `MunicipalInterventions`: one row per accepted municipal intervention (insats), the
  person as a level-2 pseudonym with its key id; no birth date, no sex, only an age band.
- `AfAssignments`: one row per accepted AF programme assignment (anvisning).
- `AfRegistrations`: one row per accepted AF registration spell (inskrivning).
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

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.municipalities import KOMMUNKOD_PATTERN
from schemas.sources import AF_STATUSES, CONSENT_SCOPES, DEREGISTRATION_REASONS

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


# A consent scope as stored: the scopes it covers, in CONSENT_SCOPES' order, joined by ','.
ALL_SCOPES = ",".join(CONSENT_SCOPES)


class _ConsentRecord(pa.DataFrameModel):
    """The consent as a record and the protected identity flag (optional in a delivery:
    without them, no period, every scope, nobody protected). Whether the consent is valid
    on a day is `core.gates.consent_valid_on`."""

    consent_valid_from: Series[pa.DateTime] = pa.Field(nullable=True, description="Consent valid from (inclusive); empty: no start")
    consent_valid_to: Series[pa.DateTime] = pa.Field(nullable=True, description="Consent valid to (inclusive); empty: no end")
    consent_withdrawn_on: Series[pa.DateTime] = pa.Field(nullable=True, description="Consent withdrawn on this day; empty: not withdrawn")
    consent_scope: Series[str] = pa.Field(str_matches=r"^(samplanering|uppfoljning|samplanering,uppfoljning)$",
                                          description="Purposes the consent covers, joined by ','")
    protected_identity: Series[bool] = pa.Field(description="The person has a protected identity (skyddad identitet)")

    @pa.dataframe_check(name="consent_period_in_order")
    @classmethod
    def consent_period_in_order(cls, frame: pd.DataFrame) -> pd.Series:
        return (frame["consent_valid_from"].isna() | frame["consent_valid_to"].isna()
                | (frame["consent_valid_from"] <= frame["consent_valid_to"]))  # fmt: skip


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


class MunicipalInterventions(_ConsentRecord, _Period, _Person, _Lineage):
    """Accepted municipal interventions (insatser), one row per intervention."""

    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="SCB municipality code")
    # Optional: data stored before the column existed has none (read as the providing kommun).
    home_kommunkod: Optional[Series[str]] = pa.Field(str_matches=KOMMUNKOD_PATTERN, nullable=True,
                                                     description="The person's home municipality (folkbokföringskommun); "
                                                     "the providing kommun unless the delivery says otherwise")
    record_id: Series[str] = pa.Field(str_length={"min_value": 1}, description="The municipality's own record id")
    insats_code: Series[str] = pa.Field(description="Catalogue intervention code")
    category: Series[str] = pa.Field(description="Catalogue category of the intervention")

    class Config:
        strict = True
        unique = ["source_id", "record_id"]


class AfAssignments(_ConsentRecord, _Period, _Person, _Lineage):
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


class AfRegistrations(_ConsentRecord, _Lineage):
    """Accepted AF registrations (inskrivningar), one row per registration spell.

    Periods are whole days: the person is registered from `registration_date` up to and
    including `deregistration_date` (empty: still registered). The age band is the age on
    the registration date (not on the as-of date, as for the other datasets): the youth
    monitor counts 16–24 on that day. `turns_20_on` is kept only for people under 20 on the
    registration date (the hand-over list for KAA needs it), and only when the number
    says (a plain personnummer; a level-1 pseudonym or a samordningsnummer without a real
    birth date leaves it and the age band unknown).
    """

    pseudonym: Series[str] = pa.Field(
        str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym (base32): never the personnummer"
    )
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="<linkage key id>+<pipeline key id>")
    age_band: Series[str] = pa.Field(isin=AGE_BANDS, description="Age on the registration date, banded")
    consent: Series[bool] = pa.Field(description="AF recorded the person's consent to share with the municipality")
    registration_id: Series[str] = pa.Field(str_length={"min_value": 1}, description="AF's own registration id")
    registration_date: Series[pa.DateTime] = pa.Field(description="First day registered (inclusive)")
    deregistration_date: Series[pa.DateTime] = pa.Field(
        nullable=True, description="Last day registered (inclusive); empty: still registered"
    )
    deregistration_reason: Series[str] = pa.Field(
        nullable=True, isin=DEREGISTRATION_REASONS,
        description="work, studies, other or unknown (AF's codes mapped in the sources file); empty while registered",
    )
    jobseeker_category: Series[str] = pa.Field(str_length={"min_value": 1}, description="AF's jobseeker category")
    af_office: Series[str] = pa.Field(str_length={"min_value": 1}, description="AF office responsible")
    turns_20_on: Series[pa.DateTime] = pa.Field(
        nullable=True, description="The person's 20th birthday, only for those under 20 on the registration date"
    )

    @pa.dataframe_check(name="deregistration_not_before_registration")
    @classmethod
    def deregistration_not_before_registration(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["deregistration_date"].isna() | (frame["deregistration_date"] >= frame["registration_date"])

    @pa.dataframe_check(name="reason_only_when_deregistered")
    @classmethod
    def reason_only_when_deregistered(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["deregistration_date"].notna() | frame["deregistration_reason"].isna()

    class Config:
        strict = True
        unique = ["source_id", "registration_id"]


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
    ("deregistration_date", "deregistration_not_before_registration"):
        "de-registration date {deregistration_date} before registration date {registration_date}",
    ("deregistration_reason", "reason_only_when_deregistered"):
        "a de-registration reason ({deregistration_reason}) without a de-registration date",
    ("consent_valid_to", "consent_period_in_order"): "the consent's valid-to date is before its valid-from date",
}
