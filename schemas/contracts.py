"""What a publication contract is: the declaration of one dataset that leaves the pipeline.

A contract names the dataset, its version, the kind of recipient that gets it, its
purpose in one sentence, the consent it needs, its strict Pandera model (no column
outside the model can be published), the internal datasets it is built from and the
function that builds it. The declarations themselves are in `core/contracts.py` (they
name their builders); `mellanrum contracts` prints them: they are the documentation of
what leaves.

Consent: row-level data about a person crosses from one party to the other only where the
consent (samtycke) of the party it comes from is valid on the as-of date and covers the
contract's purpose (`consent_purpose`: samplanering, the parties planning together, or
uppfoljning, following a person up). A municipality learns of an AF programme only with
AF's consent; AF learns of a municipal intervention only with the municipality's. People
without it, and people with a protected identity, are counted in the statistics only; a
local agreement must allow the crossing too (`core/gates.py`, `schemas/agreements.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from schemas.agreements import Agreements
from schemas.recipients import RecipientKind
from schemas.sources import CONSENT_SCOPES


@dataclass(frozen=True)
class PublicationParameters:
    """What a builder may need besides its input datasets."""

    as_of: dt.date
    suppression_threshold: int
    # The local agreements (`agreements.yaml`); None: there is no such file, and the
    # agreement gate is not applied.
    agreements: Agreements | None = None
    # The last publication of each contract that `freezes_closed_quarters` (None: never
    # published): its closed quarters are kept as they are (`core/indicators.py`).
    previous: Mapping[str, pd.DataFrame | None] = field(default_factory=dict)
    # The record-key secret of the Cell Key Method (`core/keys/record_keys.py`), derived from
    # the pipeline key for this run: in memory only, never in metadata, files or logs. None:
    # the aggregates are suppressed instead of perturbed (tests of today's suppression).
    cell_key_secret: bytes | None = field(default=None, repr=False)


# How every aggregate is protected when published (`core/cellkey.py`); `mellanrum contracts` shows it.
CELL_KEY_PROTECTION = ("Cell Key Method: each count within ±2 of the true count (PTABLE D=2), "
                       "counts 1 and 2 never published as themselves, the same contributors the same noise "
                       "on every night and in every table")  # fmt: skip
ROW_LEVEL_PROTECTION = "row-level: only the recipient's own rows, through the gates"


# A builder gets the contract's input datasets by name, the parameters and its own contract.
Builder = Callable[[Mapping[str, pd.DataFrame], PublicationParameters, "Contract"], pd.DataFrame]


@dataclass(frozen=True)
class Contract:
    name: str
    version: str
    recipient_kind: RecipientKind
    purpose: str
    model: type[pa.DataFrameModel]
    # The internal datasets (by name) the builder reads; the first is the lineage upstream.
    inputs: tuple[str, ...]
    build: Builder = field(repr=False)
    # The internal column that must be true for a row to be published: the consent recorded
    # by the party the row's data comes from. None: no row-level data about a person.
    # 'both_municipalities': a pair of two municipalities' records, both consents needed.
    consent_from: str | None = None
    # What the rows are for, the consent scope they need: 'samplanering' or 'uppfoljning'
    # for a row-level dataset, None for an aggregate.
    consent_purpose: str | None = None
    # The column holding the recipient's scope (kommunkod or AF office) of a row-level
    # dataset; None: an aggregate (every row, a region with `kommuner` its municipalities').
    recipient_column: str | None = None
    # An aggregate's further kinds of recipient, each reading only its own municipality's
    # rows by the model's `kommunkod` (only 'kommun'): a kommun-scoped aggregate.
    also_to: tuple[RecipientKind, ...] = ()
    # Column lineage of the columns not copied from the first input under the same name:
    # column -> the upstream columns it is computed from.
    derived: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Its closed quarters never change once published: the publication passes the builder
    # the previous publication (`PublicationParameters.previous`).
    freezes_closed_quarters: bool = False
    # The columns naming the kommuner a row of an aggregate belongs to: a kommun reading it
    # (`also_to`) reads the rows where any of them is its own, a region with `kommuner` the
    # rows where any of them is one of its municipalities (e.g. a flow's providing and home kommun).
    kommun_columns: tuple[str, ...] = ("kommunkod",)

    @property
    def columns(self) -> list[str]:
        return list(self.model.to_schema().columns)

    @property
    def recipient_kinds(self) -> tuple[RecipientKind, ...]:
        """Every kind of recipient that reads this dataset (some of its rows)."""
        return (self.recipient_kind, *self.also_to)

    @property
    def protection(self) -> str:
        """How the published values are protected: an aggregate by the cell key."""
        return CELL_KEY_PROTECTION if self.recipient_column is None else ROW_LEVEL_PROTECTION

    @property
    def consent_required(self) -> bool:
        return self.consent_from is not None


def contract_problems(contracts: Sequence[Contract]) -> list[str]:
    """What is wrong with a set of contracts: `core/contracts.py` checks its own on import."""
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
        if declared.recipient_column is not None and declared.consent_purpose not in CONSENT_SCOPES:
            problems.append(f"{where}: a row-level dataset declares its consent_purpose, one of {', '.join(CONSENT_SCOPES)}")
        if declared.recipient_column is None and declared.consent_purpose is not None:
            problems.append(f"{where}: an aggregate has no consent_purpose (consent plays no part in it)")
        if declared.also_to and (declared.recipient_column is not None or set(declared.also_to) != {"kommun"}
                                 or not set(declared.kommun_columns) <= set(schema.columns)):  # fmt: skip
            problems.append(f"{where}: also_to is for an aggregate with kommun columns ({', '.join(declared.kommun_columns)}),"
                            " read by 'kommun' recipients (each its own rows)")  # fmt: skip
        if not declared.kommun_columns:
            problems.append(f"{where}: kommun_columns names at least one column (kommunkod by default)")
        if not declared.purpose.strip():
            problems.append(f"{where}: the purpose is empty")
        if not declared.inputs:
            problems.append(f"{where}: name the internal datasets it is built from (inputs)")
        stray = sorted(set(declared.derived) - set(schema.columns))
        if stray:
            problems.append(f"{where}: derived names columns outside its model: {', '.join(stray)}")
    return problems
