"""Every reader and validator, fed deliveries whose every cell is a personal number or free
text: no message, exception chain, log record, warning or result text (quarantine values and
reasons) holds any of them (issue 12, item 1). The end-to-end corpus with Dagster's event
log and the published database is tests/integration/test_delivery_corpus.py."""

import io
import logging
import traceback
import warnings

import openpyxl
import pandas as pd
import pytest

from core.ingest import ingest_source, read_source_file, to_canonical
from core.keys.keyring import pseudonym_keys
from core.readers import read_delimited, read_workbook
from core.validate import (
    duplicates,
    map_codes,
    model_problems,
    parse_dates,
    parse_numbers,
    required_text,
)
from schemas.catalogue import default_catalogue
from schemas.datasets import MunicipalInterventions
from schemas.errors import MellanrumError
from schemas.sources import Source
from testkit.homes import AS_OF
from testkit.leakscan import leaks_in

# Skatteverket's test numbers in every written form, and comments a caseworker could type.
NUMBERS = ["189001019802", "189001029819", "189001039800", "192412129195", "192412309268", "192412319218"]
FORMS = [NUMBERS[0], NUMBERS[1][:8] + "-" + NUMBERS[1][8:], NUMBERS[2][2:], NUMBERS[3][2:8] + "-" + NUMBERS[3][8:],
         NUMBERS[4][2:8] + "+" + NUMBERS[4][8:], NUMBERS[5][2:8] + " - " + NUMBERS[5][8:]]  # fmt: skip
TEXTS = ["Sjukskriven sedan mars, väntar på läkarintyg", "Bor i skyddat boende; ring inte hem",
         "Mamma ringde: han har återfall igen", "Behöver tolk (arabiska), har ångest inför möten",
         "Avbröt praktiken, konflikt med handledaren Olle", "Skuld hos Kronofogden, 40 000 kr"]  # fmt: skip
CELLS = FORMS + TEXTS
HEADER = ["Personnummer", "Ärende-ID", "Insats", "Start", "Slut", "Omfattning", "Samtycke", "Kommentar"]
SOURCE = Source(
    id="kommun", kind="municipal", kommunkod="1480", files="*.csv", format="csv", encoding="utf-8", delimiter=";",
    columns={"Personnummer": "personnummer", "Ärende-ID": "record_id", "Insats": "insats_code",
             "Start": "start_date", "Slut": "end_date", "Omfattning": "extent_pct", "Samtycke": "consent"},
    codes={"insats_code": {"AT": "ARBETSTRANING"}, "consent": {"Ja": True}},
)  # fmt: skip


def value_rows(count: int = 12) -> list[list[str]]:
    """Rows whose every cell is a number or a free text, each column cycling through all."""
    return [[CELLS[(row + column) % len(CELLS)] for column in range(len(HEADER))] for row in range(count)]


def csv_bytes(rows, header=HEADER) -> bytes:
    lines = ([header] if header else []) + rows
    return "".join(";".join(f'"{cell}"' if ";" in cell else cell for cell in line) + "\n" for line in lines).encode()


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    for line in ([header] if header else []) + rows:
        book.active.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class Witness:
    """Everything a call could let out: its result's text, its error with the whole chain,
    log records and warnings."""

    def __init__(self, caplog) -> None:
        self.caplog = caplog
        self.texts: list[str] = []

    def run(self, work):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = work()
            except Exception as problem:  # noqa: BLE001
                self.texts.append("".join(traceback.format_exception(problem)))
                assert isinstance(problem, MellanrumError), "".join(traceback.format_exception(problem))
                result = None
        self.texts += [str(w.message) for w in caught]
        return result

    def show(self, value) -> None:
        if isinstance(value, pd.DataFrame):
            self.texts.append(value.to_csv())
        elif isinstance(value, tuple):
            for item in value:
                self.show(item)
        elif isinstance(value, pd.Series):
            self.texts.append(value.to_csv())
        elif value is not None:
            self.texts.append(str(value))

    def assert_nothing_escaped(self) -> None:
        self.texts += [record.getMessage() for record in self.caplog.records]
        everything = "\n".join(self.texts)
        assert not leaks_in(everything, NUMBERS, texts=TEXTS)
        for cell in CELLS:
            assert cell not in everything, f"a delivered cell ({len(cell)} characters) escaped"


@pytest.fixture
def witness(caplog):
    caplog.set_level(logging.DEBUG)
    witness = Witness(caplog)
    yield witness
    witness.assert_nothing_escaped()


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes(value_rows(), header=None),  # headerless
        csv_bytes(value_rows(1), header=None),  # one line of data, nothing else
        csv_bytes([], header=CELLS[:8]),  # a "header" of values
        csv_bytes(value_rows(), header=[c.replace("ä", "a") for c in CELLS[6:14]]),  # free text as a header
        csv_bytes(value_rows()) + b'1;"' + TEXTS[0].encode() + b"\n",  # an unclosed quote
        csv_bytes(value_rows()) + TEXTS[1].encode("cp1252") + b"\n",  # not UTF-8 in the body
        TEXTS[2].encode("utf-16"),  # UTF-16
        FORMS[0].encode() + b"\r" + bytes(range(256)),  # binary with a stray CR
        (";".join(CELLS) + ";") * 3000 + "\n",  # one huge line
    ],
)
def test_readers_refuse_without_a_value(tmp_path, witness, data):
    path = tmp_path / "insatser.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    for encoding, delimiter in (("auto", "auto"), ("utf-8", ";"), ("cp1252", "\t")):
        read = witness.run(lambda: read_delimited(path, encoding=encoding, delimiter=delimiter))
        if read is not None:  # the values are in the frame (the data); nowhere else
            witness.show((read.bad_lines, read.header))


@pytest.mark.parametrize("header", [None, HEADER, CELLS[:8], ["Personnummer", "", "x"] + CELLS[:2]])
def test_the_workbook_reader_refuses_without_a_value(tmp_path, witness, header):
    path = tmp_path / "insatser.xlsx"
    path.write_bytes(xlsx_bytes(value_rows(), header=header))
    read = witness.run(lambda: read_workbook(path))
    if read is not None:  # a real header: the values are in the frame, never in bad lines
        witness.show((read.bad_lines, read.header))
        witness.run(lambda: to_canonical(SOURCE.model_copy(update={"format": "xlsx"}), read))


def test_a_missing_column_names_only_header_names(tmp_path, witness):
    path = tmp_path / "insatser.csv"
    path.write_bytes(csv_bytes(value_rows(), header=HEADER[:4] + ["Till"] + HEADER[5:]))
    read = read_delimited(path, encoding="utf-8", delimiter=";")
    witness.run(lambda: to_canonical(SOURCE, read))
    assert "'Till'" in witness.texts[-1] and "required column 'Slut' is missing" in witness.texts[-1]


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_ingest_of_value_cells_quarantines_them_masked(tmp_path, witness, keyring, form):
    path = tmp_path / f"insatser.{form}"
    rows = value_rows(24) + [row[:3] + ["oops"] for row in value_rows(2)]  # and some short rows
    if form == "csv":
        path.write_bytes(csv_bytes(rows))
        source = SOURCE
    else:
        path.write_bytes(xlsx_bytes(value_rows(24)))
        source = SOURCE.model_copy(update={"format": "xlsx"})
    keys = pseudonym_keys(keyring, AS_OF)
    result = witness.run(lambda: ingest_source(source, [path], default_catalogue(), keys, keyring, AS_OF))
    assert result is not None and result.accepted.empty and len(result.quarantine) == result.rows_read
    # Everything that is stored: the accepted rows (none), the quarantine, the counts.
    witness.show((result.accepted, result.quarantine, result.files))
    witness.show(witness.run(lambda: read_source_file(source, path)).bad_lines)


def test_validators_show_no_value(witness):
    """Their problems (what reaches the quarantine): the typed values they return are the data."""
    text = pd.Series(CELLS * 3)
    witness.show(parse_dates(text, ["%Y-%m-%d", "%Y%m%d"], "start_date", required=True)[1])
    witness.show(parse_numbers(text, ",", "extent_pct")[1])
    witness.show(map_codes(text, {"AT": "ARBETSTRANING"}, {"PRAKTIK"}, "insats_code", "intervention code")[1])
    witness.show(map_codes(text, {"Ja": True}, {True, False}, "consent", "consent value", blank_means=False)[1])
    for column in ("record_id", "af_office"):
        witness.show(required_text(text, column)[1])
    frame = pd.DataFrame({"record_id": text, "other": range(len(text))})
    witness.show(duplicates(frame, "record_id", pd.Series(range(2, len(text) + 2))))


def test_model_problems_show_no_value_and_no_scientific_notation(witness):
    count = 3
    frame = pd.DataFrame({
        "source_id": "kommun", "file": "f.csv", "line": range(2, 2 + count), "pseudonym": "A" * 52,
        "key_id": "L1+L2", "age_band": "20-24", "consent": True,
        "start_date": pd.to_datetime(["2026-01-01"] * count).astype("datetime64[s]"),
        "end_date": pd.to_datetime(["2025-01-01"] * count).astype("datetime64[s]"),
        "extent_pct": [1003110000.0, 1.5e20, 140.0], "kommunkod": "1480", "record_id": ["a", "b", "c"],
        "insats_code": "AT", "category": "work_training",
        "consent_valid_from": pd.to_datetime([None] * count).astype("datetime64[s]"),
        "consent_valid_to": pd.to_datetime([None] * count).astype("datetime64[s]"),
        "consent_withdrawn_on": pd.to_datetime([None] * count).astype("datetime64[s]"),
        "consent_scope": "samplanering,uppfoljning", "protected_identity": False,
    })  # fmt: skip
    found = model_problems(frame, MunicipalInterventions)
    witness.show(found)
    assert not found["reason"].str.contains(r"e\+").any()
    assert "extent 150000000000000000000 % is outside the range above 0 up to 100 %" in found["reason"].tolist()
