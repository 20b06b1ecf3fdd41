"""Pandera model of the published regional statistics (`regional_statistik`, see core/counts.py).

`RegionalStatistik`: overlaps counted per calendar year and kommun, broken down by class,
with one total per kommun and year and one total per year for the whole region. (By month
and by municipal category × AF category × age band most of a kommun's counts were 1 or 2,
so most of the table was withheld: bench/results/withheld.md.) Published, every count is
perturbed by the Cell Key Method (`core/cellkey.py`); without a record-key secret small
counts are suppressed instead, and further counts with them so that no suppressed count can
be worked out from the published counts and totals: a suppressed count is published as
empty, never as its value. The model is strict: no pseudonym, id or any column beyond it
can leave in this dataset.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.municipalities import KOMMUNKOD_DIGITS
from schemas.rules import CLASSES

# The value a total row has in every column it adds up over.
TOTAL = "total"
# Levels of the hierarchy, from the top: a region row adds up its period's kommun rows,
# a kommun row adds up its cell rows.
LEVELS = ("region", "kommun", "cell")
# The columns a cell is broken down by within its year and kommun.
CELL_DIMENSIONS = ("classification",)
# A calendar year, the period of the nightly statistics ('YYYY').
YEAR = r"^[0-9]{4}$"


class RegionalStatistik(pa.DataFrameModel):
    """Overlaps per year × kommun × class, with totals, perturbed (or small counts suppressed)."""

    year: Series[str] = pa.Field(str_matches=YEAR, description="Calendar year (YYYY) of the overlaps' first shared day")
    level: Series[str] = pa.Field(
        isin=LEVELS,
        description="cell: one class in one kommun; kommun: the kommun's total; region: the year's total",
    )
    kommunkod: Series[str] = pa.Field(
        str_matches=f"^({KOMMUNKOD_DIGITS}|{TOTAL})$", description="SCB code of the municipality; 'total' on region rows"
    )
    classification: Series[str] = pa.Field(
        isin=(*CLASSES, TOTAL), description="conflict, parallel or complementary; 'total' on total rows"
    )
    overlap_count: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=1,
        description="Number of overlaps, perturbed by the cell key (within ±2 of the truth, never 1 or 2); "
        "empty when suppressed. Combinations with no overlaps (or perturbed to 0) are not listed",
    )
    suppressed: Series[bool] = pa.Field(
        description="The count is withheld: it is small, or it would let a small count be worked out"
    )

    @pa.dataframe_check(name="suppressed_counts_are_empty")
    @classmethod
    def suppressed_counts_are_empty(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["overlap_count"].isna() == frame["suppressed"]

    @pa.dataframe_check(name="total_marks_the_columns_a_row_adds_up_over")
    @classmethod
    def total_marks_the_columns_a_row_adds_up_over(cls, frame: pd.DataFrame) -> pd.Series:
        kommun_is_total = frame["kommunkod"] == TOTAL
        marked = [frame[column] == TOTAL for column in CELL_DIMENSIONS]
        all_dimensions_total = pd.concat(marked, axis=1).all(axis=1)
        no_dimension_total = ~pd.concat(marked, axis=1).any(axis=1)
        level = frame["level"]
        return (
            ((level == "region") & kommun_is_total & all_dimensions_total)
            | ((level == "kommun") & ~kommun_is_total & all_dimensions_total)
            | ((level == "cell") & ~kommun_is_total & no_dimension_total)
        )

    @pa.dataframe_check(name="no_total_with_exactly_one_suppressed_count")
    @classmethod
    def no_total_with_exactly_one_suppressed_count(cls, frame: pd.DataFrame) -> pd.Series:
        """Each total and its members form an equation; with exactly one suppressed count in
        it, that count is the published ones' difference. (The rest of the protection needs
        the true counts and is tested in tests/test_statistics.py.)"""
        safe = pd.Series(True, index=frame.index)
        # (rows of the equation: the total and its members, the key that groups them)
        for rows, key in ((frame["level"] != "region", ["year", "kommunkod"]), (frame["level"] != "cell", ["year"])):
            equations = frame[rows]
            unknowns = equations.groupby(key, sort=False)["suppressed"].transform("sum")
            safe.loc[equations.index] &= unknowns != 1
        return safe

    class Config:
        strict = True
        unique = ["year", "kommunkod", *CELL_DIMENSIONS]
