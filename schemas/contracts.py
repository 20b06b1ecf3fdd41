"""The publication contracts: every dataset that leaves the pipeline, declared once.

A contract names the dataset, its version, the kind of recipient that gets it, its
purpose in one sentence, the consent it needs and its strict Pandera model (no column
outside the model can be published). `mellanrum contracts` prints them; they are the
documentation of what leaves.

Consent: row-level data about a person crosses from one party to the other only where the
party it comes from has recorded the person's samtycke (consent to information exchange).
A municipality learns of an AF programme only with AF's recorded consent; AF learns of a
municipal intervention only with the municipality's. People without consent are counted
in the statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

from schemas.errors import ConfigError
from schemas.published import AfPagaendeInsatser, AfSamplanering, KommunSamplanering
from schemas.recipients import RecipientKind
from schemas.statistics import RegionalStatistik


@dataclass(frozen=True)
class Contract:
    name: str
    version: str
    recipient_kind: RecipientKind
    purpose: str
    model: type[pa.DataFrameModel]
    # The internal column (`Overlaps`, `TransitionList`) that must be true for a row to be
    # published: the consent recorded by the party the row's data comes from. None: no
    # row-level data about a person (aggregates).
    consent_from: str | None
    # The column holding the recipient's scope (kommunkod or AF office); None: every row.
    recipient_column: str | None

    @property
    def columns(self) -> list[str]:
        return list(self.model.to_schema().columns)

    @property
    def consent_required(self) -> bool:
        return self.consent_from is not None


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        name="kommun_samplanering",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Lets a municipality plan together with AF for its own people whose intervention "
        "overlaps an AF programme, before one breaks off the other.",
        model=KommunSamplanering,
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
        consent_from=None,
        recipient_column=None,
    ),
)


def contract(name: str) -> Contract:
    for declared in CONTRACTS:
        if declared.name == name:
            return declared
    raise ConfigError(f"no contract named {name!r} (declared: {', '.join(c.name for c in CONTRACTS)})")


def contract_problems(contracts: tuple[Contract, ...]) -> list[str]:
    """What is wrong with a set of contracts: they are checked when this module loads."""
    problems = []
    names = [c.name for c in contracts]
    problems += [f"contract {name!r} is declared twice" for name in sorted({n for n in names if names.count(n) > 1})]
    for declared in contracts:
        schema = declared.model.to_schema()
        where = f"contract {declared.name!r}"
        if schema.strict is not True:
            problems.append(f"{where}: its model {declared.model.__name__} must be strict (Config.strict = True)")
        if declared.recipient_column is not None and declared.recipient_column not in schema.columns:
            problems.append(f"{where}: recipient_column {declared.recipient_column!r} is not a column of its model")
        if (declared.recipient_column is None) != (declared.recipient_kind == "region"):
            problems.append(f"{where}: only the region's datasets have no recipient_column")
        if not declared.purpose.strip():
            problems.append(f"{where}: the purpose is empty")
    return problems


_problems = contract_problems(CONTRACTS)
if _problems:
    raise ConfigError("schemas/contracts.py: " + "; ".join(_problems))
