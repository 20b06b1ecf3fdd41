"""Ingest on generated deliveries: every format reads, identities become pseudonyms."""

import pandas as pd
import pytest

from assets.ingest import KEY_ID, PSEUDONYM, pseudonymize_identities, read_source_file, to_canonical
from assets.pseudonyms import level1_pseudonyms
from assets.readers import LINE_COLUMN
from conftest import AS_OF
from orchestration.keyring import pseudonym_keys
from schemas.errors import InputError
from schemas.personnummer import normalize
from schemas.sources import load_sources

IDENTITY_DEFECTS = {"wrong_check_digit", "blank_personnummer", "leading_zero_lost"}


@pytest.fixture(scope="module")
def sources(inbox):
    return load_sources(inbox / "sources.yaml")


def _ingest(sources, source, keyring):
    (path,) = sources.files(source)
    read = read_source_file(source, path)
    frame = to_canonical(source, read)
    return path, read, pseudonymize_identities(frame, pseudonym_keys(keyring, AS_OF), keyring, AS_OF)


def test_every_source_reads_with_the_expected_row_count(inbox, sources):
    expected = pd.read_csv(inbox / "truth" / "expected_counts.csv", dtype={"rows": int}).set_index("source_id")
    for source in sources.all:
        (path,) = sources.files(source)
        read = read_source_file(source, path)
        assert read.rows_read == expected.loc[source.id, "rows"], source.id
        assert read.bad_lines == []


def test_unusable_identities_are_exactly_the_planted_ones(inbox, sources, keyring):
    truth = pd.read_csv(inbox / "truth" / "bad_rows.csv", dtype=str)
    planted = truth[truth["kind"].isin(IDENTITY_DEFECTS)]
    for source in sources.all:
        path, read, result = _ingest(sources, source, keyring)
        expected = sorted(planted.loc[planted["source_id"] == source.id, "line"].astype(int))
        assert sorted(result.problems["line"].tolist()) == expected, source.id
        assert (result.problems["column"] == "personnummer").all()
        assert not result.problems["reason"].str.contains(r"[0-9]{4}").any()
        usable = result.frame[PSEUDONYM].notna()
        assert usable.sum() + len(result.problems) == len(read.frame)
        assert result.frame.loc[usable, PSEUDONYM].str.fullmatch(r"[A-Z2-7]{52}").all()
        assert (result.frame.loc[usable, KEY_ID] == "L1-TEST+L2-TEST").all()
        assert "personnummer" not in result.frame.columns


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
    assert result.frame.loc[same, PSEUDONYM].tolist() == expected.loc[same, PSEUDONYM].tolist()
    assert (result.frame.loc[same, KEY_ID] == "L1-TEST+L2-TEST").all()
    reasons = dict(zip(result.problems["line"], result.problems["reason"]))
    for line in plain.loc[plain.index[:3], LINE_COLUMN]:
        assert reasons[line] == "unknown or expired linkage key id"


def test_a_missing_required_column_names_the_file_and_the_column(sources):
    source = sources.source("goteborg")
    (path,) = sources.files(source)
    read = read_source_file(source, path)
    read.frame = read.frame.drop(columns=["Slutdatum"])
    with pytest.raises(InputError) as problem:
        to_canonical(source, read)
    assert str(problem.value).startswith(f"{path}: line 1: required column 'Slutdatum' is missing")


def test_a_missing_sheet_is_named(sources, tmp_path):
    source = sources.source("kungalv")
    (path,) = sources.files(source)
    wrong = source.model_copy(update={"sheet": "Blad1"})
    with pytest.raises(InputError, match="Blad1"):
        read_source_file(wrong, path)
