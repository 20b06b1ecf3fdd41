"""Sweden's 290 municipalities (kommuner) and their 4-digit SCB codes (kommunkod).

The list is copied from sjbrg/swedish-geodata (CC0 1.0), see `reference/SOURCES.md`.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

_MUNICIPALITIES_CSV = Path(__file__).parent / "reference" / "municipalities.csv"

# A kommunkod: four digits, as text (a number would lose the leading zero of 0780 Växjö).
KOMMUNKOD_DIGITS = "[0-9]{4}"
KOMMUNKOD_PATTERN = f"^{KOMMUNKOD_DIGITS}$"

# The 13 member municipalities of Göteborgsregionen (GR): the demo's default sources.
GOTEBORGSREGIONEN = (
    "1440", "1489", "1480", "1401", "1384", "1482", "1441",
    "1462", "1481", "1402", "1415", "1419", "1407",
)  # fmt: skip


@cache
def municipality_names() -> dict[str, str]:
    """kommunkod → short name, e.g. '1480' → 'Göteborg'."""
    with _MUNICIPALITIES_CSV.open(encoding="utf-8", newline="") as handle:
        return {row["municipality_code"]: row["municipality_name_short"] for row in csv.DictReader(handle)}
