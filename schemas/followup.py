"""Pandera models of the internal datasets built from AF's registrations (`core/registrations.py`).

- `YouthMonitor` (`youth_monitor`): the 90-day youth monitor, one row per youth registration
  spell and municipality in whose records the person is (the kommun empty when in none).
- `Handovers` (`handovers`): the hand-over lists, one row per hand-over, with its `kind`.
- `InterventionOutcomes` (`intervention_outcomes`): per intervention of either party that
  ended, and per horizon after its end already reached, the person's status on that day.

Both hold the pseudonym (youth monitor) or ids of both parties: for the steward only; the
published datasets are cut from them by the contracts (`core/contracts.py`).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.datasets import KEY_ID_PATTERN, PSEUDONYM_PATTERN
from schemas.municipalities import KOMMUNKOD_PATTERN

YOUTH_STATUSES = ("met", "approaching", "breached", "pending", "ended")
HANDOVER_KINDS = ("insats_slut_utan_af", "af_slut_utan_fortsattning", "kaa_slutar")
KEYED_BY = ("assignment_id", "registration_id")
# Days after an intervention's last day at which the person's status is followed up.
HORIZONS = (30, 90, 180)
# The statuses on a horizon day, in priority order (the first that holds is the status).
OUTCOME_STATUSES = ("work", "studies", "af_programme", "municipal_intervention", "registered", "not_known")
PARTIES = ("kommun", "af")
# The kommun of an AF programme whose person is in no municipality's records.
NO_KOMMUN = "okand"


class YouthMonitor(pa.DataFrameModel):
    """The 90-day youth monitor (see core/registrations.py for the rules)."""

    pseudonym: Series[str] = pa.Field(str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym")
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="Its key id")
    registration_id: Series[str] = pa.Field(description="AF's id of the spell's first registration")
    af_office: Series[str] = pa.Field(description="AF office of the spell's latest registration")
    registration_date: Series[pa.DateTime] = pa.Field(description="Day 0: the spell's first registration date")
    spell_end: Series[pa.DateTime] = pa.Field(nullable=True, description="The spell's last day; empty: registered")
    age_band: Series[str] = pa.Field(isin=("16-19", "20-24"), description="Age on day 0")
    day: Series[int] = pa.Field(ge=0, description="Days from day 0 to the as-of date")
    status: Series[str] = pa.Field(isin=YOUTH_STATUSES, description="met, approaching, breached, pending or ended")
    days_to_start: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, le=90,
                                                    description="met: days from day 0 to the first start")
    started_by: Series[str] = pa.Field(nullable=True, isin=("af", "municipal"), description="Who started: AF or the municipality")
    af_consent: Series[bool] = pa.Field(description="AF recorded consent to share with the municipality")
    kommunkod: Series[str] = pa.Field(nullable=True, str_matches=KOMMUNKOD_PATTERN,
                                      description="A municipality in whose records the person is; empty: none")
    record_id: Series[str] = pa.Field(nullable=True, description="That municipality's most relevant record id")
    municipal_consent: Series[bool] = pa.Field(description="Consent recorded by that municipality")
    municipal_activity: Series[bool] = pa.Field(description="An intervention of that municipality goes on on the as-of date")
    municipal_consent_for: Series[str] = pa.Field(
        description="Scopes the municipality's consent covers on the as-of date (',' between); empty: not valid then")
    af_consent_for: Series[str] = pa.Field(
        description="Scopes AF's consent covers on the as-of date (',' between); empty: not valid then")
    protected_identity: Series[bool] = pa.Field(
        description="The person has a protected identity in some source: never in a row-level dataset")

    class Config:
        strict = True
        unique = ["registration_id", "kommunkod"]


class Handovers(pa.DataFrameModel):
    """Hand-overs between the parties, of three kinds (see core/registrations.py)."""

    kind: Series[str] = pa.Field(isin=HANDOVER_KINDS, description="Which hand-over")
    af_office: Series[str] = pa.Field(description="The AF office (of the registration or the programme)")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality")
    record_id: Series[str] = pa.Field(description="The municipality's record id")
    registration_id: Series[str] = pa.Field(nullable=True, description="AF's registration id (AF-bound kinds)")
    assignment_id: Series[str] = pa.Field(nullable=True, description="AF's assignment id (af_slut_utan_fortsattning)")
    category: Series[str] = pa.Field(description="Catalogue category of what ends")
    ends_on: Series[pa.DateTime] = pa.Field(description="Last day of what ends; kaa_slutar: the 20th birthday")
    municipal_consent: Series[bool] = pa.Field(description="Consent recorded by the municipality")
    af_consent: Series[bool] = pa.Field(description="Consent recorded by AF")
    municipal_consent_for: Series[str] = pa.Field(
        description="Scopes the municipality's consent covers on the as-of date (',' between); empty: not valid then")
    af_consent_for: Series[str] = pa.Field(
        description="Scopes AF's consent covers on the as-of date (',' between); empty: not valid then")
    protected_identity: Series[bool] = pa.Field(
        description="The person has a protected identity in some source: never in a row-level dataset")

    class Config:
        strict = True


class InterventionOutcomes(pa.DataFrameModel):
    """Outcomes after an intervention (see core/outcomes.py for the rules)."""

    pseudonym: Series[str] = pa.Field(str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym")
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="Its key id")
    party: Series[str] = pa.Field(isin=PARTIES, description="Whose intervention ended: kommun or af")
    intervention_id: Series[str] = pa.Field(description="The municipality's record id or AF's assignment id")
    kommunkod: Series[str] = pa.Field(
        str_matches=f"^([0-9]{{4}}|{NO_KOMMUN})$",
        description=f"The providing municipality; an AF programme: a municipality holding the person, '{NO_KOMMUN}': none")
    category: Series[str] = pa.Field(description="Catalogue category of the intervention that ended")
    age_band: Series[str] = pa.Field(description="The intervention's age band")
    ends_on: Series[pa.DateTime] = pa.Field(description="The intervention's last day")
    horizon: Series[int] = pa.Field(isin=HORIZONS, description="Days after the last day (30, 90, 180)")
    status: Series[str] = pa.Field(isin=OUTCOME_STATUSES, description="The person's status on ends_on + horizon")

    class Config:
        strict = True


class RegistrationTransitions(pa.DataFrameModel):
    """Transition-list rows keyed by a registration (merged into `TransitionList`)."""

    assignment_id: Series[str] = pa.Field(nullable=True)
    registration_id: Series[str] = pa.Field(nullable=True)
    keyed_by: Series[str] = pa.Field(isin=KEYED_BY)
    af_office: Series[str]
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN)
    intervention_category: Series[str]
    planned_end: Series[pa.DateTime] = pa.Field(nullable=True)
    municipal_consent: Series[bool]
    af_consent: Series[bool]
    municipal_consent_for: Series[str]
    af_consent_for: Series[str]
    protected_identity: Series[bool]

    class Config:
        strict = True
