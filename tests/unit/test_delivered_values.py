"""What of a delivered value may be shown, and the one builder of errors about a delivery.

The rules are in schemas/personnummer.py (`identity_shaped`) and schemas/errors.py
(`code_shaped`, `shown_values`, `delivery_error`); the identity rule is checked against a
slow character-by-character oracle with hypothesis.
"""

import ast
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.validate import problems
from schemas.errors import (
    Declared,
    DeliveryError,
    HeaderName,
    Masked,
    code_shaped,
    delivery_error,
    masked,
    shown_values,
)
from schemas.personnummer import identity_shaped

ROOT = Path(__file__).resolve().parents[2]
DIGITS = "0123456789"


# --- identity-shaped -----------------------------------------------------------------------


def oracle(text: str) -> bool:
    """The rule of schemas/personnummer.py, spelled out one position at a time."""
    for start in range(len(text)):
        if start > 0 and text[start - 1] in DIGITS:
            continue
        for date_length in (6, 8):
            date = text[start : start + date_length]
            if len(date) < date_length or any(c not in DIGITS for c in date):
                continue
            month, day = int(date[-4:-2]), int(date[-2:])
            if not (month <= 12 and (1 <= day <= 31 or 60 <= day <= 91)):
                continue
            for before in ("", " ", "\t"):
                for sign in ("", "-", "+"):
                    for after in ("", " ", "\t"):
                        at = start + date_length
                        separator = before + sign + after
                        if text[at : at + len(separator)] != separator:
                            continue
                        serial = text[at + len(separator) : at + len(separator) + 4]
                        end = at + len(separator) + 4
                        if len(serial) == 4 and all(c in DIGITS for c in serial) and (
                            end == len(text) or text[end] not in DIGITS
                        ):
                            return True
    return False


@pytest.mark.parametrize(
    "value",
    ["190901019810", "0901019810", "090101-9810", "090101+9810", "19090101-9810", "090101 - 9810", "090101\t9810",
     "ID 190901019810", "x190901019810y", "1003110000", "1003110000.5", "200002292399", "199001612389",  # day 61
     "190900019810",  # month 00 (samordningsnummer)
     "191301019810"],  # 12 digits: century 19, 13-01-01
)  # fmt: skip
def test_identity_shaped_values(value):
    assert identity_shaped(pd.Series([value]))[0]
    assert oracle(value)


@pytest.mark.parametrize(
    "value",
    ["2024-00001", "A000000001", "20241225", "1000000001", "19001012389", "1909010198101", "9913452389",
     "2021-09-29", "37,5", "L0000001", "KF-000001", "0901329810", "090101--9810", "090101.9810", ""],
)  # fmt: skip
def test_not_identity_shaped_values(value):
    assert not identity_shaped(pd.Series([value]))[0]
    assert not oracle(value)


@given(st.text(alphabet="0123456789-+ \tAx.", max_size=24))
@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
def test_identity_shaped_agrees_with_the_oracle(text):
    assert bool(identity_shaped(pd.Series([text], dtype="string"))[0]) == oracle(text)


@given(
    st.tuples(st.sampled_from(["", "19", "20"]), st.integers(0, 99), st.integers(0, 14), st.integers(0, 95),
              st.sampled_from(["", "-", "+", " ", " - "]), st.integers(0, 9999), st.sampled_from(["", "x", "7", " a"]),
              st.sampled_from(["", "y", "3", "ID "]))  # fmt: skip
)
@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
def test_number_like_values_agree_with_the_oracle(parts):
    century, year, month, day, separator, serial, tail, head = parts
    text = f"{head}{century}{year:02d}{month:02d}{day:02d}{separator}{serial:04d}{tail}"
    assert bool(identity_shaped(pd.Series([text]))[0]) == oracle(text)


def test_identity_shaped_is_vectorized_and_handles_missing():
    values = pd.Series(["190901019810", None, "x"] * 1000, dtype="string")
    shaped = identity_shaped(values)
    assert shaped.dtype == bool and shaped.sum() == 1000 and not shaped[1]
    assert identity_shaped(pd.Series([], dtype="string")).shape == (0,)


# --- code-shaped and shown values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("AT9", "AT9"),
        (" Praktik ", "Praktik"),
        ("Stöd och matchning", "Stöd och matchning"),
        ("2021-02-30", "2021-02-30"),
        ("19090101-9810", "NNNNNNNN-NNNN"),
        ("KF 090101-9810", "AA NNNNNN-NNNN"),
        ("Sjukskriven sedan mars, väntar på läkarintyg", "<free text, 44 characters>"),
        ("ring 090101-9810, hon vet", "<free text, 25 characters>"),
        ("=HYPERLINK(\"x\")", "<free text, 15 characters>"),
        ("en två tre fyra fem", "<free text, 19 characters>"),
        ("x" * 41, "<free text, 41 characters>"),
        ("", ""),
        (None, None),
    ],
)
def test_shown_values(value, shown):
    result = shown_values(pd.Series([value], dtype="object")).iloc[0]
    assert (pd.isna(result) and shown is None) or result == shown
    if shown is not None:
        assert masked(value) == shown and isinstance(masked(value), Masked)


def test_code_shaped_limits_can_be_loosened_for_names():
    office = pd.Series(["Arbetsförmedlingen Upplands Väsby och Sigtuna norra"])
    assert not code_shaped(office)[0]
    assert code_shaped(office, max_characters=80, max_words=8)[0]


def test_shown_values_keep_the_index():
    values = pd.Series(["AT", "190901019810"], index=[7, 9])
    assert shown_values(values).to_dict() == {7: "AT", 9: "NNNNNNNNNNNN"}


# --- delivery_error ---------------------------------------------------------------------------


def test_delivery_error_names_file_line_column_and_reason():
    error = delivery_error(Path("in/f.csv"), "required column {name} is missing; columns found: {found}", line=1,
                           name=Declared("Till"), found=(HeaderName("Från"), HeaderName("Insats")))  # fmt: skip
    assert isinstance(error, DeliveryError)
    assert str(error) == "in/f.csv: line 1: required column 'Till' is missing; columns found: 'Från', 'Insats'"
    assert str(delivery_error("f.csv", "not valid {encoding!s} text (byte {byte})", encoding=Declared("utf-8"),
                              byte=12)) == "f.csv: not valid utf-8 text (byte 12)"  # fmt: skip
    column = delivery_error("f.csv", "is empty", line=3, column=HeaderName("Till"))
    assert str(column) == "f.csv: line 3: column 'Till': is empty"


@pytest.mark.parametrize("fact", ["190901019810", 3.5, True, b"x", ["a"], (Declared("a"), "b"), None.__class__])
def test_delivery_error_refuses_anything_but_safe_facts(fact):
    with pytest.raises(TypeError, match="only int, Declared, HeaderName or Masked"):
        delivery_error("f.csv", "got {fact}", fact=fact)
    with pytest.raises(TypeError):
        delivery_error("f.csv", "bad column", column="Personnummer 190901019810")


def test_problems_take_only_shown_values_and_safe_facts():
    found = problems([0, 1], "insats_code", pd.Series(["AT9", "19090101-9810"]),
                     "unknown {what} {value!r}: not mapped", what=Declared("intervention code"))  # fmt: skip
    assert found["reason"].tolist() == ["unknown intervention code 'AT9': not mapped",
                                        "unknown intervention code 'NNNNNNNN-NNNN': not mapped"]  # fmt: skip
    assert found["value"].tolist() == ["AT9", "NNNNNNNN-NNNN"]
    free = problems([4], "start_date", ["sjuk hela mars, se journal"], "start date {value!r} is not a date")
    assert free["reason"].tolist() == ["start date <free text, 26 characters> is not a date"]
    with pytest.raises(TypeError, match="plain str"):
        problems([0], "x", ["a"], "{what}", what="delivered text")


# --- structural: no other way to raise about a delivery ----------------------------------------

DELIVERY_MODULES = ["core/readers.py", "core/ingest.py", "core/validate.py", "schemas/sources.py"]


@pytest.mark.parametrize("module", DELIVERY_MODULES)
def test_delivery_modules_make_errors_and_reasons_only_from_literal_templates(module):
    """No InputError/DeliveryError is made directly from text with values in it, and every
    `delivery_error`/`problems` template is a literal (or a REASONS template in validate)."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        where = f"{module}:{node.lineno}"
        if node.func.id in ("InputError", "DeliveryError"):
            # Only source-level errors (no file) remain, and they hold config text only.
            assert module == "core/ingest.py" and "no delivered file matches" in ast.unparse(node), where
        if node.func.id == "delivery_error":
            assert isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str), where
        if node.func.id == "problems":
            template = node.args[3]
            literal = isinstance(template, ast.Constant) and isinstance(template.value, str)
            assert literal or (module == "core/validate.py" and ast.unparse(template) == "template"), where


# --- code-shaped: the fast ASCII path against a character-by-character oracle ---------------


def code_oracle(text: str | None, max_characters: int = 40, max_words: int = 4) -> bool:
    """The rule of `code_shaped`, spelled out with Unicode categories (letters L*, numbers N*)."""
    if text is None:
        return False
    stripped = text.strip(" \t\n\r\v\f\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                          "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")  # fmt: skip
    if len(stripped) > max_characters:
        return False
    words = stripped.split(" ")
    allowed = set("_.()/%&+:-")
    return 1 <= len(words) <= max_words and all(
        word and all(unicodedata.category(c)[0] in "LN" or c in allowed for c in word) for word in words
    )


CODE_ALPHABET = "aZ09 _.()/%&+:-,;?'\t" + "åÖéß²¼٣一Ａ１ǅ\u0301"


@given(st.lists(st.one_of(st.none(), st.text(alphabet=CODE_ALPHABET, max_size=14)), max_size=12),
       st.sampled_from([(40, 4), (8, 2)]))  # fmt: skip
@settings(max_examples=600, deadline=None)
def test_code_shaped_agrees_with_the_oracle_ascii_or_not(values, limits):
    shaped = code_shaped(pd.Series(values, dtype="object"), *limits)
    assert list(shaped) == [code_oracle(v, *limits) for v in values]


@given(st.lists(st.text(alphabet="0123456789-+ aZå٣", max_size=16), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_an_identity_shaped_value_is_shown_as_its_shape_ascii_or_not(values):
    shown = shown_values(pd.Series(values, dtype="object"))
    for value, text in zip(values, shown, strict=True):
        stripped = value.strip()
        if stripped and code_oracle(value) and oracle(stripped):
            expected = "".join("A" if unicodedata.category(c)[0] == "L" else "N" if unicodedata.category(c)[0] == "N"
                               else c for c in stripped)  # fmt: skip
            assert text == expected
