"""Freshness of the sources a reconciliation used, from the facts of their ingest.

Per source: the as-of date of the data used (its latest good ingest) and whether its latest
ingest attempt failed (with that attempt's as-of date). From those alone:

- **no data**: never ingested successfully; the reconciliation runs without it;
- **stale**: its latest attempt failed, so older data is used; or the data used is older
  than the reconciliation's as-of date (nothing ingested since);
- **fresh**: the data used is as of the reconciliation's date or later (an ad-hoc run as
  of a past date sees today's data, which is not stale), and no later attempt failed.

The run's summary, the reconciliation's metadata and its `sources_fresh` check all come
from `freshness`, so they say the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

FRESH, STALE, NO_DATA = "fresh", "stale", "no data"


@dataclass(frozen=True)
class SourceFacts:
    source_id: str
    data_as_of: dt.date | None  # as-of date of the latest good ingest; None: never
    latest_attempt_as_of: dt.date | None = None
    latest_attempt_failed: bool = False


def freshness(facts: Sequence[SourceFacts], as_of: dt.date) -> pd.DataFrame:
    """source_id, status (fresh, stale, no data) and why, in the order of `facts`."""
    rows = []
    for fact in facts:
        failed = fact.latest_attempt_failed
        attempt = f"latest attempt as of {fact.latest_attempt_as_of or 'an unknown date'} failed"
        if fact.data_as_of is None:
            status, why = NO_DATA, attempt if failed else "never ingested"
        elif failed:
            status, why = STALE, f"last good {fact.data_as_of}; {attempt}"
        elif fact.data_as_of < as_of:
            days = (as_of - fact.data_as_of).days
            status, why = STALE, f"last good {fact.data_as_of}: {days} day{'s' * (days != 1)} before the as-of date"
        else:
            status, why = FRESH, f"data as of {fact.data_as_of}"
        rows.append({"source_id": fact.source_id, "status": status, "detail": why})
    return pd.DataFrame(rows, columns=["source_id", "status", "detail"])


def named(table: pd.DataFrame, status: str) -> str:
    """'a (why), b (why)' for the sources of one status, or 'none'."""
    chosen = table[table["status"] == status]
    return ", ".join(f"{row.source_id} ({row.detail})" for row in chosen.itertuples()) or "none"
