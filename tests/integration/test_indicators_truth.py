"""The indicator pack (`nyckeltal`, issue 18 §3) on generated data (demo scale: 2,000 people)
through the library stages (ingest, reconcile, registrations, outcomes, flows, publication):
every figure before protection equals the generator's truth (`truth/nyckeltal.csv`, stated one
person at a time by `core/synthetic/pack_truth.py`, nothing of `core/indicators.py`), row for
row; every published figure is within the cell key's maximum deviation of it (or, on the
suppression path, equals it or is withheld); a closed quarter is frozen; and the sealed export
for Göteborg (1480) decrypts to Göteborg's figures only and opens in a spreadsheet."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pandas as pd
import pytest
import yaml

from core.cellkey import MAX_DEVIATION
from core.contracts import CONTRACTS, contract
from core.database import PUBLISHED, Dataset, create_engine, read_previous, read_rows, replace_publication
from core.exports import build_export
from core.flows import municipal_flows
from core.indicators import figures_before_protection
from core.keys.record_keys import cell_key_secret
from core.keys.sealing import new_recipient_key, open_sealed, public_key_text
from core.outcomes import intervention_outcomes
from core.publish import build_publication, checksum, conform
from core.reconcile import Window, reconcile
from core.registrations import youth_monitor
from core.synthetic import generate
from core.synthetic.pack_truth import KEY, latest_closed, read_pack_truth
from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
from schemas.contracts import PublicationParameters
from schemas.municipalities import GOTEBORGSREGIONEN
from schemas.published_indicators import INDICATORS, SHARES
from schemas.recipients import load_recipients
from schemas.rules import DEFAULT_RULES, load_rules
from testkit.homes import AS_OF, accepted_by_kind

pytestmark = pytest.mark.slow

GOTEBORG = "1480"


def _quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, keyring):
    inbox = tmp_path_factory.mktemp("pack")
    generate(inbox, people=2000, seed=1, as_of=AS_OF)
    data = accepted_by_kind(inbox, keyring)
    municipal, af, registrations = data["municipal"], data["af"], data["af_registrations"]
    rules = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
    result = reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF, registrations=registrations)
    internal = {"overlaps": result.overlaps, "transition_list": result.transition_list,
                "youth_monitor": youth_monitor(municipal, af, registrations, AS_OF),
                "intervention_outcomes": intervention_outcomes(municipal, af, registrations, AS_OF),
                "municipal_flows": municipal_flows(municipal, AS_OF)}  # fmt: skip
    return inbox, internal


@pytest.fixture(scope="module")
def truth(demo) -> pd.DataFrame:
    inbox, _ = demo
    return read_pack_truth(inbox / "truth")


def _against_truth(figures: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Every row of either, side by side on the pack's key (`_merge` says where it is)."""
    mine = figures.astype({c: str for c in KEY})[[*KEY, "count", "denominator", "share", "suppressed"]]
    return mine.merge(truth, on=KEY, how="outer", suffixes=("", "_truth"), indicator=True)


def test_the_truth_covers_every_indicator_kommun_and_closed_quarter(truth):
    cells = truth[truth["level"] == "cell"]
    assert set(truth["indicator"]) == set(INDICATORS)
    for indicator in set(INDICATORS) - set(SHARES):
        assert (cells["indicator"] == indicator).sum() > 3, indicator
    assert set(GOTEBORGSREGIONEN) <= set(cells["kommunkod"])
    assert set(cells.loc[cells["indicator"] == "unga_90_dagar", "breakdown"]) >= {"met", "breached", "ended"}
    assert set(cells.loc[cells["indicator"] == "overgangslista", "breakdown"]) == {"registration", "assignment"}
    assert set(cells.loc[cells["indicator"] == "overgangslista", "quarter"]) == {latest_closed(AS_OF)}
    assert set(cells.loc[cells["indicator"] == "kommunoverskridande_deltagande", "breakdown"]) == {
        "tar_emot", "deltar_annanstans"}  # fmt: skip
    assert truth["quarter"].nunique() > 4 and (truth["quarter"] < _quarter(AS_OF)).all()


def test_every_figure_of_the_pack_before_protection_equals_the_truth(demo, truth):
    """All indicators, kommuner, closed quarters and levels: no row missing, none extra, every
    count (a share's numerator and denominator) equal."""
    _, internal = demo
    table = _against_truth(figures_before_protection(internal, AS_OF), truth)
    assert len(table) == len(truth) > 500
    for indicator in INDICATORS:
        rows = table[table["indicator"] == indicator]
        unmatched = rows.groupby("_merge", observed=True).size().to_dict()
        assert set(unmatched) == {"both"}, (indicator, unmatched)
        assert rows["count"].astype("int64").tolist() == rows["count_truth"].tolist(), indicator
    shares = table[table["indicator"].isin(SHARES)]
    assert shares["denominator"].astype("Int64").tolist() == shares["denominator_truth"].tolist()
    assert (shares["share"] - shares["share_truth"]).abs().max() < 1e-9


@pytest.fixture(scope="module")
def perturbed(demo):
    _, internal = demo
    declared = contract("nyckeltal")
    parameters = PublicationParameters(AS_OF, 3, cell_key_secret=cell_key_secret(b"k" * 32))
    return conform(declared.build(internal, parameters, declared), declared)


def test_with_the_cell_key_every_published_figure_is_within_the_tables_maximum_of_the_truth(perturbed, truth):
    """Nothing published that the truth lacks; every count within D of the truth and never
    below 1 (a share's numerator and denominator too, its share their quotient); a figure left
    out only where the truth is at most D."""
    table = _against_truth(perturbed, truth)
    assert not (table["_merge"] == "left_only").any()
    shown = table[table["_merge"] == "both"]
    assert not shown["suppressed"].astype(bool).any() and len(shown) > 500
    counts = shown[~shown["indicator"].isin(SHARES)]
    difference = (counts["count"].astype("int64") - counts["count_truth"]).abs()
    assert (counts["count"].astype("int64") > 0).all() and difference.max() <= MAX_DEVIATION
    assert (difference > 0).any()  # perturbed, not copied
    shares = shown[shown["indicator"].isin(SHARES)]
    assert len(shares) > 10
    assert ((shares["count"].astype("int64") - shares["count_truth"]).abs() <= MAX_DEVIATION).all()
    assert ((shares["denominator"].astype("int64") - shares["denominator_truth"]).abs() <= MAX_DEVIATION).all()
    quotient = (shares["count"].astype("float64") / shares["denominator"].astype("float64")).round(4)
    assert ((shares["share"].astype("float64") - quotient).abs() < 1e-9).all() and (shares["share"] <= 1).all()
    left_out = table[table["_merge"] == "right_only"]
    assert (left_out["denominator_truth"].fillna(left_out["count_truth"]) <= MAX_DEVIATION).all()


@pytest.fixture(scope="module")
def published(demo):
    _, internal = demo
    declared = contract("nyckeltal")
    return conform(declared.build(internal, PublicationParameters(AS_OF, 3), declared), declared)


def test_every_published_figure_equals_the_truth_or_is_withheld_and_only_closed_quarters_appear(published, truth):
    """The suppression path (no record-key secret): the same rows as the truth, each figure
    equal to it or withheld."""
    assert published["quarter"].lt(_quarter(AS_OF)).all()
    table = _against_truth(published, truth)
    assert set(table["_merge"]) == {"both"}
    shown = table[~table["suppressed"].astype(bool)]
    assert 10 < len(shown) < len(table)
    assert (shown["count"].astype("int64") == shown["count_truth"]).all()
    shares = shown[shown["indicator"].isin(SHARES)]
    assert len(shares) > 3 and (shares["denominator"].astype("Int64") == shares["denominator_truth"]).all()
    withheld = table[table["suppressed"].astype(bool)]
    assert withheld["count"].isna().all()
    assert (published["count"].dropna() >= 0).all()


@pytest.fixture(scope="module")
def night(demo, tmp_path_factory):
    """The whole publication of the night on SQLite; Göteborg's kommun recipient with a key."""
    inbox, internal = demo
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
