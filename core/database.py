"""The publication database, through SQLAlchemy: SQLite by default, PostgreSQL in production.

Two schemas: `published` holds the contracts' datasets and the publication log, and
`internal` the steward-only tables (overlaps, quarantine). On SQLite, which has no
schemas or roles, they are two files: the published file holds only what may be
published (it can be handed over or backed up as it is), and the internal tables, which
hold pseudonyms and quarantined rows, live in a private file of their own (written in
its own transaction just before the publication's).

On PostgreSQL every recipient is a role `mellanrum_<id>` (NOLOGIN until the DBA gives it
a login) that may read only the published tables of its kind, and of those, through
row-level security, only its own rows (its kommunkod or AF office; a kommun reading an
aggregate declared for it too, `Contract.also_to`, its own kommunkod's rows; a region with
`kommuner` its municipalities'); `internal` is granted to nobody. The pipeline's own role owns the tables.

`replace_publication` writes a whole publication in ONE transaction: every dataset's
rows are replaced, the log rows appended and the recipients' grants and policies renewed,
or nothing changes: a run that fails halfway leaves the last publication readable and
intact (PostgreSQL readers see it until the commit; SQLite runs in WAL mode for the same).

Rows go in by the fast paths within that transaction: COPY on PostgreSQL, executemany on
SQLite. Errors are raised without their parameters (`hide_parameters=True`): a failed
statement must not write a row's values into a log. A right the publishing role lacks on
PostgreSQL (SQLSTATE 42501) is a `PrivilegeError` that names the right and the fix, built
from what the step was doing, never from the server's message.

The publication log is the audit trail: it is never dropped. A log table of an earlier
version whose `published_at` was a date is migrated in the same transaction (each old
date becomes midnight UTC); any other difference refuses the publication.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.files import private_file
from schemas.errors import MachineFault, MellanrumError
from schemas.published import PublicationLog
from schemas.recipients import Recipient, Recipients

PUBLISHED = "published"
INTERNAL = "internal"
PUBLICATION_LOG = "publication_log"
SETUP_SQL = "deploy/sql/publication-database.sql"
INSUFFICIENT_PRIVILEGE = "42501"


def check_reachable(engine: Engine) -> None:
    """Connect once: a database that cannot be reached or does not exist is one sentence
    naming it (never its password, never the server's own message)."""
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as problem:
        raise MachineFault(_unreachable(shown, engine, problem)) from None
    except sa.exc.DBAPIError as problem:
        raise MachineFault(f"the publication database {shown} refused the connection ({type(problem.orig).__name__}): "
                           "check MELLANRUM_DATABASE_URL and the role's rights") from None  # fmt: skip


def database_fault(engine: Engine, problem: Exception) -> MachineFault:
    """One sentence for an OperationalError while publishing: a full disk, or the database gone."""
    shown = engine.url.render_as_string(hide_password=True)
    text = str(getattr(problem, "orig", problem))
    if "disk is full" in text or "No space left" in text or "disk I/O error" in text:
        return MachineFault(f"the disk of the publication database {shown} is full: free some space, then run again")
    return MachineFault(_unreachable(shown, engine, problem))


def _unreachable(shown: str, engine: Engine, problem: Exception) -> str:
    text = str(getattr(problem, "orig", problem))
    # libpq's own words, matched but never shown: they may name hosts and roles, not data.
    if engine.dialect.name == "postgresql" and "does not exist" in text and "database" in text:
        return (f"the publication database {shown} does not exist: create it (docs/deployment.md, "
                "deploy/sql/publication-database.sql) or fix MELLANRUM_DATABASE_URL")
    if engine.dialect.name == "postgresql" and "password authentication failed" in text:
        return f"the publication database {shown} refused the role's password: check MELLANRUM_DATABASE_URL"
    if engine.dialect.name == "sqlite":
        return f"the publication database {shown} cannot be opened: check that its folder exists and is writable"
    return (f"the publication database {shown} cannot be reached: is the server running, and are host and port "
            "in MELLANRUM_DATABASE_URL right?")


class PrivilegeError(MellanrumError):
    """The publishing role lacks a right on the PostgreSQL publication database."""


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            private_file(Path(engine.url.database))  # before SQLite makes it (and its -wal, -shm) readable by all
        # No schemas in SQLite: both names map to the main database.
        engine = engine.execution_options(schema_translate_map={PUBLISHED: None, INTERNAL: None})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            # pysqlite opens a transaction only before INSERT/UPDATE/DELETE, so a CREATE or
            # DROP TABLE would commit on its own: SQLAlchemy issues BEGIN itself instead, and
            # a rebuilt or migrated table is part of the publication's one transaction.
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN")

    return engine


# --- tables from the Pandera models ---------------------------------------------------------


def _is_moment(dtype: str) -> bool:
    """A time-zone-aware datetime dtype (e.g. 'datetime64[s, UTC]'): a moment, not a day."""
    return dtype.startswith("datetime64") and "," in dtype


def _column_type(dtype: str) -> sa.types.TypeEngine:
    if _is_moment(dtype):
        return sa.DateTime(timezone=True)  # the log's published_at: TIMESTAMPTZ on PostgreSQL
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
    # An aggregate's further kinds of recipient (`Contract.also_to`): each reads its own
    # municipality's rows by `kommunkod`.
    also_to: tuple[str, ...] = ()
    # The columns naming the kommuner a row of an aggregate belongs to (`Contract.kommun_columns`):
    # a kommun or a scoped region reads the rows where any of them names one of its kommuner.
    kommun_columns: tuple[str, ...] = ("kommunkod",)


def replace_publication(engine: Engine, datasets: Iterable[Dataset], log: pd.DataFrame,
                        recipients: Recipients | None = None, private: Engine | None = None) -> None:  # fmt: skip
    """Replace every dataset's rows and append `log`, in one transaction (see the module).

    On SQLite the internal datasets go to `private` (another file) first; the published
    file then gets only the published ones (and loses internal tables an earlier version
    kept there)."""
    datasets = list(datasets)
    internal = [d for d in datasets if d.schema == INTERNAL]
    if engine.dialect.name == "sqlite" and internal:
        if private is None:
            raise ValueError("on SQLite the internal datasets need a private database of their own")
        _replace(private, internal)
        datasets = [d for d in datasets if d.schema != INTERNAL]
        gone = [d.name for d in internal]
    else:
        gone = []
    _replace(engine, datasets, log, recipients, drop=gone)


def _replace(engine: Engine, datasets: list[Dataset], log: pd.DataFrame | None = None,
             recipients: Recipients | None = None, drop: list[str] = ()) -> None:  # fmt: skip
    metadata = sa.MetaData()
    tables = {(d.schema, d.name): table_of(d.name, d.model, d.schema, metadata) for d in datasets}
    log_table = table_of(PUBLICATION_LOG, PublicationLog, PUBLISHED, metadata) if log is not None else None
    with engine.begin() as connection:
        _prepare(connection, [*tables.values(), *([log_table] if log_table is not None else [])])
        inspector = sa.inspect(connection)
        for name in drop:
            if inspector.has_table(name):
                connection.execute(sa.text(f'DROP TABLE "{name}"'))
        for dataset in datasets:
            table = tables[(dataset.schema, dataset.name)]
            with _requires(connection, f"the right to replace the rows of {_qualified(table)}", _OWN_TABLES):
                connection.execute(table.delete())
                _insert(connection, table, dataset.rows)
        if log_table is not None:
            with _requires(connection, f"the right to add rows to {_qualified(log_table)}", _OWN_TABLES):
                _insert(connection, log_table, log)
        if recipients is not None and connection.dialect.name == "postgresql":
            _grant(connection, recipients, [d for d in datasets if d.schema == PUBLISHED])


def append_log(engine: Engine, log: pd.DataFrame) -> None:
    table = table_of(PUBLICATION_LOG, PublicationLog, PUBLISHED, sa.MetaData())
    with engine.begin() as connection:
        _prepare(connection, [table])
        with _requires(connection, f"the right to add rows to {_qualified(table)}", _OWN_TABLES):
            _insert(connection, table, log)


def _prepare(connection: Connection, tables: list[sa.Table]) -> None:
    """Schemas and tables exist and match their models, inside the caller's transaction.

    A dataset table whose columns or column types changed (a new contract version) is
    rebuilt; the publication log never is (`_migrate_log`)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        ensure_schemas(connection)
    inspector = sa.inspect(connection)
    for table in tables:
        schema = table.schema if postgres else None
        if inspector.has_table(table.name, schema=schema):
            existing = inspector.get_columns(table.name, schema=schema)
            if _shape(existing, connection) == _shape(_wanted(table), connection):
                continue
            if table.name == PUBLICATION_LOG:
                _migrate_log(connection, table, existing)
                continue
            with _requires(connection, f"ownership of {_qualified(table)} (to rebuild it)", _OWN_TABLES):
                table.drop(connection)
        with _requires(connection, f"the right to create tables in schema {table.schema}", _OWN_TABLES):
            table.create(connection)


def ensure_schemas(connection: Connection) -> None:
    """The schemas `published` and `internal` (PostgreSQL): created, closed to PUBLIC, when
    missing; schemas made beforehand (deploy/sql/publication-database.sql) are left alone."""
    present = set(connection.execute(
        sa.text("SELECT nspname FROM pg_namespace WHERE nspname IN (:a, :b)"), {"a": PUBLISHED, "b": INTERNAL}
    ).scalars())  # fmt: skip
    for schema in (PUBLISHED, INTERNAL):
        if schema in present:
            continue
        right = f"the right to create schema {schema} (CREATE on the database)"
        with _requires(connection, right, f"create the schemas beforehand owned by the publishing role ({SETUP_SQL})"):
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            connection.execute(sa.text(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC'))


def _wanted(table: sa.Table) -> list[dict]:
    return [{"name": c.name, "type": c.type} for c in table.columns]


def _shape(columns: list[dict], connection: Connection) -> list[tuple[str, str]]:
    return [(c["name"], _family(c["type"], connection.dialect.name)) for c in columns]


def _family(column_type: sa.types.TypeEngine, dialect: str) -> str:
    """What a column holds, as the database reports it back: enough to notice a changed type."""
    if isinstance(column_type, sa.DateTime):
        # SQLite keeps no time zone; PostgreSQL's TIMESTAMP and TIMESTAMPTZ differ.
        return "timestamptz" if dialect == "postgresql" and column_type.timezone else "timestamp"
    for family, kind in (("date", sa.Date), ("boolean", sa.Boolean), ("integer", sa.Integer),
                         ("float", sa.Float), ("text", sa.String)):  # fmt: skip
        if isinstance(column_type, kind):
            return family
    return type(column_type).__name__.lower()


def _migrate_log(connection: Connection, table: sa.Table, existing: list[dict]) -> None:
    """The log of an earlier version, without `agreement_id` (added, empty for the rows it
    had) or whose `published_at` was a date, to this one, keeping every row (each date
    becomes midnight UTC), in the caller's transaction. Any other
    difference is refused: the log is the audit trail and is never dropped."""
    dialect = connection.dialect.name
    found, wanted = _shape(existing, connection), _shape(_wanted(table), connection)
    if [n for n, _ in found] == [n for n, _ in wanted[:-1]] and wanted[-1][0] == "agreement_id":
        # A log of before the agreements: the column added, empty for the rows it had.
        name = f'"{PUBLISHED}"."{PUBLICATION_LOG}"' if dialect == "postgresql" else f'"{PUBLICATION_LOG}"'
        with _requires(connection, f"ownership of {_qualified(table)} (to add agreement_id)", _OWN_TABLES):
            connection.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN agreement_id TEXT"))
        existing = sa.inspect(connection).get_columns(table.name, schema=table.schema if dialect == "postgresql" else None)
        found = _shape(existing, connection)
        if found == wanted:
            return
    dated = [(name, "date" if name == "published_at" else family) for name, family in wanted]
    if found != dated:
        raise MellanrumError(
            f"{_qualified(table)} has the columns {', '.join(f'{n} ({f})' for n, f in found)}, this version "
            f"expects {', '.join(f'{n} ({f})' for n, f in wanted)}: the publication log is the audit trail and "
            "is never rebuilt, so migrate it by hand before publishing"
        )
    with _requires(connection, f"ownership of {_qualified(table)} (to migrate published_at to a timestamp)",
                   _OWN_TABLES):  # fmt: skip
        if dialect == "postgresql":
            connection.execute(sa.text(
                f'ALTER TABLE "{PUBLISHED}"."{PUBLICATION_LOG}" ALTER COLUMN published_at TYPE timestamptz '
                "USING published_at::timestamp AT TIME ZONE 'UTC'"
            ))  # fmt: skip
            return
        # SQLite cannot change a column's type: a new table, the rows copied, then renamed.
        names = [c.name for c in table.columns]
        interim = sa.Table(f"{PUBLICATION_LOG}__migrating", sa.MetaData(),
                           *(sa.Column(c.name, c.type, nullable=c.nullable) for c in table.columns))  # fmt: skip
        interim.create(connection)
        selected = ", ".join("datetime(published_at)" if n == "published_at" else f'"{n}"' for n in names)
        columns = ", ".join(f'"{n}"' for n in names)
        connection.execute(sa.text(f'INSERT INTO "{interim.name}" ({columns}) SELECT {selected} FROM "{PUBLICATION_LOG}"'))
        connection.execute(sa.text(f'DROP TABLE "{PUBLICATION_LOG}"'))
        connection.execute(sa.text(f'ALTER TABLE "{interim.name}" RENAME TO "{PUBLICATION_LOG}"'))


# --- rights the publishing role lacks (PostgreSQL) ------------------------------------------

_OWN_TABLES = f"the tables must be the publishing role's own, in schemas it owns ({SETUP_SQL})"


@contextlib.contextmanager
def _requires(connection: Connection, right: str, fix: str) -> Iterator[None]:
    """Turn PostgreSQL's insufficient_privilege (SQLSTATE 42501) within the block into one
    sentence naming `right` and `fix`. Built from what the block does, never from the
    server's message (which may quote values); other errors pass unchanged."""
    try:
        yield
    except Exception as problem:  # SQLAlchemy's DBAPIError, or psycopg2's own from COPY
        if getattr(getattr(problem, "orig", problem), "pgcode", None) != INSUFFICIENT_PRIVILEGE:
            raise
        raise PrivilegeError(
            f"the database role {_role(connection)} lacks {right} on the publication database "
            f"(SQLSTATE {INSUFFICIENT_PRIVILEGE}, insufficient_privilege): {fix}"
        ) from None


def _role(connection: Connection) -> str:
    user = connection.engine.url.username
    return repr(user) if user else "of the publication"


def _qualified(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


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
    """A column as Python values for a DBAPI driver: dates as 'YYYY-MM-DD', moments as
    'YYYY-MM-DD HH:MM:SS' in UTC (what SQLite's date functions read as UTC, and what sorts
    in time order as text), missing as None."""
    if _is_moment(str(column.dtype)):
        column = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S")
    elif pd.api.types.is_datetime64_any_dtype(column):
        column = column.dt.strftime("%Y-%m-%d")
    return column.astype(object).where(column.notna(), None).tolist()


def _tuples(rows: pd.DataFrame) -> list[tuple]:
    return list(zip(*(_driver_values(column) for _, column in rows.items()), strict=True))


def _csv(rows: pd.DataFrame) -> io.BytesIO:
    """CSV for PostgreSQL's COPY, written by Arrow: a null is an unquoted empty field and an
    empty string a quoted one, which is exactly how COPY tells them apart."""
    table = pa_arrow.Table.from_pandas(rows, preserve_index=False)
    # Dates go as dates; a time-zone-aware moment stays a timestamp ('... 10:00:01Z').
    dates = [i for i, field in enumerate(table.schema)
             if pa_arrow.types.is_timestamp(field.type) and field.type.tz is None]  # fmt: skip
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
    missing_roles = set(missing_recipient_roles(connection, recipients))
    for recipient in recipients.all:
        role = _identifier(recipient.role)
        if recipient.role in missing_roles:
            with _requires(connection, f"the right to create the recipients' roles (CREATEROLE; {recipient.role} "
                                       "does not exist)", _CREATE_ROLES):  # fmt: skip
                connection.execute(sa.text(f"CREATE ROLE {role} NOLOGIN"))
        with _requires(connection, f"the right to grant schema {PUBLISHED}", _OWN_TABLES):
            connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{PUBLISHED}" TO {role}'))
    scoped = [(d.name, d.recipient_column, tuple(r for kind in (d.recipient_kind, *d.also_to) for r in recipients.of_kind(kind)),
               tuple(c for c in d.kommun_columns if c in d.model.to_schema().columns)) for d in published]  # fmt: skip
    scoped.append((PUBLICATION_LOG, None, recipients.all, ()))
    for table_name, column, readers, by_kommun in scoped:
        table = f'"{PUBLISHED}"."{table_name}"'
        if not sa.inspect(connection).has_table(table_name, schema=PUBLISHED):
            continue
        right = f"ownership of {PUBLISHED}.{table_name} (to set its row-level security and grants)"
        with _requires(connection, right, _OWN_TABLES):
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
                                           f"({_own_rows(table_name, column, recipient, by_kommun)})"))  # fmt: skip


_CREATE_ROLES = (
    "create the recipients' roles beforehand as a database superuser (`mellanrum db prepare --print-sql`, "
    f"{SETUP_SQL}), or give the publishing role CREATEROLE"
)


def missing_recipient_roles(connection: Connection, recipients: Recipients) -> list[str]:
    """The roles (`mellanrum_<id>`) of the recipients that do not exist yet, in file order."""
    wanted = [r.role for r in recipients.all]
    present = set(connection.execute(
        sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": wanted}
    ).scalars())  # fmt: skip
    return [role for role in wanted if role not in present]


def recipient_roles_sql(recipients: Recipients) -> str:
    """SQL a database superuser runs to create every recipient's role (NOLOGIN), idempotent."""
    lines = [
        "-- The recipients' roles of the Mellanrum publication database (mellanrum db prepare --print-sql).",
        "-- NOLOGIN: give a recipient a login with ALTER ROLE ... LOGIN and \\password when it reads the database.",
    ]
    for recipient in recipients.all:
        lines.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(recipient.role)}) "
            f"THEN CREATE ROLE {_identifier(recipient.role)} NOLOGIN; END IF; END $$;"
        )
    return "\n".join(lines) + "\n"


def _own_rows(table_name: str, column: str | None, recipient: Recipient, by_kommun: tuple[str, ...] = ()) -> str:
    """The policy's condition; `by_kommun`: the aggregate's kommun columns (OR over them)."""
    if table_name == PUBLICATION_LOG:
        return f"recipient = {_literal(recipient.id)}"
    kommuner = recipient.region_kommuner
    if column is None and by_kommun and recipient.kind == "kommun":
        # A kommun reading an aggregate (`Contract.also_to`): its own municipality's rows only.
        kommuner = (recipient.kommunkod,)
    elif column is None and by_kommun and kommuner is not None and not kommuner:
        return "false"  # a region naming no municipality reads nothing
    if column is None and by_kommun and kommuner is not None:
        # A region reads its municipalities' rows only; a row is theirs where any kommun column names one.
        listed = ", ".join(_literal(k) for k in kommuner)
        return " OR ".join(f"{_identifier(c)} IN ({listed})" for c in by_kommun)
    return "true" if column is None else f'"{column}" = {_literal(recipient.scope)}'


def _identifier(name: str) -> str:
    # Role names come from validated recipient ids ([a-z][a-z0-9_]*); quoting keeps it so.
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- reading back ---------------------------------------------------------------------------


def read_rows(engine: Engine, name: str, model: type[pa.DataFrameModel], schema: str = PUBLISHED,
              where: Mapping[str | tuple[str, ...], str | tuple[str, ...]] | None = None) -> pd.DataFrame:  # fmt: skip
    """A table's rows (optionally `column = value`, or `column IN values` for a tuple, for each
    of `where`), typed as its model."""
    table = table_of(name, model, schema, sa.MetaData())
    query = sa.select(table)
    for column, value in (where or {}).items():
        if isinstance(column, tuple):  # several columns: a row matches where any of them is in `value`
            query = query.where(sa.or_(*(table.c[c].in_(value) for c in column)))
            continue
        query = query.where(table.c[column].in_(value) if isinstance(value, tuple) else table.c[column] == value)
    with engine.connect() as connection:
        result = connection.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return typed_as(frame, model)


def read_previous(engine: Engine, name: str, model: type[pa.DataFrameModel]) -> pd.DataFrame | None:
    """The rows of a published table as the last publication left them (None: never published)."""
    with engine.connect() as connection:
        schema = None if connection.dialect.name == "sqlite" else PUBLISHED
        if not sa.inspect(connection).has_table(name, schema=schema):
            return None
    return read_rows(engine, name, model)


def typed_as(frame: pd.DataFrame, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """`frame` with the dtypes of `model` (what comes back from a database is Python objects)."""
    out = {}
    for name, column in model.to_schema().columns.items():
        dtype = str(column.dtype)
        values = frame[name] if name in frame else pd.Series([], dtype=object)
        if _is_moment(dtype):
            out[name] = pd.to_datetime(values, utc=True).astype("datetime64[s, UTC]")
        elif dtype.startswith("datetime64"):
            out[name] = pd.to_datetime(values).astype("datetime64[s]")
        elif dtype == "bool":
            out[name] = values.astype(bool)
        elif dtype == "boolean":
            out[name] = pd.array(values.astype(object).where(values.notna(), None), dtype="boolean")
        elif dtype == "Int64":
            out[name] = pd.array(values.where(values.notna(), None), dtype="Int64")
        elif dtype == "Float64":  # a nullable share: NULL comes back as NA, not NaN or text
            out[name] = pd.array(pd.to_numeric(values.astype(object).where(values.notna(), None)), dtype="Float64")
        elif dtype.startswith("int"):
            out[name] = values.astype(np.int64)
        elif dtype.startswith("float"):
            out[name] = values.astype(float)
        else:
            out[name] = pd.Series(values, dtype="str")
    return pd.DataFrame(out)
