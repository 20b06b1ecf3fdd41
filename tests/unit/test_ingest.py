"""Ingest on generated deliveries: accepted and quarantined rows equal the ground truth."""

import re

import pandas as pd
import pytest

from core.ingest import (
    ingest_source,
    model_for,
    pseudonymize_identities,
    read_source_file,
    to_canonical,
)
from core.keys.keyring import pseudonym_keys
from core.keys.pseudonyms import level1_pseudonyms
from schemas.datasets import MunicipalInterventions, Quarantine
from schemas.errors import InputError
from schemas.personnummer import normalize
from schemas.sources import load_sources
from testkit.homes import AS_OF
from testkit.leakscan import scan

# Each planted defect must come out with its own plain-words reason.
REASON_OF_DEFECT = {
    "wrong_check_digit": r"^personnummer: check digit wrong$",
    "blank_personnummer": r"^personnummer: empty$",
    "leading_zero_lost": r"^personnummer: nine digits: a leading zero was probably lost",
    "impossible_date": r"^start date '[^']+' is not a date in the form [YMD/-]+$",
    "end_before_start": r"^end date \d{4}-\d{2}-\d{2} before start \d{4}-\d{2}-\d{2}$",
    "unknown_code": r"^unknown (intervention code|AF programme) '[^']+': not mapped in the sources file$",
    "extent_out_of_range": r"^extent -?\d+(\.\d+)? % is outside the range above 0 up to 100 %$",
    "duplicate_row": r"^duplicate of line \d+$",
}


@pytest.fixture(scope="module")
def sources(inbox):
    return load_sources(inbox / "sources.yaml")


@pytest.fixture(scope="module")
def results(sources, keyring):
    keys = pseudonym_keys(keyring, AS_OF)
    return {s.id: ingest_source(s, sources.files(s), sources.catalogue, keys, keyring, AS_OF) for s in sources.all}


def test_counts_equal_the_ground_truth_for_every_file(inbox, results):
    expected = pd.read_csv(inbox / "truth" / "expected_counts.csv")
    assert set(expected["source_id"]) == set(results)
    for row in expected.itertuples():
        files = results[row.source_id].files.set_index("file").loc[row.file.split("/")[-1]]
        assert (files["rows"], files["accepted"], files["quarantined"]) == (
            row.rows, row.expected_accepted, row.expected_quarantined), row.source_id  # fmt: skip
        assert files["rows"] == files["accepted"] + files["quarantined"]


def test_quarantine_is_the_planted_bad_rows_row_for_row_with_their_own_reasons(inbox, results):
    truth = pd.read_csv(inbox / "truth" / "bad_rows.csv", dtype={"line": int})
    truth["file"] = truth["file"].str.split("/").str[-1]
    quarantine = pd.concat([r.quarantine for r in results.values()], ignore_index=True)
    joined = truth.merge(quarantine, on=["source_id", "file", "line"], how="outer", indicator=True)
    assert (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"]
    assert set(truth["kind"]) == set(REASON_OF_DEFECT)
    for row in joined.itertuples():
        assert re.match(REASON_OF_DEFECT[row.kind], row.reason), (row.kind, row.reason)
        if row.kind != "duplicate_row":
            assert row.column_x == row.column_y


def test_outputs_conform_to_their_models_and_hold_no_number(results, sources, synthetic_numbers, tmp_path):
    for source_id, result in results.items():
        model = model_for(sources.source(source_id).kind)
        model.validate(result.accepted)
        Quarantine.validate(result.quarantine)
        masked = result.quarantine.loc[result.quarantine["column"] == "personnummer", "value"].dropna()
        assert not masked.str.contains(r"[0-9]").any()
        result.accepted.to_csv(tmp_path / f"{source_id}.csv")
        result.quarantine.to_csv(tmp_path / f"{source_id}.quarantine.csv")
    assert scan(tmp_path, synthetic_numbers) == []


def test_a_partner_pseudonymized_delivery_links_with_the_plain_one(sources, keyring):
    """AF delivering level-1 pseudonyms gives the same level-2 pseudonyms as plain numbers."""
    af = sources.source("af")
    (path,) = sources.files(af)
    plain = to_canonical(af, read_source_file(af, path))
    keys = pseudonym_keys(keyring, AS_OF)
    expected = pseudonymize_identities(plain, keys, keyring, AS_OF).frame

    canonical = normalize(plain["personnummer"], AS_OF)["canonical"]
    valid = canonical.notna()
    level1 = plain.drop(columns="personnummer")
    level1["pseudonym_l1"] = pd.Series(pd.NA, index=plain.index, dtype="string")
    level1.loc[valid, "pseudonym_l1"] = level1_pseudonyms(canonical[valid], keys.linkage.secret).to_numpy()
    level1["pseudonym_key_id"] = "L1-TEST"
    level1.loc[plain.index[:3], "pseudonym_key_id"] = "L1-UNKNOWN"

    result = pseudonymize_identities(level1, keys, keyring, AS_OF)
    same = valid & ~plain.index.isin(plain.index[:3])
    assert result.frame.loc[same, "pseudonym"].tolist() == expected.loc[same, "pseudonym"].tolist()
    assert (result.frame.loc[same, "key_id"] == "L1-TEST+L2-TEST").all()
    assert (result.frame.loc[same, "age_band"] == "unknown").all()
    flagged = result.problems.set_index("row")
    for row in plain.index[:3]:
        assert flagged.loc[row, "reason"] == "linkage key id unknown or not valid on the reference date"


def test_a_missing_required_column_names_the_file_and_the_column(sources):
    source = sources.source("goteborg")
    (path,) = sources.files(source)
    read = read_source_file(source, path)
    read.frame = read.frame.drop(columns=["Slutdatum"])
    with pytest.raises(InputError) as problem:
        to_canonical(source, read)
    assert str(problem.value).startswith(f"{path}: line 1: required column 'Slutdatum' is missing")


def test_a_missing_sheet_is_named_and_a_header_only_file_delivers_no_rows(sources, keyring, tmp_path):
    source = sources.source("kungalv")
    (path,) = sources.files(source)
    with pytest.raises(InputError, match="Blad1"):
        read_source_file(source.model_copy(update={"sheet": "Blad1"}), path)
    goteborg = sources.source("goteborg")
    (delivery,) = sources.files(goteborg)
    header_only = tmp_path / "insatser.csv"
    header_only.write_bytes(delivery.read_bytes().split(b"\n")[0] + b"\n")
    keys = pseudonym_keys(keyring, AS_OF)
    # A municipality with nobody to report: no rows, named in the counts, not an error (issue 12).
    result = ingest_source(goteborg, [header_only], sources.catalogue, keys, keyring, AS_OF)
    assert result.accepted.empty and result.quarantine.empty
    MunicipalInterventions.validate(result.accepted)
    assert result.files.to_dict("records") == [{"file": "insatser.csv", "rows": 0, "accepted": 0, "quarantined": 0}]
    with pytest.raises(InputError, match="no delivered file matches"):
        ingest_source(goteborg, [], sources.catalogue, keys, keyring, AS_OF)


def test_a_number_in_the_wrong_column_is_masked_in_quarantine(sources, keyring, tmp_path):
    source = sources.source("goteborg")
    (delivery,) = sources.files(source)
    text = delivery.read_bytes().decode("cp1252").splitlines()
    header, first = text[0].split(";"), text[1].split(";")
    first[header.index("Insats")] = "19090101-9810"  # a personnummer pasted into the code column
    changed = tmp_path / "insatser.csv"
    changed.write_bytes("\r\n".join([text[0], ";".join(first)]).encode("cp1252") + b"\r\n")
    result = ingest_source(source, [changed], sources.catalogue, pseudonym_keys(keyring, AS_OF), keyring, AS_OF)
    (row,) = result.quarantine.itertuples()
    assert row.value == "NNNNNNNN-NNNN"
    # Refused for what it looks like (issue 12), before it could be taken for an unknown code.
    assert row.reason == "looks like a personal identity number in column 'Insats': never stored"
    assert row.column == "insats_code"


def test_the_home_kommun_is_optional_blank_is_the_providing_one_and_a_bad_code_names_only_the_column(
        sources, keyring, tmp_path):  # fmt: skip
    source = sources.source("goteborg")
    (delivery,) = sources.files(source)
    keys = pseudonym_keys(keyring, AS_OF)
    # The generated delivery has a home column; a source that does not map it reads as before.
    unmapped = {their: ours for their, ours in source.columns.items() if ours != "home_kommunkod"}
    assert len(unmapped) == len(source.columns) - 1
    source = source.model_copy(update={"columns": unmapped})
    without = ingest_source(source, [delivery], sources.catalogue, keys, keyring, AS_OF)
    assert (without.accepted["home_kommunkod"] == source.kommunkod).all()  # no column: the providing kommun

    text = delivery.read_bytes().decode("cp1252").splitlines()
    clean = [line for line, row in zip(text[1:], range(1, len(text)))
             if row + 1 not in set(without.quarantine["line"])][:4]  # fmt: skip
    homes = ["", "1402", "9999", "14O2"]  # empty, Partille, no such kommun, a letter O
    lines = [text[0] + ";Hemkommun"] + [f"{line};{home}" for line, home in zip(clean, homes)]
    changed = tmp_path / "insatser.csv"
    changed.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    mapped = source.model_copy(update={"columns": {**source.columns, "Hemkommun": "home_kommunkod"}})
    result = ingest_source(mapped, [changed], sources.catalogue, keys, keyring, AS_OF)
    MunicipalInterventions.validate(result.accepted)
    assert result.accepted.sort_values("line")["home_kommunkod"].tolist() == [source.kommunkod, "1402"]
    assert sorted(result.quarantine["line"]) == [4, 5]
    assert set(result.quarantine["column"]) == {"home_kommunkod"}
    assert result.quarantine["value"].isna().all()
    assert not result.quarantine["reason"].str.contains("9999|14O2").any()
    assert result.quarantine["reason"].str.startswith("home kommun:").all()
