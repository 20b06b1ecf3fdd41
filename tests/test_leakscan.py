"""The leak scanner must see a number in every form and container it can be written in."""

import pandas as pd
import pytest

from testkit.leakscan import scan

NUMBER = "190901019810"


@pytest.mark.parametrize(
    "text",
    ["190901019810", "19090101-9810", "19090101+9810", "0901019810", "090101-9810", "090101+9810",
     "x;090101-9810;y"],
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
