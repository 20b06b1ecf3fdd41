"""Pandera model of the internal dataset of flows between municipalities (`core/flows.py`).

`MunicipalFlows` (`municipal_flows`): per municipal intervention and calendar month it was
active in (from its start month up to the month of min(end, as-of)), the providing kommun and
the person's home kommun (folkbokföringskommun). It holds the pseudonym: for the steward only;
`kommunoverskridande_insatser` is counted from it (`core/contracts.py`).
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from schemas.datasets import KEY_ID_PATTERN, PSEUDONYM_PATTERN
from schemas.municipalities import KOMMUNKOD_PATTERN

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
# Which side of a flow a kommun's published count is: residents of other municipalities it
# takes into its interventions (the providing kommun), or its residents in others' (the home kommun).
DIRECTIONS = ("tar_emot", "deltar_annanstans")


class MunicipalFlows(pa.DataFrameModel):
    """One row per municipal intervention and month it was active in (see core/flows.py)."""

    pseudonym: Series[str] = pa.Field(str_matches=PSEUDONYM_PATTERN, description="Level-2 pseudonym")
    key_id: Series[str] = pa.Field(str_matches=KEY_ID_PATTERN, description="Its key id")
    record_id: Series[str] = pa.Field(description="The providing municipality's record id")
    kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN, description="The providing municipality")
    home_kommunkod: Series[str] = pa.Field(str_matches=KOMMUNKOD_PATTERN,
                                           description="The person's home municipality (folkbokföringskommun)")
    category: Series[str] = pa.Field(description="Catalogue category of the intervention")
    age_band: Series[str] = pa.Field(description="The intervention's age band")
    month: Series[str] = pa.Field(str_matches=MONTH_PATTERN, description="A calendar month it was active in, YYYY-MM")

    class Config:
        strict = True
