"""Freshness from facts: the four situations of issue 12, and the ones around them."""

import datetime as dt

from core.freshness import FRESH, NO_DATA, STALE, SourceFacts, freshness, named

NIGHT = dt.date(2026, 11, 24)
BEFORE = dt.date(2026, 11, 23)


def status(fact: SourceFacts, as_of: dt.date = NIGHT) -> tuple[str, str]:
    row = freshness([fact], as_of).iloc[0]
    return row.status, row.detail


def test_a_failure_the_same_night_is_stale_although_the_data_is_as_of_that_night():
    # Ingested by a delivery sensor in the day, then the nightly attempt failed.
    assert status(SourceFacts("goteborg", NIGHT, NIGHT, latest_attempt_failed=True)) == (
        STALE, f"last good {NIGHT}; latest attempt as of {NIGHT} failed")


def test_an_adhoc_run_as_of_a_past_date_finds_todays_data_fresh():
    assert status(SourceFacts("goteborg", NIGHT, NIGHT), as_of=dt.date(2026, 10, 1)) == (FRESH, f"data as of {NIGHT}")


def test_a_source_never_delivered_has_no_data():
    assert status(SourceFacts("tjorn", None)) == (NO_DATA, "never ingested")
    assert status(SourceFacts("tjorn", None, NIGHT, True)) == (NO_DATA, f"latest attempt as of {NIGHT} failed")


def test_a_source_recovered_after_a_failure_is_fresh():
    assert status(SourceFacts("goteborg", NIGHT, NIGHT, latest_attempt_failed=False)) == (FRESH, f"data as of {NIGHT}")


def test_data_older_than_the_as_of_date_is_stale_with_its_age():
    assert status(SourceFacts("ale", BEFORE, BEFORE)) == (STALE, f"last good {BEFORE}: 1 day before the as-of date")
    assert status(SourceFacts("ale", dt.date(2026, 11, 20), None))[1].endswith("4 days before the as-of date")


def test_the_summary_names_the_sources_of_a_status():
    table = freshness([SourceFacts("a", NIGHT), SourceFacts("b", BEFORE), SourceFacts("c", None)], NIGHT)
    assert named(table, STALE) == f"b (last good {BEFORE}: 1 day before the as-of date)"
    assert named(table, NO_DATA) == "c (never ingested)"
    assert named(table, FRESH) == f"a (data as of {NIGHT})"
    assert named(freshness([], NIGHT), STALE) == "none"
