"""The gates (issue 17): consent as a record with dates and scope, local agreements and
protected identity, on named fixtures of Skatteverket test numbers delivered as CSV and
ingested like any delivery, and consent-valid-on-a-day against a brute-force oracle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import CONTRACTS
from core.database import create_engine
from core.freeze import frozen_rows, publish_frozen
from core.gates import GATES, consent_valid_on
from core.publish import build_publication, gated_datasets, missing_agreements
from core.reconcile import Window, reconcile
from core.registrations import handovers, youth_monitor
from schemas.agreements import load_agreements
from schemas.contracts import PublicationParameters
from schemas.errors import ConfigError
from schemas.recipients import load_yaml_text
from schemas.rules import DEFAULT_RULES, load_rules
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from testkit.followup import Deliveries, turning
from testkit.homes import new_keyring

D = dt.date.fromisoformat
OFFICE = "Arbetsförmedlingen Karlstad"
RULES = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
ROW_LEVEL = [c for c in CONTRACTS if c.recipient_column is not None]
RECIPIENTS = """version: 1
recipients:
  - {id: kommun_1764, kind: kommun, kommunkod: "1764"}
  - {id: kommun_1784, kind: kommun, kommunkod: "1784"}
  - {id: af_karlstad, kind: af_office, af_office: Arbetsförmedlingen Karlstad}
  - {id: region, kind: region}
"""


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "gates")


@pytest.fixture()
def ingest(tmp_path, ring):
    def run(deliveries: Deliveries, as_of: dt.date) -> dict[str, pd.DataFrame]:
        return deliveries.ingest(tmp_path / f"inbox-{as_of}", ring, as_of)

    return run


def internal(data: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """The reconciliation's datasets the contracts are built from, as of `as_of`."""
    result = reconcile(data["municipal"], data["af"], RULES, as_of, Window(90, 180), as_of,
                       registrations=data["registrations"])  # fmt: skip
    return {"overlaps": result.overlaps, "transition_list": result.transition_list,
            "youth_monitor": youth_monitor(data["municipal"], data["af"], data["registrations"], as_of),
            "handovers": handovers(data["municipal"], data["af"], data["registrations"], as_of)}  # fmt: skip


def published(data, as_of, agreements=None) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    return gated_datasets(internal(data, as_of), CONTRACTS, PublicationParameters(as_of, 2, agreements))


def overlapping(d: Deliveries, pnr: str, n: int, kommunkod: str = "1764", municipal: dict | None = None,
                af: dict | None = None) -> None:  # fmt: skip
    """An actionable overlap (two work-training-like activities) around late 2026 for `pnr`,
    with the consent record of each side given."""
    d.intervention(pnr, f"REC-{n}", "2026-10-01", "2027-03-31", code="ARBETSTRANING", kommunkod=kommunkod,
                   **(municipal or {}))  # fmt: skip
    d.assignment(pnr, f"ANV-{n}", "2026-11-01", "2027-02-28", code="KROM", office=OFFICE, **(af or {}))


def agreements_file(tmp_path: Path, valid_to: str = "2027-12-31", parties=("1764", "AF", "region")) -> Path:
    path = tmp_path / "agreements.yaml"
    quoted = ", ".join(f'"{p}"' for p in parties)
    path.write_text(f"""version: 1
agreements:
  - id: grums_af
    name: Samverkan Grums och AF
    parties: [{quoted}]
    valid_from: 2026-01-01
    valid_to: {valid_to}
    contracts: [kommun_samplanering, af_samplanering, af_pagaende_insatser, overlamningar, overlamningar_kommun,
                unga_90_dagar_kommun]
""", encoding="utf-8")  # fmt: skip
    return path


# --- consent valid on a day: the oracle ---------------------------------------------------------

_DAYS = st.one_of(st.none(), st.dates(D("2026-10-01"), D("2027-01-31")))


@settings(deadline=None)
@given(st.lists(st.tuples(st.booleans(), _DAYS, _DAYS, _DAYS), min_size=1, max_size=30),
       st.dates(D("2026-10-01"), D("2027-01-31")))  # fmt: skip
def test_consent_valid_on_a_day_equals_the_brute_force_oracle(records, day):
    frame = pd.DataFrame({
        "consent": [r[0] for r in records],
        "consent_valid_from": pd.to_datetime([r[1] for r in records]).astype("datetime64[s]"),
        "consent_valid_to": pd.to_datetime([r[2] for r in records]).astype("datetime64[s]"),
        "consent_withdrawn_on": pd.to_datetime([r[3] for r in records]).astype("datetime64[s]"),
    })  # fmt: skip

    def oracle(consent, start, end, withdrawn) -> bool:
        return (consent and (start is None or start <= day) and (end is None or day <= end)
                and (withdrawn is None or day < withdrawn))  # fmt: skip

    assert consent_valid_on(frame, day).tolist() == [oracle(*r) for r in records]


# --- the named cases ----------------------------------------------------------------------------


def test_consent_valid_to_11_30_publishes_on_11_30_and_not_on_12_01(ingest):
    d = Deliveries()
    pnr = turning(35, D("2026-11-30"))
    overlapping(d, pnr, 1, af={"consent_valid_from": "2026-01-01", "consent_valid_to": "2026-11-30"})
    on_the_day, _ = published(ingest(d, D("2026-11-30")), D("2026-11-30"))
    assert on_the_day["kommun_samplanering"]["record_id"].tolist() == ["REC-1"]
    after, withheld = published(ingest(d, D("2026-12-01")), D("2026-12-01"))
    assert after["kommun_samplanering"].empty
    assert withheld["kommun_samplanering"]["consent_expired_or_withdrawn"] == 1
    assert after["af_samplanering"]["assignment_id"].tolist() == ["ANV-1"]  # the municipality's consent holds


def test_a_withdrawal_delivered_the_next_night_removes_the_row_and_the_log_count_drops_by_one(ingest, tmp_path):
    recipients = load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml")
    pnr, other = turning(35, D("2026-11-23")), turning(40, D("2026-11-23"))

    def night(as_of: dt.date, withdrawn: str) -> pd.DataFrame:
        d = Deliveries()
        overlapping(d, pnr, 1, municipal={"consent_withdrawn_on": withdrawn})
        overlapping(d, other, 2)
        made = build_publication(internal(ingest(d, as_of), as_of), CONTRACTS, recipients,
                                 PublicationParameters(as_of, 2), key_ids=["L1+L2"], run_id=f"run-{as_of}",
                                 published_at=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))  # fmt: skip
        log = made.log
        return log.loc[(log["dataset"] == "af_samplanering") & (log["recipient"] == "af_karlstad"), "row_count"]

    first = night(D("2026-11-23"), "")
    second = night(D("2026-11-24"), "2026-11-24")  # delivered with the next night's file
    assert first.tolist() == [2] and second.tolist() == [1]


def test_consent_scoped_to_uppfoljning_is_absent_from_samplanering_and_counted_in_statistics(ingest):
    as_of = D("2026-11-23")
    d = Deliveries()
    pnr = turning(35, as_of)
    overlapping(d, pnr, 1, af={"consent_scope": "uppfoljning"}, municipal={"consent_scope": "uppfoljning"})
    datasets, withheld = published(ingest(d, as_of), as_of)
    assert datasets["kommun_samplanering"].empty and datasets["af_samplanering"].empty
    assert withheld["kommun_samplanering"]["consent_out_of_scope"] == 1
    assert withheld["af_samplanering"]["consent_out_of_scope"] == 1
    statistics = datasets["regional_statistik"]
    region = statistics[statistics["level"] == "region"]
    assert region["suppressed"].tolist() == [True]  # one overlap: counted, below the threshold of 2
    assert region["overlap_count"].isna().all()


def test_an_expired_agreement_withholds_its_parties_rows_and_the_summary_names_it(ingest, tmp_path):
    as_of = D("2026-11-23")
    d = Deliveries()
    overlapping(d, turning(35, as_of), 1)
    data = ingest(d, as_of)
    in_force = load_agreements(agreements_file(tmp_path), [c.name for c in CONTRACTS])
    datasets, withheld = published(data, as_of, in_force)
    assert len(datasets["kommun_samplanering"]) == 1 and len(datasets["af_samplanering"]) == 1

    expired = load_agreements(agreements_file(tmp_path, valid_to="2026-10-31"), [c.name for c in CONTRACTS])
    datasets, withheld = published(data, as_of, expired)
    assert datasets["kommun_samplanering"].empty and datasets["af_samplanering"].empty
    assert withheld["kommun_samplanering"]["no_agreement"] == 1 and withheld["af_samplanering"]["no_agreement"] == 1
    said = missing_agreements(internal(data, as_of), CONTRACTS, PublicationParameters(as_of, 2, expired))
    assert any("kommun_samplanering" in line and "agreement grums_af" in line and "not in force" in line
               for line in said), said  # fmt: skip
    assert len(datasets["regional_statistik"]) > 0  # statistics need no agreement


def test_the_log_records_the_agreement_of_every_row_it_logs(ingest, tmp_path):
    as_of = D("2026-11-23")
    d = Deliveries()
    overlapping(d, turning(35, as_of), 1)
    agreements = load_agreements(agreements_file(tmp_path), [c.name for c in CONTRACTS])
    made = build_publication(internal(ingest(d, as_of), as_of), CONTRACTS,
                             load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml"),
                             PublicationParameters(as_of, 2, agreements), key_ids=["L1+L2"], run_id="run-1",
                             published_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))  # fmt: skip
    log = made.log.set_index(["dataset", "recipient"])
    assert log.loc[("kommun_samplanering", "kommun_1764"), "agreement_id"] == "grums_af"
    assert log.loc[("af_samplanering", "af_karlstad"), "agreement_id"] == "grums_af"
    assert pd.isna(log.loc[("kommun_samplanering", "kommun_1784"), "agreement_id"])  # no rows, no agreement
    assert pd.isna(log.loc[("regional_statistik", "region"), "agreement_id"])  # an aggregate needs none
    assert (made.log["row_count"] > 0).sum() >= 2


def test_a_recipient_not_covered_by_any_agreement_gets_no_row_level_data(ingest, tmp_path):
    as_of = D("2026-11-23")
    d = Deliveries()
    overlapping(d, turning(35, as_of), 1)
    overlapping(d, turning(40, as_of), 2, kommunkod="1784")  # Arvika: in no agreement
    agreements = load_agreements(agreements_file(tmp_path), [c.name for c in CONTRACTS])
    datasets, withheld = published(ingest(d, as_of), as_of, agreements)
    for declared in ROW_LEVEL:
        if "kommunkod" in datasets[declared.name].columns:
            assert not (datasets[declared.name]["kommunkod"] == "1784").any(), declared.name
    assert datasets["kommun_samplanering"]["kommunkod"].tolist() == ["1764"]
    assert withheld["kommun_samplanering"]["no_agreement"] == 1
    assert withheld["af_samplanering"]["no_agreement"] == 1  # AF gets nothing of Arvika's either


def test_a_frozen_transition_list_passes_the_agreement_gate_and_logs_the_agreement(ingest, tmp_path):
    """A frozen list is af_pagaende_insatser frozen: the agreements allowing that contract cover it."""
    as_of = D("2026-11-23")
    d = Deliveries()
    overlapping(d, turning(35, as_of), 1)
    overlapping(d, turning(40, as_of), 2, kommunkod="1784")  # Arvika: in no agreement
    listed = internal(ingest(d, as_of), as_of)["transition_list"]
    assert set(listed["kommunkod"]) == {"1764", "1784"}
    agreements = load_agreements(agreements_file(tmp_path), [c.name for c in CONTRACTS])
    assert set(frozen_rows(listed, "krom", as_of, as_of)["kommunkod"]) == {"1764", "1784"}  # no file: gate off
    rows = frozen_rows(listed, "krom", as_of, as_of, agreements)
    assert rows["kommunkod"].tolist() == ["1764"]
    expired = load_agreements(agreements_file(tmp_path, valid_to="2026-10-31"), [c.name for c in CONTRACTS])
    assert frozen_rows(listed, "krom", as_of, as_of, expired).empty
    engine = create_engine(f"sqlite:///{tmp_path / 'frozen.sqlite'}")
    log = publish_frozen(engine, load_yaml_text(RECIPIENTS, tmp_path / "recipients.yaml"), "krom", rows,
                         as_of=as_of, key_ids=["L1+L2"], run_id="run-1",
                         published_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), agreements=agreements)  # fmt: skip
    engine.dispose()
    assert log.set_index("recipient").loc["af_karlstad", "agreement_id"] == "grums_af"


def test_a_protected_person_is_in_no_row_level_dataset_and_counted_in_the_statistics(ingest):
    as_of = D("2026-11-23")
    d = Deliveries()
    protected, other = turning(19, as_of), turning(19, as_of, 1)
    for n, pnr in enumerate((protected, other)):
        overlapping(d, pnr, n)
        # flagged by AF's registrations only: protection is the person's, in every dataset
        d.registration(pnr, f"REG-{n}", "2026-09-01", **({"protected_identity": True} if n == 0 else {}))
    data = ingest(d, as_of)
    datasets, withheld = published(data, as_of)
    ids = {"REC-0", "ANV-0", "REG-0"}
    for declared in ROW_LEVEL:
        frame = datasets[declared.name]
        assert not set(frame.astype(str).to_numpy().ravel()) & ids, declared.name
        assert "protected_identity" not in frame.columns
    assert datasets["kommun_samplanering"]["record_id"].tolist() == ["REC-1"]
    assert withheld["kommun_samplanering"]["protected_identity"] == 1
    assert withheld["unga_90_dagar"]["protected_identity"] == 1
    statistics = datasets["regional_statistik"]
    assert len(internal(data, as_of)["overlaps"]) == 2
    assert statistics.loc[statistics["level"] == "region", "overlap_count"].tolist() == [2]  # both counted
    youth = datasets["unga_90_dagar_statistik"]
    assert youth.loc[youth["level"] == "region", "count"].sum() == 2


def test_withheld_counts_name_every_gate_and_are_zero_for_aggregates(ingest):
    as_of = D("2026-11-23")
    d = Deliveries()
    overlapping(d, turning(35, as_of), 1, af={"consent_withdrawn_on": "2026-11-01"})
    _, withheld = published(ingest(d, as_of), as_of)
    assert all(list(counts) == list(GATES) for counts in withheld.values())
    assert withheld["regional_statistik"] == dict.fromkeys(GATES, 0)


def test_bad_consent_cells_are_quarantined_naming_the_column_never_the_value(tmp_path, ring):
    as_of = D("2026-11-23")
    d = Deliveries()
    d.intervention(turning(35, as_of), "R-1", "2026-10-01", consent_valid_from="2026-12-01",
                   consent_valid_to="2026-11-30")  # fmt: skip
    d.intervention(turning(36, as_of), "R-2", "2026-10-01", consent_valid_to="30/11/2026")
    d.intervention(turning(37, as_of), "R-3", "2026-10-01", consent_scope="marknadsföring")
    d.intervention(turning(38, as_of), "R-4", "2026-10-01", protected_identity="kanske")
    with pytest.raises(AssertionError) as raised:
        d.ingest(tmp_path / "inbox", ring, as_of)
    text = str(raised.value)
    assert "valid-to date is before its valid-from date" in text
    assert "consent valid to is not a date in the form YYYY-MM-DD" in text
    assert "consent scope: expected samplanering and/or uppfoljning" in text
    assert "protected identity: expected yes/no" in text
    for value in ("30/11/2026", "marknadsföring", "kanske"):
        assert value not in text


def test_an_agreements_file_is_validated_naming_the_file_the_agreement_and_the_key(tmp_path):
    path = tmp_path / "agreements.yaml"
    path.write_text("""version: 1
agreements:
  - id: gr
    name: GR
    parties: ["1480", AF]
    valid_from: 2026-01-01
    contracts: [kommun_samplanering, no_such_contract]
""", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_agreements(path, [c.name for c in CONTRACTS])
    assert str(path) in str(raised.value) and "agreements[0] (id 'gr').contracts[1]" in str(raised.value)
    path.write_text("version: 1\nagreements:\n  - {id: gr, name: GR, parties: ['1480', AF], valid_from: 2026-02-01,"
                    " valid_to: 2026-01-01, contracts: [kommun_samplanering]}\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_agreements(path, [c.name for c in CONTRACTS])
    assert "agreements[0] (id 'gr')" in str(raised.value) and "before valid_from" in str(raised.value)
    assert load_agreements(tmp_path / "absent.yaml", []) is None
    assert np.all([c.consent_purpose in ("samplanering", "uppfoljning") for c in ROW_LEVEL])
