"""Publication: contracts, per-recipient datasets, SQLite and PostgreSQL, atomicity, exports.

One home is ingested and reconciled once through Dagster; then the publication runs on
the embedded SQLite default and on a real PostgreSQL server started by the tests, where
each recipient's role must see exactly its own rows and nothing internal.
"""

import datetime as dt
import io
import zipfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa_model
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from pandera.typing import Series

from assets.names import KEY_EPOCHS, RECONCILE_PARAMETERS
from core import database as database_module
from core.contracts import CONTRACTS, contract
from core.database import (
    INTERNAL,
    PUBLICATION_LOG,
    PUBLISHED,
    Dataset,
    create_engine,
    read_rows,
    replace_publication,
)
from core.exports import build_export
from core.keys.keyring import Keyring
from core.keys.pseudonyms import level1_pseudonyms
from core.keys.record_keys import cell_key_secret
from core.keys.sealing import new_recipient_key, public_key_text, write_private_key
from core.publish import (
    ContractError,
    build_datasets,
    build_publication,
    canonical,
    checksum,
    conform,
)
from core.store import DatasetFiles
from orchestration.app.runs import (
    StageOutcome,
    open_instance,
    publish_latest,
    reconcile_stored,
)
from schemas.datasets import Quarantine
from orchestration.cli import cli
from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from schemas.catalogue import default_catalogue
from schemas.contracts import Contract, PublicationParameters
from schemas.published import PublicationLog
from schemas.agreements import load_agreements
from schemas.recipients import load_recipients
from schemas.rules import default_rules
from schemas.sources import load_sources
from testkit.homes import AS_OF, NIGHT, PASSPHRASE, copy_home, use_home
from testkit.leakscan import scan

GOTEBORG = "1480"
GOTEBORG_CITY = "Arbetsförmedlingen Göteborg City"
RULE_OF = {(r.municipal, r.af): r.classification for r in default_rules().rules}


@pytest.fixture(scope="module")
def home(tmp_path_factory, nightly_home):
    """A copy of the session's night (ingested, reconciled, published once); each test
    publishes again where it needs to."""
    home = copy_home(nightly_home, tmp_path_factory.mktemp("publish") / "home")
    with pytest.MonkeyPatch.context() as env:
        use_home(env, home)
        yield home


def definitions(home: Path, env: dict | None = None) -> dg.Definitions:
    url = (env or {}).get("MELLANRUM_DATABASE_URL")
    return build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml", database_url=url))


@pytest.fixture(scope="module")
def internal(home):
    files = DatasetFiles(home / "storage")
    return files.load("overlaps"), files.load("transition_list")


@pytest.fixture(scope="module")
def followup(home):
    files = DatasetFiles(home / "storage")
    return {"youth_monitor": files.load("youth_monitor"), "handovers": files.load("handovers"),
            "intervention_outcomes": files.load("intervention_outcomes"),
            "municipal_flows": files.load("municipal_flows"), "municipal_overlaps": files.load("municipal_overlaps")}


@pytest.fixture(scope="module")
def expected(home, internal, followup):
    """What the publication must hold: the contracts' datasets under the gates, with the
    inbox's agreements (the generated one in force, one expired, a municipality without)."""
    overlaps, transition_list = internal
    agreements = load_agreements(home / "inbox" / "agreements.yaml", [c.name for c in CONTRACTS])
    # The aggregates are perturbed with the record keys the night used (its pipeline key).
    ring = Keyring.load(Settings.of(home=home).keyring_file, PASSPHRASE)
    secret = cell_key_secret(ring.active("pipeline", AS_OF).secret)
    parameters = PublicationParameters(AS_OF, Settings.of().suppression_threshold, agreements, cell_key_secret=secret)
    return build_datasets({"overlaps": overlaps, "transition_list": transition_list, **followup}, CONTRACTS,
                          parameters)  # fmt: skip


@pytest.fixture(scope="module")
def sqlite_published(home):
    outcome = publish_latest(definitions(home), open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    return create_engine(f"sqlite:///{home / 'published.sqlite'}")


# --- the datasets, from the contracts and the ground truth -----------------------------------


def planted_for_samplanering(home) -> pd.DataFrame:
    """The generator's planted overlaps that samplanering must carry, from the truth file
    alone: touching the window (90 days back, 180 ahead), needing action (not
    complementary by the rule table, unless over full time), with each side's consent."""
    planted = pd.read_csv(home / "inbox" / "truth" / "overlaps.csv", dtype=str, keep_default_na=False)
    planted = planted[planted.kind == "municipal_af"].copy()
    catalogue = default_catalogue()
    first, last = pd.Timestamp(AS_OF - dt.timedelta(days=90)), pd.Timestamp(AS_OF + dt.timedelta(days=180))
    kommunkod = {s.id: s.kommunkod for s in load_sources(home / "inbox" / "sources.yaml").all}
    keep = []
    for row in planted.itertuples():
        end = pd.Timestamp(row.overlap_end) if row.overlap_end else None
        touches = pd.Timestamp(row.overlap_start) <= last and (end is None or end >= first)
        table_class = RULE_OF[(catalogue.intervention_categories[row.code], catalogue.programme_categories[row.other_code])]
        keep.append(touches and (float(row.combined_extent) > 100 or table_class != "complementary"))
    planted = planted[keep]
    return planted.assign(kommunkod=planted.source_id.map(kommunkod))


def in_force(home) -> set[str]:
    """The municipalities whose agreement with AF is in force, from the generator's truth."""
    agreements = pd.read_csv(home / "inbox" / "truth" / "agreements.csv", dtype=str, keep_default_na=False)
    return set(agreements.loc[agreements.in_force == "true", "kommunkod"])


def may_leave(home, planted: pd.DataFrame, source: str, record: str) -> pd.Series:
    """Per planted overlap, whether the truth lets it leave for samplanering with the consent of
    the record (`source`, `record` columns): valid on the as-of date for samplanering, the
    person not protected, the municipality's agreement in force."""
    truth = pd.read_csv(home / "inbox" / "truth" / "consent.csv", dtype=str, keep_default_na=False)
    facts = truth.set_index(["source_id", "record_id"]).reindex(pd.MultiIndex.from_arrays([planted[source],
                                                                                          planted[record]]))  # fmt: skip
    consented = facts.scopes.str.split(",").map(lambda scopes: "samplanering" in scopes).to_numpy(dtype=bool)
    return pd.Series(consented & (facts.protected == "false").to_numpy() & planted.kommunkod.isin(in_force(home)).to_numpy(),
                     index=planted.index)  # fmt: skip


def test_each_municipalitys_rows_are_its_planted_overlaps_with_afs_consent(home, expected):
    planted = planted_for_samplanering(home)
    wanted = planted[may_leave(home, planted, "other_source_id", "other_record_id")]
    assert (wanted.other_consent == "true").all()
    published = expected["kommun_samplanering"]
    assert len(published) == len(wanted) > 0
    for code in sorted(set(wanted.kommunkod) | set(published.kommunkod)):
        own = published[published.kommunkod == code]
        truth = wanted[wanted.kommunkod == code]
        assert sorted(zip(own.record_id, own.insats_code)) == sorted(zip(truth.record_id, truth.code)), code


def test_af_rows_are_the_planted_overlaps_with_the_municipalitys_consent(home, expected):
    planted = planted_for_samplanering(home)
    wanted = planted[may_leave(home, planted, "source_id", "record_id")]
    assert (wanted.consent == "true").all()
    published = expected["af_samplanering"]
    assert len(published) == len(wanted) > 0
    assert sorted(zip(published.assignment_id, published.programme_code, published.kommunkod)) == sorted(
        zip(wanted.other_record_id, wanted.other_code, wanted.kommunkod))  # fmt: skip


def test_each_dataset_holds_exactly_its_contracts_columns(expected):
    for declared in CONTRACTS:
        assert list(expected[declared.name].columns) == declared.columns


def for_samplanering(consent_for: pd.Series) -> pd.Series:
    return consent_for.fillna("").str.split(",").map(lambda scopes: "samplanering" in scopes).astype(bool)


def test_samplanering_rows_follow_window_class_and_the_disclosing_partys_consent(home, internal, expected):
    overlaps, _ = internal
    covered = overlaps.kommunkod.isin(in_force(home)) & ~overlaps.protected_identity
    for name, consent in (("kommun_samplanering", "af_consent"), ("af_samplanering", "municipal_consent")):
        valid = overlaps[consent] & for_samplanering(overlaps[f"{consent}_for"])
        chosen = overlaps[overlaps.in_window & (overlaps.classification != "complementary") & valid & covered]
        assert 0 < len(chosen) < len(overlaps)
        key = "record_id" if name == "kommun_samplanering" else "assignment_id"
        assert sorted(expected[name][key]) == sorted(chosen[key])


def test_no_samplanering_row_crosses_without_consent(home, internal, expected):
    overlaps, transition_list = internal
    without_af_consent = set(overlaps.loc[~overlaps.af_consent, "record_id"])
    without_municipal_consent = set(overlaps.loc[~overlaps.municipal_consent, "assignment_id"])
    assert without_af_consent and without_municipal_consent
    assert not without_af_consent & set(expected["kommun_samplanering"].record_id)
    assert not without_municipal_consent & set(expected["af_samplanering"].assignment_id)
    listed = expected["af_pagaende_insatser"]
    valid = transition_list.municipal_consent & for_samplanering(transition_list.municipal_consent_for)
    covered = transition_list.kommunkod.isin(in_force(home)) & ~transition_list.protected_identity
    assert len(listed) == len(transition_list[valid & covered].drop_duplicates(
        subset=contract("af_pagaende_insatser").columns))  # fmt: skip


def test_a_stray_column_refuses_publication(expected):
    frame = expected["kommun_samplanering"].assign(pseudonym="A" * 52)
    with pytest.raises(ContractError, match=r"kommun_samplanering \(contract 1.0.0\) refused: columns not in the "
                                            r"contract: pseudonym"):  # fmt: skip
        conform(frame, contract("kommun_samplanering"))
    with pytest.raises(ContractError, match="missing: af_office"):
        conform(expected["kommun_samplanering"].drop(columns="af_office"), contract("kommun_samplanering"))


def test_a_contract_rule_broken_refuses_publication_without_quoting_values(expected):
    frame = expected["kommun_samplanering"].copy()
    frame.loc[0, "kommunkod"] = "ABCD"
    with pytest.raises(ContractError) as refused:
        conform(frame, contract("kommun_samplanering"))
    assert "kommunkod: str_matches" in str(refused.value) and "ABCD" not in str(refused.value)


def test_the_checksum_is_of_the_rows_not_their_order(expected):
    frame = expected["af_pagaende_insatser"]
    assert checksum(frame) == checksum(frame.iloc[::-1])
    assert checksum(frame) != checksum(frame.iloc[1:])


def test_the_contracts_command_lists_every_dataset(home):
    result = CliRunner().invoke(cli, ["contracts"])
    assert result.exit_code == 0
    for declared in CONTRACTS:
        assert declared.name in result.output


# --- the same publication on SQLite (the embedded default) and PostgreSQL --------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request, home):
    """A published database of each kind, and the environment that publishes to it."""
    if request.param == "sqlite":
        url, env = f"sqlite:///{home / 'published.sqlite'}", {}
    else:
        url = request.getfixturevalue("postgres_server").create_database("mellanrum_backend")
        env = {"MELLANRUM_DATABASE_URL": url}
    outcome = publish_latest(definitions(home, env), open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    return outcome, create_engine(url), env


def publish_again(home, env: dict, monkeypatch) -> StageOutcome:
    return publish_latest(definitions(home, env), open_instance(Settings.of(home=home)))


def tables(engine) -> dict[str, pd.DataFrame]:
    return {c.name: canonical(read_rows(engine, c.name, c.model)) for c in CONTRACTS}


def test_tables_equal_the_contract_datasets_with_exactly_their_columns(backend, expected):
    outcome, engine, _ = backend
    schema = "published" if engine.dialect.name == "postgresql" else None
    for name, table in tables(engine).items():
        pd.testing.assert_frame_equal(table, expected[name], check_dtype=False)
        assert outcome.metadata[name]["checksum"] == checksum(table)
        assert [c["name"] for c in sa.inspect(engine).get_columns(name, schema=schema)] == contract(name).columns


def test_the_publication_log_has_a_row_per_dataset_and_recipient(home, backend, expected):
    _, engine, _ = backend
    recipients = load_recipients(home / "inbox" / "recipients.yaml")
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    latest = log[log.run_id == log.sort_values("published_at").run_id.iloc[-1]]
    assert len(latest) == sum(len(recipients.of_kind(kind)) for c in CONTRACTS for kind in c.recipient_kinds)
    row = latest[(latest.dataset == "kommun_samplanering") & (latest.recipient == f"kommun_{GOTEBORG}")].iloc[0]
    own = expected["kommun_samplanering"]
    own = own[own.kommunkod == GOTEBORG]
    assert row.row_count == len(own) > 0 and row.checksum == checksum(own)
    assert row.key_id == f"L1-{NIGHT}+L2-{NIGHT}" and row.as_of == pd.Timestamp(AS_OF) and row.channel == "database"


def test_publishing_the_same_as_of_date_twice_gives_identical_tables_and_checksums(home, backend, monkeypatch):
    _, engine, env = backend
    before = tables(engine)
    assert publish_again(home, env, monkeypatch).ok
    after = tables(engine)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    by_run = log[log.channel == "database"].groupby("run_id").apply(
        lambda rows: tuple(sorted(zip(rows.dataset, rows.recipient, rows.checksum))))  # fmt: skip
    assert by_run.nunique() == 1 and len(by_run) >= 2


def test_a_run_failing_mid_publication_leaves_the_last_publication_intact(home, backend, monkeypatch):
    _, engine, env = backend
    before, log_before = tables(engine), read_rows(engine, PUBLICATION_LOG, PublicationLog)
    real_insert, calls = database_module._insert, []

    def insert_then_fail(connection, table, rows):
        if table.schema == "published":  # on SQLite the internal tables went to their own file before
            calls.append(table.name)
        if len(calls) == 3:  # two published datasets replaced already, inside the transaction
            raise OSError("disk full")
        real_insert(connection, table, rows)

    monkeypatch.setattr(database_module, "_insert", insert_then_fail)
    failed = publish_again(home, env, monkeypatch)
    assert not failed.ok and "publication failed with OSError" in failed.error
    assert len(calls) == 3
    for name, table in tables(engine).items():
        pd.testing.assert_frame_equal(table, before[name])
    pd.testing.assert_frame_equal(read_rows(engine, PUBLICATION_LOG, PublicationLog), log_before)


# --- PostgreSQL: one role per recipient, row-level security ----------------------------------


@pytest.fixture(scope="module")
def postgres_published(home, postgres_server, expected):
    url = postgres_server.create_database("mellanrum_publish")
    env = {"MELLANRUM_DATABASE_URL": url}
    outcome = publish_latest(definitions(home, env), open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    assert publish_latest(definitions(home, env), open_instance(Settings.of(home=home))).ok  # roles, policies exist
    roles = {}
    for recipient in load_recipients(home / "inbox" / "recipients.yaml").all:
        password = f"test-{recipient.id}"
        with postgres_server.connect("mellanrum_publish") as connection, connection.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{recipient.role}" LOGIN PASSWORD %s', (password,))
        roles[recipient.id] = sa.create_engine(postgres_server.url_for(recipient.role, password, "mellanrum_publish"))
    yield create_engine(url), roles
    for engine in roles.values():
        engine.dispose()


def read_as(engine, table: str) -> pd.DataFrame:
    with engine.connect() as connection:
        result = connection.execute(sa.text(f"SELECT * FROM {table}"))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def refused(engine, table: str) -> bool:
    try:
        read_as(engine, table)
    except sa.exc.ProgrammingError as error:
        return "permission denied" in str(error.orig)
    return False


def test_a_municipalitys_role_sees_exactly_its_own_rows(postgres_published, expected):
    _, roles = postgres_published
    seen = read_as(roles[f"kommun_{GOTEBORG}"], "published.kommun_samplanering")
    own = expected["kommun_samplanering"]
    assert len(seen) == (own.kommunkod == GOTEBORG).sum() > 0
    assert set(seen.record_id) == set(own.loc[own.kommunkod == GOTEBORG, "record_id"])
    assert set(seen.kommunkod) == {GOTEBORG}
    for other in ("af_samplanering", "af_pagaende_insatser", "regional_statistik"):
        assert refused(roles[f"kommun_{GOTEBORG}"], f"published.{other}")


def test_an_af_offices_role_sees_exactly_its_own_rows(postgres_published, expected):
    _, roles = postgres_published
    for name in ("af_samplanering", "af_pagaende_insatser"):
        seen = read_as(roles["af_goteborg_city"], f"published.{name}")
        own = expected[name][expected[name].af_office == GOTEBORG_CITY]
        assert len(seen) == len(own) > 0 and set(seen.af_office) == {GOTEBORG_CITY}
        assert sorted(seen.assignment_id.dropna()) == sorted(own.assignment_id.dropna())
    assert refused(roles["af_goteborg_city"], "published.kommun_samplanering")


def test_the_region_sees_the_statistics_only(postgres_published, expected):
    _, roles = postgres_published
    assert len(read_as(roles["region"], "published.regional_statistik")) == len(expected["regional_statistik"])
    for name in ("kommun_samplanering", "af_samplanering", "af_pagaende_insatser"):
        assert refused(roles["region"], f"published.{name}")


def test_no_recipient_can_read_an_internal_table(postgres_published):
    _, roles = postgres_published
    for role in roles.values():
        for table in ("internal.overlaps", "internal.municipal_overlaps", "internal.municipal_quarantine",
                      "internal.af_quarantine", "internal.af_registrations_quarantine"):  # fmt: skip
            assert refused(role, table), table


AF_OFFICE_TABLES = ("af_pagaende_insatser", "unga_90_dagar", "overlamningar")
KOMMUN_TABLES = ("kommun_samplanering", "unga_90_dagar_kommun", "overlamningar_kommun")
REGION_TABLES = ("regional_statistik", "unga_90_dagar_statistik", "overlamningar_statistik")


def test_an_af_offices_role_reads_only_its_offices_rows_of_the_registration_tables(postgres_published, expected):
    _, roles = postgres_published
    listed = expected["af_pagaende_insatser"]
    assert (listed["keyed_by"] == "registration_id").any(), "people registered without an assignment are listed"
    for name in AF_OFFICE_TABLES:
        seen = read_as(roles["af_goteborg_city"], f"published.{name}")
        own = expected[name][expected[name].af_office == GOTEBORG_CITY]
        assert len(seen) == len(own) > 0 and set(seen.af_office) == {GOTEBORG_CITY}, name
        assert len(expected[name]) > len(own), f"{name}: other offices have rows the role does not see"
    for name in (*KOMMUN_TABLES, *REGION_TABLES):
        assert refused(roles["af_goteborg_city"], f"published.{name}"), name


def test_a_municipalitys_role_never_sees_a_registration_date_and_only_its_own_rows(postgres_published, expected):
    _, roles = postgres_published
    role = roles[f"kommun_{GOTEBORG}"]
    for name in KOMMUN_TABLES:
        seen = read_as(role, f"published.{name}")
        assert not {"registration_date", "deregistration_date", "deregistration_reason", "registration_id",
                    "day"} & set(seen.columns), name  # fmt: skip
        own = expected[name][expected[name].kommunkod == GOTEBORG]
        assert len(seen) == len(own) and set(seen.kommunkod) <= {GOTEBORG}, name
    assert len(read_as(role, "published.unga_90_dagar_kommun")) > 0
    for name in (*AF_OFFICE_TABLES, *REGION_TABLES):
        assert refused(role, f"published.{name}"), name


def test_the_region_reads_the_registration_statistics_and_no_row_of_a_person(postgres_published, expected):
    _, roles = postgres_published
    for name in REGION_TABLES:
        assert len(read_as(roles["region"], f"published.{name}")) == len(expected[name]) > 0, name
    for name in (*AF_OFFICE_TABLES, *KOMMUN_TABLES):
        assert refused(roles["region"], f"published.{name}"), name


def test_no_recipient_can_read_the_internal_registration_tables(postgres_published):
    _, roles = postgres_published
    for role in roles.values():
        for table in ("internal.youth_monitor", "internal.handovers"):
            assert refused(role, table), table


def test_each_recipient_reads_only_its_own_lines_of_the_publication_log(postgres_published):
    _, roles = postgres_published
    for recipient_id, role in roles.items():
        log = read_as(role, "published.publication_log")
        assert len(log) > 0 and set(log.recipient) == {recipient_id}


# --- encrypted exports --------------------------------------------------------------------------


def test_an_export_holds_the_recipients_rows_sealed_to_its_key_and_is_logged(home, sqlite_published, tmp_path,
                                                                              monkeypatch):  # fmt: skip
    engine = sqlite_published
    monkeypatch.setenv("MELLANRUM_RECIPIENT_PASSPHRASE", "the af office's own passphrase")
    private = new_recipient_key()
    write_private_key(tmp_path / "af.key", private, "the af office's own passphrase")
    registered = yaml.safe_load((home / "inbox" / "recipients.yaml").read_text(encoding="utf-8"))
    for recipient in registered["recipients"]:
        if recipient["id"] == "af_goteborg_city":
            recipient["public_key"] = public_key_text(private.public_key())
    recipients_file = tmp_path / "recipients.yaml"
    recipients_file.write_text(yaml.safe_dump(registered, allow_unicode=True), encoding="utf-8")

    runner = CliRunner()
    sealed = tmp_path / "af.sealed"
    exported = runner.invoke(cli, ["export", "--recipient", "af_goteborg_city", "--out", str(sealed),
                                   "--recipients", str(recipients_file), "--home", str(home)])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert sealed.stat().st_mode & 0o777 == 0o600
    opened = runner.invoke(cli, ["decrypt", "--key", str(tmp_path / "af.key"), "--in", str(sealed),
                                 "--out", str(tmp_path / "af.zip")])  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with zipfile.ZipFile(tmp_path / "af.zip") as archive:
        assert sorted(archive.namelist()) == ["af_pagaende_insatser.csv", "af_samplanering.csv", "overlamningar.csv",
                                              "unga_90_dagar.csv"]
        members = {name.removesuffix(".csv"): archive.read(name) for name in archive.namelist()}

    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    database_rows = log[(log.channel == "database") & (log.recipient == "af_goteborg_city")]
    exports = log[log.channel == "export"]
    assert sorted(exports.dataset) == ["af_pagaende_insatser", "af_samplanering", "overlamningar", "unga_90_dagar"]
    assert set(exports.recipient) == {"af_goteborg_city"} and exports.sealed_to.str.len().eq(64).all()
    for name, content in members.items():
        rows = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
        assert len(rows) == exports.loc[exports.dataset == name, "row_count"].item() > 0
        assert set(rows.af_office) == {GOTEBORG_CITY}
        latest = database_rows[database_rows.dataset == name].sort_values("published_at").iloc[-1]
        assert exports.loc[exports.dataset == name, "checksum"].item() == latest.checksum


def test_an_export_to_a_recipient_without_a_public_key_is_refused(home, sqlite_published, tmp_path):
    result = CliRunner().invoke(cli, ["export", "--recipient", "region", "--out", str(tmp_path / "x"),
                                      "--home", str(home)])  # fmt: skip
    assert result.exit_code == 2
    assert "recipient 'region' has no public_key" in result.output
    assert not (tmp_path / "x").exists()


def test_nothing_published_holds_a_personal_number(home, sqlite_published, postgres_published, postgres_server,
                                                   synthetic_numbers):  # fmt: skip
    people = sorted(synthetic_numbers)
    linkage = Keyring.load(home / "keyring.json", PASSPHRASE).get(f"L1-{NIGHT}").secret
    level1 = level1_pseudonyms(pd.Series(people), linkage).tolist()
    deliveries = [home / "inbox" / "kommun", home / "inbox" / "af"]
    assert (home / "published.sqlite").exists()
    assert scan(home, people, exclude=deliveries, level1=level1) == []
    assert scan(postgres_server.data_dir, people, level1=level1) == []


# --- the contracts are the only declaration a published dataset needs --------------------------


class ToyCounts(pa_model.DataFrameModel):
    """A toy dataset for the test below: overlaps per kommun."""

    kommunkod: Series[str] = pa_model.Field(description="The municipality (its rows only)")
    overlaps: Series[int] = pa_model.Field(ge=0, description="Overlaps of the kommun")

    class Config:
        strict = True


def _toy_counts(inputs, parameters, declared):
    counts = inputs["overlaps"].groupby("kommunkod").size().rename("overlaps").reset_index()
    return counts.astype({"kommunkod": "str", "overlaps": "int64"})


TOY = Contract(name="toy_counts", version="0.0.1", recipient_kind="kommun", purpose="A test of one declaration.",
               model=ToyCounts, inputs=("overlaps",), build=_toy_counts, recipient_column="kommunkod",
               derived={"overlaps": ("pseudonym",)})  # fmt: skip


def test_a_new_contract_is_published_from_its_declaration_alone(home, internal, tmp_path):
    overlaps, _ = internal
    defs = build_definitions(Settings.of(home=home, sources=home / "inbox" / "sources.yaml",
                                         database_url=f"sqlite:///{tmp_path / 'toy.sqlite'}"),
                             contracts=(*CONTRACTS, TOY))  # fmt: skip
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("toy_counts")).parent_keys == {dg.AssetKey("overlaps"), RECONCILE_PARAMETERS, KEY_EPOCHS}
    outcome = publish_latest(defs, open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    engine = create_engine(f"sqlite:///{tmp_path / 'toy.sqlite'}")
    published = read_rows(engine, "toy_counts", ToyCounts)
    unprotected = overlaps[~overlaps.protected_identity]  # a row-level dataset never holds a protected person
    assert len(unprotected) < len(overlaps)
    assert published.set_index("kommunkod")["overlaps"].to_dict() == unprotected.groupby("kommunkod").size().to_dict()
    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    toy_log = log[log.dataset == "toy_counts"]
    kommuner = load_recipients(home / "inbox" / "recipients.yaml").of_kind("kommun")
    assert set(toy_log.recipient) == {r.id for r in kommuner}
    assert outcome.metadata["toy_counts"]["checksum"] == checksum(canonical(published))


def test_the_asset_graph_has_an_edge_for_every_dataset_a_stage_reads(home):
    graph = definitions(home).resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}  # fmt: skip
    reconciled_from = {"municipal_interventions", "af_assignments", "af_registrations"}
    for name in ("overlaps", "transition_list", "reconcile_parameters", "key_epochs", "youth_monitor", "handovers",
                 "intervention_outcomes", "municipal_flows"):
        assert parents[name] == reconciled_from, name
    assert parents["uppfoljning_efter_insats"] == {"intervention_outcomes", "reconcile_parameters", "key_epochs"}
    for declared in CONTRACTS:
        assert parents[declared.name] == {*declared.inputs, "reconcile_parameters", "key_epochs"}
    assert parents["publication_log"] == {"overlaps", "municipal_overlaps", "transition_list", "municipal_quarantine",
                                          "af_quarantine", "af_registrations_quarantine", "reconcile_parameters",
                                          "key_epochs", "youth_monitor", "handovers", "intervention_outcomes",
                                          "municipal_flows"}  # fmt: skip


def test_every_dataset_a_stage_reads_is_an_input_not_only_an_edge(home):
    """The reconciliation and the publication get what they read from Dagster (the IO
    manager), AF's registrations and their quarantine included, so the lineage is what ran."""
    defs = definitions(home)
    graph = defs.resolve_asset_graph()
    for key in (dg.AssetKey("overlaps"), dg.AssetKey("publication_log")):
        node = defs.resolve_assets_def(key)
        read = {k.to_user_string() for name, k in node.keys_by_input_name.items()
                if not node.node_def.input_def_named(name).dagster_type.is_nothing}  # fmt: skip
        assert read == {p.to_user_string() for p in graph.get(key).parent_keys}, key
    assert "af_registrations" in {k.to_user_string() for k in defs.resolve_assets_def(dg.AssetKey("overlaps")).keys_by_input_name.values()}


def test_two_live_key_ids_are_two_log_entries_and_an_export_finds_both(home, internal, tmp_path):
    overlaps, transition_list = internal
    registered = yaml.safe_load((home / "inbox" / "recipients.yaml").read_text(encoding="utf-8"))
    for recipient in registered["recipients"]:
        if recipient["id"] == "af_goteborg_city":
            recipient["public_key"] = public_key_text(new_recipient_key().public_key())
    (tmp_path / "recipients.yaml").write_text(yaml.safe_dump(registered, allow_unicode=True), encoding="utf-8")
    recipients = load_recipients(tmp_path / "recipients.yaml")
    key_ids = ["L1-NEW+L2-PUB", "L1-OLD+L2-PUB"]  # a rotation window: two linkage keys live at once
    made = build_publication({"overlaps": overlaps, "transition_list": transition_list}, CONTRACTS, recipients,
                             PublicationParameters(AS_OF, 5), key_ids=key_ids, run_id="two-keys",
                             published_at=dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))  # fmt: skip
    engine = create_engine(f"sqlite:///{tmp_path / 'two-keys.sqlite'}")
    tables = [Dataset(c.name, PUBLISHED, c.model, made.datasets[c.name], c.recipient_kind, c.recipient_column, c.also_to,
                      c.kommun_columns)
              for c in CONTRACTS]  # fmt: skip
    replace_publication(engine, tables, made.log, recipients)

    log = read_rows(engine, PUBLICATION_LOG, PublicationLog)
    per_receipt = log.groupby(["dataset", "recipient"])["key_id"].apply(sorted)
    assert all(ids == key_ids for ids in per_receipt) and len(log) == 2 * len(per_receipt)
    assert not log["key_id"].str.contains(",").any()

    exported = build_export(engine, CONTRACTS, recipients, "af_goteborg_city")
    assert sorted(exported.log["key_id"]) == sorted(key_ids * 4)  # its four datasets, each under both key ids
    assert set(exported.log["dataset"]) == {"af_pagaende_insatser", "af_samplanering", "overlamningar",
                                            "unga_90_dagar"}  # fmt: skip


def test_on_sqlite_the_published_file_holds_only_what_may_be_published(home, sqlite_published):
    published = {t for t in sa.inspect(sqlite_published).get_table_names()}
    assert published == {c.name for c in CONTRACTS} | {PUBLICATION_LOG}
    private = create_engine(Settings.of(home=home).private_database_url)
    assert set(sa.inspect(private).get_table_names()) == {"overlaps", "municipal_overlaps", "municipal_quarantine",
                                                          "af_quarantine", "af_registrations_quarantine",
                                                          "youth_monitor", "handovers"}  # fmt: skip
    assert (home / "private.sqlite").stat().st_mode & 0o777 == 0o600


def test_a_quarantined_registration_reaches_the_stewards_table_as_the_other_sources_quarantine_does(
        nightly_home, tmp_path, monkeypatch):  # fmt: skip
    home = copy_home(nightly_home, tmp_path / "home")
    use_home(monkeypatch, home)
    files = DatasetFiles(home / "storage")
    # A row as the ingest quarantines it (the shape of a municipal one), in the registration source's partition.
    row = files.load("municipal_quarantine").iloc[:1].assign(source_id="af_inskrivningar", file="af/inskrivningar.csv",
                                                              column="registration_date", value="2026-02-30",
                                                              reason="registration date 2026-02-30 is not a date")  # fmt: skip
    files.write("af_registrations_quarantine", "af_inskrivningar", row)
    outcome = publish_latest(definitions(home), open_instance(Settings.of(home=home)))
    assert outcome.ok, outcome.error
    private = create_engine(Settings.of(home=home).private_database_url)
    stored = read_rows(private, "af_registrations_quarantine", Quarantine, schema=INTERNAL)
    assert stored[["source_id", "column", "value", "reason"]].to_dict("records") == [
        {"source_id": "af_inskrivningar", "column": "registration_date", "value": "2026-02-30",
         "reason": "registration date 2026-02-30 is not a date"}]  # fmt: skip


def test_a_night_without_a_registration_source_reconciles_and_publishes_with_the_registration_lists_empty(
        nightly_home, tmp_path, monkeypatch):  # fmt: skip
    home = copy_home(nightly_home, tmp_path / "home")
    use_home(monkeypatch, home)
    declared = yaml.safe_load((home / "inbox" / "sources.yaml").read_text(encoding="utf-8"))
    declared["sources"] = [s for s in declared["sources"] if s["kind"] != "af_registrations"]
    (home / "inbox" / "sources.yaml").write_text(yaml.safe_dump(declared, allow_unicode=True), encoding="utf-8")
    defs, instance = definitions(home), open_instance(Settings.of(home=home))
    reconciled = reconcile_stored(defs, instance, AS_OF)
    assert reconciled.ok, reconciled.error
    published = publish_latest(defs, instance)
    assert published.ok, published.error
    files = DatasetFiles(home / "storage")  # the registrations stored by the earlier night are not read
    assert len(files.load("youth_monitor")) == 0 and len(files.load("handovers")) == 0
    listed = files.load("transition_list")
    assert len(listed) > 0 and set(listed["keyed_by"]) == {"assignment_id"}
    private = create_engine(Settings.of(home=home).private_database_url)
    assert len(read_rows(private, "af_registrations_quarantine", Quarantine, schema=INTERNAL)) == 0
