"""Pandera models of the reconciliation's datasets (see assets/reconcile.py).

- `Overlaps`: one row per municipal intervention × AF assignment of the same person
  (pseudonym and key id) that share at least one day, with its class, the rule that
  decided it, its flags and whether it touches the reporting window. Internal,
  steward-only: it holds the pseudonym and both sides' ids.
- `MunicipalOverlaps`: the same person in interventions of two different municipalities
  at once, each pair once (the lower kommunkod first).
- `TransitionList`: for AF, the ongoing municipal interventions of people in AF's data,
  keyed by AF's assignment id only: no pseudonym, no municipal record id.

Periods are whole days, both ends inclusive; an empty end means ongoing. Models are
strict: a column outside the model cannot leave the reconciliation. Shared parts are
mixins listed in reverse (Pandera puts the last base's columns first).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.datasets import AGE_BANDS, KEY_ID_PATTERN, PSEUDONYM_PATTERN
from schemas.followup import KEYED_BY
from schemas.municipalities import KOMMUNKOD_PATTERN
from schemas.rules import CLASSES

_EXTENT = {"min_value": 0, "max_value": 100, "include_min": False}


class _Person(pa.DataFrameModel):
    pseudonym: Series[str] = pa.Field(
        str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym (base32): never the personnummer"
    )
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="<linkage key id>+<pipeline key id>")
    age_band: Series[str] = pa.Field(
        isin=AGE_BANDS, description="Age band at the reference date (the municipal side's unless unknown there)"
    )


class _Municipal(pa.DataFrameModel):
    municipal_source_id: Series[str] = pa.Field(description="Source of the municipal intervention")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="SCB code of the municipality")
    record_id: Series[str] = pa.Field(description="The municipality's own record id")
    insats_code: Series[str] = pa.Field(description="Catalogue intervention code")
    municipal_category: Series[str] = pa.Field(description="Catalogue category of the intervention")
    municipal_extent_pct: Series[float] = pa.Field(in_range=_EXTENT, description="Intervention extent, % of full time")
    municipal_consent: Series[bool] = pa.Field(description="Consent recorded by the municipality")
    municipal_consent_for: Series[str] = pa.Field(
        description="Scopes the municipality's consent covers on the as-of date (',' between); empty: not valid then")


class _Af(pa.DataFrameModel):
    af_source_id: Series[str] = pa.Field(description="Source of the AF assignment")
    assignment_id: Series[str] = pa.Field(description="AF's own assignment id")
    programme_code: Series[str] = pa.Field(description="Catalogue programme code")
    af_category: Series[str] = pa.Field(description="Catalogue category of the programme")
    af_office: Series[str] = pa.Field(description="AF office responsible for the assignment")
    af_extent_pct: Series[float] = pa.Field(in_range=_EXTENT, description="Assignment extent, % of full time")
    af_consent: Series[bool] = pa.Field(description="Consent recorded by AF")
    af_consent_for: Series[str] = pa.Field(
        description="Scopes AF's consent covers on the as-of date (',' between); empty: not valid then")


class _Overlap(pa.DataFrameModel):
    overlap_start: Series[pa.DateTime] = pa.Field(description="First shared day")
    overlap_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Last shared day; empty: both ongoing")
    overlap_days: Series[int] = pa.Field(ge=0, description="Shared days on or before the as-of date")
    combined_extent_pct: Series[float] = pa.Field(
        in_range={"min_value": 0, "max_value": 200, "include_min": False},
        description="Sum of both extents, % of full time",
    )

    @pa.dataframe_check(name="overlap_end_not_before_start")
    @classmethod
    def overlap_end_not_before_start(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["overlap_end"].isna() | (frame["overlap_end"] >= frame["overlap_start"])


class Overlaps(_Overlap, _Af, _Municipal, _Person):
    """Municipal intervention × AF assignment of one person sharing at least one day."""

    interruption_risk: Series[bool] = pa.Field(
        description="The AF assignment starts after the intervention started, while it is still going on"
    )
    upcoming: Series[bool] = pa.Field(
        description="The AF assignment is decided on or before the as-of date but starts after it"
    )
    classification: Series[str] = pa.Field(isin=CLASSES, description="conflict, parallel or complementary")
    rule_id: Series[str] = pa.Field(description="Id of the rule (rule table or extent rule) that decided the class")
    in_window: Series[bool] = pa.Field(description="The overlap touches the look-back/look-ahead window")
    protected_identity: Series[bool] = pa.Field(
        description="The person has a protected identity in some source: never in a row-level dataset")

    class Config:
        strict = True
        unique = ["municipal_source_id", "record_id", "af_source_id", "assignment_id"]


class _First(pa.DataFrameModel):
    source_id: Series[str] = pa.Field(description="Source of the first intervention")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The lower of the two kommunkoder")
    record_id: Series[str] = pa.Field(description="The first municipality's record id")
    insats_code: Series[str] = pa.Field(description="Catalogue intervention code")
    category: Series[str] = pa.Field(description="Catalogue category")
    extent_pct: Series[float] = pa.Field(in_range=_EXTENT, description="Extent, % of full time")
    consent: Series[bool] = pa.Field(description="Consent recorded by the first municipality")
    consent_for: Series[str] = pa.Field(
        description="Scopes the first municipality's consent covers on the as-of date (',' between); empty: not valid then")


class _Other(pa.DataFrameModel):
    other_source_id: Series[str] = pa.Field(description="Source of the other intervention")
    other_kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The higher of the two kommunkoder")
    other_record_id: Series[str] = pa.Field(description="The other municipality's record id")
    other_insats_code: Series[str] = pa.Field(description="Catalogue intervention code")
    other_category: Series[str] = pa.Field(description="Catalogue category")
    other_extent_pct: Series[float] = pa.Field(in_range=_EXTENT, description="Extent, % of full time")
    other_consent: Series[bool] = pa.Field(description="Consent recorded by the other municipality")
    other_consent_for: Series[str] = pa.Field(
        description="Scopes the other municipality's consent covers on the as-of date (',' between); empty: not valid then")


class MunicipalOverlaps(_Overlap, _Other, _First, _Person):
    """One person in interventions of two different municipalities sharing at least one day."""

    in_window: Series[bool] = pa.Field(description="The overlap touches the look-back/look-ahead window")
    protected_identity: Series[bool] = pa.Field(
        description="The person has a protected identity in some source: never in a row-level dataset")

    @pa.dataframe_check(name="two_municipalities_in_order")
    @classmethod
    def two_municipalities_in_order(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["kommunkod"] < frame["other_kommunkod"]

    class Config:
        strict = True
        unique = ["source_id", "record_id", "other_source_id", "other_record_id"]


class TransitionList(pa.DataFrameModel):
    """For AF: ongoing municipal interventions planned past the cut-off, by AF's own ids: the
    person's assignment, or (people registered at AF without one) the registration."""

    assignment_id: Series[str] = pa.Field(
        nullable=True, description="The person's most relevant AF assignment (see reconcile); empty: keyed by registration"
    )
    registration_id: Series[str] = pa.Field(
        nullable=True, description="AF's registration covering the as-of date, for people without an assignment"
    )
    keyed_by: Series[str] = pa.Field(isin=KEYED_BY, description="Which AF id the row is keyed by")
    af_office: Series[str] = pa.Field(description="AF office responsible for that assignment or registration")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="Municipality of the intervention")
    intervention_category: Series[str] = pa.Field(description="Catalogue category of the intervention")
    planned_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Planned last day; empty: open-ended")
    municipal_consent: Series[bool] = pa.Field(description="Consent recorded by the municipality")
    af_consent: Series[bool] = pa.Field(description="Consent recorded by AF on that assignment")
    municipal_consent_for: Series[str] = pa.Field(
        description="Scopes the municipality's consent covers on the as-of date (',' between); empty: not valid then")
    af_consent_for: Series[str] = pa.Field(
        description="Scopes AF's consent covers on the as-of date (',' between); empty: not valid then")
    protected_identity: Series[bool] = pa.Field(
        description="The person has a protected identity in some source: never in a row-level dataset")

    class Config:
        strict = True


class ReconciliationParameters(pa.DataFrameModel):
    """What a reconciliation was run with, as data for what follows it (the publication):
    one row per pseudonym key id the reconciled data was linked on."""

    as_of: Series[pa.DateTime] = pa.Field(description="As-of date of the reconciliation")
    cut_off: Series[pa.DateTime] = pa.Field(description="Transition list: planned past this date")
    look_back_days: Series[int] = pa.Field(ge=0, description="Reporting window: days before the as-of date")
    look_ahead_days: Series[int] = pa.Field(ge=0, description="Reporting window: days after it")
    rules_version: Series[str] = pa.Field(description="Version of the rule table that classified the overlaps")
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="A key id the data was linked on")

    class Config:
        strict = True
        unique = ["key_id"]


KEY_EPOCH_STATUSES = ("current", "brought forward", "behind")


class KeyEpochs(pa.DataFrameModel):
    """Per source: the key ids its stored data is under, and whether the reconciliation could
    bring it to the night's keys (`core/epochs.py`). Counts and key ids only."""

    source_id: Series[str] = pa.Field(description="The source")
    kind: Series[str] = pa.Field(isin=["municipal", "af"], description="municipal or af")
    kommunkod: Series[str] = pa.Field(description="The municipality (empty for AF)")
    rows: Series[int] = pa.Field(ge=0, description="Stored rows of the source")
    key_ids: Series[str] = pa.Field(description="The key ids its rows are under, once brought forward")
    target_key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="The key id the night links on")
    rekeyed: Series[int] = pa.Field(ge=0, description="Rows re-keyed along the pipeline key chain")
    crosswalked: Series[int] = pa.Field(ge=0, description="Rows brought to the new linkage key by the crosswalk")
    left_out: Series[int] = pa.Field(
        ge=0, description="Rows of people no delivery showed under both linkage keys in the window: they link no one"
    )
    behind: Series[int] = pa.Field(ge=0, description="Rows under a key that cannot be brought to the night's keys")
    status: Series[str] = pa.Field(isin=list(KEY_EPOCH_STATUSES),
                                   description="current, brought forward, or behind (left out of the reconciliation)")

    class Config:
        strict = True
        unique = ["source_id"]
