"""Pandera model of the agreement's indicator pack, `nyckeltal` (issue 18 §3).

Long format: one row per quarter × kommun × indicator × breakdown (a class, a status, or
`total`), with the kommun totals and the region's (as every published count,
`core/counts.py`). A count row carries `count`; a share row carries its numerator in
`count`, its `denominator` and the `share`, so that a reader can check the share. Only
closed quarters are published, and a quarter's rows never change once out
(`core/indicators.py`).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.followup import NO_KOMMUN
from schemas.municipalities import KOMMUNKOD_DIGITS
from schemas.statistics import LEVELS, TOTAL

QUARTER_PATTERN = r"^[0-9]{4}-Q[1-4]$"
# The indicators, in the pack's order; what each counts is in `core/indicators.py`.
INDICATORS = ("samtidiga_insatser", "overgangslista", "unga_90_dagar", "unga_90_dagar_andel_uppfyllt",
              "utfall_90_dagar", "kommunoverskridande_deltagande")  # fmt: skip
SHARES = ("unga_90_dagar_andel_uppfyllt",)


class Nyckeltal(pa.DataFrameModel):
    """The indicator pack per closed quarter × kommun × indicator × breakdown, suppressed."""

    quarter: Series[str] = pa.Field(str_matches=QUARTER_PATTERN, description="Calendar quarter (YYYY-Qn), closed")
    level: Series[str] = pa.Field(isin=LEVELS, description="cell, kommun (its total) or region (the quarter's total)")
    kommunkod: Series[str] = pa.Field(
        str_matches=f"^({KOMMUNKOD_DIGITS}|{TOTAL}|{NO_KOMMUN})$",
        description=f"SCB code; '{NO_KOMMUN}': in no municipality's records; 'total' on region rows",
    )
    indicator: Series[str] = pa.Field(isin=INDICATORS, description="Which indicator (see the README)")
    breakdown: Series[str] = pa.Field(description="Class, status or kind counted; 'total' on totals")
    count: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0,
                                            description="Number (a share's numerator); empty when suppressed")
    denominator: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1,
                                                  description="A share's denominator; empty on counts or when suppressed")
    share: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=1,
                                              description="count / denominator (4 decimals); empty on counts or when suppressed")
    suppressed: Series[bool] = pa.Field(description="The figure is withheld (small, or would reveal a small one)")

    class Config:
        strict = True
        unique = ["quarter", "kommunkod", "indicator", "breakdown"]
