"""`kommun_overlapp` (issue 18 §2): one person in two municipalities' interventions at once
reaches both municipalities, each with its own record id only, where both consents are valid
for samplanering and an agreement names the two; nobody else reads it. Delivered and
ingested like any delivery, reconciled and published through the gates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.contracts import CONTRACTS, contract
from core.publish import build_publication, rows_for
from core.reconcile import Window, reconcile
from schemas.agreements import load_agreements
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.recipients import load_yaml_text
from schemas.rules import DEFAULT_RULES, load_rules
from testkit.followup import Deliveries, turning
from testkit.homes import new_keyring

AS_OF = dt.date(2026, 11, 23)
RECIPIENTS = """version: 1
recipients:
  - {id: kommun_1764, kind: kommun, kommunkod: '1764'}
  - {id: kommun_1715, kind: kommun, kommunkod: '1715'}
  - {id: kommun_1780, kind: kommun, kommunkod: '1780'}
  - {id: region, kind: region}
  - {id: af_karlstad, kind: af_office, af_office: Arbetsförmedlingen Karlstad}
"""
AGREEMENT = """version: 1
agreements:
  - id: lok-varmland
    name: Grums, Kil and Karlstad
    parties: ['1764', '1715', '1780']
    valid_from: 2026-01-01
    contracts: [kommun_overlapp]
"""


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "ovl")


def published(tmp_path: Path, ring, grums_consent: bool, kil_consent: bool, agreement: str | None = AGREEMENT):
    d = Deliveries()
    p = turning(30, AS_OF)
    d.intervention(p, "GRUMS-1", "2026-10-01", "2027-03-31", consent=grums_consent, kommunkod="1764")
    d.intervention(p, "KIL-1", "2026-11-01", "2027-01-31", code="SFI", consent=kil_consent, kommunkod="1715")
    d.assignment(turning(40, AS_OF), "ANV-1", "2026-11-01")  # AF has a source too
    data = d.ingest(tmp_path / "inbox", ring, AS_OF)
    result = reconcile(data["municipal"], data["af"], load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE)),
                       AS_OF, Window(90, 180), AS_OF)  # fmt: skip
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    agreements = None
    if agreement is not None:
        (tmp_path / "agreements.yaml").write_text(agreement, encoding="utf-8")
        agreements = load_agreements(tmp_path / "agreements.yaml", [c.name for c in CONTRACTS])
    made = build_publication({"overlaps": result.overlaps, "municipal_overlaps": result.municipal_overlaps,
                              "transition_list": result.transition_list}, CONTRACTS, recipients,
                             PublicationParameters(AS_OF, 2, agreements), key_ids=["L1+L2"], run_id="run-o",
                             published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    declared = contract("kommun_overlapp")
    table = made.datasets[declared.name]
    read = {r.id: rows_for(table, declared, r) for r in recipients.all if r.kind in declared.recipient_kinds}
    return table, read, made


def test_both_consents_both_municipalities_see_the_row_each_with_its_own_record_id_only(tmp_path, ring):
    table, read, made = published(tmp_path, ring, True, True)
    grums, kil = read["kommun_1764"], read["kommun_1715"]
    assert grums[["record_id", "other_kommunkod", "category", "other_category"]].values.tolist() == [
        ["GRUMS-1", "1715", "work_training", "education"]]
    assert kil[["record_id", "other_kommunkod"]].values.tolist() == [["KIL-1", "1764"]]
    assert grums["overlap_start"].tolist() == kil["overlap_start"].tolist() == [dt.datetime(2026, 11, 1)]
    assert "KIL-1" not in set(grums.astype(str).to_numpy().ravel())  # never the other's record id
    assert not {"pseudonym", "key_id", "other_record_id"} & set(table.columns)
    # the log records one reading per kommun recipient, with the agreement it crossed under
    log = made.log[made.log["dataset"] == "kommun_overlapp"].set_index("recipient")
    assert log.loc["kommun_1764", "row_count"] == 1 and log.loc["kommun_1715", "row_count"] == 1


@pytest.mark.parametrize("grums_consent, kil_consent", [(True, False), (False, True)])
def test_one_consent_missing_neither_municipality_sees_it(tmp_path, ring, grums_consent, kil_consent):
    table, read, made = published(tmp_path, ring, grums_consent, kil_consent)
    assert table.empty and read["kommun_1764"].empty and read["kommun_1715"].empty
    assert made.withheld["kommun_overlapp"]["consent_missing"] == 2  # the pair's two rows, counted by its gate


def test_a_third_municipality_sees_nothing_and_no_region_nor_af_office_reads_it(tmp_path, ring):
    table, read, _ = published(tmp_path, ring, True, True)
    assert len(table) == 2
    assert read["kommun_1780"].empty
    assert set(read) == {"kommun_1764", "kommun_1715", "kommun_1780"}  # a kommun-only dataset


def test_without_an_agreement_naming_the_two_nothing_crosses(tmp_path, ring):
    only_grums_and_karlstad = AGREEMENT.replace("['1764', '1715', '1780']", "['1764', '1780']")
    table, _, made = published(tmp_path, ring, True, True, only_grums_and_karlstad)
    assert table.empty and made.withheld["kommun_overlapp"]["no_agreement"] == 2
    table, _, _ = published(tmp_path, ring, True, True, None)  # no agreements file: that gate is off
    assert len(table) == 2
