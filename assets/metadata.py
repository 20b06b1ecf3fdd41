"""Dagster metadata built from our own definitions: column schemas from the Pandera models.

Metadata is stored in the event log forever and shown to every UI user: it holds counts,
names and schemas only, never a row's values.
"""

from __future__ import annotations

import re

import dagster as dg
import pandas as pd
import pandera.pandas as pa


def plain_type(dtype: str) -> str:
    """A pandas dtype in words a data steward reads: text, date, whole number, …"""
    if dtype.startswith("datetime64"):
        return "date"
    if dtype in ("bool", "boolean"):
        return "true/false"
    if dtype.lower().startswith("int"):
        return "whole number"
    if dtype.startswith("float"):
        return "number"
    return "text"


def column_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    """The UI's column schema (`dagster/column_schema`) from a Pandera model."""
    schema = model.to_schema()
    unique = set(schema.unique or [])
    columns = []
    for name, column in schema.columns.items():
        rules = [check.name for check in column.checks]
        columns.append(
            dg.TableColumn(
                name=name,
                type=plain_type(str(column.dtype)),
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique, other=[r for r in rules if r] or None
                ),
            )
        )
    checks = [check.name for check in schema.checks]
    return dg.TableSchema(
        columns=columns,
        constraints=dg.TableConstraints(other=[f"unique: {', '.join(unique)}"] * bool(unique) + checks),
    )


_VALUE = re.compile(r"'[^']*'|\b\d[\d\-.:]*\b")


def reason_kinds(reasons: pd.Series, top: int = 10) -> dict[str, int]:
    """Counts of quarantine reasons with their values blanked out ('…'), safe for metadata."""
    kinds = reasons.astype("string").str.replace(_VALUE, "…", regex=True)
    return {str(kind): int(count) for kind, count in kinds.value_counts().head(top).items()}


def table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame of counts, ids and names as a table the UI shows inline (never rows of data)."""
    text = frame.astype("string").fillna("")
    schema = dg.TableSchema(columns=[dg.TableColumn(str(name), "string") for name in text.columns])
    records = [dg.TableRecord(dict(zip(map(str, text.columns), row, strict=True)))
               for row in text.itertuples(index=False, name=None)]  # fmt: skip
    return dg.MetadataValue.table(records=records, schema=schema)
