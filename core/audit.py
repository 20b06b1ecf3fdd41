"""Who received what: a recipient's rows as the database holds them, and their checksums
recomputed and compared with the publication log.

`recipient_rows_in_database` reads exactly the rows a recipient's role reads (its kind's
datasets, its own rows); an export seals the same rows. `verify_checksums` recomputes
`core.publish.checksum` over them (the SHA-256 of the rows sorted by every column, written
as CSV with dates as YYYY-MM-DD) and compares it with the latest log entry of each dataset
for that recipient. Only counts and checksums come out, never a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.database import PUBLICATION_LOG, PUBLISHED, read_rows
from core.publish import checksum
from schemas.contracts import Contract
from schemas.errors import ConfigError, MellanrumError
from schemas.published import PublicationLog
from schemas.recipients import Recipient


def recipient_rows_in_database(engine: Engine, contracts: Sequence[Contract],
                               recipient: Recipient) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Per dataset of the recipient's kind: the rows its database role reads (a dataset never
    published to this database, e.g. one its contract list gained since, is left out)."""
    schema = PUBLISHED if engine.dialect.name == "postgresql" else None
    inspector = sa.inspect(engine)
    return {
        declared.name: read_rows(engine, declared.name, declared.model, where=_where(declared, recipient))
        for declared in contracts
        if recipient.kind in declared.recipient_kinds and inspector.has_table(declared.name, schema=schema)
    }  # fmt: skip


def _where(declared: Contract, recipient: Recipient) -> dict | None:
    if declared.recipient_column:
        return {declared.recipient_column: recipient.scope}
    # Several kommun columns (`Contract.kommun_columns`): a row is the recipient's where any names its kommuner.
    columns = tuple(c for c in declared.kommun_columns if c in declared.columns)
    key = columns[0] if len(columns) == 1 else columns
    if recipient.kind == "kommun" and recipient.kind in declared.also_to:
        return {key: (recipient.kommunkod,)}
    kommuner = recipient.region_kommuner
    return {key: tuple(kommuner)} if kommuner is not None and columns else None


def read_log(engine: Engine) -> pd.DataFrame:
    """The whole publication log, oldest first (no rows when nothing was published yet)."""
    schema = PUBLISHED if engine.dialect.name == "postgresql" else None
    if not sa.inspect(engine).has_table(PUBLICATION_LOG, schema=schema):
        return pd.DataFrame(columns=list(PublicationLog.to_schema().columns))
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    return log.sort_values("published_at", kind="stable").reset_index(drop=True)


def verify_checksums(engine: Engine, contracts: Sequence[Contract], recipient: Recipient,
                     dataset: str | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per dataset of the recipient: rows and checksum recomputed from the database,
    the latest log entry's checksum, when and how it was published, and whether they match."""
    datasets = recipient_rows_in_database(engine, contracts, recipient)
    if dataset is not None:
        if dataset not in datasets:
            raise ConfigError(f"--dataset: got {dataset!r}; recipient {recipient.id!r} (kind {recipient.kind}) receives "
                              f"{', '.join(datasets)}")  # fmt: skip
        datasets = {dataset: datasets[dataset]}
    log = read_log(engine)
    mine = log[log["recipient"] == recipient.id]
    if mine.empty:
        raise MellanrumError(f"the publication log has no entry for recipient {recipient.id!r}: nothing was published "
                             "to it yet")  # fmt: skip
    rows = []
    for name, frame in datasets.items():
        logged = mine[mine["dataset"] == name]
        latest = logged.iloc[-1] if len(logged) else None
        recomputed = checksum(frame)
        rows.append({
            "dataset": name,
            "rows": len(frame),
            "checksum now": recomputed,
            "logged checksum": latest["checksum"] if latest is not None else "",
            "logged rows": int(latest["row_count"]) if latest is not None else None,
            "published at (UTC)": latest["published_at"].strftime("%Y-%m-%d %H:%M:%S") if latest is not None else "",
            "channel": latest["channel"] if latest is not None else "",
            "run id": latest["run_id"] if latest is not None else "",
            "matches": latest is not None and latest["checksum"] == recomputed,
        })  # fmt: skip
    return pd.DataFrame(rows)
