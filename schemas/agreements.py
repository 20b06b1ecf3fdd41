"""The agreements file: the local agreements (lokala överenskommelser) under which row-level
data may cross between the parties, declared once, next to `recipients.yaml`.

Each agreement names its parties (kommunkoder, `AF`, region recipient ids), the days it is
in force (both included; no `valid_to`: until further notice) and the contracts it allows.
A row of a row-level dataset reaches its recipient only where an agreement in force on the
as-of date names the recipient's party, the party the data comes from and the contract
(`core/gates.py`). Statistics need none.

    version: 1
    agreements:
      - id: gr_samverkan_2026
        name: Samverkansöverenskommelse Göteborgsregionen och Arbetsförmedlingen
        parties: ["1480", "1401", AF]
        valid_from: 2026-01-01
        valid_to: 2027-12-31
        contracts: [kommun_samplanering, af_samplanering, af_pagaende_insatser]

Without the file the agreement gate is not applied, and every run says so in one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Literal

import pandas as pd
import pydantic

from schemas.errors import ConfigError
from schemas.municipalities import municipality_names
from schemas.yamlconfig import StrictModel, load_yaml_model

AF_PARTY = "AF"
AGREEMENTS_FILE = "agreements.yaml"  # beside recipients.yaml
NO_AGREEMENTS_FILE = "no agreements.yaml: row-level publication is not checked against local agreements"


class Agreement(StrictModel):
    id: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)
    name: str = pydantic.Field(min_length=1, max_length=200)
    parties: list[str] = pydantic.Field(min_length=2)
    valid_from: dt.date
    valid_to: dt.date | None = None
    contracts: list[str] = pydantic.Field(min_length=1)

    @pydantic.field_validator("parties", mode="before")
    @classmethod
    def _parties_are_text(cls, value: object) -> object:
        if isinstance(value, list) and any(isinstance(p, int) for p in value):
            raise ValueError('write each kommunkod in quotes, e.g. "0780": a number loses its leading zero')
        return value

    @pydantic.field_validator("parties")
    @classmethod
    def _parties_known(cls, parties: list[str]) -> list[str]:
        for party in parties:
            if party == AF_PARTY or (party[:1].isalpha() and party.islower()):
                continue  # AF, or a region recipient's id
            if party not in municipality_names():
                raise ValueError(f"party {party!r} is neither AF, a region recipient id nor one of the 290 kommunkoder")
        if len(set(parties)) != len(parties):
            raise ValueError("a party is named twice")
        return parties

    @pydantic.model_validator(mode="after")
    def _period_in_order(self) -> Agreement:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class AgreementsFile(StrictModel):
    version: Literal[1]
    agreements: list[Agreement] = pydantic.Field(default_factory=list)

    @pydantic.model_validator(mode="after")
    def _ids_unique(self) -> AgreementsFile:
        ids = [a.id for a in self.agreements]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"agreement ids must be unique: {', '.join(twice)} declared twice")
        return self


class Agreements:
    """The validated agreements file."""

    def __init__(self, path: Path, spec: AgreementsFile) -> None:
        self.path = path
        self.all = tuple(spec.agreements)

    def pairs(self, contract: str, day: dt.date) -> pd.Series:
        """(recipient party, data party) -> the first agreement id (by id) in force on `day`
        that allows `contract` and names both; every ordered pair of its parties."""
        rows = [(a, b, agreement.id) for agreement in sorted(self.all, key=lambda x: x.id)
                if agreement.in_force(day) and contract in agreement.contracts
                for a in agreement.parties for b in agreement.parties]  # fmt: skip
        table = pd.DataFrame(rows, columns=["recipient", "source", "id"]).drop_duplicates(["recipient", "source"])
        return table.set_index(["recipient", "source"])["id"]

    def missing(self, contract: str, recipient_party: str, source_party: str, day: dt.date) -> str:
        """In the runbook's words: why no agreement covers this pair on `day`."""
        naming = [a for a in self.all if contract in a.contracts and {recipient_party, source_party} <= set(a.parties)]
        if not naming:
            return f"no agreement names {recipient_party} and {source_party} for {contract}"
        return "; ".join(f"agreement {a.id} ({a.name}) is not in force on {day} "
                         f"(valid {a.valid_from} to {a.valid_to or 'further notice'})" for a in naming)  # fmt: skip


def load_agreements(path: Path, contracts: Collection[str]) -> Agreements | None:
    """The agreements file at `path` validated (its contracts among `contracts`), or None when
    there is none."""
    path = Path(path)
    if not path.exists():
        return None
    spec = load_yaml_model(path, AgreementsFile)
    problems = [f"  agreements[{i}] (id {a.id!r}).contracts[{j}]: got {name!r}: no such contract "
                f"(declared: {', '.join(sorted(contracts))})"
                for i, a in enumerate(spec.agreements) for j, name in enumerate(a.contracts) if name not in contracts]  # fmt: skip
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s)\n" + "\n".join(problems))
    return Agreements(path, spec)
