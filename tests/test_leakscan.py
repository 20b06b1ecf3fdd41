"""The leak scanner must see a number in every form and container it can be written in."""

import pandas as pd
import pytest

from leakscan import scan

NUMBER = "190905271474"


@pytest.mark.parametrize(
    "text",
    ["190905271474", "19090527-1474", "19090527+1474", "0905271474", "090527-1474", "090527+1474",
     "x;090527-1474;y"],
)  # fmt: skip
def test_every_written_form_is_found(tmp_path, text):
    (tmp_path / "f.txt").write_text(text)
    assert scan(tmp_path, [NUMBER]) == [str(tmp_path / "f.txt")]


def test_containers_are_opened(tmp_path):
    frame = pd.DataFrame({"pnr": [NUMBER]})
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_excel(tmp_path / "f.xlsx", index=False)
    (tmp_path / "f.utf16").write_bytes("090527-1474".encode("utf-16-le"))
    hits = scan(tmp_path, [NUMBER])
    assert str(tmp_path / "f.parquet!rows") in hits
    assert any(hit.startswith(str(tmp_path / "f.xlsx!")) for hit in hits)
    assert str(tmp_path / "f.utf16") in hits


def test_other_numbers_and_pseudonyms_are_not_hits(tmp_path):
    (tmp_path / "f.txt").write_text("1909052714745 2190905271474 IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA")
    (tmp_path / "g.txt").write_text("200002292399")
    assert scan(tmp_path, [NUMBER]) == []
    assert scan(tmp_path, [NUMBER], exclude=[tmp_path]) == []


def test_unkeyed_digests_and_level1_pseudonyms_are_found(tmp_path):
    import hashlib

    (tmp_path / "h.log").write_text(hashlib.sha256(NUMBER.encode()).hexdigest().upper())
    (tmp_path / "p.log").write_text("p1=IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA;")
    hits = scan(tmp_path, [NUMBER], level1=["IUN3WNE2ZAOQBBMUJXRAVM7ZOL2BKBLQM6SECIRNNIMFP5I3YPMA"])
    assert hits == [str(tmp_path / "h.log"), str(tmp_path / "p.log")]
