"""Pandera models of the datasets that leave the pipeline, and of the publication log.

Each model is strict and the only definition of its dataset's columns: publication
refuses a frame with any column outside it (see `schemas/contracts.py`, which names each
dataset's recipients, purpose and consent rule). None of them holds a pseudonym, a key or
a personal identity number; each recipient sees only its own rows.

- `KommunSamplanering`: for a municipality, its interventions that overlap an AF programme.
- `AfSamplanering`: for an AF office, its assignments that overlap a municipal intervention.
- `KommunOverlapp`: for each of two municipalities, its own intervention that overlaps the
  other's (one person in both at once), with both consents.
- `AfPagaendeInsatser`: for an AF office, the transition list (ongoing municipal
  interventions of its people planned past the cut-off).
- `RegionalStatistik` (in `schemas/statistics.py`): counts with small cells suppressed.
- `PublicationLog`: who received what, when: one row per dataset and recipient per run.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.municipalities import KOMMUNKOD_PATTERN
from schemas.rules import CLASSES

# A moment, to the second, in UTC: the database stores it as a timestamp (with time zone on
# PostgreSQL), where a plain `pa.DateTime` is a whole day (a date column).
UtcSeconds = Annotated[pd.DatetimeTZDtype, "s", "UTC"]
# Complementary overlaps need no action, so they are not published for samplanering.
ACTIONABLE = tuple(c for c in CLASSES if c != "complementary")


class _Overlap(pa.DataFrameModel):
    overlap_start: Series[pa.DateTime] = pa.Field(description="First day both are planned")
    overlap_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Last shared day; empty: both ongoing")
    classification: Series[str] = pa.Field(
        isin=ACTIONABLE, description="conflict (cannot both go on) or parallel (compatible: plan together)"
    )
    interruption_risk: Series[bool] = pa.Field(
        description="The AF programme starts while the municipal intervention is going on"
    )
    upcoming: Series[bool] = pa.Field(description="The AF programme is decided but has not started yet")


class _KommunSide(pa.DataFrameModel):
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality (its rows only)")
    record_id: Series[str] = pa.Field(description="The municipality's own record id of the intervention")
    insats_code: Series[str] = pa.Field(description="The intervention's catalogue code")
    af_category: Series[str] = pa.Field(description="Category of the overlapping AF programme")
    af_office: Series[str] = pa.Field(description="AF office responsible for the programme: whom to plan with")


class _AfSide(pa.DataFrameModel):
    af_office: Series[str] = pa.Field(description="The AF office (its rows only)")
    assignment_id: Series[str] = pa.Field(description="AF's own assignment id")
    programme_code: Series[str] = pa.Field(description="The programme's catalogue code")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="Municipality of the intervention")
    municipal_category: Series[str] = pa.Field(description="Catalogue category of the municipal intervention")


# Pandera puts the last base's columns first: the recipient's own columns lead.
class KommunSamplanering(_Overlap, _KommunSide):
    """A municipality's own interventions that overlap an AF programme: no AF ids, no pseudonym."""

    class Config:
        strict = True


class AfSamplanering(_Overlap, _AfSide):
    """An AF office's own assignments that overlap a municipal intervention: the municipal
    side's category only (no local code, no record id, nothing from social services)."""

    class Config:
        strict = True


class KommunOverlapp(pa.DataFrameModel):
    """For a municipality: one of its own people in another municipality's intervention at the
    same time, by its own record id; what it needs to contact the other, never the other's
    record id nor any pseudonym."""

    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality (its rows only)")
    record_id: Series[str] = pa.Field(description="The municipality's own record id")
    category: Series[str] = pa.Field(description="Catalogue category of its own intervention")
    other_kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The other municipality to contact")
    other_category: Series[str] = pa.Field(description="Catalogue category of the other municipality's intervention")
    overlap_start: Series[pa.DateTime] = pa.Field(description="First shared day")
    overlap_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Last shared day; empty: both ongoing")

    class Config:
        strict = True


class AfPagaendeInsatser(pa.DataFrameModel):
    """The transition list for an AF office: ongoing municipal interventions planned past the cut-off."""

    af_office: Series[str] = pa.Field(description="The AF office (its rows only)")
    keyed_by: Series[str] = pa.Field(
        isin=("assignment_id", "registration_id"), description="Which AF id the row is keyed by"
    )
    assignment_id: Series[str] = pa.Field(nullable=True, description="The person's most relevant AF assignment")
    registration_id: Series[str] = pa.Field(
        nullable=True, description="AF's registration on the as-of date, for people registered without an assignment"
    )
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="Municipality of the intervention")
    intervention_category: Series[str] = pa.Field(description="Catalogue category of the intervention")
    planned_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Planned last day; empty: open-ended")

    class Config:
        strict = True


class PublicationLog(pa.DataFrameModel):
    """One row per dataset and recipient per publication (database or encrypted export)."""

    run_id: Series[str] = pa.Field(description="Dagster run that published (or the export's id)")
    as_of: Series[pa.DateTime] = pa.Field(description="As-of date of the published data")
    dataset: Series[str] = pa.Field(description="Contract name of the dataset")
    contract_version: Series[str] = pa.Field(description="Version of the contract it conformed to")
    recipient: Series[str] = pa.Field(description="Recipient id (recipients file)")
    channel: Series[str] = pa.Field(isin=("database", "export"), description="database table or encrypted export")
    row_count: Series[int] = pa.Field(ge=0, description="Rows this recipient can read")
    key_id: Series[str] = pa.Field(description="Pseudonym key id(s) the reconciliation linked on")
    checksum: Series[str] = pa.Field(
        str_matches=r"^[0-9a-f]{64}$", description="SHA-256 of this recipient's rows in canonical order"
    )
    sealed_to: Series[str] = pa.Field(
        nullable=True, description="Fingerprint of the recipient's public key (exports only)"
    )
    published_at: Series[UtcSeconds] = pa.Field(description="When (UTC, to the second)")
    agreement_id: Series[str] = pa.Field(
        nullable=True, description="The local agreement(s) (agreements.yaml) this recipient's rows crossed under, "
        "',' between; empty: an aggregate, the party's own data, no rows, or no agreements file")

    class Config:
        strict = True
