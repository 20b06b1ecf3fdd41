"""The publication database, through SQLAlchemy: SQLite by default, PostgreSQL in production.

Two schemas: `published` holds the contracts' datasets and the publication log, and
`internal` the steward-only tables (overlaps, quarantine). On SQLite, which has no
schemas or roles, both are plain tables in one file and access is the file's.

On PostgreSQL every recipient is a role `mellanrum_<id>` (NOLOGIN until the DBA gives it
a login) that may read only the published tables of its kind, and of those, through
row-level security, only its own rows (its kommunkod or AF office); `internal` is granted
to nobody. The pipeline's own role owns the tables.

`replace_publication` writes a whole publication in ONE transaction: every dataset's
rows are replaced, the log rows appended and the recipients' grants and policies renewed,
or nothing changes: a run that fails halfway leaves the last publication readable and
intact (PostgreSQL readers see it until the commit; SQLite runs in WAL mode for the same).

Rows go in by the fast paths within that transaction: COPY on PostgreSQL, executemany on
SQLite. Errors are raised without their parameters (`hide_parameters=True`): a failed
statement must not write a row's values into a log.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from schemas.published import PublicationLog
from schemas.recipients import Recipient, Recipients

PUBLISHED = "published"
INTERNAL = "internal"
PUBLICATION_LOG = "publication_log"


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        # No schemas in SQLite: both names map to the main database.
        engine = engine.execution_options(schema_translate_map={PUBLISHED: None, INTERNAL: None})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

    return engine


# --- tables from the Pandera models ---------------------------------------------------------


def _column_type(dtype: str) -> sa.types.TypeEngine:
    if dtype.startswith("datetime64"):
        return sa.Date()  # the datasets' dates are whole days
    if dtype in ("bool", "boolean"):
        return sa.Boolean()
    if dtype.lower().startswith("int"):
        return sa.BigInteger()
    if dtype.startswith("float"):
        return sa.Float()
    return sa.Text()


def table_of(name: str, model: type[pa.DataFrameModel], schema: str, metadata: sa.MetaData) -> sa.Table:
    """The table of a dataset: its model's columns, types and nullability, in order."""
    columns = [
        sa.Column(column_name, _column_type(str(column.dtype)), nullable=bool(column.nullable))
        for column_name, column in model.to_schema().columns.items()
    ]
    return sa.Table(name, metadata, *columns, schema=schema)


@dataclass(frozen=True)
class Dataset:
    """A table to replace: its name, schema and model, and its rows (conforming to the model).

    A published dataset names the kind of recipient that reads it and, unless every such
    recipient reads every row, the column holding a recipient's scope."""

    name: str
    schema: str
    model: type[pa.DataFrameModel]
    rows: pd.DataFrame
    recipient_kind: str | None = None
    recipient_column: str | None = None


def replace_publication(engine: Engine, datasets: Iterable[Dataset], log: pd.DataFrame,
                        recipients: Recipients | None = None) -> None:  # fmt: skip
    """Replace every dataset's rows and append `log`, in one transaction (see the module)."""
    metadata = sa.MetaData()
    datasets = list(datasets)
    tables = {(d.schema, d.name): table_of(d.name, d.model, d.schema, metadata) for d in datasets}
    log_table = table_of(PUBLICATION_LOG, PublicationLog, PUBLISHED, metadata)
    with engine.begin() as connection:
        _prepare(connection, [*tables.values(), log_table])
        for dataset in datasets:
            table = tables[(dataset.schema, dataset.name)]
            connection.execute(table.delete())
            _insert(connection, table, dataset.rows)
        _insert(connection, log_table, log)
        if recipients is not None and connection.dialect.name == "postgresql":
            _grant(connection, recipients, [d for d in datasets if d.schema == PUBLISHED])


def append_log(engine: Engine, log: pd.DataFrame) -> None:
    table = table_of(PUBLICATION_LOG, PublicationLog, PUBLISHED, sa.MetaData())
    with engine.begin() as connection:
        _prepare(connection, [table])
        _insert(connection, table, log)


def _prepare(connection: Connection, tables: list[sa.Table]) -> None:
    """Schemas and tables exist and match their models; a table whose columns changed
    (a new contract version) is rebuilt, inside the same transaction."""
    if connection.dialect.name == "postgresql":
        for schema in (PUBLISHED, INTERNAL):
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            connection.execute(sa.text(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC'))
    inspector = sa.inspect(connection)
    for table in tables:
        schema = table.schema if connection.dialect.name == "postgresql" else None
        if inspector.has_table(table.name, schema=schema):
            existing = [c["name"] for c in inspector.get_columns(table.name, schema=schema)]
            if existing == [c.name for c in table.columns]:
                continue
            table.drop(connection)
        table.create(connection)


def _insert(connection: Connection, table: sa.Table, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    names = [c.name for c in table.columns]
    rows = rows[names]
    columns = ", ".join(f'"{n}"' for n in names)
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        target = f'"{table.schema}"."{table.name}"'
        with dbapi.cursor() as cursor:
            cursor.copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", _csv(rows))
    else:
        cursor = dbapi.cursor()
        try:
            placeholders = ", ".join("?" * len(names))
            cursor.executemany(f'INSERT INTO "{table.name}" ({columns}) VALUES ({placeholders})', _tuples(rows))
        finally:
            cursor.close()


def _driver_values(column: pd.Series) -> list:
    """A column as Python values for a DBAPI driver: dates as 'YYYY-MM-DD', missing as None."""
    if pd.api.types.is_datetime64_any_dtype(column):
        column = column.dt.strftime("%Y-%m-%d")
    return column.astype(object).where(column.notna(), None).tolist()


def _tuples(rows: pd.DataFrame) -> list[tuple]:
    return list(zip(*(_driver_values(column) for _, column in rows.items()), strict=True))


def _csv(rows: pd.DataFrame) -> io.BytesIO:
    """CSV for PostgreSQL's COPY, written by Arrow: a null is an unquoted empty field and an
    empty string a quoted one, which is exactly how COPY tells them apart."""
    table = pa_arrow.Table.from_pandas(rows, preserve_index=False)
    dates = [i for i, field in enumerate(table.schema) if pa_arrow.types.is_timestamp(field.type)]
    for i in dates:
        table = table.set_column(i, table.schema.field(i).name, table.column(i).cast(pa_arrow.date32()))
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    buffer.seek(0)
    return buffer


# --- recipients: roles, grants and row-level security (PostgreSQL) -------------------------


def _grant(connection: Connection, recipients: Recipients, published: list[Dataset]) -> None:
    """Each recipient's role reads its kind's published tables, only its own rows, and its
    own lines of the publication log; nothing in `internal`."""
    for recipient in recipients.all:
        role = _identifier(recipient.role)
        connection.execute(sa.text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{recipient.role}') "
            f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
        ))  # fmt: skip
        connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{PUBLISHED}" TO {role}'))
    scoped = [(d.name, d.recipient_column, recipients.of_kind(d.recipient_kind)) for d in published]
    scoped.append((PUBLICATION_LOG, None, recipients.all))
    for table_name, column, readers in scoped:
        table = f'"{PUBLISHED}"."{table_name}"'
        if not sa.inspect(connection).has_table(table_name, schema=PUBLISHED):
            continue
        connection.execute(sa.text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        for policy in connection.execute(sa.text(
            "SELECT policyname FROM pg_policies WHERE schemaname = :schema AND tablename = :table"
        ), {"schema": PUBLISHED, "table": table_name}).scalars():  # fmt: skip
            connection.execute(sa.text(f'DROP POLICY "{policy}" ON {table}'))
        connection.execute(sa.text(f"REVOKE ALL ON {table} FROM PUBLIC"))
        for recipient in readers:
            role = _identifier(recipient.role)
            connection.execute(sa.text(f"GRANT SELECT ON {table} TO {role}"))
            connection.execute(sa.text(f'CREATE POLICY "{recipient.role}" ON {table} FOR SELECT TO {role} USING '
                                       f"({_own_rows(table_name, column, recipient)})"))  # fmt: skip


def _own_rows(table_name: str, column: str | None, recipient: Recipient) -> str:
    if table_name == PUBLICATION_LOG:
        return f"recipient = {_literal(recipient.id)}"
    return "true" if column is None else f'"{column}" = {_literal(recipient.scope)}'


def _identifier(name: str) -> str:
    # Role names come from validated recipient ids ([a-z][a-z0-9_]*); quoting keeps it so.
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- reading back ---------------------------------------------------------------------------


def read_rows(engine: Engine, name: str, model: type[pa.DataFrameModel], schema: str = PUBLISHED,
              where: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """A table's rows (optionally `column = value` for each of `where`), typed as its model."""
    table = table_of(name, model, schema, sa.MetaData())
    query = sa.select(table)
    for column, value in (where or {}).items():
        query = query.where(table.c[column] == value)
    with engine.connect() as connection:
        result = connection.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return typed_as(frame, model)


def typed_as(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """`frame` with the dtypes of `model` (what comes back from a database is Python objects)."""
    out = {}
    for name, column in model.to_schema().columns.items():
        dtype = str(column.dtype)
        values = frame[name] if name in frame else pd.Series([], dtype=object)
        if dtype.startswith("datetime64"):
            out[name] = pd.to_datetime(values).astype("datetime64[s]")
        elif dtype == "bool":
            out[name] = values.astype(bool)
        elif dtype == "Int64":
            out[name] = pd.array(values.where(values.notna(), None), dtype="Int64")
        elif dtype.startswith("int"):
            out[name] = values.astype(np.int64)
        elif dtype.startswith("float"):
            out[name] = values.astype(float)
        else:
            out[name] = pd.Series(values, dtype="str")
    return pd.DataFrame(out)
