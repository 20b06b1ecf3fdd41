"""The pure rules of issue 12 one by one: a header that looks like data, files that are not
text, a header-only file, a repeated header line, tab and the other delimiters, local codes
matched ignoring case and spacing, and deliveries confined to the inbox."""

import os
import textwrap

import openpyxl
import pandas as pd
import pytest

from core.readers import (
    LINE_COLUMN,
    REPEATED_HEADER,
    check_header,
    looks_like_data,
    read_delimited,
    read_workbook,
)
from core.validate import map_codes, required_text
from schemas.errors import ConfigError, DeliveryError, HeaderName
from schemas.sources import code_key, load_sources

PNR = "19090101-9810"  # a Skatteverket test number
COMMENT = "Sjukskriven sedan mars, väntar på läkarintyg"


# --- the header line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells",
    [
        [PNR, "2024-00001", "Praktik"],  # a personal number
        ["0901019810"],
        ["Namn", "2021-09-29", "x"],  # a date
        ["Namn", "29/9/2021"], ["Namn", "29.09.21"], ["Namn", "2021-09-29 00:00:00"],
        ["Namn", "100"], ["Namn", "37,5"], ["L0000001", "Namn"], ["Q1 2025"],  # mostly digits
        ["Namn", "ett två tre fyra fem sex sju åtta nio"], ["Namn", "x" * 81],  # free text
        ["Namn", COMMENT], ["Bor i skyddat boende; ring inte hem"], ["Mamma ringde: han har återfall"],
    ],
)  # fmt: skip
def test_a_line_of_data_is_not_a_header(cells):
    assert looks_like_data(cells)
    with pytest.raises(DeliveryError) as refused:
        check_header(cells, "f.csv")
    assert str(refused.value) == "f.csv: line 1 looks like data, not a header: is the header missing?"
    assert not any(cell.strip() and cell in str(refused.value)[5:] for cell in cells)


@pytest.mark.parametrize(
    "cells",
    [
        ["Personnummer", "Ärende-ID", "Insats", "Startdatum", "Omfattning (%)", "Samtycke"],
        ["Löpnr", "Personnr", "Samtycke till informationsutbyte", "Handläggare", "Kommentar"],
        ["pnr", "id1", "År 2"], ["Omfattning i procent", "Beslutsdatum (ÅÅÅÅ-MM-DD)"],
        ["Samtycke (J/N)", "Insats/åtgärd", "Kontor.namn", "Startdatum"],
    ],
)
def test_real_headers_pass_and_their_names_are_checked(cells):
    assert not looks_like_data(cells)
    names = check_header(cells, "f.csv")
    assert names == tuple(cells) and all(isinstance(name, HeaderName) for name in names)


def test_header_checks_run_data_first_then_blank_then_repeated():
    with pytest.raises(DeliveryError, match="line 1 looks like data"):
        check_header(["2021-01-01", "2021-01-01", ""], "f.csv")  # never "appears more than once"
    with pytest.raises(DeliveryError, match="f.csv: line 1: column 2 has no name"):
        check_header(["a", " ", "a"], "f.csv")
    with pytest.raises(DeliveryError, match="f.csv: line 1: column name 'a' appears more than once"):
        check_header(["a", "b", "a"], "f.csv")


# --- files that cannot be read, and files that should be ------------------------------------------


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_headerless_delivery_is_refused_without_a_value(tmp_path):
    row = f"{PNR};2024-00001;Praktik;2024-01-01;;100;Ja;Ja;{COMMENT}\n"
    path = write(tmp_path, "insatser.csv", (row * 3).encode("cp1252"))
    with pytest.raises(DeliveryError) as refused:
        read_delimited(path, encoding="cp1252", delimiter=";")
    assert str(refused.value) == f"{path}: line 1 looks like data, not a header: is the header missing?"
    assert refused.value.__cause__ is None and refused.value.__context__ is None


@pytest.mark.parametrize(
    "data",
    [
        b"Personnummer;Namn\r\x00\x01\x02\x89PNG" + bytes(range(256)) * 4,  # binary, a stray CR in its first line
        b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200,  # a workbook delivered as .csv
        bytes(range(1, 32)) * 50 + b"\n",  # control characters, no NUL
    ],
)
def test_a_binary_file_is_refused_by_name(tmp_path, data):
    path = write(tmp_path, "insatser.csv", data)
    with pytest.raises(DeliveryError, match=r"insatser.csv: not a text file in the (cp1252|utf-8) encoding"):
        read_delimited(path)


def test_a_line_longer_than_the_sample_is_not_a_header(tmp_path):
    path = write(tmp_path, "f.csv", b"a" * 70_000 + b"\n1\n")
    with pytest.raises(DeliveryError, match="f.csv: line 1 is longer than 65536 bytes: not a header line"):
        read_delimited(path)


def test_a_header_only_file_is_no_rows(tmp_path):
    read = read_delimited(write(tmp_path, "f.csv", b"Personnr;Insats\r\n"))
    assert read.rows_read == 0 and list(read.frame.columns) == [LINE_COLUMN, "Personnr", "Insats"]


def test_a_repeated_header_line_is_one_bad_line(tmp_path):
    read = read_delimited(write(tmp_path, "f.csv", b"a;b\n1;2\n a ;b\n3;4\n"))
    assert read.frame[LINE_COLUMN].tolist() == [2, 4]
    assert read.bad_lines == [(3, REPEATED_HEADER)] and read.rows_read == 3


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_every_listed_delimiter_reads_when_declared(tmp_path, delimiter):
    text = delimiter.join(["Löpnr", "Insats"]) + "\n" + delimiter.join(["1", "Praktik"]) + "\n"
    read = read_delimited(write(tmp_path, "f.csv", text.encode("utf-8")), encoding="utf-8", delimiter=delimiter)
    assert read.frame.drop(columns=LINE_COLUMN).to_dict("records") == [{"Löpnr": "1", "Insats": "Praktik"}]


def workbook(tmp_path, name, rows, title="Insatser"):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(tmp_path / name)
    return tmp_path / name


def test_workbooks_follow_the_same_header_rules(tmp_path):
    headerless = workbook(tmp_path, "a.xlsx", [[9010112389, "LNR1", COMMENT], [9010112389, "LNR2", COMMENT]])
    with pytest.raises(DeliveryError, match="a.xlsx: line 1 looks like data, not a header"):
        read_workbook(headerless)
    header_only = read_workbook(workbook(tmp_path, "b.xlsx", [["Personnr", "Löpnr"]]), "Insatser")
    assert header_only.rows_read == 0
    repeated = read_workbook(workbook(tmp_path, "c.xlsx", [["a", "b"], ["1", "2"], ["a", "b"], ["3", "4"]]))
    assert repeated.frame[LINE_COLUMN].tolist() == [2, 4] and repeated.bad_lines == [(3, REPEATED_HEADER)]
    with pytest.raises(DeliveryError, match="d.xlsx: the sheet is empty"):
        read_workbook(workbook(tmp_path, "d.xlsx", []))
    corrupt = write(tmp_path, "e.xlsx", b"PK\x03\x04" + b"broken" * 100)
    with pytest.raises(DeliveryError, match="e.xlsx: not a readable .xlsx workbook"):
        read_workbook(corrupt)
    with pytest.raises(DeliveryError, match="b.xlsx: the workbook has no sheet named 'Blad1'"):
        read_workbook(tmp_path / "b.xlsx", "Blad1")


# --- local codes, ids -------------------------------------------------------------------------


def test_local_codes_match_ignoring_case_and_spacing():
    mapping = {"AT": "ARBETSTRANING", "Studie- och yrkesvägledning": "SYV"}
    text = pd.Series(["at", " AT ", "At", "studie-  och YRKESVÄGLEDNING", "praktik", "AT9"])
    mapped, found = map_codes(text, mapping, {"ARBETSTRANING", "SYV", "PRAKTIK"}, "insats_code", "intervention code")
    assert mapped.tolist()[:5] == ["ARBETSTRANING"] * 3 + ["SYV", "PRAKTIK"]
    assert found["reason"].tolist() == ["unknown intervention code 'AT9': not mapped in the sources file"]
    assert code_key("  Studie-  och\tSYV ") == "studie- och syv"


def test_ids_that_are_free_text_or_formulas_are_refused():
    text = pd.Series(["2024-00001", COMMENT, "=HYPERLINK(\"http://x\")", "@SUM(A1)", "", "KF 12/3"])
    _, found = required_text(text, "record_id")
    reasons = dict(zip(found["row"], found["reason"]))
    assert reasons == {
        1: "record id is free text, not an id or a name: never stored",
        2: "record id starts like a spreadsheet formula (=, +, - or @): never stored",
        3: "record id starts like a spreadsheet formula (=, +, - or @): never stored",
        4: "record id is missing",
    }
    assert COMMENT not in found.to_string() and "HYPERLINK" not in found.to_string()


# --- the sources file -------------------------------------------------------------------------

SOURCE = """\
version: 1
sources:
  - id: partille
    kind: municipal
    kommunkod: "1402"
    files: {files}
    format: csv
    delimiter: {delimiter}
    columns:
      Personnr: personnummer
      Ärende: record_id
      Insats: insats_code
      Från: start_date
      Till: end_date
      Omfattning: extent_pct
      Samtycke: consent
    codes:
      insats_code: {codes}
"""


def sources_file(tmp_path, files="partille/*.csv", delimiter="auto", codes="{AT: ARBETSTRANING}"):
    path = tmp_path / "inbox" / "sources.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SOURCE.format(files=files, delimiter=delimiter, codes=codes), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ("../outside/*.csv", "'..' leaves the inbox"),
        ("../../../../../../etc/pass*", "'..' leaves the inbox"),
        ("partille/../../outside.csv", "'..' leaves the inbox"),
        ('"partille\\\\..\\\\..\\\\x.csv"', "'..' leaves the inbox"),
        ("/etc/passwd", "an absolute path"),
        ("~/deliveries/*.csv", "an absolute path"),
        ('"C:\\\\deliveries\\\\x.csv"', "an absolute path"),
        ('""', "give a file pattern relative"),
    ],
)
def test_a_files_pattern_leaving_the_inbox_is_refused_on_load(tmp_path, files, reason):
    with pytest.raises(ConfigError) as refused:
        load_sources(sources_file(tmp_path, files=files))
    assert "sources[0] (id 'partille').files" in str(refused.value) and reason in str(refused.value)
    assert "root:" not in str(refused.value)


def test_a_file_or_folder_linked_from_outside_the_inbox_fails_its_source(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"Personnr\n{PNR}\n", encoding="utf-8")
    path = sources_file(tmp_path)
    inbox = path.parent
    (inbox / "partille").mkdir()
    (inbox / "partille" / "ok.csv").write_text("x\n", encoding="utf-8")
    sources = load_sources(path)
    assert sources.files(sources.source("partille")) == [inbox / "partille" / "ok.csv"]

    os.symlink(outside / "secret.csv", inbox / "partille" / "z.csv")
    with pytest.raises(DeliveryError) as refused:
        sources.files(sources.source("partille"))
    message = str(refused.value)
    assert message.startswith(f"{inbox / 'partille' / 'z.csv'}: resolves outside the inbox")
    assert PNR not in message and str(outside) not in message

    (inbox / "partille" / "z.csv").unlink()
    os.symlink(outside, inbox / "linked")
    linked = load_sources(sources_file(tmp_path, files="linked/*.csv"))
    with pytest.raises(DeliveryError, match="linked/secret.csv: resolves outside the inbox"):
        linked.files(linked.source("partille"))


def test_a_link_inside_the_inbox_is_fine(tmp_path):
    path = sources_file(tmp_path)
    inbox = path.parent
    (inbox / "archive").mkdir()
    (inbox / "archive" / "a.csv").write_text("x\n", encoding="utf-8")
    (inbox / "partille").mkdir()
    os.symlink(inbox / "archive" / "a.csv", inbox / "partille" / "a.csv")
    sources = load_sources(path)
    assert sources.files(sources.source("partille")) == [inbox / "partille" / "a.csv"]


@pytest.mark.parametrize("spelling", ['"\\t"', "tab", "TAB", "'\\t'", '";"', "','", "'|'", "auto"])
def test_every_listed_delimiter_is_declarable(tmp_path, spelling):
    expected = {"auto": "auto", '";"': ";", "','": ",", "'|'": "|"}.get(spelling, "\t")
    assert load_sources(sources_file(tmp_path, delimiter=spelling)).source("partille").delimiter == expected


def test_an_unknown_delimiter_lists_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"delimiter: got '::': expected one of auto, ';', ',', '\|', tab"):
        load_sources(sources_file(tmp_path, delimiter='"::"'))


def test_codes_that_match_alike_must_map_alike(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_sources(sources_file(tmp_path, codes="{AT: ARBETSTRANING, 'at ': PRAKTIK}"))
    assert "'AT' and 'at' are the same code (matching ignores case and spacing)" in str(refused.value)
    same = load_sources(sources_file(tmp_path, codes="{AT: ARBETSTRANING, at: ARBETSTRANING}"))
    assert same.source("partille").codes["insats_code"] == {"AT": "ARBETSTRANING", "at": "ARBETSTRANING"}


def test_the_sources_docstring_documents_the_rules():
    import schemas.sources

    doc = textwrap.dedent(schemas.sources.__doc__)
    assert "ignoring case and spacing" in doc and "outside the inbox" in doc and "tab" in doc
