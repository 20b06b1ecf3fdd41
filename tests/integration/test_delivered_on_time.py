"""`delivered_on_time` is measured against the run's as-of date, not the wall clock: a re-run
as of a past date says how old the delivery was then."""

import datetime as dt
import os

import dagster as dg
import pytest

from assets.configs import ingest_run_config
from assets.names import MUNICIPAL_INTERVENTIONS, ingest_job
from core.clock import STOCKHOLM
from orchestration.app.runs import open_instance
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.sources import load_sources
from testkit.homes import AS_OF, PASSPHRASE, new_home

DELIVERED_ON = AS_OF - dt.timedelta(days=3)


@pytest.fixture(scope="module")
def home(tmp_path_factory, inbox):
    home = tmp_path_factory.mktemp("freshness")
    new_home(home, inbox, "FRESH")
    sources = load_sources(home / "inbox" / "sources.yaml")
    noon = dt.datetime.combine(DELIVERED_ON, dt.time(12), STOCKHOLM).timestamp()
    for path in sources.files(sources.source("partille")):
        os.utime(path, (noon, noon))
    return home


def on_time(home, as_of: dt.date) -> dg.AssetCheckEvaluation:
    settings = Settings.of(home=home)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MELLANRUM_KEYRING_PASSPHRASE", PASSPHRASE)
        result = build_definitions(settings).resolve_job_def(ingest_job("municipal")).execute_in_process(
            partition_key="partille (1402 Partille)", instance=open_instance(settings), run_config=ingest_run_config("municipal", as_of))
    (check,) = [c for c in result.get_asset_check_evaluations()
                if c.asset_key == MUNICIPAL_INTERVENTIONS and c.check_name == "delivered_on_time"]  # fmt: skip
    return check


@pytest.mark.parametrize(("as_of", "age", "passed"), [
    (DELIVERED_ON - dt.timedelta(days=30), 0, True),  # a re-run as of a date before the delivery
    (DELIVERED_ON + dt.timedelta(days=7), 7, True),
    (DELIVERED_ON + dt.timedelta(days=8), 8, False),
    (DELIVERED_ON + dt.timedelta(days=40), 40, False),
])  # fmt: skip
def test_the_delivery_age_is_counted_to_the_as_of_date(home, as_of, age, passed):
    check = on_time(home, as_of)
    assert check.passed is passed
    assert check.metadata["age_days_on_as_of"].value == age
    assert check.metadata["newest_file_delivered_on"].value == DELIVERED_ON.isoformat()
    assert check.metadata["as_of"].value == as_of.isoformat()
