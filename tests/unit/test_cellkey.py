"""The Cell Key Method (core/cellkey.py, core/keys/record_keys.py): record keys, the
perturbation table's rules against a brute-force count, the same noise for the same
contributors across tables and nights, and the fourth attacker (testkit/attackers.py): differencing 30 nightly
releases. Each attacker is first shown to break an under-protected table (today's
suppression republished every night, or plain counts)."""

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cellkey import (
    DIFFERENCE_EXACT_SHARE,
    MAX_DEVIATION,
    PTABLE,
    closing_bounds,
    difference_exact_share,
    noise,
    parents_of,
    perturbed,
    pinned_small,
)
from core.counts import suppressed_counts
from core.keys.pseudonyms import recipient_key
from core.keys.record_keys import RECORD_KEY_SCALE, cell_key_secret, record_keys
from schemas.statistics import TOTAL
from testkit.attackers import Layout, Publication, bounds_attack, differencing_attack, publication

SECRET = cell_key_secret(b"k" * 32)
THRESHOLD = 5
KOMMUNER = ("0780", "1402", "1480", "1764")
KINDS = ("a", "b", "c", "d", "e")


# --- record keys ---------------------------------------------------------------------------


def test_record_keys_are_uniform_deterministic_and_keyed():
    people = pd.Series([f"person {i}" for i in range(20_000)])
    keys = record_keys(people, SECRET) / RECORD_KEY_SCALE
    assert ((keys >= 0) & (keys < 1)).all()
    assert np.histogram(keys, bins=10, range=(0, 1))[0].min() > 1_800  # about 2,000 per tenth
    np.testing.assert_array_equal(record_keys(people[::-1], SECRET), record_keys(people, SECRET)[::-1])
    other = record_keys(people, cell_key_secret(b"j" * 32))
    assert (other != record_keys(people, SECRET)).mean() > 0.99


def test_the_record_key_secret_has_its_own_label():
    pipeline = b"p" * 32
    assert cell_key_secret(pipeline) not in {pipeline, recipient_key(pipeline, "1480", "E1")}


def test_a_record_key_needs_an_identifier():
    with pytest.raises(ValueError, match="identifier"):
        record_keys(pd.Series(["x", None]), SECRET)


# --- the perturbation table ---------------------------------------------------------------------


def test_the_table_keeps_its_rules():
    for count, row in PTABLE.items():
        values = [count + v for v, _ in row]
        assert all(v == 0 or v >= 3 for v in values), count  # never 1 or 2, never negative
        assert all(abs(v) <= MAX_DEVIATION for v, _ in row)
        mean = sum(v * p for v, p in row)
        assert mean == 0 or count == 3, count  # zero-mean but for 3 (nothing else fits in ±2)
    assert max(difference_exact_share(n) for n in range(1, 50)) <= DIFFERENCE_EXACT_SHARE


@settings(deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=50),
       keys=st.lists(st.integers(0, RECORD_KEY_SCALE - 1), min_size=50, max_size=50))  # fmt: skip
def test_noise_matches_a_row_by_row_lookup(counts, keys):
    counts, keys = np.array(counts), np.array(keys[: len(counts)])
    expected = []
    for count, key in zip(counts, keys):  # the slow form: walk the row's intervals
        start = 0.0
        for value, probability in PTABLE[min(int(count), max(PTABLE))]:
            if key / RECORD_KEY_SCALE < start + float(probability):
                expected.append(value)
                break
            start += float(probability)
        else:
            expected.append(value)
    np.testing.assert_array_equal(noise(counts, keys), expected)


# --- perturbed tables against a brute-force count -------------------------------------------------

ROWS = st.lists(st.tuples(st.sampled_from(("2026-01", "2026-02")), st.sampled_from(KOMMUNER),
                          st.sampled_from(KINDS), st.integers(0, 30)), max_size=120)  # fmt: skip


def keys_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["month", "kommunkod", "kind", "person"]).astype(
        {"month": "str", "kommunkod": "str", "kind": "str", "person": "str"})


def brute_force(frame: pd.DataFrame) -> tuple[dict[tuple, int], dict[tuple, list[str]]]:
    counts, contributors = Counter(), defaultdict(list)
    for row in frame.itertuples(index=False):
        for key in ((row.month, row.kommunkod, row.kind), (row.month, row.kommunkod, TOTAL), (row.month, TOTAL, TOTAL)):
            counts[key] += 1
            contributors[key].append(row.person)
    return dict(counts), contributors


def published(table: pd.DataFrame) -> dict[tuple, int]:
    return {(r.month, r.kommunkod, r.kind): int(r.count) for r in table.itertuples(index=False)}


@settings(deadline=None)
@given(rows=ROWS)
def test_every_published_count_is_within_d_of_the_truth_never_negative_and_never_a_small_count_itself(rows):
    frame = keys_frame(rows)
    table = suppressed_counts(frame, ["kind"], THRESHOLD, SECRET)
    truth, _ = brute_force(frame)
    shown = published(table)
    assert not table["suppressed"].any()
    assert set(shown) <= set(truth)  # nothing where the truth is 0
    assert all(value >= 3 for value in shown.values())  # not negative, no 1 or 2; a 0 is left out
    assert all(abs(shown.get(key, 0) - count) <= MAX_DEVIATION for key, count in truth.items())
    assert all(shown.get(key, 0) != count for key, count in truth.items() if count <= 2)


@settings(deadline=None)
@given(rows=ROWS, more=ROWS, seed=st.integers(0, 2**32 - 1))
def test_the_same_contributors_get_the_same_value_in_every_table_and_on_every_night(rows, more, seed):
    tonight = keys_frame(rows)
    # Another night: the rows in another order, with other rows beside them.
    later = pd.concat([tonight, keys_frame(more)]).sample(frac=1, random_state=seed)
    # Another table: a finer breakdown (a constant second dimension) of tonight's rows.
    finer = suppressed_counts(tonight.assign(extra="x"), ["kind", "extra"], THRESHOLD, SECRET)
    first = published(suppressed_counts(tonight, ["kind"], THRESHOLD, SECRET))
    second = published(suppressed_counts(later, ["kind"], THRESHOLD, SECRET))
    third = {(r.month, r.kommunkod, r.kind): int(r.count) for r in finer.itertuples(index=False)}
    _, before = brute_force(tonight)
    _, after = brute_force(later)
    for key, people in before.items():
        if sorted(people) == sorted(after[key]):
            assert first.get(key) == second.get(key), key
        assert first.get(key) == third.get(key), key


def test_without_a_secret_the_counts_are_suppressed_as_before():
    frame = keys_frame([("2026-01", "1480", "a", i) for i in range(9)] + [("2026-01", "1480", "b", 1)])
    table = suppressed_counts(frame, ["kind"], THRESHOLD)
    assert table.loc[table["kind"] == "b", "suppressed"].all()  # the 1, and with it another count
    assert table["suppressed"].sum() == 2 and table["count"].isna().sum() == 2


# --- the fourth attacker: differencing every night's release --------------------------------------

NIGHTS = 30


def churning_keys(seed: int = 7, people: int = 900) -> list[pd.DataFrame]:
    """30 nights of people in interventions: each person starts and ends on drawn nights
    (many start and end every night); a night's rows are those in an intervention."""
    rng = np.random.default_rng(seed)
    start = rng.integers(-40, NIGHTS, people)
    end = start + rng.integers(3, 60, people)
    base = pd.DataFrame({"month": "2026-11", "kommunkod": rng.choice(KOMMUNER, people),
                         "kind": rng.choice(KINDS, people, p=[0.5, 0.3, 0.12, 0.05, 0.03]),
                         "person": [f"P{i:04d}" for i in range(people)]})  # fmt: skip
    return [base[(start <= night) & (night < end)].reset_index(drop=True) for night in range(NIGHTS)]


def one_by_one_keys(seed: int = 3, people: int = 60) -> tuple[list[pd.DataFrame], list[tuple[tuple, int] | None]]:
    """30 nights where one person starts or ends an intervention each night: consecutive
    releases differ by one person. Also per night the cell that changed since the night
    before and by how much (+1 a start, −1 an end): what an attacker following the
    person knows, the differencing attacker's best case."""
    rng = np.random.default_rng(seed)
    pool = pd.DataFrame({"month": "2026-11", "kommunkod": rng.choice(KOMMUNER, people + NIGHTS),
                         "kind": rng.choice(KINDS, people + NIGHTS, p=[0.5, 0.3, 0.12, 0.05, 0.03]),
                         "person": [f"S{seed}P{i:04d}" for i in range(people + NIGHTS)]})  # fmt: skip
    present, nights, changes = list(range(people)), [], []
    for night in range(NIGHTS):
        who, sign = (int(rng.choice(present)), -1) if night % 2 else (people + night, 1)
        present = [p for p in present if p != who] if sign < 0 else [*present, who]
        nights.append(pool.iloc[sorted(present)].reset_index(drop=True))
        changes.append((tuple(pool.loc[who, ["kommunkod", "kind"]]), sign) if night else None)
    return nights, changes


LAYOUT = Layout("month", ("kind",), "count")


def release(table: pd.DataFrame) -> Publication:
    """A night's release as the attacker reads it (testkit/attackers.py): a listed count, or None (suppressed)."""
    return publication(table, LAYOUT)


def moved(change: tuple[tuple, int] | None) -> dict[tuple, int] | None:
    """The counts one person's start (+1) or end (−1) moves: its cell, its kommun's total, the region's."""
    if change is None:
        return None
    (kommun, kind), sign = change
    return {("2026-11", kommun, kind): sign, ("2026-11", kommun, TOTAL): sign, ("2026-11", TOTAL, TOTAL): sign}


def true_counts(keys: pd.DataFrame) -> dict[tuple, int]:
    truth, _ = brute_force(keys)
    return truth


def test_the_differencing_attacker_breaks_suppression_republished_every_night():
    nights, changes = one_by_one_keys()
    releases = [release(suppressed_counts(keys, ["kind"], THRESHOLD)) for keys in nights]
    truths = [true_counts(keys) for keys in nights]
    protected = {(t, key) for t, rel in enumerate(releases) for key in rel.suppressed()}
    recovered = {key: value for key, value in differencing_attack(releases, [moved(c) for c in changes]).items()
                 if key in protected}  # fmt: skip
    assert len(recovered) >= 10  # each night's table withstands the three attackers; the series does not
    assert all(truths[t].get(key, 0) == value for (t, key), value in recovered.items())


def test_the_differencing_attacker_reads_plain_counts_off():
    nights, changes = one_by_one_keys()
    truths = [true_counts(keys) for keys in nights]
    # Every count published as it is (the equations: those of the night's rows).
    plain = [Publication(dict(truth), release(suppressed_counts(keys, ["kind"], THRESHOLD)).equations)
             for truth, keys in zip(truths, nights, strict=True)]  # fmt: skip
    claims = differencing_attack(plain, [moved(c) for c in changes])
    small = [(t, key) for t, truth in enumerate(truths) for key, count in truth.items() if count <= 2]
    assert small and all(claims[key] == truths[key[0]][key[1]] for key in small)


def test_the_differencing_attacker_recovers_no_protected_cell_through_the_cell_key():
    nights, changes = one_by_one_keys()
    releases = [release(suppressed_counts(keys, ["kind"], THRESHOLD, SECRET)) for keys in nights]
    truths = [true_counts(keys) for keys in nights]
    protected = {(t, key) for t, truth in enumerate(truths) for key, count in truth.items() if count <= 2}
    assert len(protected) >= 20
    claims = differencing_attack(releases, [moved(c) for c in changes])
    assert len(claims) >= 100  # it does claim counts, only never a small one right
    assert [key for key in protected if key in claims and claims[key] == truths[key[0]][key[1]]] == []


def test_the_published_difference_of_one_person_is_the_true_one_at_most_as_often_as_documented():
    exact = pairs = 0
    for seed in range(12):  # 12 series of 30 nights, each night one person more or less
        nights, changes = one_by_one_keys(seed, people=300)
        releases = [release(suppressed_counts(keys, ["kind"], THRESHOLD, SECRET)) for keys in nights]
        truths = [true_counts(keys) for keys in nights]
        for t in range(1, NIGHTS):
            for key, sign in moved(changes[t]).items():  # the counts the person is in
                assert truths[t].get(key, 0) - truths[t - 1].get(key, 0) == sign
                exact += releases[t].counts.get(key, 0) - releases[t - 1].counts.get(key, 0) == sign
                pairs += 1
    share = exact / pairs
    print(f"published difference = true difference in {exact} of {pairs} ({share:.1%})")
    assert share <= DIFFERENCE_EXACT_SHARE, f"{exact}/{pairs}"


def test_regional_statistics_are_perturbed_per_person_and_validate():
    from core.counts import regional_statistics
    from schemas.statistics import CELL_DIMENSIONS

    rng = np.random.default_rng(5)
    n = 400
    overlaps = pd.DataFrame({
        "overlap_start": pd.to_datetime(rng.choice(["2025-01-03", "2026-02-10"], n)).astype("datetime64[s]"),
        "kommunkod": rng.choice(KOMMUNER, n), "classification": rng.choice(["conflict", "parallel"], n),
        "municipal_category": rng.choice(["work_training", "education"], n), "af_category": "matching",
        "age_band": rng.choice(["16-19", "30-49"], n), "pseudonym": [f"P{i % 300}" for i in range(n)],
    }).astype({c: "str" for c in ("kommunkod", *CELL_DIMENSIONS, "pseudonym")})  # fmt: skip
    table = regional_statistics(overlaps, THRESHOLD, SECRET)
    truth = overlaps.assign(year=overlaps["overlap_start"].dt.strftime("%Y")).groupby(
        ["year", "kommunkod", *CELL_DIMENSIONS]).size()  # fmt: skip
    cells = table[table["level"] == "cell"].set_index(["year", "kommunkod", *CELL_DIMENSIONS])["overlap_count"]
    assert not table["suppressed"].any() and (table["overlap_count"] >= 3).all()
    assert (cells.reindex(truth.index).fillna(0).astype(int) - truth).abs().max() <= MAX_DEVIATION
    # The same people counted in another order: the same table.
    pd.testing.assert_frame_equal(regional_statistics(overlaps[::-1], THRESHOLD, SECRET), table)


# --- closing the bounds attacker's certainties ------------------------------------------------

# A region row, then per kommun its total and its cells: each tree is a list of kommuner, each a
# list of true cell counts (small ones most likely: that is where certainty can arise).
_TREES = st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=4), min_size=1, max_size=4)


def _tree(kommuner: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    depth, counts = [0], [sum(map(sum, kommuner))]
    for cells in kommuner:
        depth += [1, *[2] * len(cells)]
        counts += [sum(cells), *cells]
    return np.array(depth), np.array(counts)


def _bounds_oracle(counts: np.ndarray, published: np.ndarray, parents: np.ndarray) -> set[int]:
    """The rows testkit's bounds attacker pins to a small count, reading the table by the
    perturbation table's ranges (the slow form: dicts and loops)."""
    view = Publication({i: (int(v) if v > 0 else None) for i, v in enumerate(published)},
                       [(j, [i for i in range(len(parents)) if parents[i] == j]) for j in range(len(parents))
                        if (parents == j).any()])  # fmt: skip
    ranges = {i: ((0, MAX_DEVIATION) if v is None else (max(1, v - MAX_DEVIATION), v + MAX_DEVIATION))
              for i, v in view.counts.items()}  # fmt: skip
    return {i for i, value in bounds_attack(view, ranges).items() if value == counts[i] and counts[i] <= MAX_DEVIATION}


@settings(max_examples=1000, deadline=None)
@given(kommuner=_TREES, keys=st.lists(st.integers(0, RECORD_KEY_SCALE - 1), min_size=25, max_size=25))
def test_pinned_small_counts_are_what_the_bounds_attacker_pins_and_closing_leaves_none(kommuner, keys):
    depth, counts = _tree(kommuner)
    published = perturbed(counts, np.array(keys[: len(counts)], dtype=np.int64))  # any cell keys, by the table
    parents = parents_of(depth)
    assert set(np.flatnonzero(pinned_small(counts, published, parents))) == _bounds_oracle(counts, published, parents)
    closed = closing_bounds(counts, published, parents)
    # What stays pinned is pinned by large counts alone: no small count is listed in its equations.
    for i in np.flatnonzero(pinned_small(counts, closed, parents)):
        equations = {i, parents[i]} - {-1}
        rows = [j for j in range(len(counts)) if j in equations or parents[j] in equations]
        assert all(closed[j] == 0 or counts[j] > MAX_DEVIATION for j in rows)
    changed = closed != published
    assert (closed[changed] == 0).all() and (counts[changed] <= MAX_DEVIATION).all()  # only small rows left out


def test_a_total_of_two_left_out_with_both_its_ones_listed_gives_nothing_away_once_closed():
    depth, counts = _tree([[1, 1], [2]])
    published = np.array([4, 0, 3, 3, 0, 0])  # the kommun total of 2 perturbed to 0, its two 1s listed as 3
    parents = parents_of(depth)
    assert set(np.flatnonzero(pinned_small(counts, published, parents))) == {1, 2, 3}
    closed = closing_bounds(counts, published, parents)
    assert closed.tolist() == [4, 0, 0, 0, 0, 0] and not pinned_small(counts, closed, parents).any()
