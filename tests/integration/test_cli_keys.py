"""Two parties, two keyrings: `keys` and `pseudonymize` as the partners will run them."""

import datetime as dt
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from core.keys import pseudonyms as ps
from core.keys.keyring import Keyring, pseudonym_keys
from orchestration.cli import cli
from testkit.leakscan import scan

OPERATOR_PASSPHRASE = "operator keyring passphrase"
PARTNER_PASSPHRASE = "partner keyring passphrase"
PACKAGE_PASSPHRASE = "agreed by phone, never emailed"
PEOPLE = ["190901019810", "200002292399", "197301732389", "194601136098"]  # Skatteverket test numbers


def run(args, keyring, passphrase, **env):
    result = CliRunner().invoke(
        cli,
        args,
        env={"MELLANRUM_KEYRING": str(keyring), "MELLANRUM_KEYRING_PASSPHRASE": passphrase, **env},
        catch_exceptions=False,
    )
    return result


@pytest.fixture
def parties(tmp_path):
    """The pipeline operator with a pipeline and a linkage key, and a partner with its import."""
    operator = tmp_path / "operator" / "keyring.json"
    partner = tmp_path / "partner" / "keyring.json"
    assert run(["keys", "new", "--role", "pipeline", "--valid-from", "2026-01-01"], operator, OPERATOR_PASSPHRASE).exit_code == 0
    created = run(["keys", "new", "--role", "linkage", "--id", "L1-GR-2026", "--valid-from", "2026-01-01"],
                  operator, OPERATOR_PASSPHRASE)
    assert created.exit_code == 0, created.output
    package = tmp_path / "exchange" / "L1-GR-2026.key"
    package.parent.mkdir()
    exported = run(
        ["keys", "export", "--id", "L1-GR-2026", "--out", str(package)],
        operator,
        OPERATOR_PASSPHRASE,
        MELLANRUM_PACKAGE_PASSPHRASE=PACKAGE_PASSPHRASE,
    )
    assert exported.exit_code == 0, exported.output
    imported = run(["keys", "import", str(package)], partner, PARTNER_PASSPHRASE,
                   MELLANRUM_PACKAGE_PASSPHRASE=PACKAGE_PASSPHRASE)  # fmt: skip
    assert imported.exit_code == 0, imported.output
    return operator, partner


def _extract(path, numbers):
    frame = pd.DataFrame({"Löpnr": [str(i) for i in range(len(numbers))], "Personnr": numbers, "Ort": "Göteborg"})
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")


def test_both_parties_print_the_same_check_value(parties):
    operator, partner = parties
    theirs = run(["keys", "check", "--id", "L1-GR-2026"], partner, PARTNER_PASSPHRASE)
    ours = run(["keys", "check", "--id", "L1-GR-2026"], operator, OPERATOR_PASSPHRASE)
    assert theirs.exit_code == ours.exit_code == 0
    assert theirs.output == ours.output
    assert theirs.output.startswith("L1-GR-2026\tlinkage\t")


def test_partner_pseudonyms_equal_the_operators(parties, tmp_path):
    operator, partner = parties
    extract = tmp_path / "partner" / "extract.csv"
    # Written as the partner's system would: 10- and 12-digit forms, separators.
    _extract(extract, ["090101+9810", "20000229-2399", "197301732389", "460113-6098"])
    at_partner = tmp_path / "partner" / "extract.pseud.csv"
    at_operator = tmp_path / "operator" / "extract.pseud.csv"
    for keyring, passphrase, out in ((partner, PARTNER_PASSPHRASE, at_partner),
                                     (operator, OPERATOR_PASSPHRASE, at_operator)):  # fmt: skip
        result = run(["pseudonymize", "--in", str(extract), "--column", "Personnr", "--out", str(out),
                      "--reference-date", "2026-11-23"], keyring, passphrase)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert at_partner.read_bytes() == at_operator.read_bytes()

    written = pd.read_csv(at_partner, sep=";", dtype=str)
    assert list(written.columns) == ["Löpnr", "pseudonym_l1", "pseudonym_key_id", "Ort"]
    assert (written["pseudonym_key_id"] == "L1-GR-2026").all()
    assert written["Ort"].tolist() == ["Göteborg"] * 4

    # ...and equal to what the pipeline computes from the plain numbers with its keyring.
    keys = pseudonym_keys(Keyring.load(operator, OPERATOR_PASSPHRASE), dt.date(2026, 11, 23), "L1-GR-2026")
    assert written["pseudonym_l1"].tolist() == ps.level1_pseudonyms(pd.Series(PEOPLE), keys.linkage.secret).tolist()

    # Nothing the commands wrote holds a plain number: only the test's own extract does.
    assert scan(tmp_path, PEOPLE, exclude=[extract]) == []


def test_invalid_numbers_are_reported_by_line_never_echoed(parties, tmp_path):
    _, partner = parties
    extract = tmp_path / "bad.csv"
    _extract(extract, ["190901019810", "190901019811", "", "19090101981"])
    out = tmp_path / "bad.pseud.csv"
    result = run(["pseudonymize", "--in", str(extract), "--column", "Personnr", "--out", str(out),
                  "--reference-date", "2026-11-23"], partner, PARTNER_PASSPHRASE)  # fmt: skip
    assert result.exit_code == 1
    assert "line 3: check digit wrong" in result.output
    assert "line 4: empty" in result.output
    assert "line 5: eleven digits" in result.output
    assert "1909010198" not in result.output
    written = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    assert len(written) == 4  # nothing dropped: invalid rows keep an empty pseudonym
    assert written["pseudonym_l1"].str.len().tolist() == [52, 0, 0, 0]
    assert scan(tmp_path, ["190901019810"], exclude=[extract]) == []


def test_missing_column_names_the_file_and_the_columns(parties, tmp_path):
    _, partner = parties
    extract = tmp_path / "extract.csv"
    _extract(extract, PEOPLE)
    result = run(["pseudonymize", "--in", str(extract), "--column", "PNR", "--out", str(tmp_path / "o.csv")],
                 partner, PARTNER_PASSPHRASE)  # fmt: skip
    assert result.exit_code == 2
    assert f"{extract}: line 1: no column 'PNR'" in result.output
    assert "'Personnr'" in result.output


def test_wrong_passphrase_unknown_and_expired_keys_exit_non_zero(parties, tmp_path):
    operator, partner = parties
    extract = tmp_path / "extract.csv"
    _extract(extract, PEOPLE)
    args = ["pseudonymize", "--in", str(extract), "--column", "Personnr", "--out", str(tmp_path / "o.csv")]

    wrong = run(["keys", "list"], operator, "not the operator passphrase")
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.output

    unknown = run([*args, "--key-id", "L1-NOPE"], partner, PARTNER_PASSPHRASE)
    assert unknown.exit_code == 2 and "no key with id 'L1-NOPE'" in unknown.output

    rotated = run(["keys", "rotate", "--role", "linkage", "--valid-from", "2026-11-23", "--overlap-days", "0"],
                  operator, OPERATOR_PASSPHRASE)  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    expired = run([*args, "--key-id", "L1-GR-2026", "--reference-date", "2026-11-24"], operator, OPERATOR_PASSPHRASE)
    assert expired.exit_code == 2 and "'L1-GR-2026' is expired on 2026-11-24" in expired.output

    no_passphrase = CliRunner().invoke(cli, ["keys", "list"], env={"MELLANRUM_KEYRING": str(operator),
                                                                   "MELLANRUM_KEYRING_PASSPHRASE": ""})  # fmt: skip
    assert no_passphrase.exit_code == 2 and "MELLANRUM_KEYRING_PASSPHRASE" in no_passphrase.output
    assert not (tmp_path / "o.csv").exists()


def test_list_shows_validity_and_check_values_never_secrets(parties):
    operator, _ = parties
    listed = run(["keys", "list", "--on", "2026-11-23"], operator, OPERATOR_PASSPHRASE)
    assert listed.exit_code == 0
    assert "L1-GR-2026" in listed.output and "check value" in listed.output
    ring = Keyring.load(operator, OPERATOR_PASSPHRASE)
    for key in ring.keys:
        assert key.secret.hex() not in listed.output
    assert json.loads(operator.read_text())["format"] == "mellanrum-keyring/1"
