"""Deliveries: a source's file written as its system does (CSV bytes, or a workbook with fixed
timestamps) with its planted bad rows, and where each bad row landed (file and line)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.packaging.core import DocumentProperties
from openpyxl.xml.functions import tostring

from core.synthetic.defects import defect_field, defect_text, plan_defects
from core.synthetic.systems import Export, Source
from core.synthetic.text import render


@dataclass(frozen=True)
class Delivery:
    file: str
    content: bytes
    rows: int
    bad_rows: pd.DataFrame  # BAD_ROW_COLUMNS


BAD_ROW_COLUMNS = ("source_id", "file", "line", "record_id", "kind", "column", "source_column")


def _with_defects(text: pd.DataFrame, rows: pd.DataFrame, plan: list[tuple[int, str]], export: Export, rng):
    """The rendered rows with each planned defect written into its column."""
    text = text.copy()
    for row, kind in plan:
        field = defect_field(kind, export)
        if field:  # a duplicate changes no text: its copy is added when the file is laid out
            text.loc[row, field] = defect_text(kind, text.loc[row], rows.loc[row], export, rng)
    return text


def _file_layout(row_count: int, duplicated: Sequence[int], rng) -> pd.DataFrame:
    """Which row goes on which line: every row in order, and the copy of each duplicated
    row somewhere after its original (the later copy is the bad one)."""
    duplicated = np.asarray(duplicated, dtype=int)
    layout = pd.DataFrame({
        "row": np.r_[np.arange(row_count), duplicated],
        "copy": np.r_[np.zeros(row_count, bool), np.ones(len(duplicated), bool)],
        "key": np.r_[np.arange(row_count), rng.integers(duplicated + 1, row_count + 1) - 0.5],
    }).sort_values("key", kind="stable", ignore_index=True)
    layout["line"] = layout.index + 2  # line 1 is the header, in a CSV file and a sheet alike
    return layout.drop(columns="key")


def _bad_rows(
    source: Source, file: str, rows: pd.DataFrame, plan: list[tuple[int, str]], layout: pd.DataFrame
) -> pd.DataFrame:
    lines = layout.set_index(["row", "copy"]).line
    id_field = "record_id" if source.kind == "municipal" else "assignment_id"
    records = []
    for row, kind in plan:
        field = defect_field(kind, source.export)
        records.append({
            "source_id": source.id,
            "file": file,
            "line": lines[(row, kind == "duplicate_row")],
            "record_id": rows.loc[row, id_field],
            "kind": kind,
            "column": field,
            "source_column": source.export.their_column(field) if field else "",
        })
    return pd.DataFrame(records, columns=list(BAD_ROW_COLUMNS))


def deliver(
    source: Source, rows: pd.DataFrame, as_of: dt.date, quota: int, kind_order: list[str], rng
) -> tuple[Delivery, list[str]]:
    """The source's file with its planted bad rows, and the order to deal defect kinds on."""
    export = source.export
    rows = rows.reset_index(drop=True)
    plan, kind_order = plan_defects(rows, export, quota, kind_order, rng)
    text = _with_defects(render(rows, export, rng), rows, plan, export, rng)
    layout = _file_layout(len(rows), [row for row, kind in plan if kind == "duplicate_row"], rng)
    table = text.loc[layout.row].set_axis([their for their, _ in export.columns], axis=1)
    content = _csv_bytes(table, export) if export.format == "csv" else _xlsx_bytes(table, export, as_of)
    file = source.file(as_of)
    return Delivery(file, content, len(table), _bad_rows(source, file, rows, plan, layout)), kind_order


def _csv_bytes(table: pd.DataFrame, export: Export) -> bytes:
    # Minimal quoting: only values holding the delimiter, a quote or a line break.
    text = table.to_csv(index=False, sep=export.delimiter, lineterminator=export.line_ending)
    return text.encode(export.encoding)


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _xlsx_bytes(table: pd.DataFrame, export: Export, as_of: dt.date) -> bytes:
    """One sheet, every cell text (keeps leading zeros and the dates as written)."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(export.sheet)
    sheet.append(list(table.columns))
    for values in table.itertuples(index=False, name=None):
        sheet.append([value or None for value in values])  # an empty field is an empty cell
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _stable_zip(buffer.getvalue(), _core_properties(as_of))


def _core_properties(as_of: dt.date) -> bytes:
    stamp = dt.datetime.combine(as_of, dt.time())
    return tostring(DocumentProperties(creator="mellanrum generate", created=stamp, modified=stamp).to_tree())


def _stable_zip(data: bytes, core_properties: bytes) -> bytes:
    """The workbook with fixed timestamps: openpyxl stamps the save time into
    docProps/core.xml and every zip entry, which would make each run's file differ."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = core_properties if entry.filename == "docProps/core.xml" else source.read(entry)
            info = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
            info.create_system, info.external_attr = 3, 0o644 << 16
            target.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
