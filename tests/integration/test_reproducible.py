"""Reproducibility (issue 18): the same as-of date run twice — two fresh nights on the same
inbox with the same keys — gives byte-identical published tables (every contract's, in the
order the database returns them), byte-identical checksums, and the same publication log
apart from when and by which run, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from core.audit import read_log, verify_checksums
from core.contracts import CONTRACTS
from core.database import PUBLISHED, create_engine, table_of
from orchestration.app.runs import run_nightly
from core.keys.passphrase import KEYRING_PASSPHRASE_ENV
from orchestration.settings import Settings
from schemas.recipients import load_recipients
from testkit import homes

pytestmark = pytest.mark.slow  # four whole nights

# What differs between two runs by design: when, and Dagster's id of the run.
RUN_COLUMNS = ["published_at", "run_id"]


def stored_bytes(engine, name: str, model) -> bytes:
    """The table's rows as the database returns them (no ORDER BY), as bytes."""
    table = table_of(name, model, PUBLISHED, sa.MetaData())
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table)).fetchall()
    return repr([tuple(row) for row in rows]).encode()


def night(home, inbox, keyring_from, url: str | None):
    """A fresh night in `home` (the inbox and the keyring copied), published to `url`
    (None: the home's SQLite); returns an engine on its publication database."""
    shutil.copytree(inbox, home / "inbox")
    shutil.copy(keyring_from, home / "keyring.json")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEYRING_PASSPHRASE_ENV, homes.PASSPHRASE)
        report = run_nightly(Settings.of(home=home, database_url=url), homes.AS_OF)
    assert report.reconciliation.outcome.ok and report.publication.ok, report.publication.error
    return create_engine(url or f"sqlite:///{home / 'published.sqlite'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def two_nights(request, tmp_path, inbox):
    keyring = tmp_path / "keyring.json"
    homes.new_keyring(keyring, "REPRO")
    urls = [None, None]
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database(f"mellanrum_repro_{n}") for n in (1, 2)]
    engines = [night(tmp_path / f"night{n}", inbox, keyring, url) for n, url in enumerate(urls, start=1)]
    yield engines, load_recipients(tmp_path / "night1" / "inbox" / "recipients.yaml")
    for engine in engines:
        engine.dispose()
    if request.param == "postgresql":
        with server.connect() as connection, connection.cursor() as cursor:
            for n in (1, 2):
                cursor.execute(f"DROP DATABASE IF EXISTS mellanrum_repro_{n} WITH (FORCE)")


def test_the_same_as_of_date_twice_gives_byte_identical_tables_checksums_and_log(two_nights):
    (first, second), recipients = two_nights
    differing = [c.name for c in CONTRACTS if stored_bytes(first, c.name, c.model) != stored_bytes(second, c.name, c.model)]
    assert differing == []
    assert sum(len(stored_bytes(first, c.name, c.model)) for c in CONTRACTS) > 10_000  # not two empty publications
    for recipient in recipients.all:
        sums = [verify_checksums(engine, CONTRACTS, recipient) for engine in (first, second)]
        assert sums[0]["matches"].all() and sums[1]["matches"].all(), recipient.id
        assert sums[0][["dataset", "rows", "checksum now"]].equals(sums[1][["dataset", "rows", "checksum now"]]), recipient.id
    logs = [read_log(engine).drop(columns=RUN_COLUMNS) for engine in (first, second)]
    order = ["dataset", "recipient", "channel"]
    logs = [log.sort_values(order, kind="stable").reset_index(drop=True) for log in logs]
    assert len(logs[0]) > len(CONTRACTS)
    pd.testing.assert_frame_equal(logs[0], logs[1])
    assert logs[0].to_csv(index=False).encode() == logs[1].to_csv(index=False).encode()
