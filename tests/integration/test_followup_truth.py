"""On generated data (demo scale: 2,000 people, the 13 Göteborgsregionen municipalities),
the registration-based lists equal the generator's truth by ids, per kommun."""

from __future__ import annotations

import pandas as pd
import pytest

from core.ingest import ingest_source
from core.keys.keyring import pseudonym_keys
from core.reconcile import transition_list, with_registrations
from core.registrations import handovers, youth_monitor
from core.synthetic import generate
from schemas.sources import load_sources
from testkit.homes import AS_OF


pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

@pytest.fixture(scope="module")
def demo(tmp_path_factory, keyring):
    inbox = tmp_path_factory.mktemp("demo")
    generate(inbox, people=2000, seed=1, as_of=AS_OF)
    sources = load_sources(inbox / "sources.yaml")
    keys = pseudonym_keys(keyring, AS_OF)
    accepted = {"municipal": [], "af": [], "af_registrations": []}
    for source in sources.all:
        result = ingest_source(source, sources.files(source), sources.catalogue, keys, keyring, AS_OF)
        accepted[source.kind].append(result.accepted)
    data = {kind: pd.concat(frames, ignore_index=True) for kind, frames in accepted.items()}
    truth = {name: pd.read_csv(inbox / "truth" / f"{name}.csv", dtype=str, keep_default_na=False)
             for name in ("transition_list", "youth_monitor", "handovers")}  # fmt: skip
    return data, truth


def _text(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(int(value)) if isinstance(value, float) else str(value)


def _rows(frame: pd.DataFrame, columns: list[str]) -> set[tuple]:
    return {tuple(_text(v) for v in row) for row in frame[columns].itertuples(index=False, name=None)}


def test_the_registration_source_is_ingested_whole(demo):
    data, _ = demo
    assert len(data["af_registrations"]) > 500
    assert data["af_registrations"]["deregistration_reason"].dropna().isin(["work", "studies", "other", "unknown"]).all()


def test_the_transition_lists_registration_rows_equal_the_truth_per_kommun(demo):
    data, truth = demo
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    listed = with_registrations(transition_list(municipal, af, AS_OF, AS_OF), municipal, af, registrations, AS_OF, AS_OF)
    by_registration = listed[listed["keyed_by"] == "registration_id"]
    columns = ["kommunkod", "registration_id", "af_office", "planned_end", "municipal_consent", "af_consent"]
    expected = truth["transition_list"].assign(
        municipal_consent=lambda t: t["municipal_consent"].str.capitalize(),
        af_consent=lambda t: t["af_consent"].str.capitalize())
    assert len(by_registration) > 50
    for kommunkod in sorted(set(expected["kommunkod"]) | set(by_registration["kommunkod"])):
        assert _rows(by_registration[by_registration["kommunkod"] == kommunkod], columns) == _rows(
            expected[expected["kommunkod"] == kommunkod], columns), kommunkod


def test_every_youth_status_equals_the_truth_per_kommun(demo):
    data, truth = demo
    monitor = youth_monitor(data["municipal"], data["af"], data["af_registrations"], AS_OF)
    expected = truth["youth_monitor"]
    columns = ["kommunkod", "record_id", "registration_id", "af_office", "status", "days_to_start"]
    assert {"met", "approaching", "breached", "pending"} <= set(monitor["status"])
    for kommunkod in sorted(set(expected["kommunkod"]) | set(monitor["kommunkod"].fillna(""))):
        got = monitor[monitor["kommunkod"].fillna("") == kommunkod]
        assert _rows(got, columns) == _rows(expected[expected["kommunkod"] == kommunkod], columns), kommunkod


def test_every_hand_over_equals_the_truth_per_kommun(demo):
    data, truth = demo
    found = handovers(data["municipal"], data["af"], data["af_registrations"], AS_OF)
    found = found.assign(id=found["registration_id"].fillna(found["assignment_id"]))
    columns = ["kind", "kommunkod", "record_id", "id", "ends_on"]
    expected = truth["handovers"]
    assert set(found["kind"]) == {"insats_slut_utan_af", "af_slut_utan_fortsattning", "kaa_slutar"}
    for kommunkod in sorted(set(expected["kommunkod"]) | set(found["kommunkod"])):
        assert _rows(found[found["kommunkod"] == kommunkod], columns) == _rows(
            expected[expected["kommunkod"] == kommunkod], columns), kommunkod
