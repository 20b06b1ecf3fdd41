"""The indicator pack (`nyckeltal`, issue 18 §3) on generated data (demo scale: 2,000 people)
through the library stages (ingest, reconcile, registrations, outcomes, publication): every
figure before suppression equals the generator's truth (overlaps from truth/overlaps.csv
classified by the rule table, the transition list and the youth monitor from the follow-up
truth; outcomes against `intervention_outcomes` counted here one row at a time), every
published figure equals it or is withheld; and the sealed export for Göteborg (1480)
decrypts to Göteborg's figures only and opens in a spreadsheet."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections import Counter

import openpyxl
import pandas as pd
import pytest
import yaml

from core.contracts import CONTRACTS, contract
from core.database import PUBLISHED, Dataset, create_engine, read_previous, read_rows, replace_publication
from core.exports import build_export
from core.flows import municipal_flows
from core.indicators import INDICATOR_KEYS, closed, latest_closed
from core.keys.sealing import new_recipient_key, open_sealed, public_key_text
from core.outcomes import intervention_outcomes
from core.publish import build_publication, checksum, conform
from core.reconcile import Window, reconcile
from core.registrations import youth_monitor
from core.synthetic import generate
from core.synthetic.followup_truth import read_truth
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.recipients import load_recipients
from schemas.rules import DEFAULT_RULES, load_rules
from schemas.sources import load_sources
from testkit.homes import AS_OF, accepted_by_kind

pytestmark = pytest.mark.slow

GOTEBORG = "1480"
CLOSED = latest_closed(AS_OF)


def _quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _closed(quarter: str) -> bool:
    return quarter < _quarter(AS_OF)  # 'YYYY-Qn' sorts in time order


@pytest.fixture(scope="module")
def demo(tmp_path_factory, keyring):
    inbox = tmp_path_factory.mktemp("pack")
    generate(inbox, people=2000, seed=1, as_of=AS_OF)
    sources = load_sources(inbox / "sources.yaml")
    data = accepted_by_kind(inbox, keyring)
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    rules = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
    result = reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF, registrations=registrations)
    internal = {"overlaps": result.overlaps, "transition_list": result.transition_list,
                "youth_monitor": youth_monitor(municipal, af, registrations, AS_OF),
                "intervention_outcomes": intervention_outcomes(municipal, af, registrations, AS_OF),
                "municipal_flows": municipal_flows(municipal, AS_OF)}  # fmt: skip
    return inbox, sources, data, internal


def _pipeline_figures(internal) -> Counter:
    """Per (quarter, kommun, indicator, breakdown) before suppression: the pack's own keys."""
    found: Counter = Counter()
    for name, (_, keys_of) in INDICATOR_KEYS.items():
        keys = keys_of(internal, AS_OF)
        keys = keys[closed(keys["quarter"], AS_OF)]
        found.update(Counter((q, k, name, b) for q, k, b in zip(keys["quarter"], keys["kommunkod"], keys["breakdown"],
                                                                strict=True)))  # fmt: skip
    return found


def _truth_figures(inbox, sources, data, internal) -> Counter:
    """The same figures from the generator's truth files, one row at a time."""
    truth: Counter = Counter()
    kommun_of = {s.id: s.kommunkod for s in sources.all}
    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    municipal_category, af_category = catalogue.intervention_categories, catalogue.programme_categories
    rule_of = {(r.municipal, r.af): r.classification for r in load_rules(DEFAULT_RULES, catalogue).rules}
    planted = pd.read_csv(inbox / "truth" / "overlaps.csv", dtype=str, keep_default_na=False)
    for row in planted[planted["kind"] == "municipal_af"].itertuples():
        quarter = _quarter(dt.date.fromisoformat(row.overlap_start))
        cls = ("conflict" if float(row.combined_extent) > 100
               else rule_of[(municipal_category[row.code], af_category[row.other_code])])  # fmt: skip
        if _closed(quarter):
            truth[(quarter, kommun_of[row.source_id], "samtidiga_insatser", cls)] += 1
    lists = read_truth(inbox / "truth")
    for kommunkod, _ in lists["transition_list"][["kommunkod", "registration_id"]].drop_duplicates().itertuples(
            index=False, name=None):  # fmt: skip
        truth[(CLOSED, kommunkod, "overgangslista", "registration")] += 1
    day0 = dict(zip(data["af_registrations"]["registration_id"], data["af_registrations"]["registration_date"],
                    strict=True))  # fmt: skip
    spells: dict[str, tuple[str, str]] = {}
    for row in lists["youth_monitor"].itertuples():
        kommun = row.kommunkod or "okand"
        if row.registration_id not in spells or (kommun != "okand" and
                                                 (spells[row.registration_id][0] == "okand" or kommun < spells[row.registration_id][0])):  # fmt: skip
            spells[row.registration_id] = (kommun, row.status)
    for registration_id, (kommun, status) in spells.items():
        quarter = _quarter(pd.Timestamp(day0[registration_id]).date() + dt.timedelta(days=90))
        if _closed(quarter):
            truth[(quarter, kommun, "unga_90_dagar", status)] += 1
    outcomes = internal["intervention_outcomes"]
    for row in outcomes.itertuples():
        quarter = _quarter(pd.Timestamp(row.ends_on).date() + dt.timedelta(days=90))
        if row.horizon == 90 and _closed(quarter):
            truth[(quarter, row.kommunkod, "utfall_90_dagar", row.status)] += 1
    # Participation across municipalities, from the accepted deliveries one intervention and
    # one month at a time (the generator's truth/flows.csv counts months, not quarters).
    taken_part: set = set()
    for row in data["municipal"].itertuples():
        home = row.home_kommunkod if isinstance(row.home_kommunkod, str) else row.kommunkod
        start = pd.Timestamp(row.start_date).date()
        if home == row.kommunkod or start > AS_OF:
            continue
        last = min(pd.Timestamp(row.end_date).date() if pd.notna(row.end_date) else AS_OF, AS_OF)
        day = start.replace(day=1)
        while day <= last:
            if _closed(_quarter(day)):
                taken_part.add((_quarter(day), row.kommunkod, "tar_emot", row.pseudonym))
                taken_part.add((_quarter(day), home, "deltar_annanstans", row.pseudonym))
            day = (day + dt.timedelta(days=32)).replace(day=1)
    for quarter, kommunkod, breakdown, _ in taken_part:
        truth[(quarter, kommunkod, "kommunoverskridande_deltagande", breakdown)] += 1
    return truth


def test_every_figure_of_the_pack_before_suppression_equals_the_truth(demo):
    inbox, sources, data, internal = demo
    found, truth = _pipeline_figures(internal), _truth_figures(*demo)
    # the transition list's assignment-keyed rows are not in the truth (people with a programme):
    # counted here from the list itself
    assignments = internal["transition_list"][internal["transition_list"]["keyed_by"] == "assignment_id"]
    for kommunkod, _ in assignments[["kommunkod", "assignment_id"]].drop_duplicates().itertuples(index=False, name=None):
        truth[(CLOSED, kommunkod, "overgangslista", "assignment")] += 1
    for indicator in ("samtidiga_insatser", "overgangslista", "unga_90_dagar", "utfall_90_dagar",
                      "kommunoverskridande_deltagande"):
        mine = {k: n for k, n in found.items() if k[2] == indicator}
        theirs = {k: n for k, n in truth.items() if k[2] == indicator}
        assert len(theirs) > 3, indicator
        assert mine == theirs, indicator
    assert {b for (_, _, i, b) in truth if i == "unga_90_dagar"} >= {"met", "breached"}


@pytest.fixture(scope="module")
def published(demo):
    *_, internal = demo
    declared = contract("nyckeltal")
    return conform(declared.build(internal, PublicationParameters(AS_OF, 3), declared), declared)


def test_every_published_figure_equals_the_truth_or_is_withheld_and_only_closed_quarters_appear(demo, published):
    truth = _truth_figures(*demo)
    internal = demo[3]
    assignments = internal["transition_list"][internal["transition_list"]["keyed_by"] == "assignment_id"]
    for kommunkod, _ in assignments[["kommunkod", "assignment_id"]].drop_duplicates().itertuples(index=False, name=None):
        truth[(CLOSED, kommunkod, "overgangslista", "assignment")] += 1
    assert published["quarter"].map(_closed).all() and _quarter(AS_OF) not in set(published["quarter"])
    cells = published[(published["level"] == "cell") & (published["indicator"] != "unga_90_dagar_andel_uppfyllt")]
    shown = cells[~cells["suppressed"]]
    assert len(shown) > 10
    for row in shown.itertuples():
        assert row.count == truth[(row.quarter, row.kommunkod, row.indicator, row.breakdown)]
    for row in published[(published["indicator"] == "unga_90_dagar_andel_uppfyllt") & ~published["suppressed"]].itertuples():
        due = sum(n for (q, k, i, _), n in truth.items() if (q, k, i) == (row.quarter, row.kommunkod, "unga_90_dagar"))
        met = truth[(row.quarter, row.kommunkod, "unga_90_dagar", "met")]
        assert (row.count, row.denominator, row.share) == (met, due, pytest.approx(round(met / due, 4)))
    assert (published["count"].dropna() >= 0).all()


@pytest.fixture(scope="module")
def night(demo, tmp_path_factory):
    """The whole publication of the night on SQLite; Göteborg's kommun recipient with a key."""
    inbox, _, _, internal = demo
    tmp_path = tmp_path_factory.mktemp("night")
    private = new_recipient_key()
    registered = yaml.safe_load((inbox / "recipients.yaml").read_text(encoding="utf-8"))
    for recipient in registered["recipients"]:
        if recipient["id"] == f"kommun_{GOTEBORG}":
            recipient["public_key"] = public_key_text(private.public_key())
    (tmp_path / "recipients.yaml").write_text(yaml.safe_dump(registered, allow_unicode=True), encoding="utf-8")
    recipients = load_recipients(tmp_path / "recipients.yaml")
    made = build_publication(internal, CONTRACTS, recipients, PublicationParameters(AS_OF, 3), key_ids=["L1-T+L2-T"],
                             run_id="pack", published_at=dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC))  # fmt: skip
    engine = create_engine(f"sqlite:///{tmp_path / 'published.sqlite'}")
    replace_publication(engine, [Dataset(c.name, PUBLISHED, c.model, made.datasets[c.name], c.recipient_kind,
                                         c.recipient_column, c.also_to) for c in CONTRACTS], made.log, recipients)  # fmt: skip
    return engine, recipients, private


def test_a_closed_quarter_published_again_on_a_later_night_where_people_changed_is_identical(demo, night):
    engine, recipients, _ = night
    *_, internal = demo
    declared = contract("nyckeltal")
    first = read_rows(engine, declared.name, declared.model)
    # the next night: a third of the overlaps and youth spells corrected away, the list shorter
    changed = {name: frame.iloc[::3].reset_index(drop=True) if name != "intervention_outcomes" else frame
               for name, frame in internal.items()}  # fmt: skip
    later = AS_OF + dt.timedelta(days=1)
    again = conform(declared.build(changed, PublicationParameters(later, 3, previous={
        declared.name: read_previous(engine, declared.name, declared.model)}), declared), declared)  # fmt: skip
    pd.testing.assert_frame_equal(again, first, check_dtype=False)  # the database's text dtype is str
    assert checksum(again) == checksum(first)
    unfrozen = conform(declared.build(changed, PublicationParameters(later, 3), declared), declared)
    assert not unfrozen.equals(first)  # without the freeze the night would differ


def test_the_sealed_pack_for_goteborg_decrypts_to_goteborgs_figures_only_and_opens_in_a_spreadsheet(night,
                                                                                                 published):  # fmt: skip
    engine, recipients, private = night
    exported = build_export(engine, CONTRACTS, recipients, f"kommun_{GOTEBORG}")
    with zipfile.ZipFile(io.BytesIO(open_sealed(exported.sealed, private))) as archive:
        assert {"nyckeltal.csv", "nyckeltal.xlsx"} <= set(archive.namelist())
        workbook_bytes, csv_bytes = archive.read("nyckeltal.xlsx"), archive.read("nyckeltal.csv")

    expected = read_rows(engine, "nyckeltal", contract("nyckeltal").model)
    expected = expected[expected["kommunkod"] == GOTEBORG].reset_index(drop=True)
    assert len(expected) > 10
    pd.testing.assert_frame_equal(expected, published[published["kommunkod"] == GOTEBORG].reset_index(drop=True),
                                  check_dtype=False)  # fmt: skip
    workbook = openpyxl.load_workbook(io.BytesIO(workbook_bytes))
    assert workbook.sheetnames == ["nyckeltal"]
    header = [cell.value for cell in next(workbook["nyckeltal"].iter_rows(max_row=1))]
    assert header == contract("nyckeltal").columns
    for content in (pd.read_excel(io.BytesIO(workbook_bytes), engine="openpyxl", dtype={"kommunkod": str, "quarter": str}),
                    pd.read_csv(io.BytesIO(csv_bytes), dtype={"kommunkod": str, "quarter": str})):  # fmt: skip
        assert set(content["kommunkod"]) == {GOTEBORG}
        assert len(content) == len(expected)
        got = content.sort_values(["quarter", "indicator", "breakdown"]).reset_index(drop=True)
        want = expected.sort_values(["quarter", "indicator", "breakdown"]).reset_index(drop=True)
        assert list(got["quarter"]) == list(want["quarter"]) and list(got["breakdown"]) == list(want["breakdown"])
        assert list(got["count"].astype("Int64")) == list(want["count"])
        assert list(got["suppressed"].astype(bool)) == list(want["suppressed"])
        assert got["share"].astype("Float64").equals(want["share"])
    row = exported.log[exported.log["dataset"] == "nyckeltal"]
    assert row["row_count"].item() == len(expected)


def test_an_xlsx_export_writes_every_dataset_as_a_workbook_of_the_recipients_rows(night):
    engine, recipients, private = night
    exported = build_export(engine, CONTRACTS, recipients, f"kommun_{GOTEBORG}", fmt="xlsx")
    with zipfile.ZipFile(io.BytesIO(open_sealed(exported.sealed, private))) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"{name}.xlsx" for name in exported.log["dataset"].unique())
        for name in names:
            columns = contract(name.removesuffix(".xlsx")).kommun_columns
            rows = pd.read_excel(io.BytesIO(archive.read(name)), engine="openpyxl", dtype=dict.fromkeys(columns, str))
            logged = exported.log.loc[exported.log["dataset"] == name.removesuffix(".xlsx"), "row_count"]
            assert len(rows) == logged.iloc[0]
            # Göteborg's rows: those naming it in any of the dataset's kommun columns (a flow: providing or home).
            assert rows[list(columns)].eq(GOTEBORG).any(axis=1).all()
