"""The leak scanner must see a number in every form and container it can be written in."""

import pandas as pd
import pytest

from testkit.leakscan import scan

NUMBER = "190901019810"


@pytest.mark.parametrize(
    "text",
    ["190901019810", "19090101-9810", "19090101+9810", "0901019810", "090101-9810", "090101+9810",
     "x;090101-9810;y", "090101 - 9810", "19090101 9810"],
)  # fmt: skip
def test_every_written_form_is_found(tmp_path, text):
    (tmp_path / "f.txt").write_text(text)
    assert scan(tmp_path, [NUMBER]) == [str(tmp_path / "f.txt")]


def test_containers_are_opened(tmp_path):
    frame = pd.DataFrame({"pnr": [NUMBER]})
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_excel(tmp_path / "f.xlsx", index=False)
    (tmp_path / "f.utf16").write_bytes("090101-9810".encode("utf-16-le"))
    hits = scan(tmp_path, [NUMBER])
    assert str(tmp_path / "f.parquet!rows") in hits
    assert any(hit.startswith(str(tmp_path / "f.xlsx!")) for hit in hits)
    assert str(tmp_path / "f.utf16") in hits


def test_other_numbers_and_pseudonyms_are_not_hits(tmp_path):
    (tmp_path / "f.txt").write_text("1909010198105 2190901019810 IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA")
    (tmp_path / "g.txt").write_text("200002292399")
    assert scan(tmp_path, [NUMBER]) == []
    assert scan(tmp_path, [NUMBER], exclude=[tmp_path]) == []


def test_unkeyed_digests_and_level1_pseudonyms_are_found(tmp_path):
    import hashlib

    (tmp_path / "h.log").write_text(hashlib.sha256(NUMBER.encode()).hexdigest().upper())
    (tmp_path / "p.log").write_text("p1=IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA;")
    hits = scan(tmp_path, [NUMBER], level1=["IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA"])
    assert hits == [str(tmp_path / "h.log"), str(tmp_path / "p.log")]


COMMENT = "Behöver tolk; väntar på läkarintyg från vårdcentralen"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "cp1252", "json"])
def test_a_free_text_is_found_in_every_encoding(tmp_path, encoding):
    import json

    data = json.dumps({"m": COMMENT}).encode("ascii") if encoding == "json" else COMMENT.encode(encoding)
    (tmp_path / "f.bin").write_bytes(b"prefix " + data + b" suffix")
    assert scan(tmp_path, [], texts=[COMMENT]) == [str(tmp_path / "f.bin")]
    assert scan(tmp_path, [], texts=["Behöver tolk; väntar inte"]) == []


def test_captured_output_is_scanned_too():
    from testkit.leakscan import leaks_in

    assert leaks_in(f"FAILED x: {COMMENT}", [], texts=[COMMENT])
    assert leaks_in("line 2: 090101-9810", [NUMBER])
    assert not leaks_in("line 2: NNNNNN-NNNN", [NUMBER], texts=[COMMENT])


def test_the_scan_catches_a_free_text_logged_by_mistake(tmp_path):
    """The canary for texts: a comment logged into Dagster's event log is found there."""
    import dagster as dg

    @dg.asset
    def careless(context: dg.AssetExecutionContext) -> None:
        context.log.info(f"row 7: {COMMENT}")

    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert dg.materialize([careless], instance=instance).success
    assert scan(tmp_path, [], texts=[COMMENT]) != []
