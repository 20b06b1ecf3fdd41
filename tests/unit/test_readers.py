"""Reading delivered files: encodings, delimiters, quoting, and honest line numbers."""

import codecs

import pytest

from core.readers import LINE_COLUMN, detect_encoding, read_delimited
from schemas.errors import InputError


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")],
)
@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_encoding_and_delimiter_are_detected(tmp_path, encoding, detected, delimiter):
    text = delimiter.join(["Löpnr", "Insats", "Ort"]) + "\n" + delimiter.join(["1", "Arbetsträning", "Öckerö"]) + "\n"
    path = write(tmp_path, "f.csv", text.encode(encoding))
    read = read_delimited(path)
    assert (read.encoding, read.delimiter) == (detected, delimiter)
    assert list(read.frame.columns) == [LINE_COLUMN, "Löpnr", "Insats", "Ort"]
    assert read.frame.iloc[0].tolist() == [2, "1", "Arbetsträning", "Öckerö"]


def test_everything_is_text_and_leading_zeros_survive(tmp_path):
    path = write(tmp_path, "f.csv", b"kommunkod;pnr;omf\n0780;0002292399;62,5\n")
    row = read_delimited(path).frame.iloc[0]
    assert row["kommunkod"] == "0780" and row["pnr"] == "0002292399" and row["omf"] == "62,5"


def test_line_numbers_count_quoted_line_breaks_and_blank_lines(tmp_path):
    data = b'id;text;n\n1;a;1\n\n2;"two\nlines";2\n3;"x;y";3\n'
    read = read_delimited(write(tmp_path, "f.csv", data))
    assert read.frame[LINE_COLUMN].tolist() == [2, 4, 6]
    assert read.frame["text"].tolist() == ["a", "two\nlines", "x;y"]


def test_rows_with_the_wrong_number_of_fields_are_reported_not_dropped(tmp_path):
    data = b"id;pnr;n\n1;190901019810;1\n2;200002292399\n3;197301732389;3;extra\n4;x;4\n"
    read = read_delimited(write(tmp_path, "f.csv", data))
    assert read.frame[LINE_COLUMN].tolist() == [2, 5]
    assert read.bad_lines == [
        (3, "expected 3 fields separated by ';', found 2"),
        (4, "expected 3 fields separated by ';', found 4"),
    ]
    assert read.rows_read == 4
    assert all("2000" not in reason and "1973" not in reason for _, reason in read.bad_lines)


def test_errors_name_the_file_and_never_quote_content(tmp_path):
    empty = write(tmp_path, "empty.csv", b"")
    with pytest.raises(InputError, match="empty.csv: the file is empty"):
        read_delimited(empty)
    duplicated = write(tmp_path, "dup.csv", b"a;a\n1;2\n")
    with pytest.raises(InputError, match="dup.csv: line 1: column name 'a' appears more than once"):
        read_delimited(duplicated)
    unbalanced = write(tmp_path, "q.csv", b'a;b\n1;"190901019810\n')
    with pytest.raises(InputError) as problem:
        read_delimited(unbalanced)
    assert "q.csv" in str(problem.value) and "190901019810" not in str(problem.value)
    wrong_encoding = write(tmp_path, "w.csv", "a;b\n1;Göteborg\n".encode("cp1252"))
    with pytest.raises(InputError, match="w.csv: not valid utf-8 text"):
        read_delimited(wrong_encoding, encoding="utf-8")


def test_detect_encoding_tolerates_a_character_cut_at_the_sample_end():
    sample = "ab;ö".encode("utf-8")[:-1]
    assert detect_encoding(sample) == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + b"a") == "utf-8-sig"
    assert detect_encoding("Göteborg;Mölndal;Öckerö".encode("cp1252")) == "cp1252"
