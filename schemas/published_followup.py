"""Pandera models of the published datasets built from AF's registrations (issue 16).

Strict like every published model (`schemas/published.py`): no pseudonym, no key, never a
registration date or a de-registration reason to a municipality.

- `UngaNittioDagar`: for an AF office, the 90-day youth monitor of its registrations.
- `UngaNittioDagarKommun`: for a municipality, the status of its own people (by its own
  record id), with AF's consent; no date of AF's.
- `Overlamningar`: for an AF office, hand-overs it must act on (`insats_slut_utan_af`,
  `kaa_slutar`), with the municipality's consent.
- `OverlamningarKommun`: for a municipality, AF programmes of its people that ended with
  nothing next (`af_slut_utan_fortsattning`), with AF's consent.
- `UngaNittioDagarStatistik`, `OverlamningarStatistik`: the region's counts per calendar
  year, perturbed by the Cell Key Method (`core/counts.py`, `core/cellkey.py`).
- `UppfoljningEfterInsats`: outcomes after an intervention, counted per year, for the
  region and each municipality (its own rows), perturbed the same way.
- `KommunoverskridandeInsatser`: people in another municipality's interventions, counted
  per year at the providing and at the home kommun, for the region and each municipality
  (its own rows), perturbed the same way.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.followup import HANDOVER_KINDS, HORIZONS, NO_KOMMUN, OUTCOME_STATUSES, PARTIES, YOUTH_STATUSES
from schemas.flows import DIRECTIONS
from schemas.municipalities import KOMMUNKOD_DIGITS, KOMMUNKOD_PATTERN
from schemas.statistics import LEVELS, TOTAL, YEAR

UNKNOWN_KOMMUN = NO_KOMMUN


class UngaNittioDagar(pa.DataFrameModel):
    """An AF office's youth registrations (16–24 on day 0) and their 90-day status."""

    af_office: Series[str] = pa.Field(description="The AF office (its rows only)")
    registration_id: Series[str] = pa.Field(description="AF's id of the spell's first registration")
    registration_date: Series[pa.DateTime] = pa.Field(description="Day 0: the spell's first registration date")
    age_band: Series[str] = pa.Field(isin=("16-19", "20-24"), description="Age on day 0")
    day: Series[int] = pa.Field(ge=0, description="Days from day 0 to the as-of date")
    status: Series[str] = pa.Field(isin=YOUTH_STATUSES, description="met, approaching, breached, pending or ended")
    days_to_start: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="met: days from day 0 to the start")
    municipal_activity: Series[pd.BooleanDtype] = pa.Field(
        nullable=True,
        description="A municipal intervention goes on on the as-of date; empty without the municipality's consent",
    )

    class Config:
        strict = True


class UngaNittioDagarKommun(pa.DataFrameModel):
    """A municipality's own people on AF's youth monitor, by its own record id."""

    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality (its rows only)")
    record_id: Series[str] = pa.Field(description="The municipality's own record id of the person's intervention")
    age_band: Series[str] = pa.Field(isin=("16-19", "20-24"), description="Age when registered at AF")
    status: Series[str] = pa.Field(isin=YOUTH_STATUSES, description="met, approaching, breached, pending or ended")

    class Config:
        strict = True


class Overlamningar(pa.DataFrameModel):
    """Hand-overs an AF office must act on."""

    af_office: Series[str] = pa.Field(description="The AF office (its rows only)")
    kind: Series[str] = pa.Field(isin=("insats_slut_utan_af", "kaa_slutar"), description="Which hand-over")
    registration_id: Series[str] = pa.Field(description="AF's registration id of the person")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality to contact")
    category: Series[str] = pa.Field(description="Catalogue category of the municipal intervention that ends")
    ends_on: Series[pa.DateTime] = pa.Field(description="Its last day; kaa_slutar: the day KAA ends (20th birthday)")

    class Config:
        strict = True


class OverlamningarKommun(pa.DataFrameModel):
    """AF programmes of a municipality's own people that end with nothing next."""

    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The municipality (its rows only)")
    kind: Series[str] = pa.Field(eq="af_slut_utan_fortsattning", description="Which hand-over")
    record_id: Series[str] = pa.Field(description="The municipality's own record id of the person")
    category: Series[str] = pa.Field(description="Catalogue category of the AF programme that ends")
    ends_on: Series[pa.DateTime] = pa.Field(description="The programme's last day")
    af_office: Series[str] = pa.Field(description="The AF office to contact")

    class Config:
        strict = True



class _Counted(pa.DataFrameModel):
    # By calendar year: by month or quarter most of a kommun's counts are 1 or 2, which the
    # cell key withholds (bench/results/withheld.md).
    year: Series[str] = pa.Field(str_matches=YEAR, description="Calendar year (YYYY)")
    level: Series[str] = pa.Field(isin=LEVELS, description="cell, kommun (its total) or region (the year's total)")
    kommunkod: Series[str] = pa.Field(
        str_matches=f"^({KOMMUNKOD_DIGITS}|{TOTAL}|{UNKNOWN_KOMMUN})$",
        description=f"SCB code; '{UNKNOWN_KOMMUN}': in no municipality's records; 'total' on region rows",
    )
    count: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, description="Number, perturbed by the cell key: within ±2 of the true count; never 1 or 2"
    )
    suppressed: Series[bool] = pa.Field(description="The count is withheld (false where the cell key protects it)")


class UngaNittioDagarStatistik(_Counted):
    """Youth spells per year of day 0 × kommun × status, with totals, perturbed."""

    status: Series[str] = pa.Field(isin=(*YOUTH_STATUSES, TOTAL), description="Status; 'total' on totals")

    class Config:
        strict = True
        unique = ["year", "kommunkod", "status"]


class OverlamningarStatistik(_Counted):
    """Hand-overs per year of the end × kommun × kind, with totals, perturbed."""

    kind: Series[str] = pa.Field(isin=(*HANDOVER_KINDS, TOTAL), description="Which hand-over; 'total' on totals")

    class Config:
        strict = True
        unique = ["year", "kommunkod", "kind"]


class UppfoljningEfterInsats(_Counted):
    """Ended interventions per year of the last day × kommun × party × horizon × the person's
    status on that day (`core/outcomes.py`), with totals, perturbed. A horizon not yet
    reached by the as-of date is absent, never zero. A kommun total and the region total add
    up every horizon: an intervention counts once per horizon reached."""

    party: Series[str] = pa.Field(isin=(*PARTIES, TOTAL), description="Whose intervention: kommun or af; 'total' on totals")
    horizon: Series[str] = pa.Field(isin=(*(str(h) for h in HORIZONS), TOTAL),
                                    description="Days after the last day (30, 90, 180); 'total' on totals")
    status: Series[str] = pa.Field(isin=(*OUTCOME_STATUSES, TOTAL),
                                   description="work, studies, af_programme, municipal_intervention, registered or "
                                   "not_known on that day; 'total' on totals")

    class Config:
        strict = True
        unique = ["year", "kommunkod", "party", "horizon", "status"]


class KommunoverskridandeInsatser(_Counted):
    """People in another municipality's interventions per year active × kommun × direction
    (`tar_emot`: residents of other municipalities in this kommun's interventions;
    `deltar_annanstans`: this kommun's residents in other municipalities'), with totals,
    perturbed (`core/flows.py`, `core/cellkey.py`). A person counts once per cell, and in
    both kommuner of their flow; a kommun total adds up its two directions."""

    kommunkod: Series[str] = pa.Field(str_matches=f"^({KOMMUNKOD_DIGITS}|{TOTAL})$",
                                      description="The municipality; 'total' on region rows")
    direction: Series[str] = pa.Field(isin=(*DIRECTIONS, TOTAL),
                                      description="tar_emot (providing kommun) or deltar_annanstans (home kommun); "
                                      "'total' on totals")

    class Config:
        strict = True
        unique = ["year", "kommunkod", "direction"]


class FrozenTransitionList(pa.DataFrameModel):
    """A transition list frozen for a named event (`mellanrum publish --freeze NAME --cut-off
    DATE`): `af_pagaende_insatser`'s columns as of that day, published once as a table of
    its own (`af_pagaende_insatser_fryst_<name>`) that no later publication replaces."""

    freeze: Series[str] = pa.Field(str_matches=r"^[a-z0-9][a-z0-9-]{0,39}$", description="The event's name")
    as_of: Series[pa.DateTime] = pa.Field(description="The day the list was frozen (its data as of then)")
    cut_off: Series[pa.DateTime] = pa.Field(description="Interventions planned to continue past this date")
    af_office: Series[str] = pa.Field(description="The AF office (its rows only)")
    keyed_by: Series[str] = pa.Field(isin=("assignment_id", "registration_id"), description="Which AF id")
    assignment_id: Series[str] = pa.Field(nullable=True, description="The person's most relevant AF assignment")
    registration_id: Series[str] = pa.Field(nullable=True, description="AF's registration, without an assignment")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="Municipality of the intervention")
    intervention_category: Series[str] = pa.Field(description="Catalogue category of the intervention")
    planned_end: Series[pa.DateTime] = pa.Field(nullable=True, description="Planned last day; empty: open-ended")

    class Config:
        strict = True
