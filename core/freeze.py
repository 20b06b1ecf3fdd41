"""Frozen transition lists: `af_pagaende_insatser` for a named event (KROM's start, say),
published once as a dated table of its own that no nightly publication replaces.

`mellanrum publish --freeze krom-2026-09-29 --cut-off 2026-09-29` (or the Dagster job
`freeze_transition_list` from the launchpad) reconciles the stored data as of the day with
that cut-off and publishes the rows the gates let through, as for the nightly list (no
protected person; the municipality's consent valid for samplanering; a local agreement in
force allowing `af_pagaende_insatser` between the municipality and AF, the list it is a
frozen copy of, whose agreement id the log records) as `af_pagaende_insatser_fryst_<name>` (hyphens become underscores), readable by each AF
office's role for its own rows, with one publication log entry per AF office. A name that
was frozen before is refused: a frozen list is never replaced, so it stays byte-identical
however many nightly runs follow (they replace only the contracts' datasets).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.database import PUBLISHED, Dataset, replace_publication
from core.gates import withheld_by
from core.ingest import cast_to_model
from core.publish import conform, log_rows
from schemas.agreements import Agreements
from schemas.contracts import Contract
from schemas.errors import ConfigError, MellanrumError
from schemas.published_followup import FrozenTransitionList
from schemas.recipients import Recipients

FREEZE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
FROZEN_PREFIX = "af_pagaende_insatser_fryst_"
FROZEN_FROM = "af_pagaende_insatser"  # the contract a frozen list copies: its agreements cover it


class AlreadyFrozen(MellanrumError):
    """A list of that name was frozen before: it is never replaced."""


def frozen_table(name: str) -> str:
    if not FREEZE_NAME.fullmatch(name):
        raise ConfigError(f"--freeze: got {name!r}: use lower-case letters, digits and hyphens (at most 40), "
                          "e.g. krom-2026-09-29")  # fmt: skip
    return FROZEN_PREFIX + name.replace("-", "_")


def frozen_contract(name: str) -> Contract:
    """The declaration a frozen list is published under (not in CONTRACTS: the nightly
    publication never builds nor replaces it)."""
    return Contract(
        name=frozen_table(name), version="1.0.0", recipient_kind="af_office",
        purpose=f"The transition list frozen for {name}: published once, never replaced.",
        model=FrozenTransitionList, inputs=("transition_list",), build=lambda inputs, parameters, declared: inputs,
        consent_from="municipal_consent", recipient_column="af_office", consent_purpose="samplanering",
    )  # fmt: skip


def _under_agreements(declared: Contract) -> Contract:
    """The frozen list's declaration as the agreement gate reads it: agreements name the
    contract the list is a frozen copy of, not each frozen table."""
    return replace(declared, name=FROZEN_FROM)


def frozen_rows(transition_list: pd.DataFrame, name: str, as_of: dt.date, cut_off: dt.date,
                agreements: Agreements | None = None) -> pd.DataFrame:  # fmt: skip
    """The list's rows the gates let through (no protected identity, the municipality's consent
    valid on `as_of` for samplanering, an agreement in force allowing `af_pagaende_insatser`
    between the municipality and AF, as for the nightly list; None: no agreements file, that
    gate off), each once, stamped with the freeze."""
    declared = frozen_contract(name)
    withheld = withheld_by(transition_list, _under_agreements(declared), as_of, agreements)
    consented = transition_list[~np.logical_or.reduce(list(withheld.values()))]
    rows = consented.assign(freeze=name, as_of=pd.Timestamp(as_of), cut_off=pd.Timestamp(cut_off))
    rows = rows[declared.columns].drop_duplicates()
    return conform(cast_to_model(rows, FrozenTransitionList), declared)


def is_frozen(engine: Engine, name: str) -> bool:
    schema = PUBLISHED if engine.dialect.name == "postgresql" else None
    return sa.inspect(engine).has_table(frozen_table(name), schema=schema)


def publish_frozen(engine: Engine, recipients: Recipients, name: str, rows: pd.DataFrame, *, as_of: dt.date,
                   key_ids: Sequence[str], run_id: str, published_at: dt.datetime,
                   agreements: Agreements | None = None) -> pd.DataFrame:  # fmt: skip
    """Publish a frozen list once (refused if `name` was frozen before); returns its log rows,
    each with the agreement(s) its office's rows crossed under."""
    if is_frozen(engine, name):
        raise AlreadyFrozen(f"the list {name!r} was frozen before ({frozen_table(name)}): a frozen list is never "
                            "replaced; freeze under another name")  # fmt: skip
    declared = frozen_contract(name)
    log = log_rows({declared.name: rows}, {declared.name: _under_agreements(declared)}, recipients.all, run_id=run_id,
                   as_of=as_of, key_ids=key_ids, published_at=published_at, agreements=agreements)  # fmt: skip
    replace_publication(engine, [Dataset(declared.name, PUBLISHED, FrozenTransitionList, rows, "af_office",
                                         "af_office")], log, recipients)  # fmt: skip
    return log
