"""Publish: the minimal-need datasets of the contracts, from the reconciliation's results.

Pure functions first, DataFrame in, DataFrame out: each contract's dataset from the
internal `Overlaps` / `TransitionList`, `conform` (which refuses any column outside the
contract), `checksum` and the publication log's rows. The Dagster asset
(`assets/publish.py`) writes a whole publication in one transaction (`core/database.py`).

What each recipient gets (see `schemas/contracts.py`): samplanering rows only for the
overlaps that touch the reporting window and need action (conflict or parallel), and only
where the party the data comes from recorded consent; the statistics count everyone.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable

import pandas as pd

from core.statistics import DEFAULT_THRESHOLD, regional_statistics
from core.validate import validated
from schemas.contracts import CONTRACTS, Contract, contract
from schemas.errors import MellanrumError
from schemas.published import ACTIONABLE, PublicationLog
from schemas.recipients import Recipient, Recipients


class ContractError(MellanrumError):
    """A dataset does not conform to its contract: publication is refused."""


# --- the datasets ---------------------------------------------------------------------------


def _samplanering(overlaps: pd.DataFrame, name: str) -> pd.DataFrame:
    declared = contract(name)
    wanted = (
        overlaps["in_window"].to_numpy(dtype=bool)
        & overlaps["classification"].isin(ACTIONABLE).to_numpy(dtype=bool)
        & overlaps[declared.consent_from].to_numpy(dtype=bool)
    )
    return overlaps.loc[wanted, declared.columns]


def kommun_samplanering(overlaps: pd.DataFrame) -> pd.DataFrame:
    return _samplanering(overlaps, "kommun_samplanering")


def af_samplanering(overlaps: pd.DataFrame) -> pd.DataFrame:
    return _samplanering(overlaps, "af_samplanering")


def af_pagaende_insatser(transition_list: pd.DataFrame) -> pd.DataFrame:
    declared = contract("af_pagaende_insatser")
    listed = transition_list[transition_list[declared.consent_from].to_numpy(dtype=bool)]
    return listed[declared.columns].drop_duplicates()


def contract_datasets(overlaps: pd.DataFrame, transition_list: pd.DataFrame,
                      threshold: int = DEFAULT_THRESHOLD) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Every contract's dataset, conformed (see `conform`), by contract name."""
    made = {
        "kommun_samplanering": kommun_samplanering(overlaps),
        "af_samplanering": af_samplanering(overlaps),
        "af_pagaende_insatser": af_pagaende_insatser(transition_list),
        "regional_statistik": regional_statistics(overlaps, threshold),
    }
    return {declared.name: conform(made[declared.name], declared) for declared in CONTRACTS}


def conform(frame: pd.DataFrame, declared: Contract) -> pd.DataFrame:
    """`frame` checked against its contract and in canonical row order; a column outside the
    contract (or one missing) refuses publication, naming the columns, never a value."""
    stray = [c for c in frame.columns if c not in declared.columns]
    missing = [c for c in declared.columns if c not in frame.columns]
    if stray or missing:
        problems = [f"not in the contract: {', '.join(stray)}"] * bool(stray) + [f"missing: {', '.join(missing)}"] * bool(
            missing
        )
        raise ContractError(
            f"publication of {declared.name} (contract {declared.version}) refused: columns {'; '.join(problems)}"
        )
    try:
        return canonical(validated(frame[declared.columns], declared.model))
    except RuntimeError as problem:
        raise ContractError(f"publication of {declared.name} (contract {declared.version}) refused: {problem}") from None


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column (empty values first), so equal data is equal bytes."""
    return frame.sort_values(list(frame.columns), na_position="first", kind="stable").reset_index(drop=True)


def checksum(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows in canonical order as CSV (dates YYYY-MM-DD): equal data, equal sum."""
    text = canonical(frame).to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipient_rows(frame: pd.DataFrame, declared: Contract, scope: str | None) -> pd.DataFrame:
    """The rows of `frame` a recipient with `scope` (kommunkod, office; None: all) reads."""
    if declared.recipient_column is None:
        return frame
    return frame[(frame[declared.recipient_column] == scope).to_numpy(dtype=bool)].reset_index(drop=True)


def log_rows(datasets: dict[str, pd.DataFrame], recipients: Iterable[Recipient], *, run_id: str, as_of: dt.date,
             key_id: str, published_at: dt.datetime, channel: str = "database",
             sealed_to: str | None = None) -> pd.DataFrame:  # fmt: skip
    """One publication log row per dataset and recipient of its kind.

    `published_at` must carry its time zone (e.g. `datetime.now(datetime.UTC)`): the log
    keeps it in UTC, to the second, so that publications of one day stay apart and in order.
    """
    moment = pd.Timestamp(published_at)
    if moment.tzinfo is None:
        raise ValueError("log_rows: published_at needs a time zone (e.g. datetime.now(datetime.UTC))")
    moment = moment.tz_convert("UTC").floor("s")
    rows = []
    for name, frame in datasets.items():
        declared = contract(name)
        for recipient in (r for r in recipients if r.kind == declared.recipient_kind):
            own = recipient_rows(frame, declared, recipient.scope)
            rows.append({
                "run_id": run_id, "as_of": pd.Timestamp(as_of), "dataset": name,
                "contract_version": declared.version, "recipient": recipient.id, "channel": channel,
                "row_count": len(own), "key_id": key_id, "checksum": checksum(own), "sealed_to": sealed_to,
                "published_at": moment,
            })  # fmt: skip
    log = pd.DataFrame(rows, columns=list(PublicationLog.to_schema().columns))
    return validated(log.astype({"as_of": "datetime64[s]", "published_at": "datetime64[s, UTC]",
                                 "row_count": "int64"}), PublicationLog)  # fmt: skip


def unreached(datasets: dict[str, pd.DataFrame], recipients: Recipients) -> dict[str, int]:
    """Rows whose kommunkod or office has no registered recipient, per dataset: stored but
    readable by no one, and reported so the steward can register the recipient."""
    counts = {}
    for name, frame in datasets.items():
        declared = contract(name)
        if declared.recipient_column is None:
            continue
        scopes = {r.scope for r in recipients.of_kind(declared.recipient_kind)}
        counts[name] = int((~frame[declared.recipient_column].isin(scopes)).sum())
    return counts

