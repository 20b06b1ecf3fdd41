"""The publication contracts: every dataset that leaves the pipeline, declared once.

Each declaration carries everything publishing it needs: its strict Pandera model
(`schemas/published.py`, `schemas/statistics.py`), the internal datasets it is built from
and its builder. Adding a published dataset is one more declaration here; the publication
asset, its lineage, the database tables, the recipients' access, the log and
`mellanrum contracts` all follow from the list. See `schemas/contracts.py` for what the
fields mean.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from core.publish import consented_transitions, samplanering
from core.statistics import regional_statistics
from schemas.contracts import Contract, PublicationParameters, contract_problems
from schemas.errors import ConfigError
from schemas.published import AfPagaendeInsatser, AfSamplanering, KommunSamplanering
from schemas.statistics import RegionalStatistik

_COUNTED_FROM = ("overlap_start", "kommunkod", "classification", "municipal_category", "af_category", "age_band")


def _regional_statistik(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                        declared: Contract) -> pd.DataFrame:  # fmt: skip
    return regional_statistics(inputs["overlaps"], parameters.suppression_threshold)


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        name="kommun_samplanering",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Lets a municipality plan together with AF for its own people whose intervention "
        "overlaps an AF programme, before one breaks off the other.",
        model=KommunSamplanering,
        inputs=("overlaps",),
        build=samplanering,
        consent_from="af_consent",
        recipient_column="kommunkod",
    ),
    Contract(
        name="af_samplanering",
        version="1.0.0",
        recipient_kind="af_office",
        purpose="Lets an AF office plan together with the municipality for its assignments that "
        "overlap a municipal intervention.",
        model=AfSamplanering,
        inputs=("overlaps",),
        build=samplanering,
        consent_from="municipal_consent",
        recipient_column="af_office",
    ),
    Contract(
        name="af_pagaende_insatser",
        version="1.0.0",
        recipient_kind="af_office",
        purpose="Tells an AF office which of its people have a municipal intervention planned to "
        "continue past the cut-off, so that a new assignment does not break it off.",
        model=AfPagaendeInsatser,
        inputs=("transition_list",),
        build=consented_transitions,
        consent_from="municipal_consent",
        recipient_column="af_office",
    ),
    Contract(
        name="regional_statistik",
        version="1.0.0",
        recipient_kind="region",
        purpose="Follow-up for the regional federation and DUA: how many overlaps of which kind, "
        "by month and municipality, with small counts suppressed.",
        model=RegionalStatistik,
        inputs=("overlaps",),
        build=_regional_statistik,
        derived={"month": ("overlap_start",), "level": _COUNTED_FROM, "overlap_count": _COUNTED_FROM,
                 "suppressed": _COUNTED_FROM},  # fmt: skip
    ),
)


def contract(name: str, contracts: tuple[Contract, ...] = CONTRACTS) -> Contract:
    for declared in contracts:
        if declared.name == name:
            return declared
    raise ConfigError(f"no contract named {name!r} (declared: {', '.join(c.name for c in contracts)})")


_problems = contract_problems(CONTRACTS)
if _problems:
    raise ConfigError("core/contracts.py: " + "; ".join(_problems))
