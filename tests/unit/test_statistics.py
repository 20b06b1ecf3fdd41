"""Suppression of counted tables (`core/statistics.py`, through `core.counts.suppressed_counts`):
counts and totals by example, primary and secondary suppression, and three attackers
(testkit/attackers.py) that must fail on every published table, checked on generated
overlaps against a brute-force count. The tables here are overlaps by month × kommun × four
dimensions (class, municipal category, AF category, age band): more cells per kommun than
`regional_statistik` publishes (year × kommun × class), so the suppression has more to do.
Each attacker is first shown to break a table that is suppressed too little: an attacker
that cannot succeed would prove nothing."""

import base64
import hashlib
import itertools
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaError

from core.counts import regional_statistics as published_statistics
from core.counts import suppressed_counts
from orchestration.settings import Settings
from schemas.reconciled import Overlaps
from schemas.statistics import TOTAL, RegionalStatistik
from testkit import attackers
from testkit.attackers import ATTACKS, Layout, Publication, bounds_attack, linear_attack, subtraction_attack

DEFAULT_THRESHOLD = Settings.of().suppression_threshold
CELL_DIMENSIONS = ("classification", "municipal_category", "af_category", "age_band")
MODEL_COLUMNS = ["month", "level", "kommunkod", *CELL_DIMENSIONS, "overlap_count", "suppressed"]


def regional_statistics(overlaps: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Overlaps counted per month × kommun × the four dimensions and suppressed, with the
    settings' default threshold unless a test names one."""
    keys = overlaps[["kommunkod", *CELL_DIMENSIONS]].astype(str).reset_index(drop=True)
    keys.insert(0, "month", overlaps["overlap_start"].dt.strftime("%Y-%m").to_numpy())
    return suppressed_counts(keys, list(CELL_DIMENSIONS), threshold, period="month").rename(
        columns={"count": "overlap_count"})
# Cell dimensions (class, municipal category, AF category, age band) to draw cells from.
COMBINATIONS = list(
    itertools.product(("conflict", "parallel"), ("work_training", "education"), ("matching",), ("16-19", "30-49"))
)
A, B, C, D = COMBINATIONS[:4]
# Days of the month the made-up overlaps start on (the month's edges have a test of their own).
DAYS = (1, 14, 28)


# --- input frames --------------------------------------------------------------------------


def overlaps(cells: dict[tuple, int]) -> pd.DataFrame:
    """The columns of `Overlaps` the statistics read, with `cells[month, kommunkod,
    combination]` overlaps in each cell, starting on different days of the month."""
    rows = [
        (pd.Timestamp(f"{month}-{DAYS[i % len(DAYS)]:02d}"), kommun, *combination)
        for (month, kommun, combination), count in cells.items()
        for i in range(count)
    ]
    frame = pd.DataFrame(rows, columns=["overlap_start", "kommunkod", *CELL_DIMENSIONS])
    return frame.astype({"overlap_start": "datetime64[s]", **dict.fromkeys(["kommunkod", *CELL_DIMENSIONS], "str")})


def kommun(code: str, *counts_by_combination: tuple[tuple, int], month: str = "2026-01") -> dict[tuple, int]:
    return {(month, code, combination): count for combination, count in counts_by_combination}


def full_overlaps(cells: dict[tuple, int]) -> pd.DataFrame:
    """A complete, valid `Overlaps` dataset (pseudonyms, ids, flags) with those cells, with
    every other overlap outside the window and without consent, and every third person protected."""
    frame = overlaps(cells)
    n = len(frame)
    person = [base64.b32encode(hashlib.sha256(f"person {i}".encode()).digest()).decode().rstrip("=") for i in range(n)]
    every_other = [i % 2 == 0 for i in range(n)]
    full = pd.DataFrame({
        "pseudonym": person, "key_id": "L1-A+L2-A", "age_band": frame["age_band"],
        "municipal_source_id": "k" + frame["kommunkod"], "kommunkod": frame["kommunkod"],
        "record_id": [f"M{i}" for i in range(n)], "insats_code": "ARBETSTRANING",
        "municipal_category": frame["municipal_category"], "municipal_extent_pct": 50.0,
        "municipal_consent": every_other, "af_source_id": "af", "assignment_id": [f"A{i}" for i in range(n)],
        "programme_code": "KROM", "af_category": frame["af_category"], "af_office": "Arbetsförmedlingen Partille",
        "af_extent_pct": 50.0, "af_consent": every_other, "overlap_start": frame["overlap_start"],
        "overlap_end": frame["overlap_start"] + pd.Timedelta(days=3), "overlap_days": 4,
        "combined_extent_pct": 100.0, "interruption_risk": False, "upcoming": False,
        "classification": frame["classification"], "rule_id": "R1", "in_window": every_other,
        "municipal_consent_for": ["samplanering,uppfoljning" if c else "" for c in every_other],
        "af_consent_for": ["samplanering,uppfoljning" if c else "" for c in every_other],
        "protected_identity": [i % 3 == 0 for i in range(n)],  # protected people are counted too
    })  # fmt: skip
    return Overlaps.validate(full)


# --- the published table as an attacker sees it (testkit/attackers.py) --------------------------

LAYOUT = Layout("month", CELL_DIMENSIONS, "overlap_count")


def publication(table: pd.DataFrame) -> Publication:
    return attackers.publication(table, LAYOUT)


def cell(month: str, kommun_code: str, combination: tuple) -> tuple:
    return (month, kommun_code, *combination)


def kommun_total(month: str, kommun_code: str) -> tuple:
    return (month, kommun_code, *(TOTAL,) * len(CELL_DIMENSIONS))


def region_total(month: str) -> tuple:
    return (month, TOTAL, *(TOTAL,) * len(CELL_DIMENSIONS))


def counts_of(table: pd.DataFrame) -> dict[tuple, int | None]:
    return publication(table).counts


def suppressed_keys(table: pd.DataFrame) -> set[tuple]:
    return publication(table).suppressed()


def republished(table: pd.DataFrame, truth: dict[tuple, int], suppressed: set[tuple]) -> pd.DataFrame:
    return attackers.republished(table, truth, suppressed, LAYOUT)


# --- a brute-force count -------------------------------------------------------------------


def brute_force(frame: pd.DataFrame) -> dict[tuple, int]:
    """Every non-zero count, row by row: cells, kommun totals and region totals by key."""
    truth = Counter()
    for row in frame.itertuples(index=False):
        month = f"{row.overlap_start.year:04d}-{row.overlap_start.month:02d}"
        truth[cell(month, row.kommunkod, tuple(getattr(row, d) for d in CELL_DIMENSIONS))] += 1
        truth[kommun_total(month, row.kommunkod)] += 1
        truth[region_total(month)] += 1
    return dict(truth)


def assert_attacks_fail(table: pd.DataFrame) -> None:
    published = publication(table)
    for attack in ATTACKS:
        assert attack(published) == {}, attack.__name__


# --- counts and totals -------------------------------------------------------------------


def test_counts_per_month_kommun_and_cell_with_totals_sorted_and_zeros_absent():
    cells = {**kommun("1480", (A, 7), (B, 12)), **kommun("1402", (C, 9)), **kommun("1480", (A, 6), month="2026-02")}
    table = regional_statistics(overlaps(cells))
    expected = [
        ("2026-01", "region", TOTAL, TOTAL, TOTAL, TOTAL, TOTAL, 28),
        ("2026-01", "kommun", "1402", TOTAL, TOTAL, TOTAL, TOTAL, 9),
        ("2026-01", "cell", "1402", *C, 9),
        ("2026-01", "kommun", "1480", TOTAL, TOTAL, TOTAL, TOTAL, 19),
        ("2026-01", "cell", "1480", *A, 7),
        ("2026-01", "cell", "1480", *B, 12),
        ("2026-02", "region", TOTAL, TOTAL, TOTAL, TOTAL, TOTAL, 6),
        ("2026-02", "kommun", "1480", TOTAL, TOTAL, TOTAL, TOTAL, 6),
        ("2026-02", "cell", "1480", *A, 6),
    ]
    assert [tuple(row) for row in table[MODEL_COLUMNS[:-1]].itertuples(index=False)] == expected
    assert not table["suppressed"].any()


def test_an_overlap_counts_in_the_month_it_starts():
    frame = overlaps(kommun("1480", (A, 6)))
    frame["overlap_start"] = pd.to_datetime(["2026-01-31"] * 5 + ["2026-02-01"]).astype("datetime64[s]")
    table = regional_statistics(frame, threshold=2)
    assert counts_of(table)[cell("2026-01", "1480", A)] == 5
    assert table.loc[table["month"] == "2026-02", "suppressed"].all()


def test_every_overlap_counts_whatever_its_window_or_consent_and_no_id_leaves():
    cells = {**kommun("1480", (A, 7), (B, 12)), **kommun("1402", (C, 9))}
    full = full_overlaps(cells)
    table = regional_statistics(full)
    assert list(table.columns) == MODEL_COLUMNS
    assert counts_of(table) == brute_force(full)
    leaving = set(table.astype(str).to_numpy().ravel())
    assert not leaving & set(full[["pseudonym", "key_id", "record_id", "assignment_id"]].to_numpy().ravel())


def test_no_overlaps_no_rows():
    table = regional_statistics(overlaps({}))
    assert table.empty and list(table.columns) == MODEL_COLUMNS


# --- suppression -------------------------------------------------------------------------


def test_a_small_count_is_suppressed_and_not_published():
    table = regional_statistics(overlaps({**kommun("1480", (A, 3), (B, 9), (C, 7)), **kommun("1402", (A, 8), (B, 9))}))
    small = table[table["suppressed"]]
    assert cell("2026-01", "1480", A) in suppressed_keys(table)
    assert small["overlap_count"].isna().all()
    assert 3 not in table["overlap_count"].dropna().tolist()


def test_one_small_cell_takes_the_smallest_other_cell_with_it():
    table = regional_statistics(overlaps({**kommun("1480", (A, 2), (B, 9), (C, 6), (D, 7)), **kommun("1402", (A, 20))}))
    assert suppressed_keys(table) == {cell("2026-01", "1480", A), cell("2026-01", "1480", C)}
    assert counts_of(table)[kommun_total("2026-01", "1480")] == 24


def test_of_equally_small_cells_the_first_listed_goes():
    table = regional_statistics(overlaps({**kommun("1480", (A, 2), (B, 6), (C, 6)), **kommun("1402", (A, 20))}))
    # C is listed before B: its municipal category (education) sorts before B's (work_training).
    assert suppressed_keys(table) == {cell("2026-01", "1480", A), cell("2026-01", "1480", C)}


def test_a_kommun_with_a_single_small_cell_suppresses_its_total_and_that_propagates():
    # 0780's only cell is its total: both go. Then the region's equation has one unknown, so
    # the smallest other kommun total (1402: 14) goes, and then its equation has one, so its
    # smallest cell (6) goes too. The region total stays.
    cells = {**kommun("0780", (A, 3)), **kommun("1402", (A, 6), (B, 8)), **kommun("1480", (A, 5), (B, 20))}
    table = regional_statistics(overlaps(cells))
    assert suppressed_keys(table) == {
        cell("2026-01", "0780", A), kommun_total("2026-01", "0780"),
        kommun_total("2026-01", "1402"), cell("2026-01", "1402", A),
    }  # fmt: skip
    assert counts_of(table)[region_total("2026-01")] == 42
    assert_attacks_fail(table)


def test_a_month_with_one_kommun_suppresses_its_region_total_with_the_kommun_total():
    # January: five ones add up to a total of 5, which is not small but gives them away, so
    # it is suppressed, and with it the region total that equals it.
    cells = {**kommun("1480", *((c, 1) for c in COMBINATIONS[:5])), **kommun("1480", (A, 9), (B, 2), month="2026-02")}
    table = regional_statistics(overlaps(cells))
    assert suppressed_keys(table) == {
        *(cell("2026-01", "1480", c) for c in COMBINATIONS[:5]), kommun_total("2026-01", "1480"),
        region_total("2026-01"), cell("2026-02", "1480", A), cell("2026-02", "1480", B),
    }  # fmt: skip
    # In February the kommun total is published (11), and so is the region's, which equals it.
    assert counts_of(table)[region_total("2026-02")] == counts_of(table)[kommun_total("2026-02", "1480")] == 11
    assert_attacks_fail(table)


def test_suppressed_ones_that_can_only_add_up_one_way_take_a_published_cell_with_them():
    # 24 = 12 + 10 + two suppressed ones: no equation has one unknown, yet as listed counts
    # are at least 1, both must be 1. The smallest published cell (10) goes with them.
    cells = {**kommun("1480", (A, 1), (B, 1), (C, 10), (D, 12)), **kommun("1402", (A, 30))}
    table = regional_statistics(overlaps(cells))
    assert suppressed_keys(table) == {cell("2026-01", "1480", c) for c in (A, B, C)}
    assert_attacks_fail(table)


def test_a_kommun_of_ones_suppresses_its_total_even_when_it_is_not_small():
    # Five cells of 1 add up to 5: with the total published, every cell is known to be 1.
    cells = {**kommun("1480", *((c, 1) for c in COMBINATIONS[:5])), **kommun("1402", (A, 7), (B, 8))}
    table = regional_statistics(overlaps(cells))
    # The kommun total goes, then (one unknown in the region's equation) the smaller other
    # kommun total, then (one unknown in its equation) its smaller cell.
    assert suppressed_keys(table) == {
        *(cell("2026-01", "1480", c) for c in COMBINATIONS[:5]), kommun_total("2026-01", "1480"),
        kommun_total("2026-01", "1402"), cell("2026-01", "1402", A),
    }  # fmt: skip
    assert counts_of(table)[region_total("2026-01")] == 20
    assert_attacks_fail(table)


def test_the_threshold_is_configurable():
    cells = {**kommun("1480", (A, 2), (B, 3), (C, 6), (D, 12)), **kommun("1402", (A, 30), (B, 40))}
    suppressed_at = {t: suppressed_keys(regional_statistics(overlaps(cells), t)) for t in (2, 3, 7)}
    assert suppressed_at[2] == set()
    assert suppressed_at[3] == {cell("2026-01", "1480", A), cell("2026-01", "1480", B)}  # 2, and 3 to protect it
    assert suppressed_at[7] == {cell("2026-01", "1480", c) for c in (A, B, C)}
    assert regional_statistics(overlaps(cells)).equals(regional_statistics(overlaps(cells), threshold=5))


@pytest.mark.parametrize("threshold", [1, 0, -5])
def test_a_threshold_below_two_is_refused(threshold):
    with pytest.raises(ValueError, match="at least 2"):
        regional_statistics(overlaps(kommun("1480", (A, 6))), threshold)


def classed(counts: dict[tuple[str, str], int], year: str = "2026") -> pd.DataFrame:
    """Overlaps as `regional_statistik` reads them: `counts[kommunkod, class]` overlaps, each
    its own person, starting on different days of `year`."""
    rows = [(pd.Timestamp(f"{year}-{1 + i % 12:02d}-15"), code, klass, f"P{code}{klass}{i}")
            for (code, klass), n in counts.items() for i in range(n)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["overlap_start", "kommunkod", "classification", "pseudonym"])
    return frame.astype({"overlap_start": "datetime64[s]", "kommunkod": "str", "classification": "str"})


def test_regional_statistik_counts_per_year_kommun_and_class():
    frame = classed({("1480", "conflict"): 7, ("1480", "parallel"): 12, ("1402", "complementary"): 9})
    frame = pd.concat([frame, classed({("1480", "conflict"): 6}, year="2025")], ignore_index=True)
    table = published_statistics(frame, 3)
    rows = [tuple(row) for row in table[["year", "level", "kommunkod", "classification", "overlap_count"]]
            .itertuples(index=False)]  # fmt: skip
    assert rows == [("2025", "region", TOTAL, TOTAL, 6), ("2025", "kommun", "1480", TOTAL, 6),
                    ("2025", "cell", "1480", "conflict", 6),
                    ("2026", "region", TOTAL, TOTAL, 28), ("2026", "kommun", "1402", TOTAL, 9),
                    ("2026", "cell", "1402", "complementary", 9), ("2026", "kommun", "1480", TOTAL, 19),
                    ("2026", "cell", "1480", "conflict", 7), ("2026", "cell", "1480", "parallel", 12)]  # fmt: skip
    assert list(table.columns) == list(RegionalStatistik.to_schema().columns)


def test_a_class_spelled_like_the_total_marker_is_refused():
    frame = classed({("1480", "conflict"): 6})
    frame["classification"] = TOTAL
    with pytest.raises(ValueError, match="classification"):
        published_statistics(frame, 3)


def test_the_contract_refuses_a_total_with_exactly_one_suppressed_count():
    table = published_statistics(classed({("1480", "conflict"): 2, ("1480", "parallel"): 9,
                                           ("1480", "complementary"): 7, ("1402", "conflict"): 20}), 3)  # fmt: skip
    # The 7 is suppressed only to protect the 2; publish it and the 2 can be worked out.
    protecting = ((table["kommunkod"] == "1480") & (table["classification"] == "complementary")).to_numpy()
    assert table.loc[protecting, "suppressed"].tolist() == [True]
    unprotected = table.copy()
    unprotected.loc[protecting, ["overlap_count", "suppressed"]] = [7, False]
    with pytest.raises(SchemaError, match="no_total_with_exactly_one_suppressed_count"):
        RegionalStatistik.validate(unprotected)


def test_the_contract_refuses_a_total_marker_on_the_wrong_level():
    table = published_statistics(classed({("1480", "conflict"): 9, ("1480", "parallel"): 9}), 3)
    first_cell = table.index[table["level"] == "cell"][0]
    table.loc[first_cell, "level"] = "kommun"  # a kommun total that names a class
    with pytest.raises(SchemaError, match="total_marks_the_columns_a_row_adds_up_over"):
        RegionalStatistik.validate(table)


# --- the attackers break an under-protected table ------------------------------------------


def test_each_attacker_breaks_a_table_with_primary_suppression_only():
    cells = {**kommun("1480", (A, 2), (B, 9), (C, 7)), **kommun("1402", (A, 3)), **kommun("0780", (A, 12))}
    frame = overlaps(cells)
    truth = brute_force(frame)
    primary_only = publication(republished(regional_statistics(frame), truth, {k for k, v in truth.items() if v < 5}))
    for attack in ATTACKS:
        recovered = attack(primary_only)
        assert recovered, attack.__name__
        assert all(truth[key] == value for key, value in recovered.items()), attack.__name__
    assert subtraction_attack(primary_only)[cell("2026-01", "1480", A)] == 2


def test_the_bounds_attacker_breaks_ones_that_can_only_add_up_one_way():
    cells = {**kommun("1480", (A, 1), (B, 1), (C, 10), (D, 12)), **kommun("1402", (A, 30))}
    frame = overlaps(cells)
    truth = brute_force(frame)
    ones_only = publication(republished(regional_statistics(frame), truth, {cell("2026-01", "1480", c) for c in (A, B)}))
    assert subtraction_attack(ones_only) == linear_attack(ones_only) == {}
    assert bounds_attack(ones_only) == {cell("2026-01", "1480", A): 1, cell("2026-01", "1480", B): 1}


def test_the_linear_attacker_sees_a_suppressed_total_through_its_members_and_goes_on():
    # The kommun total 1480 is suppressed along with all of 1402, but its own members are
    # all published: that gives it away, and with it 1402's total through the region's.
    cells = {**kommun("1480", (A, 6), (B, 9)), **kommun("1402", (A, 2), (B, 3))}
    frame = overlaps(cells)
    truth = brute_force(frame)
    suppressed = {kommun_total("2026-01", "1480"), kommun_total("2026-01", "1402"), cell("2026-01", "1402", A),
                  cell("2026-01", "1402", B)}  # fmt: skip
    recovered = linear_attack(publication(republished(regional_statistics(frame), truth, suppressed)))
    assert recovered == {kommun_total("2026-01", "1480"): 15, kommun_total("2026-01", "1402"): 5}


# --- generated overlaps: right counts, and no attacker gets anything ----------------------------

MONTHS = ("2026-01", "2026-02", "2026-03")
KOMMUNER = ("0780", "1402", "1480", "1764")
# Mostly small counts, some ones and twos on their own, some large enough to publish.
COUNTS = st.one_of(st.integers(1, 2), st.integers(1, 4), st.integers(5, 15))
CELLS = st.dictionaries(
    st.tuples(st.sampled_from(MONTHS), st.sampled_from(KOMMUNER), st.sampled_from(COMBINATIONS)), COUNTS, max_size=24
)
THRESHOLDS = st.one_of(st.just(5), st.integers(2, 7))


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(cells=CELLS, threshold=THRESHOLDS)
def test_generated_tables_count_right_and_withstand_every_attacker(cells, threshold):
    frame = overlaps(cells)
    table = regional_statistics(frame, threshold)
    truth = brute_force(frame)
    published = publication(table)

    assert list(table.columns) == MODEL_COLUMNS
    assert published.counts.keys() == truth.keys()  # every non-zero count is listed, and no zero
    assert all(count == truth[key] for key, count in published.counts.items() if count is not None)
    assert all(key in published.suppressed() for key, count in truth.items() if count < threshold)
    for total, members in published.equations:
        assert truth[total] == sum(truth[m] for m in members)
        if total not in published.suppressed() and not published.suppressed() & set(members):
            assert published.counts[total] == sum(published.counts[m] for m in members)
    for attack in ATTACKS:
        assert attack(published) == {}, attack.__name__


@settings(max_examples=50, deadline=None)
@given(cells=CELLS, threshold=THRESHOLDS, seed=st.integers(0, 2**32 - 1))
def test_generated_tables_do_not_depend_on_the_order_of_the_overlaps(cells, threshold, seed):
    frame = overlaps(cells)
    shuffled = frame.sample(frac=1, random_state=seed)
    pd.testing.assert_frame_equal(regional_statistics(shuffled, threshold), regional_statistics(frame, threshold))


@settings(max_examples=100, deadline=None)
@given(cells=CELLS, threshold=THRESHOLDS)
def test_generated_tables_with_primary_suppression_only_fall_to_the_attackers(cells, threshold):
    """The attackers are right whenever they claim a count, and an equation with a single
    small count in it always gives it away."""
    frame = overlaps(cells)
    truth = brute_force(frame)
    primary = {key for key, count in truth.items() if count < threshold}
    published = publication(republished(regional_statistics(frame, threshold), truth, primary))
    one_unknown = any(len(primary & {total, *members}) == 1 for total, members in published.equations)
    for attack in ATTACKS:
        recovered = attack(published)
        assert all(truth[key] == value for key, value in recovered.items()), attack.__name__
        assert bool(recovered) or not one_unknown, attack.__name__
