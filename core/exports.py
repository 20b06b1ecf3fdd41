"""Encrypted exports for recipients without database access.

An export is one ZIP with a member per dataset of the recipient's kind (`<dataset>.csv`,
`.parquet` or `.xlsx`), holding exactly the rows that recipient's database role would read,
sealed to the recipient's registered public key (`core/keys/sealing.py`). A dataset meant
for a spreadsheet (the indicator pack, `nyckeltal`) is also in the ZIP as `<dataset>.xlsx`
whatever the format, one sheet named after it, so that a strategy group opens it in Excel
or LibreOffice as it is. Every export adds
one publication log row per dataset (channel `export`, the key's fingerprint in
`sealed_to`), with the same checksum the database publication logged for those rows.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from core.audit import read_log, recipient_rows_in_database
from core.database import append_log
from core.keys.sealing import key_fingerprint, parse_public_key, seal
from core.publish import log_rows
from schemas.contracts import Contract
from schemas.errors import ConfigError, MellanrumError
from schemas.recipients import Recipients

FORMATS = ("csv", "parquet", "xlsx")
# Datasets a recipient opens in a spreadsheet: always also written as XLSX.
SPREADSHEETS = ("nyckeltal",)
# Fixed member timestamps: the same rows give the same ZIP.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Export:
    sealed: bytes
    log: pd.DataFrame  # PublicationLog rows, one per dataset


def build_export(engine: Engine, contracts: Sequence[Contract], recipients: Recipients, recipient_id: str,
                 fmt: str = "csv") -> Export:  # fmt: skip
    """The sealed export of `recipient_id`'s rows of the latest publication, and its log rows."""
    if fmt not in FORMATS:
        raise ConfigError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    recipient = recipients.get(recipient_id)
    if recipient.public_key is None:
        raise ConfigError(
            f"{recipients.path}: recipient {recipient.id!r} has no public_key: the recipient makes one with "
            "`mellanrum recipient-key new` and sends you the printed line to register"
        )
    public_key = parse_public_key(recipient.public_key, where=f"{recipients.path}: recipient {recipient.id!r}")
    as_of, key_ids = _latest_publication(engine)
    datasets = recipient_rows_in_database(engine, contracts, recipient)
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in datasets.items():
            member = zipfile.ZipInfo(f"{name}.{fmt}", date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, _serialized(frame, fmt, name))
            if name in SPREADSHEETS and fmt != "xlsx":
                sheet = zipfile.ZipInfo(f"{name}.xlsx", date_time=_ZIP_TIME)
                sheet.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(sheet, _serialized(frame, "xlsx", name))
    context = f"mellanrum export for {recipient.id}: {', '.join(datasets)} as of {as_of}".encode()
    sealed = seal(package.getvalue(), public_key, context=context)
    log = log_rows(datasets, {c.name: c for c in contracts}, [recipient], run_id=f"export-{uuid.uuid4()}",
                   as_of=as_of, key_ids=key_ids,
                   published_at=dt.datetime.now(dt.UTC), channel="export",
                   sealed_to=key_fingerprint(public_key))  # fmt: skip
    return Export(sealed, log)


def record_export(engine: Engine, export: Export) -> None:
    append_log(engine, export.log)


def _serialized(frame: pd.DataFrame, fmt: str, name: str) -> bytes:
    if fmt == "xlsx":
        return _workbook(frame, name)
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode("utf-8")


def _workbook(frame: pd.DataFrame, name: str) -> bytes:
    """One sheet named after the dataset (Excel allows 31 characters), dates as dates, an
    empty (withheld) figure as an empty cell, codes such as kommunkod 0780 as text."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl", date_format="YYYY-MM-DD", datetime_format="YYYY-MM-DD") as writer:
        frame.to_excel(writer, sheet_name=name[:31], index=False, freeze_panes=(1, 0))  # the header stays in view
    return buffer.getvalue()


def _latest_publication(engine: Engine) -> tuple[dt.date, list[str]]:
    """As-of date and key ids (one log row each) of the latest database publication (by published_at)."""
    log = read_log(engine)
    published = log[log["channel"] == "database"]
    if published.empty:
        raise MellanrumError("nothing has been published yet: run the pipeline (mellanrum run) first")
    latest = published.iloc[-1]
    of_run = published[published["run_id"] == latest["run_id"]]
    return latest["as_of"].date(), sorted(of_run["key_id"].unique())
