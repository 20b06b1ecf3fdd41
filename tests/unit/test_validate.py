"""The typing and validation rules, one by one, with the reasons a steward reads."""

import pandas as pd
import pytest

from core.ingest import age_bands
from core.validate import (
    describe_date_format,
    duplicates,
    map_codes,
    model_problems,
    parse_dates,
    parse_numbers,
)
from schemas.datasets import AfAssignments


def test_dates_in_each_declared_format_and_the_unparseable_named():
    text = pd.Series(["2021-09-29", "20210929", "29/9/2021", "2021-02-30", "", None])
    dates, problems = parse_dates(text, ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"], "start_date", required=True)
    assert dates[:3].dt.strftime("%Y-%m-%d").tolist() == ["2021-09-29"] * 3
    assert dates[3:].isna().all()
    reasons = dict(zip(problems["row"], problems["reason"]))
    assert reasons[3] == "start date '2021-02-30' is not a date in the form YYYY-MM-DD or YYYYMMDD or DD/MM/YYYY"
    assert reasons[4] == reasons[5] == "start date is missing"


def test_an_optional_date_may_be_blank():
    dates, problems = parse_dates(pd.Series(["", "2021-01-01"]), ["%Y-%m-%d"], "end_date", required=False)
    assert problems.empty and pd.isna(dates[0])


def test_numbers_with_a_decimal_comma_and_a_percent_sign():
    numbers, problems = parse_numbers(pd.Series(["62,5", "100", " 50 %", "mycket", ""]), ",", "extent_pct")
    assert numbers[:3].tolist() == [62.5, 100.0, 50.0]
    assert dict(zip(problems["row"], problems["reason"])) == {
        3: "extent pct 'mycket' is not a number", 4: "extent pct is missing"}  # fmt: skip


def test_codes_map_local_values_and_name_the_unknown():
    mapped, problems = map_codes(pd.Series(["AT", "PRAKTIK", "AT9"]), {"AT": "ARBETSTRANING"},
                                 {"ARBETSTRANING", "PRAKTIK"}, "insats_code", "intervention code")  # fmt: skip
    assert mapped[:2].tolist() == ["ARBETSTRANING", "PRAKTIK"]
    assert problems["reason"].tolist() == ["unknown intervention code 'AT9': not mapped in the sources file"]


def test_consent_not_recorded_is_no_consent():
    mapped, problems = map_codes(pd.Series(["Ja", "", None, "Nej"]), {"Ja": True, "Nej": False},
                                 {True, False}, "consent", "consent value", blank_means=False)  # fmt: skip
    assert mapped.tolist() == [True, False, False, False] and problems.empty


def test_an_exact_copy_is_reported_once_and_a_conflicting_id_names_the_first_line():
    frame = pd.DataFrame({"record_id": ["A", "A", "B", "B", "A"], "extent": [50, 50, 10, 20, 50]})
    lines = pd.Series([2, 3, 4, 5, 6])
    found = duplicates(frame, "record_id", lines).sort_values("row")
    assert found["row"].tolist() == [1, 3, 4]
    assert found["reason"].tolist() == [
        "duplicate of line 2", "record id 'B' already at line 4 with different content", "duplicate of line 2"]  # fmt: skip


def test_model_problems_use_the_plain_words_reasons():
    frame = pd.DataFrame({
        "source_id": "af", "file": "a.csv", "line": [2, 3, 4],
        "pseudonym": "A" * 52, "key_id": "L1+L2", "age_band": "20-24", "consent": True,
        "start_date": pd.to_datetime(["2021-04-01"] * 3).astype("datetime64[s]"),
        "end_date": pd.to_datetime(["2021-03-01", None, None]).astype("datetime64[s]"),
        "extent_pct": [50.0, 150.0, 100.0],
        "assignment_id": ["A1", "A2", "A3"], "programme_code": "KROM", "category": "matching",
        "decision_date": pd.to_datetime(["2021-01-01"] * 3).astype("datetime64[s]"),
        "af_office": "Göteborg", "status": "ongoing",
        "consent_valid_from": pd.to_datetime([None, None, "2026-12-01"]).astype("datetime64[s]"),
        "consent_valid_to": pd.to_datetime([None, None, "2026-11-30"]).astype("datetime64[s]"),
        "consent_withdrawn_on": pd.to_datetime([None] * 3).astype("datetime64[s]"),
        "consent_scope": "samplanering,uppfoljning", "protected_identity": False,
    })  # fmt: skip
    found = model_problems(frame, AfAssignments).sort_values("row")
    assert found["row"].tolist() == [0, 1, 2]
    assert found["reason"].tolist() == [
        "end date 2021-03-01 before start 2021-04-01", "extent 150 % is outside the range above 0 up to 100 %",
        "the consent's valid-to date is before its valid-from date"]  # fmt: skip


def test_age_bands_at_the_reference_date():
    import datetime as dt

    births = pd.Series(pd.to_datetime(["2010-11-24", "2010-11-23", "2002-01-01", "1960-06-01", None]))
    bands = age_bands(births.astype("datetime64[s]"), dt.date(2026, 11, 23))
    assert bands.tolist() == ["under 16", "16-19", "20-24", "65+", "unknown"]


@pytest.mark.parametrize(("fmt", "words"), [("%Y-%m-%d", "YYYY-MM-DD"), ("%d/%m/%Y", "DD/MM/YYYY"), ("%y%m%d", "YYMMDD")])
def test_date_formats_are_described_in_words(fmt, words):
    assert describe_date_format(fmt) == words


def test_schema_failures_count_without_values():
    from core.validate import schema_failures
    from schemas.datasets import Quarantine

    good = pd.DataFrame({"source_id": ["a"], "file": ["f"], "line": [2], "column": ["c"], "value": [None],
                         "reason": ["r"]}).astype({"value": "str"})  # fmt: skip
    assert schema_failures(good, Quarantine) == {}
    bad = good.assign(line=[0])
    assert schema_failures(bad, Quarantine) == {"line: greater_than_or_equal_to(1)": 1}
