"""Tests for schemas/personnummer.py and `mellanrum pnr normalize`.

Reference vectors (tests/vectors, from the personnummer/meta project) and Skatteverket's
published test numbers pin the rules to outside sources; property tests compare the
vectorized code with `oracle`, a plain per-value implementation written for readability.
"""

import datetime
import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import personnummer as pnr
from schemas.personnummer import (
    KIND_PERSONNUMMER,
    KIND_SAMORDNINGSNUMMER,
    REASONS,
    birth_dates,
    luhn_check_digit,
    luhn_valid,
    normalize,
    normalize_one,
)

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
REFERENCE = ROOT / "schemas" / "reference"
# The vectors were collected in November 2026; a fixed date keeps the tests stable.
REFERENCE_DATE = datetime.date(2026, 11, 23)
VECTOR_KINDS = {"ssn": KIND_PERSONNUMMER, "con": KIND_SAMORDNINGSNUMMER}


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def assert_reasons_hold_no_digits(result: pd.DataFrame) -> None:
    """No reason may repeat the value; stronger and simpler: no reason has any digit."""
    reasons = result["reason"].dropna()
    assert not reasons.str.contains(r"[0-9]").any(), reasons[reasons.str.contains(r"[0-9]")]


def check_digit(nine: str) -> str:
    """Luhn check digit of YYMMDDNNN, written out independently of the module."""
    total = 0
    for position, char in enumerate(nine):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def with_check(body: str) -> str:
    """`body` (YYMMDDNNN or YYYYMMDDNNN, maybe with a separator) plus its check digit."""
    digits = body.replace("-", "").replace("+", "")
    return body + check_digit(digits[-9:])


# --- The oracle: one value at a time, as directly as the rules are written ------------

LENGTH_WORDS = {
    1: "one digit", 2: "two digits", 3: "three digits", 4: "four digits",
    5: "five digits", 6: "six digits", 7: "seven digits", 8: "eight digits",
    13: "thirteen digits", 14: "fourteen digits", 15: "fifteen digits",
    16: "sixteen digits", 17: "seventeen digits", 18: "eighteen digits",
    19: "nineteen digits", 20: "twenty digits",
}


def oracle(value, reference: datetime.date) -> tuple[str | None, str | None, str | None]:
    """(canonical, kind, reason) for one value, written for clarity, not speed."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None, None, pnr.REASON_EMPTY
    text = str(value).strip()
    if not text:
        return None, None, pnr.REASON_EMPTY

    head, tail = text[:-4], text[-4:]
    head_digits = head[:-1] if head[-1:] in ("-", "+") else head
    if (
        len(head_digits) in (6, 8) and head_digits.isascii() and head_digits.isdigit()
        and tail[:1].isascii() and tail[:1].isalpha()
        and tail[1:].isascii() and tail[1:].isdigit() and len(tail) == 4
    ):
        return None, None, pnr.REASON_INTERIM
    if any(char.isspace() for char in text):
        return None, None, pnr.REASON_INNER_SPACE
    if any(char not in "0123456789+-" for char in text):
        return None, None, pnr.REASON_CHARACTER
    separators = [index for index, char in enumerate(text) if char in "+-"]
    if separators and (separators != [len(text) - 5] or len(text) < 6):
        return None, None, pnr.REASON_SEPARATOR

    digits = text.replace("-", "").replace("+", "")
    if len(digits) == 9:
        return None, None, pnr.REASON_NINE_DIGITS
    if len(digits) == 11:
        return None, None, pnr.REASON_ELEVEN_DIGITS
    if len(digits) not in (10, 12):
        words = LENGTH_WORDS.get(len(digits), "more than twenty digits")
        return None, None, f"wrong length ({words}; expected ten or twelve)"

    short = len(digits) == 10
    ten = digits if short else digits[2:]
    month, day, serial = int(ten[2:4]), int(ten[4:6]), ten[6:9]
    if month >= 20 and (short or digits.startswith("16")):
        return None, None, pnr.REASON_ORGANISATION

    samordning = day >= 60
    birth_day = day - 60 if samordning else day
    reference_tuple = (reference.year, reference.month, reference.day)
    if short:
        year = next(
            candidate
            for candidate in range(reference.year, reference.year - 101, -1)
            if candidate % 100 == int(ten[:2])
            and (candidate, month, birth_day) <= reference_tuple
        )
        if "+" in text:
            year -= 100
    else:
        year = int(digits[:4])

    if not (0 if samordning else 1) <= month <= 12:
        return None, None, pnr.REASON_MONTH
    if not (60 <= day <= 91 if samordning else 1 <= day <= 31):
        return None, None, pnr.REASON_DAY
    if not samordning:
        try:
            # Year 0 (possible in a 12-digit form) is outside datetime's range; the
            # Gregorian calendar repeats every 400 years, so 2000 stands in for it.
            datetime.date(year or 2000, month, day)
        except ValueError:
            return None, None, pnr.REASON_CALENDAR
    if (year, month, birth_day) > reference_tuple:
        return None, None, pnr.REASON_FUTURE
    if serial == "000":
        return None, None, pnr.REASON_SERIAL
    if check_digit(ten[:9]) != ten[9]:
        return None, None, pnr.REASON_CHECK_DIGIT
    kind = KIND_SAMORDNINGSNUMMER if samordning else KIND_PERSONNUMMER
    return f"{year:04d}{ten[2:]}", kind, None


def oracle_birth_date(canonical: str) -> datetime.date | None:
    month, day = int(canonical[4:6]), int(canonical[6:8])
    try:
        return datetime.date(int(canonical[:4]), month, day - 60 if day >= 60 else day)
    except ValueError:
        return None


def rows(result: pd.DataFrame) -> list[tuple]:
    """The result as (canonical, kind, reason) tuples with None for <NA>."""
    columns = [[None if pd.isna(field) else field for field in result[name].tolist()]
               for name in ("canonical", "kind", "reason")]
    return list(zip(*columns))


# --- Reference vectors ---------------------------------------------------------------

LIST_FORMATS = ("long_format", "short_format", "separated_format", "separated_long")


def list_vector_cases():
    for number, entry in enumerate(load(VECTORS / "list.json")):
        for form in ("integer", *LIST_FORMATS):
            value = str(entry[form])
            yield pytest.param(value, entry["valid"], entry["type"], id=f"{number}-{form}")


@pytest.mark.parametrize(("value", "valid", "vector_type"), list(list_vector_cases()))
def test_list_vectors(value, valid, vector_type):
    # A short form may be given another century than its long form; validity holds.
    canonical, kind, reason = normalize_one(value, REFERENCE_DATE)
    assert (reason is None) == valid, reason
    assert (canonical is not None) == valid
    if valid:
        assert kind == VECTOR_KINDS[vector_type]
        assert canonical[2:] == value.replace("-", "").replace("+", "")[-10:]


def structured_vector_cases():
    for vector_type, by_form in load(VECTORS / "structured.json").items():
        for form, by_validity in by_form.items():
            for validity, values in by_validity.items():
                for value in values:
                    yield pytest.param(
                        str(value), validity == "valid", vector_type,
                        id=f"{vector_type}-{form}-{validity}-{value}",
                    )


@pytest.mark.parametrize(("value", "valid", "vector_type"), list(structured_vector_cases()))
def test_structured_vectors(value, valid, vector_type):
    canonical, kind, reason = normalize_one(value, REFERENCE_DATE)
    assert (reason is None) == valid, reason
    assert kind == (VECTOR_KINDS[vector_type] if valid else None)


def test_vectors_all_together_and_reasons_hold_no_digits():
    values = [str(entry[form]) for entry in load(VECTORS / "list.json")
              for form in ("integer", *LIST_FORMATS)]
    result = normalize(pd.Series(values), REFERENCE_DATE)
    assert result["reason"].notna().sum() > 0
    assert_reasons_hold_no_digits(result)


@pytest.mark.parametrize(
    ("filename", "kind"),
    [("skatteverket_testpersonnummer.json", KIND_PERSONNUMMER),
     ("skatteverket_testsamordningsnummer.json", KIND_SAMORDNINGSNUMMER)],
)
def test_skatteverket_test_numbers_are_accepted(filename, kind):
    numbers = pd.Series(load(REFERENCE / filename))
    result = normalize(numbers, REFERENCE_DATE)
    assert result["reason"].isna().all(), result["reason"].value_counts()
    assert (result["canonical"] == numbers).all()
    assert (result["kind"] == kind).all()


@pytest.mark.parametrize(
    "filename", ["skatteverket_testpersonnummer.json", "skatteverket_testsamordningsnummer.json"]
)
def test_skatteverket_short_forms_infer_the_century(filename):
    """YYMMDD-NNNC below 100 years, YYMMDD+NNNC from 100: the century comes back."""
    numbers = pd.Series(load(REFERENCE / filename))
    day = numbers.str[6:8].astype(int)
    birth_key = numbers.str[:6].astype(int) * 100 + day.where(day < 60, day - 60)
    reference_key = int(REFERENCE_DATE.strftime("%Y%m%d"))
    centenarian = birth_key <= reference_key - 1_000_000  # 100 years, as YYYYMMDD
    separator = centenarian.map({True: "+", False: "-"})
    short = numbers.str[2:8] + separator + numbers.str[8:]
    assert centenarian.any() and not centenarian.all()
    result = normalize(short, REFERENCE_DATE)
    assert (result["canonical"] == numbers).all()


@pytest.mark.parametrize("form", ["short_format", "separated_format", "sixteen_prefixed"])
def test_organisation_numbers_are_rejected(form):
    entries = load(VECTORS / "orgnumber.json")
    values = [
        "16" + entry["short_format"] if form == "sixteen_prefixed" else entry[form]
        for entry in entries
    ]
    result = normalize(pd.Series(values), REFERENCE_DATE)
    assert (result["reason"] == pnr.REASON_ORGANISATION).all()
    assert result["canonical"].isna().all()


@pytest.mark.parametrize("form", LIST_FORMATS)
def test_interim_numbers_are_rejected(form):
    values = [entry[form] for entry in load(VECTORS / "interim.json")]
    result = normalize(pd.Series(values), REFERENCE_DATE)
    assert (result["reason"] == pnr.REASON_INTERIM).all()


# --- Specific rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reference", "canonical"),
    [
        ("0001012384", REFERENCE_DATE, "200001012384"),
        ("000101-2384", REFERENCE_DATE, "200001012384"),
        ("090101+9810", REFERENCE_DATE, "190901019810"),
        ("19090101+9810", REFERENCE_DATE, "190901019810"),  # + in a 12-digit form: a separator
        # Born on the reference date: not after it, so this century...
        (with_check("261123-123"), REFERENCE_DATE, "20" + with_check("261123123")),
        # ...and the day after: the century before.
        (with_check("261124-123"), REFERENCE_DATE, "19" + with_check("261124123")),
        (with_check("261123+123"), REFERENCE_DATE, "19" + with_check("261123123")),
        # 29 February: 2000 is a leap year.
        ("000229-2399", REFERENCE_DATE, "200002292399"),
        (with_check("240229-123"), datetime.date(2024, 2, 29), "20" + with_check("240229123")),
        (with_check("240229-123"), datetime.date(2024, 2, 28), "19" + with_check("240229123")),
        # Samordningsnummer: compared on day - 60; month 00 and day 60 are issued.
        (with_check("261183-123"), REFERENCE_DATE, "20" + with_check("261183123")),
        (with_check("261184-123"), REFERENCE_DATE, "19" + with_check("261184123")),
        (with_check("150072-239"), REFERENCE_DATE, "20" + with_check("150072239")),
        (with_check("150072+239"), REFERENCE_DATE, "19" + with_check("150072239")),
        (with_check("19150060239"), REFERENCE_DATE, with_check("19150060239")),
        (with_check("19150290239"), REFERENCE_DATE, with_check("19150290239")),  # 30 Feb + 60
    ],
)
def test_valid_numbers_and_century(value, reference, canonical):
    assert normalize_one(value, reference)[0] == canonical


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, pnr.REASON_EMPTY),
        ("", pnr.REASON_EMPTY),
        (" \t ", pnr.REASON_EMPTY),
        ("123456789", pnr.REASON_NINE_DIGITS),
        ("90101-9810", pnr.REASON_NINE_DIGITS),
        ("19090101147", pnr.REASON_ELEVEN_DIGITS),
        ("0", "wrong length (one digit; expected ten or twelve)"),
        ("1909010198104", "wrong length (thirteen digits; expected ten or twelve)"),
        ("1" * 40, "wrong length (more than twenty digits; expected ten or twelve)"),
        ("090101 9810", pnr.REASON_INNER_SPACE),
        ("19090101 9810", pnr.REASON_INNER_SPACE),
        ("090101-981a", pnr.REASON_CHARACTER),
        ("090101/9810", pnr.REASON_CHARACTER),
        ("090101--9810", pnr.REASON_SEPARATOR),
        ("0905-279810", pnr.REASON_SEPARATOR),
        ("0001012384-", pnr.REASON_SEPARATOR),
        ("+46701234567", pnr.REASON_SEPARATOR),
        ("000229+2399", pnr.REASON_CALENDAR),  # 1900 is no leap year
        (with_check("19000229123"), pnr.REASON_CALENDAR),
        (with_check("20230229123"), pnr.REASON_CALENDAR),
        (with_check("19800431123"), pnr.REASON_CALENDAR),
        (with_check("19800001123"), pnr.REASON_MONTH),
        (with_check("19801301123"), pnr.REASON_MONTH),
        (with_check("19801300123"), pnr.REASON_MONTH),  # month first
        (with_check("19801100123"), pnr.REASON_DAY),
        (with_check("19801132123"), pnr.REASON_DAY),
        (with_check("19801159123"), pnr.REASON_DAY),
        (with_check("19801192123"), pnr.REASON_DAY),
        (with_check("19801392123"), pnr.REASON_MONTH),
        (with_check("20261124123"), pnr.REASON_FUTURE),
        (with_check("20261184123"), pnr.REASON_FUTURE),  # samordningsnummer: day - 60
        (with_check("20270101123"), pnr.REASON_FUTURE),
        (with_check("19800101000"), pnr.REASON_SERIAL),
        (with_check("800101-000"), pnr.REASON_SERIAL),
        ("8001011235", pnr.REASON_CHECK_DIGIT),
        ("802005-1952", pnr.REASON_ORGANISATION),
        ("16802005-1952", pnr.REASON_ORGANISATION),
        ("000101-T220", pnr.REASON_INTERIM),
    ],
)
def test_invalid_values_and_their_reasons(value, reason):
    result = normalize(pd.Series([value], dtype=object), REFERENCE_DATE)
    assert rows(result) == [(None, None, reason)]
    assert_reasons_hold_no_digits(result)


def test_missing_values_of_every_kind_are_empty():
    values = pd.Series([None, pd.NA, float("nan"), "", "   "], dtype=object)
    assert (normalize(values, REFERENCE_DATE)["reason"] == pnr.REASON_EMPTY).all()


WHITESPACE = [chr(code) for code in range(0x110000) if chr(code).isspace()]


def test_all_unicode_whitespace_is_trimmed_outside_and_rejected_inside():
    outside = pd.Series([f"{char}0001012384{char}" for char in WHITESPACE])
    inside = pd.Series([f"090101{char}9810" for char in WHITESPACE])
    assert normalize(outside, REFERENCE_DATE)["reason"].isna().all()
    assert (normalize(inside, REFERENCE_DATE)["reason"] == pnr.REASON_INNER_SPACE).all()


def test_output_shape_types_and_index():
    values = pd.Series(["0001012384", "x", with_check("19150072239")], index=[7, 3, 9])
    result = normalize(values, REFERENCE_DATE)
    assert list(result.columns) == ["canonical", "kind", "reason"]
    assert result.index.tolist() == [7, 3, 9]
    assert all(dtype == pd.StringDtype("pyarrow") for dtype in result.dtypes)
    assert rows(result) == [
        ("200001012384", KIND_PERSONNUMMER, None),
        (None, None, pnr.REASON_CHARACTER),
        (with_check("19150072239"), KIND_SAMORDNINGSNUMMER, None),
    ]
    assert normalize(pd.Series([], dtype=object), REFERENCE_DATE).empty


def test_reasons_are_short_plain_and_digit_free():
    assert len(set(REASONS)) == len(REASONS)
    for reason in REASONS:
        assert not re.search(r"[0-9]", reason) and len(reason) <= 90


def test_birth_dates():
    canonical = pd.Series(
        ["200002292399", with_check("19150772239"), with_check("19150060239"),
         with_check("19150290239"), with_check("19150072239"), None, "0001012384"],
        index=list("abcdefg"),
    )
    dates = birth_dates(canonical)
    assert dates.dtype == "datetime64[s]"
    assert dates.index.tolist() == list("abcdefg")
    assert dates.tolist()[:2] == [pd.Timestamp("2000-02-29"), pd.Timestamp("1915-07-12")]
    # Day 60, 30 Feb + 60, month 00, missing, not 12 digits:
    assert dates.iloc[2:].isna().all()


def test_luhn_helpers():
    digits = np.array([[int(char) for char in "0901019810"], [int(char) for char in "0901019811"]])
    assert luhn_check_digit(digits[:, :9]).tolist() == [0, 0]
    assert luhn_valid(digits).tolist() == [True, False]


# --- Property tests against the oracle -----------------------------------------------

REFERENCE_DATES = st.one_of(
    st.dates(min_value=datetime.date(1950, 1, 1), max_value=datetime.date(2100, 12, 31)),
    st.sampled_from([REFERENCE_DATE, datetime.date(2024, 2, 29), datetime.date(2000, 1, 1)]),
)


class Shaped(NamedTuple):
    """A personnummer-shaped value with every rule's edge within reach.

    Parts can be relative to the reference date (e.g. year "reference-100"), so the
    strategies stay fixed and the value is made by `render` once the date is drawn.
    """

    birth: tuple[int | str, int | str, int | str]  # year, month, day (samordning: day + 60)
    serial: int
    wrong_check_digit: int | None  # None: the right check digit
    # "short", "long", or "org": "16" + ten digits, as organisation numbers are written
    form: str
    separator: str
    # None, "drop" the first digit, "insert" `char` at `position`, or "replace" the serial's
    # first digit with `char` (a letter there makes an interim number)
    mutation: str | None
    position_and_char: tuple[int, str]
    padding: tuple[str, str]  # whitespace around the value


# Hypothesis spends most of this file's time drawing, so each part is one draw where it can
# be: a sampled_from over a list that repeats the plain cases to weight them, so that
# enough values get through to the later checks.
YEARS = st.one_of(st.integers(1850, 2110), st.integers(0, 9999),
                  st.sampled_from(["reference", "reference-99", "reference-100"]))
MONTHS = st.sampled_from([*range(1, 13)] * 6 + [0, 12, 13, 19, 20, 21] * 3
                         + [*range(100), "reference"])
DAYS = st.sampled_from([*range(1, 29)] * 3 + [*range(61, 89)] * 2
                       + [0, 1, 29, 30, 31, 32, 59, 60, 61, 89, 90, 91, 92] * 3
                       + [*range(100), "reference", "reference+1", "reference+60"])
# End of February in century years and around the reference date: every leap-year branch.
END_OF_FEBRUARY = st.tuples(
    st.sampled_from([1600, 1900, 2000, 2100, "reference", "reference-100"]),
    st.just(2),
    st.sampled_from([28, 29, 30, 88, 89, 90]),
)
SPACES = ["", "", "", "", " ", "\t", "  ", "\u00a0", "\n"]
SHAPED = st.builds(
    Shaped,
    birth=st.one_of(st.tuples(YEARS, MONTHS, DAYS), END_OF_FEBRUARY),
    serial=st.integers(0, 999),
    wrong_check_digit=st.sampled_from([None] * 10 + [*range(10)]),
    form=st.sampled_from(["short", "short", "long", "long", "org"]),
    separator=st.sampled_from(["", "", "-", "+"]),
    mutation=st.sampled_from([None, None, None, None, None, "drop", "insert", "replace"]),
    position_and_char=st.sampled_from(
        [(position, char) for position in range(17)
         for char in "0123456789 \t\u2009/.:_,*é٣TRSUWXJKLMNEt"]
    ),
    padding=st.sampled_from([(lead, trail) for lead in SPACES for trail in SPACES]),
)
UNSHAPED = st.one_of(
    st.text(alphabet="0123456789+- \t", max_size=16), st.text(max_size=16), st.none()
)


def render(value: Shaped, reference: datetime.date) -> str:
    """The text of a drawn value."""
    relative = {"reference": 0, "reference-99": -99, "reference-100": -100, "reference+1": 1,
                "reference+60": 60}
    year, month, day = (
        part if isinstance(part, int) else getattr(reference, name) + relative[part]
        for name, part in zip(("year", "month", "day"), value.birth)
    )
    body = f"{year % 10000:04d}{month:02d}{day % 100:02d}{value.serial:03d}"
    digits = body + (check_digit(body[2:]) if value.wrong_check_digit is None
                     else str(value.wrong_check_digit))
    digits = {"long": digits, "short": digits[2:], "org": "16" + digits[2:]}[value.form]
    text = digits[:-4] + value.separator + digits[-4:]
    position, char = value.position_and_char
    if value.mutation == "drop":
        text = text[1:]  # the lost leading zero, or any lost first digit
    elif value.mutation == "insert":
        text = text[:position] + char + text[position:]
    elif value.mutation == "replace":
        text = text[:-4] + char + text[-3:]
    lead, trail = value.padding
    return lead + text + trail


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(
    reference=REFERENCE_DATES,
    shaped=st.lists(SHAPED, max_size=3),
    unshaped=st.lists(UNSHAPED, max_size=2),
)
def test_normalize_agrees_with_the_oracle(reference, shaped, unshaped):
    values = [render(value, reference) for value in shaped] + unshaped
    got = rows(normalize(pd.Series(values, dtype=object), reference))
    assert got == [oracle(value, reference) for value in values]
    reasons = {reason for _, _, reason in got if reason is not None}
    assert reasons <= set(REASONS)
    assert not any(char.isdigit() for reason in reasons for char in reason)


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(reference=REFERENCE_DATES, drawn=st.lists(SHAPED, min_size=1, max_size=10))
def test_birth_dates_agree_with_the_oracle(reference, drawn):
    values = [render(value, reference) for value in drawn]
    canonical = normalize(pd.Series(values), reference)["canonical"].dropna()
    canonical = canonical[canonical.str[:4].astype(int) >= 1]  # datetime.date has no year 0
    expected = [oracle_birth_date(value) for value in canonical]
    got = birth_dates(canonical)
    assert [None if pd.isna(date) else date.date() for date in got] == expected


# --- The command line ----------------------------------------------------------------


@pytest.fixture
def cli():
    # Imported here so that, while another CLI module is missing, only these tests fail.
    from orchestration.cli import cli

    return cli


def test_cli_normalize_writes_one_line_per_input_line(cli):
    stdin = "090101+9810\n0901019811\n\n  0001012384 \r\n123456789\n" + with_check("20261124123")
    result = CliRunner().invoke(
        cli, ["pnr", "normalize", "--reference-date", "2026-11-23"], input=stdin
    )
    assert result.exit_code == 0, result.output
    assert result.output.split("\n") == [
        "090101+9810\t190901019810\tpersonnummer\t",
        "0901019811\t\t\tcheck digit wrong",
        "\t\t\tempty",
        "  0001012384 \t200001012384\tpersonnummer\t",
        f"123456789\t\t\t{pnr.REASON_NINE_DIGITS}",
        f"{with_check('20261124123')}\t\t\t{pnr.REASON_FUTURE}",
        "",
    ]


def test_cli_normalize_streams_in_chunks(cli, monkeypatch):
    from orchestration.cli import pnr as pnr_command

    lines = [with_check(f"8001{day:02d}-123") for day in range(1, 8)] + ["x"]
    stdin = "\n".join(lines) + "\n"
    arguments = ["pnr", "normalize", "--reference-date", "2026-11-23"]
    whole = CliRunner().invoke(cli, arguments, input=stdin).output
    monkeypatch.setattr(pnr_command, "CHUNK_LINES", 3)
    assert CliRunner().invoke(cli, arguments, input=stdin).output == whole
    assert len(whole.splitlines()) == len(lines)


def test_cli_normalize_defaults_to_today(cli):
    result = CliRunner().invoke(cli, ["pnr", "normalize"], input="0001012384\n")
    assert result.exit_code == 0
    assert result.output == "0001012384\t200001012384\tpersonnummer\t\n"


@pytest.mark.parametrize("bad_date", ["2026-13-01", "23/11/2026", "tomorrow"])
def test_cli_normalize_rejects_a_bad_reference_date(cli, bad_date):
    result = CliRunner().invoke(
        cli, ["pnr", "normalize", "--reference-date", bad_date], input="0001012384\n"
    )
    assert result.exit_code == 2
    assert "--reference-date" in result.output and "%Y-%m-%d" in result.output


def test_cli_normalize_rejects_input_that_is_not_utf8(cli, monkeypatch):
    from orchestration.cli import pnr as pnr_command

    monkeypatch.setattr(pnr_command, "CHUNK_LINES", 2)
    result = CliRunner().invoke(
        cli, ["pnr", "normalize", "--reference-date", "2026-11-23"],
        input="0001012384\n\n0001012384\nG\u00f6teborg\n".encode("cp1252"),
    )
    assert result.exit_code == 2
    assert "stdin line 4 is not UTF-8 text" in result.output
    assert "\\x" not in result.output and "\\udc" not in result.output


def test_cli_normalize_ignores_a_byte_order_mark(cli):
    result = CliRunner().invoke(
        cli, ["pnr", "normalize", "--reference-date", "2026-11-23"],
        input="\ufeff0001012384\r\n".encode("utf-8"),
    )
    assert result.output == "0001012384\t200001012384\tpersonnummer\t\n"
