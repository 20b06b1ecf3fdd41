"""The production instance (deploy/dagster.yaml) on the real PostgreSQL server of the tests.

A copy of the file, changed only in where compute logs go, is loaded with its DAGSTER_PG_*
variables pointing at a fresh database owned by a role with a password. One source of a
generated inbox is ingested through it; its run and events are then found in PostgreSQL's
own tables, and the retention deletes them again.
"""

import datetime as dt
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._serdes import serialize_value
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

from assets.names import (
    CONCURRENCY_GROUP_TAG,
    MUNICIPAL_INTERVENTIONS,
    MUNICIPAL_QUARANTINE,
    PUBLISH_JOB,
    RECONCILE_AND_PUBLISH_JOB,
    RECONCILE_JOB,
    RETENTION_JOB,
    partition_key,
)
from core.keys.keyring import Keyring
from orchestration.definitions import build_definitions
from orchestration.retention import delete_runs_older_than
from orchestration.settings import Settings
from schemas.sources import load_sources
from testkit.homes import AS_OF, PASSPHRASE

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

PRODUCTION_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
INSTANCE_ROLE, INSTANCE_PASSWORD, INSTANCE_DB = "dagster_instance", "a dagster instance password", "dagster_prod"
PG_FIELDS = {"username": "DAGSTER_PG_USERNAME", "password": "DAGSTER_PG_PASSWORD", "hostname": "DAGSTER_PG_HOST",
             "port": "DAGSTER_PG_PORT", "db_name": "DAGSTER_PG_DB"}  # fmt: skip
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def production_config() -> dict:
    return yaml.safe_load(PRODUCTION_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_server, production_config, inbox):
    """DAGSTER_HOME with the production file, the instance on PostgreSQL, and a Mellanrum home."""
    postgres_server.create_role(INSTANCE_ROLE, INSTANCE_PASSWORD)
    postgres_server.create_database(INSTANCE_DB, owner=INSTANCE_ROLE)
    dagster_home = tmp_path_factory.mktemp("dagster-home")
    compute_logs = dagster_home / "compute-logs"
    config = {**production_config, "compute_logs": {
        **production_config["compute_logs"], "config": {"base_dir": str(compute_logs)}}}  # fmt: skip
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    home = tmp_path_factory.mktemp("production-home")
    shutil.copytree(inbox, home / "inbox")
    ring, _ = Keyring(path=home / "keyring.json").with_new_key("pipeline", dt.date(2026, 1, 1), key_id="L2-PROD")
    ring, _ = ring.with_new_key("linkage", dt.date(2026, 1, 1), key_id="L1-PROD")
    ring.save(PASSPHRASE)
    environment = {
        "DAGSTER_PG_USERNAME": INSTANCE_ROLE, "DAGSTER_PG_PASSWORD": INSTANCE_PASSWORD,
        "DAGSTER_PG_HOST": postgres_server.host, "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": INSTANCE_DB, "DAGSTER_HOME": str(dagster_home),
        "MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE,
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        for name in ("MELLANRUM_SOURCES", "MELLANRUM_KEYRING", "MELLANRUM_RECIPIENTS", "MELLANRUM_DATABASE_URL"):
            env.delenv(name, raising=False)
        for name, value in environment.items():
            env.setenv(name, value)
        engine = sa.create_engine(postgres_server.url_for(INSTANCE_ROLE, INSTANCE_PASSWORD, INSTANCE_DB))
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            yield {"instance": instance, "home": home, "compute_logs": compute_logs, "engine": engine}
        engine.dispose()


# --- the file ------------------------------------------------------------------------------


def test_the_file_reads_every_connection_field_from_the_environment_and_names_psycopg2(production_config):
    postgres_db = dict(production_config["storage"]["postgres"]["postgres_db"])
    # Without it SQLAlchemy 2.1 reaches for psycopg 3, which is not installed.
    assert postgres_db.pop("scheme") == "postgresql+psycopg2"
    assert postgres_db == {field: {"env": variable} for field, variable in PG_FIELDS.items()}


def test_the_instance_keeps_runs_events_and_schedules_in_postgres(deployment):
    instance = deployment["instance"]
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    # What Dagster hands every run worker names the variables, never their values.
    assert INSTANCE_PASSWORD not in serialize_value(instance.get_ref())
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 4 * 3600
    assert not instance.telemetry_enabled
    assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"


def test_the_units_the_workspace_and_the_proxy_agree(production_config):
    """Ports line up, the UIs listen on 127.0.0.1 behind the proxy, the steward's is
    read-only, and only the code server (where runs start) reads the pipeline's secrets."""
    deploy = PRODUCTION_YAML.parent
    units = {path.stem: path.read_text(encoding="utf-8") for path in (deploy / "systemd").glob("*.service")}
    (location,) = yaml.safe_load((deploy / "workspace.yaml").read_text(encoding="utf-8"))["load_from"]
    grpc = location["grpc_server"]
    assert f"-h {grpc['host']} -p {grpc['port']} --location-name {grpc['location_name']}" in units["mellanrum-code"]
    proxy = (deploy / "nginx" / "mellanrum-dagster.conf").read_text(encoding="utf-8")
    for unit, port in (("mellanrum-webserver", 3000), ("mellanrum-steward-ui", 3001)):
        assert f"dagster-webserver -h 127.0.0.1 -p {port}" in units[unit]
        assert f"proxy_pass http://127.0.0.1:{port};" in proxy
        assert ("--read-only" in units[unit]) == (unit == "mellanrum-steward-ui")
    assert proxy.count("auth_basic_user_file") == 2
    for unit, text in units.items():
        assert "EnvironmentFile=/etc/mellanrum/instance.env" in text
        assert ("pipeline.env" in text) == (unit == "mellanrum-code"), unit
        assert "StateDirectoryMode=0700" in text and "UMask=0077" in text
    assert production_config["compute_logs"]["config"]["base_dir"] == "/var/lib/mellanrum/compute-logs"


# --- the run queue ---------------------------------------------------------------------------


def queued(**tags: str) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="any", run_id=str(uuid.uuid4()), tags=tags)


def blocked(instance: dg.DagsterInstance, in_progress: list[dg.DagsterRun], candidate: dg.DagsterRun) -> bool:
    """Whether the daemon's run queue would hold `candidate` back (Dagster's own counter)."""
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    return TagConcurrencyLimitsCounter(list(limits), in_progress).is_blocked(candidate)


def test_the_queue_runs_one_reconcile_and_publish_three_ingests_and_one_run_per_source(deployment):
    instance = deployment["instance"]
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    publishing = queued(**{CONCURRENCY_GROUP_TAG: "reconcile_and_publish"})
    assert blocked(instance, [publishing], queued(**{CONCURRENCY_GROUP_TAG: "reconcile_and_publish"}))
    ingests = [queued(**{CONCURRENCY_GROUP_TAG: "ingest", "dagster/partition": s}) for s in ("a", "b", "c")]
    assert not blocked(instance, ingests[:2], ingests[2])
    assert blocked(instance, ingests, queued(**{CONCURRENCY_GROUP_TAG: "ingest", "dagster/partition": "d"}))
    assert not blocked(instance, ingests, publishing)
    # The same source twice, even outside the ingest group (a run launched by hand).
    assert blocked(instance, ingests[:1], queued(**{"dagster/partition": "a"}))
    assert not blocked(instance, ingests[:1], queued(**{"dagster/partition": "e"}))


def test_every_concurrency_group_of_the_queue_is_carried_by_the_jobs_it_means(deployment, production_config):
    defs = build_definitions(Settings.of(home=deployment["home"], sources=deployment["home"] / "inbox" / "sources.yaml"))
    groups = {limit["value"] for limit in production_config["run_coordinator"]["config"]["tag_concurrency_limits"]
              if limit["key"] == CONCURRENCY_GROUP_TAG}  # fmt: skip
    # The reconciliation and the publication alone write what reconcile_and_publish writes.
    jobs = {"ingest": ["ingest_municipal", "ingest_af"],
            "reconcile_and_publish": [RECONCILE_JOB, PUBLISH_JOB, RECONCILE_AND_PUBLISH_JOB],
            "retention": [RETENTION_JOB]}  # fmt: skip
    assert groups == set(jobs)
    for group, names in jobs.items():
        for name in names:
            assert defs.resolve_job_def(name).tags.get(CONCURRENCY_GROUP_TAG) == group, name


# --- a real run, stored in PostgreSQL and deleted by the retention --------------------------


def rows(engine: sa.Engine, table: str, run_id: str) -> int:
    """Rows of `run_id` in one of Dagster's own tables, read past Dagster's API."""
    query = sa.text(f"SELECT count(*) FROM {table} WHERE run_id = :run_id")  # noqa: S608 (our own table names)
    with engine.connect() as conn:
        return conn.execute(query, {"run_id": run_id}).scalar()


def test_an_ingest_run_is_stored_in_postgres_and_the_retention_deletes_it_again(deployment):
    instance, engine, home = deployment["instance"], deployment["engine"], deployment["home"]
    sources = load_sources(home / "inbox" / "sources.yaml")
    source = next(s for s in sources.all if s.kind == "municipal")
    defs = build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml"))

    result = defs.resolve_job_def("ingest_municipal").execute_in_process(
        instance=instance, partition_key=partition_key(source),
        run_config={"ops": {"municipal_ingest": {"config": {"as_of": AS_OF.isoformat()}}}, **QUIET},
    )  # fmt: skip

    assert result.success
    run_id = result.run_id
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    for key in (MUNICIPAL_INTERVENTIONS, MUNICIPAL_QUARANTINE):
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key(source)]), limit=10).records  # fmt: skip
        assert record.run_id == run_id
    with engine.connect() as conn:
        materializations = conn.execute(sa.text(
            "SELECT count(*) FROM event_logs WHERE run_id = :run_id AND dagster_event_type = 'ASSET_MATERIALIZATION'"),
            {"run_id": run_id}).scalar()  # fmt: skip
    assert materializations == 2
    assert rows(engine, "runs", run_id) == 1 and rows(engine, "event_logs", run_id) > materializations
    assert any((deployment["compute_logs"] / run_id).rglob("*.out"))

    assert delete_runs_older_than(instance, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 1

    assert instance.get_run_by_id(run_id) is None and instance.all_logs(run_id) == []
    assert rows(engine, "runs", run_id) == rows(engine, "run_tags", run_id) == rows(engine, "event_logs", run_id) == 0
    assert not (deployment["compute_logs"] / run_id).exists()
