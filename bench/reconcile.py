"""Reconciliation of N municipal × M AF rows, stage by stage, against the same overlap query in DuckDB.

    .venv/bin/python bench/reconcile.py [--municipal-rows 1000000] [--af-rows 1000000]
                                        [--repeat 5] [--seed 1] [--top 15]

About 3 minutes on a quiet machine here (2 vCPUs), much of it starting fresh interpreters
(about 3 s each: core.reconcile imports Dagster); twice that while other test suites
share the cores. `--repeat 3` saves about a third.

The inputs are built in memory, shaped exactly as ingest hands them on: every column of
`MunicipalInterventions` and `AfAssignments` in the storage types of
`core.ingest.cast_to_model` (pyarrow strings, numpy bool/float, dates as datetime64[s],
NaT = ongoing), codes and categories from the real catalogue, one key id. They are
validated against those Pandera models once, outside any timing. Pseudonyms are 52
random base32 characters (the shape of a level-2 pseudonym): no personal number is made,
hashed or held anywhere. The population (vectorized with numpy, a few seconds per million
rows):

- about 1.3 records per person on each side; 60 % of the AF side's people also have
  municipal interventions, so about a third of a million municipal × AF pairs share a day;
- a person's periods start anywhere in the two years before the as-of date (2026-11-23),
  last 2 weeks to a year, and overlap at random; 15 % of interventions and 5 % of
  assignments are open-ended; 5 % of assignments are cancelled (they must never count);
- 2 % of interventions are registered in a second municipality of Göteborgsregionen (the
  municipal-municipal overlaps), 5 % of AF rows have an unknown age band;
- 10 "heavy" people per million rows with 500 short, back-to-back records on each side:
  an equi-join on the pseudonym gives each of them about 240,000 candidate pairs, of
  which about 550 overlap. They show whether a join stays near-linear.

The inputs go to Arrow IPC files in a `tempfile.TemporaryDirectory()` (deleted at the
end) only to hand them to fresh processes; every run loads them into pandas outside its
timing, then runs its work once on the first 1,000 rows, untimed, so that lazy imports
and first calls (Pandera registers its backends on its first validation) are not counted
as work that grows with the rows. Each repeat runs these variants at both sizes, back
to back, each in a fresh process (multiprocessing 'spawn', so no run inherits another's
caches or heap), so that other work coming and going on the machine hits all alike:

- ours: `core.reconcile.reconcile(municipal, af, default_rules(), as_of, window, cut_off)` (the
  settings' default window)
  end to end, with the functions it calls wrapped in timers: `find_overlaps`, `classify`,
  `find_municipal_overlaps`, `transition_list`, and the Pandera validation of its three
  outputs (each output model's `validate`); "rest" is what `reconcile` does itself (window
  masks, frame assembly, and now the person codes). `_person_codes` (the `pd.factorize`
  of the pseudonyms, once per `reconcile` since c5e9802, three times before) is timed
  too, per call and in seconds only, since it may run inside a timed stage;
- ours, overlaps only: `classify(find_overlaps(...), rules)`, the like-for-like
  counterpart of the DuckDB query (`find_overlaps` then factorizes the pseudonyms itself);
- DuckDB: the same overlap query in SQL as an analyst would write it, on the same pandas
  frames in memory (no Parquet): handed to an in-memory DuckDB as Arrow tables
  (`pa.Table.from_pandas`, zero-copy for pyarrow strings), an equi-join on (pseudonym,
  key_id) with the range condition, the rule table as a registered frame, the extent rule
  in a CASE, fetched back through Arrow into a pandas DataFrame with pyarrow strings,
  as ours returns. With DuckDB's default threads (both cores), and with one thread, since
  our code runs on one.

Once per size (not repeated: it is slow), DuckDB's naive path runs too: the pandas frames
registered as they are and the result fetched with `.df()`. With pyarrow-backed strings
it is several times slower; it shows why the timed DuckDB variants go through Arrow.

Before the timings, one more fresh process runs both overlap computations on the same
inputs and fails loudly unless DuckDB finds exactly our (record, assignment) pairs with
our classes, rule ids, overlap start, end and days and combined extent. Everything runs
at the given sizes and at a tenth of them, for the growth factors (10× is linear).

Memory is the process's resident set from /proc/self/status, as in bench/ingest.py: the
kernel's high-water mark (VmHWM) is reset at each stage start (writing 5 to
/proc/self/clear_refs); a stage's peak includes the interpreter, libraries and inputs,
"RSS at start" is that baseline, and "above start" the stage's own working memory.
DuckDB's buffers are in the resident set too.

Finally one fresh process runs `reconcile` under cProfile (top functions by cumulative
and own time, and the share of `_person_codes`). Results go to stdout and overwrite
bench/results/reconcile.md and bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from ingest import (  # bench/ingest.py: one definition of each
    PeakMeter,
    _in_fresh_process,
    _where,
)

import core.reconcile
from core.ingest import cast_to_model
from core.synthetic import AF_SOURCE, municipal_sources
from schemas.catalogue import default_catalogue
from schemas.datasets import AGE_BANDS, AfAssignments, MunicipalInterventions
from schemas.municipalities import GOTEBORGSREGIONEN, municipality_names
from schemas.reconciled import MunicipalOverlaps, Overlaps, TransitionList
from schemas.rules import RuleTable, default_rules

AS_OF = dt.date(2026, 11, 23)
CUT_OFF = AS_OF + dt.timedelta(days=60)  # as in tests/unit/test_reconcile.py
KEY_ID = "L1-20260101-Q3ZT+L2-20260101-M7KD"  # one linkage+pipeline key pair, as after one ingest
SCALE_DOWN = 10  # the second, smaller run: the growth factor is from rows/10 to rows
RESULTS = Path(__file__).resolve().parent / "results"

# --- the population ----------------------------------------------------------------------

RECORDS_PER_PERSON = 1.3
AF_PEOPLE_ALSO_MUNICIPAL = 0.6  # share of AF's people who also have municipal interventions
SECOND_KOMMUN_SHARE = 0.02  # interventions registered in another municipality than the person's own
MUNICIPAL_OPEN_SHARE, AF_OPEN_SHARE = 0.15, 0.05
CANCELLED_SHARE = 0.05
UNDECIDED_SHARE = 0.02  # AF rows without a decision date (the register entry is the decision)
AF_UNKNOWN_AGE_SHARE = 0.05  # a partner pseudonymizing at source sends no birth date
CONSENT_SHARE = 0.8
HEAVY_PEOPLE_PER_MILLION = 10
HEAVY_RECORDS = 500  # per side and heavy person

# Approximate population in thousands (SCB 2023), for drawing each person's own municipality.
_POPULATION_THOUSANDS = {
    "1480": 604, "1384": 85, "1481": 71, "1482": 48, "1441": 44, "1489": 42, "1402": 41,
    "1401": 39, "1440": 32, "1415": 27, "1419": 16, "1462": 14, "1407": 13,
}  # fmt: skip
# People 16-66 by band (AGE_BANDS order, "under 16" and "unknown" never drawn).
_AGE_BAND_WEIGHTS = {"16-19": 0.10, "20-24": 0.20, "25-29": 0.15, "30-49": 0.35, "50-64": 0.18, "65+": 0.02}
_MUNICIPAL_EXTENTS, _MUNICIPAL_EXTENT_WEIGHTS = np.array([25, 37.5, 50, 62.5, 75, 100]), np.array([1, 1, 3, 1, 2, 3])
_AF_EXTENTS, _AF_EXTENT_WEIGHTS = np.array([25, 50, 75, 100]), np.array([1, 2, 2, 5])
_BASE32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
PSEUDONYM_LENGTH = 52  # 260 random bits: a collision between two people is out of the question
NO_DATE = -1  # day number standing for an empty date while building (every real day is far above)


def build_inputs(municipal_rows: int, af_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The municipal and AF frames, typed as ingest types them (see the module docstring)."""
    rng = np.random.default_rng(seed)
    heavy = max(1, round(HEAVY_PEOPLE_PER_MILLION * min(municipal_rows, af_rows) / 1e6))
    heavy_records = min(HEAVY_RECORDS, municipal_rows // (10 * heavy), af_rows // (10 * heavy))
    municipal_people = round((municipal_rows - heavy * heavy_records) / RECORDS_PER_PERSON)
    af_people = round((af_rows - heavy * heavy_records) / RECORDS_PER_PERSON)
    # Person numbers: municipal people first, then AF-only people, then the heavy ones. AF's
    # people are partly municipal people, the rest its own.
    shared = min(round(AF_PEOPLE_ALSO_MUNICIPAL * af_people), municipal_people)
    af_only = af_people - shared
    af_person_pool = np.r_[rng.choice(municipal_people, shared, replace=False),
                           municipal_people + np.arange(af_only)]  # fmt: skip
    heavy_people = municipal_people + af_only + np.arange(heavy)
    people = _People.draw(municipal_people + af_only + heavy, rng)
    regular_municipal, regular_af = municipal_rows - heavy * heavy_records, af_rows - heavy * heavy_records
    heavy_person = np.repeat(heavy_people, heavy_records)
    # Regular people's periods overlap at random; heavy people's records follow one
    # another (short sessions, each side with its own rhythm).
    m_start, m_end = _periods(regular_municipal, (-700, 60), (14, 365), MUNICIPAL_OPEN_SHARE, rng)
    heavy_m_start, heavy_m_end = _back_to_back(heavy, heavy_records, (1, 5), rng)
    a_start, a_end = _periods(regular_af, (-700, 90), (14, 365), AF_OPEN_SHARE, rng)
    heavy_a_start, heavy_a_end = _back_to_back(heavy, heavy_records, (2, 8), rng)
    municipal = _municipal_frame(
        np.r_[_records_of(np.arange(municipal_people), regular_municipal, rng), heavy_person],
        np.r_[m_start, heavy_m_start], np.r_[m_end, heavy_m_end], people, rng,
    )  # fmt: skip
    af = _af_frame(
        np.r_[_records_of(af_person_pool, regular_af, rng), heavy_person],
        np.r_[a_start, heavy_a_start], np.r_[a_end, heavy_a_end], people, rng,
    )  # fmt: skip
    return municipal, af


@dataclass(frozen=True)
class _People:
    """Per person: pseudonym, own municipality (index into GOTEBORGSREGIONEN), age band
    (index into AGE_BANDS) and the AF office that serves them."""

    pseudonym: pa.Array
    kommun: np.ndarray
    age_band: np.ndarray
    office: pa.Array

    @classmethod
    def draw(cls, count: int, rng: np.random.Generator) -> _People:
        weights = np.array([_POPULATION_THOUSANDS[code] for code in GOTEBORGSREGIONEN], dtype=float)
        kommun = rng.choice(len(GOTEBORGSREGIONEN), count, p=weights / weights.sum())
        bands = np.array([AGE_BANDS.index(band) for band in _AGE_BAND_WEIGHTS])
        band_weights = np.array(list(_AGE_BAND_WEIGHTS.values()))
        age_band = bands[rng.choice(len(bands), count, p=band_weights / band_weights.sum())]
        # The office serving the person's municipality; Göteborg's people split between two.
        names = municipality_names()
        offices = [f"Arbetsförmedlingen {names[code]}" for code in GOTEBORGSREGIONEN] + ["Arbetsförmedlingen Angered"]
        office = np.where((kommun == GOTEBORGSREGIONEN.index("1480")) & (rng.random(count) < 0.4),
                          len(GOTEBORGSREGIONEN), kommun)  # fmt: skip
        return cls(_random_pseudonyms(count, rng), kommun, age_band, _labels(offices, office))


def _records_of(people: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """The person of each of `rows` records: everyone once, the rest drawn again, shuffled
    (about `rows / len(people)` records per person, a few with several)."""
    return rng.permutation(np.r_[people, rng.choice(people, rows - len(people))])


def _periods(count: int, start_offsets: tuple[int, int], lengths: tuple[int, int], open_share: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Start and end days (days since 1970) of independent periods around the as-of date;
    an open end is NO_DATE."""
    start = _day(AS_OF) + rng.integers(start_offsets[0], start_offsets[1] + 1, count)
    end = start + rng.integers(lengths[0], lengths[1] + 1, count) - 1
    return start, np.where(rng.random(count) < open_share, NO_DATE, end)


def _back_to_back(people: int, records: int, lengths: tuple[int, int], rng) -> tuple[np.ndarray, np.ndarray]:
    """`records` consecutive periods per person (0-2 days apart), as (start, end) day arrays."""
    length = rng.integers(lengths[0], lengths[1] + 1, (people, records))
    step = length + rng.integers(0, 3, (people, records))
    start = _day(AS_OF) - 2500 + np.cumsum(step, axis=1) - step
    return start.ravel(), (start + length - 1).ravel()


def _municipal_frame(person: np.ndarray, start: np.ndarray, end: np.ndarray, people: _People,
                     rng: np.random.Generator) -> pd.DataFrame:  # fmt: skip
    rows = len(person)
    kommun = people.kommun[person]
    elsewhere = rng.random(rows) < SECOND_KOMMUN_SHARE
    regions = len(GOTEBORGSREGIONEN)
    kommun[elsewhere] = (kommun[elsewhere] + rng.integers(1, regions, elsewhere.sum())) % regions
    # Concatenated deliveries: rows grouped by source, each source's rows in file order.
    by_source = np.argsort(kommun, kind="stable")
    person, start, end, kommun = person[by_source], start[by_source], end[by_source], kommun[by_source]
    sources = municipal_sources(GOTEBORGSREGIONEN)
    catalogue = default_catalogue()
    codes = [entry.code for entry in catalogue.municipal_interventions]
    code = rng.integers(0, len(codes), rows)
    return _typed({
        "source_id": _labels([source.id for source in sources], kommun),
        "file": _labels([Path(source.file(AS_OF)).name for source in sources], kommun),
        "line": _line_numbers(kommun),
        "pseudonym": people.pseudonym.take(pa.array(person)),
        "key_id": _labels([KEY_ID], np.zeros(rows, dtype=np.int64)),
        "age_band": _labels(AGE_BANDS, people.age_band[person]),
        "consent": rng.random(rows) < CONSENT_SHARE,
        "start_date": _dates(start),
        "end_date": _dates(end),
        "extent_pct": _weighted(_MUNICIPAL_EXTENTS, _MUNICIPAL_EXTENT_WEIGHTS, rows, rng),
        "kommunkod": _labels(GOTEBORGSREGIONEN, kommun),
        # The Göteborg export's pattern, '{start year}-{sequence}', numbered across sources.
        "record_id": _text(np.c_[_digits(_years(start), 4), np.full(rows, ord("-")), _digits(np.arange(rows), 8)]),
        "insats_code": _labels(codes, code),
        "category": _labels([entry.category for entry in catalogue.municipal_interventions], code),
    }, MunicipalInterventions)  # fmt: skip


def _af_frame(person: np.ndarray, start: np.ndarray, end: np.ndarray, people: _People,
              rng: np.random.Generator) -> pd.DataFrame:  # fmt: skip
    rows = len(person)
    catalogue = default_catalogue()
    codes = [entry.code for entry in catalogue.af_programmes]
    code = rng.integers(0, len(codes), rows)
    as_of = _day(AS_OF)
    statuses = ["planned", "ongoing", "ended", "cancelled"]
    cancelled = rng.random(rows) < CANCELLED_SHARE
    status = np.select([cancelled, start > as_of, (end != NO_DATE) & (end < as_of)], [3, 0, 2], 1)
    # Decided up to a month before the start, and never after the as-of date.
    decided = np.minimum(start, as_of) - rng.integers(0, 31, rows)
    decision = np.where(rng.random(rows) < UNDECIDED_SHARE, NO_DATE, decided)
    age_band = np.where(rng.random(rows) < AF_UNKNOWN_AGE_SHARE, AGE_BANDS.index("unknown"), people.age_band[person])
    # AF's numbers increase with gaps (other regions take the numbers between).
    assignment_number = 100_000_000 + np.cumsum(rng.integers(1, 40, rows))
    return _typed({
        "source_id": _labels([AF_SOURCE.id], np.zeros(rows, dtype=np.int64)),
        "file": _labels([Path(AF_SOURCE.file(AS_OF)).name], np.zeros(rows, dtype=np.int64)),
        "line": np.arange(2, rows + 2),
        "pseudonym": people.pseudonym.take(pa.array(person)),
        "key_id": _labels([KEY_ID], np.zeros(rows, dtype=np.int64)),
        "age_band": _labels(AGE_BANDS, age_band),
        "consent": rng.random(rows) < CONSENT_SHARE,
        "start_date": _dates(start),
        "end_date": _dates(end),
        "extent_pct": _weighted(_AF_EXTENTS, _AF_EXTENT_WEIGHTS, rows, rng),
        "assignment_id": _text(np.c_[np.full(rows, ord("A")), _digits(assignment_number, 9)]),
        "programme_code": _labels(codes, code),
        "category": _labels([entry.category for entry in catalogue.af_programmes], code),
        "decision_date": _dates(decision),
        "af_office": people.office.take(pa.array(person)),
        "status": _labels(statuses, status),
    }, AfAssignments)  # fmt: skip


def _typed(columns: dict, model) -> pd.DataFrame:
    """A frame in the model's column order and storage types, through ingest's own cast."""
    frame = pd.DataFrame({
        name: pd.array(values, dtype="string[pyarrow]") if isinstance(values, pa.Array) else values
        for name, values in columns.items()
    })  # fmt: skip
    return cast_to_model(frame[list(model.to_schema().columns)], model)


def _labels(names, index: np.ndarray) -> pa.Array:
    """Arrow strings `names[index]`, taken in Arrow: no Python string per row."""
    return pa.array(list(names), type=pa.string()).take(pa.array(index))


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII codes of `numbers`, zero-padded."""
    numbers = np.asarray(numbers, dtype=np.int64)
    return ((numbers[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10 + ord("0")).astype(np.uint8)


def _text(chars: np.ndarray) -> pa.Array:
    """Arrow strings from an (n, width) matrix of ASCII codes, one fixed-width row each."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.array(chars.view(f"S{chars.shape[1]}").ravel()).cast(pa.string())


def _random_pseudonyms(count: int, rng: np.random.Generator) -> pa.Array:
    """52 random base32 characters per person: the shape of a level-2 pseudonym, derived
    from nothing (no personal number is involved at all)."""
    # Random bytes masked to 5 bits: uniform over the 32 symbols, and cheap at a million people.
    symbols = np.frombuffer(rng.bytes(count * PSEUDONYM_LENGTH), dtype=np.uint8) & 0b11111
    return _text(_BASE32[symbols].reshape(count, PSEUDONYM_LENGTH))


def _weighted(values: np.ndarray, weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(values, count, p=weights / weights.sum()).astype(float)


def _line_numbers(source: np.ndarray) -> np.ndarray:
    """Line in its source's file (header on line 1) of rows grouped by source."""
    first_of_source = np.searchsorted(source, source, side="left")
    return np.arange(len(source)) - first_of_source + 2


def _day(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _years(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _dates(days: np.ndarray) -> np.ndarray:
    """datetime64[s] from day numbers; NO_DATE becomes NaT."""
    dates = days.astype("datetime64[D]").astype("datetime64[s]")
    dates[days == NO_DATE] = np.datetime64("NaT")
    return dates


# --- the same overlap query in DuckDB ----------------------------------------------------

# What an analyst would write: an equi-join on the person, the range condition on the
# dates with an open end as a far-future day, the rule table joined by category pair,
# and the extent rule on top (it decides only where the table does not already say
# conflict). Dates go back out in seconds, as ours. $as_of, $above_pct and
# $extent_rule_id are bound parameters.
DUCKDB_OVERLAPS = """
WITH m AS (
    SELECT *, start_date::DATE AS first_day, coalesce(end_date::DATE, DATE '9999-12-31') AS last_day
    FROM municipal
), a AS (
    SELECT *, start_date::DATE AS first_day, coalesce(end_date::DATE, DATE '9999-12-31') AS last_day
    FROM af
    WHERE status <> 'cancelled'
), pairs AS (
    SELECT
        m.pseudonym, m.key_id, m.age_band,
        m.source_id AS municipal_source_id, m.kommunkod, m.record_id, m.insats_code,
        m.category AS municipal_category, m.extent_pct AS municipal_extent_pct, m.consent AS municipal_consent,
        a.source_id AS af_source_id, a.assignment_id, a.programme_code, a.category AS af_category,
        a.af_office, a.extent_pct AS af_extent_pct, a.consent AS af_consent,
        greatest(m.first_day, a.first_day) AS first_shared_day,
        least(m.last_day, a.last_day) AS last_shared_day,
        m.extent_pct + a.extent_pct AS combined_extent_pct
    FROM m JOIN a
      ON m.pseudonym = a.pseudonym AND m.key_id = a.key_id
     AND a.first_day <= m.last_day AND m.first_day <= a.last_day
)
SELECT
    p.* EXCLUDE (first_shared_day, last_shared_day),
    p.first_shared_day::TIMESTAMP_S AS overlap_start,
    nullif(p.last_shared_day, DATE '9999-12-31')::TIMESTAMP_S AS overlap_end,
    greatest(date_diff('day', p.first_shared_day, least(p.last_shared_day, $as_of::DATE)) + 1, 0) AS overlap_days,
    CASE WHEN p.combined_extent_pct > $above_pct AND r.classification <> 'conflict'
         THEN 'conflict' ELSE r.classification END AS classification,
    CASE WHEN p.combined_extent_pct > $above_pct AND r.classification <> 'conflict'
         THEN $extent_rule_id ELSE r.rule_id END AS rule_id
FROM pairs p
JOIN rules r ON r.municipal = p.municipal_category AND r.af = p.af_category
"""


def rule_frame(rules: RuleTable) -> pd.DataFrame:
    """The rule table as rows: municipal category, AF category, class, rule id."""
    return pd.DataFrame(
        [(rule.municipal, rule.af, rule.classification, rule.id) for rule in rules.rules],
        columns=["municipal", "af", "classification", "rule_id"],
    )


def duckdb_overlaps(municipal: pd.DataFrame, af: pd.DataFrame, rules: RuleTable, as_of: dt.date,
                    threads: int | None = None) -> pd.DataFrame:  # fmt: skip
    """Classified overlaps by DuckDB as a pandas DataFrame with pyarrow strings, as ours.

    The frames go in as Arrow tables (`pa.Table.from_pandas`: zero-copy for pyarrow-backed
    strings) and the result comes out through Arrow: registering the pandas frames
    directly and fetching with `.df()` is several times slower (`duckdb_overlaps_naive`).
    `threads`: DuckDB's default (every core) when None.
    """
    with _connection(threads) as con:
        con.register("municipal", pa.Table.from_pandas(municipal, preserve_index=False))
        con.register("af", pa.Table.from_pandas(af, preserve_index=False))
        con.register("rules", rule_frame(rules))
        result = con.execute(DUCKDB_OVERLAPS, _parameters(rules, as_of)).arrow().read_all()
    return result.to_pandas(types_mapper=_pyarrow_strings)


def duckdb_overlaps_naive(municipal: pd.DataFrame, af: pd.DataFrame, rules: RuleTable, as_of: dt.date) -> pd.DataFrame:
    """The same query the first way the DuckDB docs suggest: pandas frames registered as
    they are, the result fetched with `.df()`."""
    with _connection(None) as con:
        con.register("municipal", municipal)
        con.register("af", af)
        con.register("rules", rule_frame(rules))
        return con.execute(DUCKDB_OVERLAPS, _parameters(rules, as_of)).df()


def _connection(threads: int | None) -> duckdb.DuckDBPyConnection:
    """An in-memory database; the progress bar off (it prints to the terminal from a thread)."""
    con = duckdb.connect(config={} if threads is None else {"threads": threads})
    con.execute("SET enable_progress_bar = false")
    return con


def _parameters(rules: RuleTable, as_of: dt.date) -> dict:
    return {"as_of": as_of, "above_pct": rules.extent_rule.above_pct, "extent_rule_id": rules.extent_rule.id}


def _pyarrow_strings(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    return pd.StringDtype("pyarrow") if arrow_type in (pa.string(), pa.large_string()) else None


# Columns both results must agree on, row by row, after matching rows by these keys.
PAIR_KEY = ["municipal_source_id", "record_id", "af_source_id", "assignment_id"]
COMPARED = ["classification", "rule_id", "overlap_start", "overlap_end", "overlap_days", "combined_extent_pct"]


def disagreements(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, int]:
    """Counts of what differs between two classified-overlap frames (empty: they agree)."""
    problems = {
        "duplicate pairs (ours)": int(ours.duplicated(PAIR_KEY).sum()),
        "duplicate pairs (DuckDB)": int(theirs.duplicated(PAIR_KEY).sum()),
    }
    both = ours[PAIR_KEY + COMPARED].merge(
        theirs[PAIR_KEY + COMPARED], on=PAIR_KEY, how="outer", suffixes=("_ours", "_duckdb"), indicator=True
    )
    problems["pairs only ours"] = int((both["_merge"] == "left_only").sum())
    problems["pairs only DuckDB"] = int((both["_merge"] == "right_only").sum())
    matched = both[(both["_merge"] == "both").to_numpy()]
    for column in COMPARED:
        left, right = matched[f"{column}_ours"], matched[f"{column}_duckdb"]
        same = (left.to_numpy() == right.to_numpy()) | (left.isna().to_numpy() & right.isna().to_numpy())
        problems[f"{column} differs"] = int((~same).sum())
    return {what: count for what, count in problems.items() if count}


# --- measuring one run (in a fresh process) ------------------------------------------------

INPUT_FILES = {"municipal": "municipal.arrow", "af": "af.arrow"}
INPUT_MODELS = {"municipal": MunicipalInterventions, "af": AfAssignments}


def write_inputs(folder: Path, municipal: pd.DataFrame, af: pd.DataFrame) -> None:
    """Arrow IPC (Feather) files: they keep every dtype, dates in seconds included (Parquet
    would turn them into milliseconds)."""
    for name, frame in (("municipal", municipal), ("af", af)):
        frame.to_feather(folder / INPUT_FILES[name])


def load_inputs(folder: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames `build_inputs` made, checked to have ingest's storage types."""
    frames = {name: pd.read_feather(Path(folder) / file) for name, file in INPUT_FILES.items()}
    for name, frame in frames.items():
        if not frame.dtypes.equals(cast_to_model(frame, INPUT_MODELS[name]).dtypes):
            raise RuntimeError(f"{name}: the input lost ingest's storage types on the way to this process")
    return frames["municipal"], frames["af"]


def ours_overlaps(municipal: pd.DataFrame, af: pd.DataFrame, rules: RuleTable, as_of: dt.date) -> pd.DataFrame:
    """The like-for-like counterpart of the DuckDB query: classified overlaps only."""
    return core.reconcile.classify(core.reconcile.find_overlaps(municipal, af, as_of), rules)


# Each variant's function takes (municipal, af, rules, as_of) and returns the overlaps.
WHOLE_RUN_VARIANTS = {
    "ours_overlaps": ours_overlaps,
    "duckdb": duckdb_overlaps,
    "duckdb_1_thread": functools.partial(duckdb_overlaps, threads=1),
    "duckdb_naive": duckdb_overlaps_naive,
}
# Stages of `reconcile`, called through core.reconcile's globals and timed there.
STAGES = ("find_overlaps", "classify", "find_municipal_overlaps", "transition_list")
OUTPUT_MODELS = (Overlaps, MunicipalOverlaps, TransitionList)
PERSON_CODES = "_person_codes"
WARM_UP_ROWS = 1000


def _timed(function: Callable, name: str, record: dict, meter: PeakMeter | None, calls: list | None = None) -> Callable:
    """`function`, adding its seconds to `record[name]` on every call, and with a meter its
    peak and start RSS (KiB). Without one (a function called inside a metered stage,
    whose high-water mark must not be reset) only seconds; peak and start stay 0.
    `calls`, if given, gets (rows of the frames passed, seconds) of every call."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        rss_start = meter.start() if meter else 0
        began = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - began
        peak = meter.stop() if meter else 0
        seconds_so_far, peak_so_far, rss_so_far = record.get(name, (0.0, 0, rss_start))
        record[name] = (seconds_so_far + seconds, max(peak_so_far, peak), rss_so_far)
        if calls is not None:
            calls.append((sum(len(a) for a in args if isinstance(a, pd.DataFrame)), seconds))
        return result

    return wrapper


def _warm_up(work: Callable, municipal: pd.DataFrame, af: pd.DataFrame) -> None:
    """Run `work` once on a slice, untimed: a fresh process pays its lazy imports and first
    calls there (Pandera registers its backends on the first validation, about 0.3-0.5 s
    here), not inside a timing that is meant to grow with the rows."""
    work(municipal.head(WARM_UP_ROWS), af.head(WARM_UP_ROWS))


def measure_reconcile(folder: str) -> dict:
    """One instrumented `reconcile` run: `stages` maps each stage, "validate",
    "_person_codes" and "total" to (seconds, peak RSS KiB, RSS KiB at start), as plain
    tuples that cross the process boundary; `rows` counts each output."""
    municipal, af = load_inputs(folder)
    rules = default_rules()
    run = functools.partial(_run_reconcile, rules=rules)
    _warm_up(run, municipal, af)
    meter, record, person_code_calls = PeakMeter(), {}, []
    for name in STAGES:
        setattr(core.reconcile, name, _timed(getattr(core.reconcile, name), name, record, meter))
    # Pandera's validation of the three outputs: whether `reconcile` calls `Model.validate`
    # itself or through a helper, it lands here.
    for model in OUTPUT_MODELS:
        model.validate = staticmethod(_timed(model.validate, "validate", record, meter))
    if hasattr(core.reconcile, PERSON_CODES):  # called by `reconcile` or by its stages: timed either way
        timed = _timed(getattr(core.reconcile, PERSON_CODES), PERSON_CODES, record, None, person_code_calls)
        setattr(core.reconcile, PERSON_CODES, timed)
    rss_start = meter.restart()
    began = time.perf_counter()
    result = run(municipal, af)
    seconds = time.perf_counter() - began
    meter.stop()
    record["total"] = (seconds, meter.highest, rss_start)
    rows = {
        "overlaps": len(result.overlaps),
        "overlaps in window": int(result.overlaps["in_window"].sum()),
        "municipal overlaps": len(result.municipal_overlaps),
        "transition list": len(result.transition_list),
    }
    return {"stages": record, "rows": rows, "person_code_calls": person_code_calls}


def _window() -> core.reconcile.Window:
    """The reporting window the settings default to (`orchestration/settings.py`)."""
    from orchestration.settings import Settings

    defaults = Settings.of()
    return core.reconcile.Window(defaults.look_back_days, defaults.look_ahead_days)


def _run_reconcile(municipal: pd.DataFrame, af: pd.DataFrame, rules: RuleTable) -> core.reconcile.Reconciliation:
    return core.reconcile.reconcile(municipal, af, rules, AS_OF, _window(), CUT_OFF)


def measure_whole(variant: str, folder: str) -> dict:
    """One run of a WHOLE_RUN_VARIANTS function, timed as one stage ("total")."""
    municipal, af = load_inputs(folder)
    work = functools.partial(WHOLE_RUN_VARIANTS[variant], rules=default_rules(), as_of=AS_OF)
    _warm_up(work, municipal, af)
    meter = PeakMeter()
    rss_start = meter.restart()
    began = time.perf_counter()
    overlaps = work(municipal, af)
    seconds = time.perf_counter() - began
    meter.stop()
    return {"stages": {"total": (seconds, meter.highest, rss_start)}, "rows": {"overlaps": len(overlaps)}}


def measure(variant: str, folder: str) -> dict:
    return measure_reconcile(folder) if variant == "ours" else measure_whole(variant, folder)


def check_agreement(folder: str) -> dict:
    """Our classified overlaps and DuckDB's on the same inputs; raises unless they agree."""
    municipal, af = load_inputs(folder)
    rules = default_rules()
    ours = ours_overlaps(municipal, af, rules, AS_OF)
    problems = disagreements(ours, duckdb_overlaps(municipal, af, rules, AS_OF))
    if problems:
        raise AssertionError(f"DuckDB and ours disagree on the same inputs: {problems}")
    classes = ours["classification"].value_counts()
    return {"pairs": len(ours), "classes": {str(name): int(count) for name, count in classes.items()}}


def profile_once(folder: str, top: int) -> dict:
    """Markdown tables of the top functions of one `reconcile` run under cProfile, and
    `_person_codes`'s calls and share of the run."""
    municipal, af = load_inputs(folder)
    run = functools.partial(_run_reconcile, rules=default_rules())
    _warm_up(run, municipal, af)
    profiler = cProfile.Profile()
    profiler.runcall(run, municipal, af)
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (calls, ncalls, own, cumulative, callers)
    ours = os.path.join("core", "reconcile.py")
    total = next(value[3] for key, value in stats.items() if key[2] == "reconcile" and key[0].endswith(ours))
    person_codes = [value for key, value in stats.items() if key[2] == PERSON_CODES]
    tables = []
    for title, column in (("cumulative", 3), ("own (tottime)", 2)):
        ranked = sorted(stats.items(), key=lambda item: item[1][column], reverse=True)[:top]
        lines = [f"Top {top} by {title} time, one `reconcile` run under cProfile:", "",
                 "| function | calls | own s | cumulative s |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
        lines += [f"| `{_where(key)}` | {value[1]:,} | {value[2]:.3f} | {value[3]:.3f} |" for key, value in ranked]
        tables.append("\n".join(lines))
    return {
        "tables": "\n\n".join(tables),
        "total_seconds": total,
        "person_codes": {"calls": sum(v[1] for v in person_codes), "seconds": sum(v[3] for v in person_codes)}
        if person_codes else None,
    }


# --- what the inputs hold ----------------------------------------------------------------


def validate_inputs(municipal: pd.DataFrame, af: pd.DataFrame) -> None:
    """The generated inputs pass ingest's own Pandera models (raises if not)."""
    MunicipalInterventions.validate(municipal, lazy=True)
    AfAssignments.validate(af, lazy=True)


def population_facts(municipal: pd.DataFrame, af: pd.DataFrame) -> dict:
    """Counts that say what the join faces: people, records per person, open ends, and
    how many candidate pairs an equi-join on the person makes before any date test."""
    live = af[(af["status"] != core.reconcile.CANCELLED).to_numpy(dtype=bool)]
    # One key id throughout, so a person is a pseudonym here.
    person, distinct = pd.factorize(pd.concat([municipal["pseudonym"], live["pseudonym"]], ignore_index=True))
    municipal_records = np.bincount(person[: len(municipal)], minlength=len(distinct))
    af_records = np.bincount(person[len(municipal) :], minlength=len(distinct))
    candidates = municipal_records * af_records
    heavy = (municipal_records > HEAVY_RECORDS // 5) | (af_records > HEAVY_RECORDS // 5)
    return {
        "municipal rows": len(municipal),
        "AF rows": len(af),
        "municipal people": int((municipal_records > 0).sum()),
        "AF people (non-cancelled)": int((af_records > 0).sum()),
        "people on both sides": int(((municipal_records > 0) & (af_records > 0)).sum()),
        "heavy people": int(heavy.sum()),
        "most records of one person (municipal / AF)": f"{municipal_records.max()} / {af_records.max()}",
        "open-ended (municipal / AF)": f"{municipal['end_date'].isna().mean():.1%} / "
        f"{af['end_date'].isna().mean():.1%}",
        "cancelled AF rows": int(len(af) - len(live)),
        "equi-join candidate pairs (same person)": int(candidates.sum()),
        "· of which heavy people's": int(candidates[heavy].sum()),
    }


# --- reporting ---------------------------------------------------------------------------

VARIANT_LABELS = {
    "ours": "ours: `reconcile` end to end",
    "ours_overlaps": "ours: `find_overlaps` + `classify` only",
    "duckdb": "DuckDB, default threads: Arrow in, Arrow out",
    "duckdb_1_thread": "DuckDB, 1 thread: Arrow in, Arrow out",
    "duckdb_naive": "DuckDB, default threads: pandas frames registered, `.df()` (one run)",
}
REPEATED_VARIANTS = ("ours", "ours_overlaps", "duckdb", "duckdb_1_thread")
STAGE_LABELS = {
    "find_overlaps": "`find_overlaps`",
    "classify": "`classify`",
    "find_municipal_overlaps": "`find_municipal_overlaps`",
    "transition_list": "`transition_list`",
    "validate": "Pandera validation of the 3 outputs",
    "rest": "rest: what `reconcile` does itself (total − the above)",
    "total": "total (`reconcile`)",
    PERSON_CODES: "· of which `_person_codes`, wherever called",
}
MEMORY_STAGES = (*STAGES, "validate", "total")  # the metered ones


def stage_numbers(runs: list[dict], stage: str) -> dict:
    """Median, min and max seconds; median peak, start and above-start RSS (MiB)."""
    if stage == "rest":
        seconds = [run["stages"]["total"][0] - sum(run["stages"][s][0] for s in (*STAGES, "validate")) for run in runs]
    else:
        seconds = [run["stages"][stage][0] for run in runs if stage in run["stages"]]
    numbers = {"median s": statistics.median(seconds), "min s": min(seconds), "max s": max(seconds),
               "runs": len(seconds)}  # fmt: skip
    if stage in MEMORY_STAGES:
        peaks = [run["stages"][stage][1] / 1024 for run in runs]
        starts = [run["stages"][stage][2] / 1024 for run in runs]
        numbers |= {"peak RSS MiB": statistics.median(peaks), "RSS at start MiB": statistics.median(starts),
                    "above start MiB": statistics.median(p - s for p, s in zip(peaks, starts))}  # fmt: skip
    return numbers


def summarize(scale: dict) -> dict:
    """Per variant its total's numbers and rows out; for ours also each stage's."""
    runs = scale["runs"]
    summary = {variant: {"total": stage_numbers(variant_runs, "total"), "rows": variant_runs[0]["rows"]}
               for variant, variant_runs in runs.items()}  # fmt: skip
    stages = [*STAGES, "validate", "rest", "total"]
    if PERSON_CODES in runs["ours"][0]["stages"]:
        stages.append(PERSON_CODES)
    summary["ours"]["stages"] = {stage: stage_numbers(runs["ours"], stage) for stage in stages}
    return summary


def ratios(summary: dict) -> dict:
    """Ours / DuckDB: ratios of the medians in the comparison table."""

    def ratio(ours: str, theirs: str, measure: str) -> float:
        return summary[ours]["total"][measure] / summary[theirs]["total"][measure]

    overlaps_only = "`find_overlaps` + `classify`"
    return {
        "`reconcile` / DuckDB (time)": ratio("ours", "duckdb", "median s"),
        f"{overlaps_only} / DuckDB (time, like for like)": ratio("ours_overlaps", "duckdb", "median s"),
        f"{overlaps_only} / DuckDB 1 thread (time, one core each)": ratio(
            "ours_overlaps", "duckdb_1_thread", "median s"
        ),
        f"{overlaps_only} / DuckDB (peak RSS)": ratio("ours_overlaps", "duckdb", "peak RSS MiB"),
        f"{overlaps_only} / DuckDB (memory above start)": ratio("ours_overlaps", "duckdb", "above start MiB"),
    }


def growth(big: dict, small: dict) -> dict:
    """From the small size to the big one, per variant: how the medians of time and
    memory grew, and the overlaps found."""
    grown = {}
    for variant in big:
        b, s = big[variant]["total"], small[variant]["total"]
        grown[variant] = {
            "time": b["median s"] / s["median s"],
            "peak RSS": b["peak RSS MiB"] / s["peak RSS MiB"],
            "above start": b["above start MiB"] / s["above start MiB"],
            "overlaps out": big[variant]["rows"]["overlaps"] / small[variant]["rows"]["overlaps"],
        }
    return grown


def _size(scale: dict) -> str:
    return f"{scale['municipal rows']:,} × {scale['AF rows']:,}"


def stage_table(summary: dict) -> str:
    stages = summary["ours"]["stages"]
    total = stages["total"]["median s"]
    memory_columns = ("peak RSS MiB", "RSS at start MiB", "above start MiB")
    lines = ["| stage | median s | min s | max s | share of total | " + " | ".join(memory_columns) + " |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for stage, numbers in stages.items():
        memory = " | ".join(f"{numbers[k]:,.0f}" if k in numbers else "–" for k in memory_columns)
        lines.append(f"| {STAGE_LABELS[stage]} | {numbers['median s']:.3f} | {numbers['min s']:.3f} | "
                     f"{numbers['max s']:.3f} | {numbers['median s'] / total:.0%} | {memory} |")  # fmt: skip
    return "\n".join(lines)


def comparison_table(big: dict, small: dict, big_size: str, small_size: str, grown: dict) -> str:
    lines = [f"| variant | overlaps out | {big_size}: median s (min–max) | peak RSS MiB | above start MiB | "
             f"{small_size}: median s (min–max) | peak RSS MiB | above start MiB | "
             "growth: time | growth: above start |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for variant, label in VARIANT_LABELS.items():
        cells = [label, f"{big[variant]['rows']['overlaps']:,}"]
        for summary in (big, small):
            n = summary[variant]["total"]
            spread = f" ({n['min s']:.2f}–{n['max s']:.2f})" if n["runs"] > 1 else ""
            cells += [f"{n['median s']:.2f}{spread}", f"{n['peak RSS MiB']:,.0f}", f"{n['above start MiB']:,.0f}"]
        cells += [f"{grown[variant]['time']:.1f}×", f"{grown[variant]['above start']:.1f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(big: dict, small: dict, big_size: str, small_size: str) -> str:
    lines = [f"| ours / DuckDB (ratio of medians) | {big_size} | {small_size} |", "| --- | ---: | ---: |"]
    lines += [f"| {what} | {value:.2f} | {small[what]:.2f} |" for what, value in big.items()]
    return "\n".join(lines)


def facts_table(big: dict, small: dict, big_size: str, small_size: str) -> str:
    lines = [f"| inputs | {big_size} | {small_size} |", "| --- | ---: | ---: |"]
    for what, value in big.items():
        cells = [f"{v:,}" if isinstance(v, int) else v for v in (value, small[what])]
        lines.append(f"| {what} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def rows_line(summary: dict) -> str:
    return ", ".join(f"{what} {count:,}" for what, count in summary["ours"]["rows"].items())


def _load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages: runnable processes, to compare with the cores."""
    with open("/proc/loadavg") as loadavg:
        return [float(figure) for figure in loadavg.read().split()[:3]]


def load_note(load: list[float], cores: int) -> str:
    """The 1-minute load average while timing, and a warning when other work outran the cores."""
    note = f"1-minute load average at each repeat's start and at the end: {', '.join(f'{x:.1f}' for x in load)}."
    if max(load) > cores:
        note += (f" **Other work kept more than {cores} processes runnable during this run: the machine was "
                 "oversubscribed, so read the seconds as rough.**")  # fmt: skip
    return note


def machine_facts() -> dict:
    import pandera

    with open("/proc/meminfo") as meminfo:
        total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    with duckdb.connect() as con:
        duckdb_threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {
        "cores (os.cpu_count)": os.cpu_count(),
        "memory GiB (MemTotal)": round(total_kib / 1024**2, 1),
        "Python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "pandera": pandera.__version__,
        "duckdb": duckdb.__version__,
        "DuckDB default threads": duckdb_threads,
    }


def person_codes_shares(runs: list[dict], summary: dict, profile: dict) -> dict:
    """`_person_codes`'s share of `reconcile`, timed without a profiler and under cProfile,
    and each of its calls (rows passed, median seconds) in the order `reconcile` makes them."""
    stages = summary["ours"]["stages"]
    if PERSON_CODES not in stages or profile["person_codes"] is None:
        return {}
    calls = [
        {"rows": rows[0], "median s": statistics.median(seconds)}
        for rows, seconds in (zip(*per_call) for per_call in zip(*(run["person_code_calls"] for run in runs)))
    ]
    return {
        "timed (median s / median total)": stages[PERSON_CODES]["median s"] / stages["total"]["median s"],
        "median s": stages[PERSON_CODES]["median s"],
        "total median s": stages["total"]["median s"],
        "calls": calls,
        # Factorizing once over both inputs costs about what the first (largest) call does.
        "saved by factorizing once, estimate s": sum(c["median s"] for c in calls[1:]) if len(calls) > 1 else None,
        "cProfile (cumulative / reconcile cumulative)": profile["person_codes"]["seconds"] / profile["total_seconds"],
        "cProfile calls": profile["person_codes"]["calls"],
        "cProfile s": profile["person_codes"]["seconds"],
    }


def report(args, results: dict) -> str:
    big, small = results["scales"]
    big_size, small_size = _size(big["facts"]), _size(small["facts"])
    big_summary, small_summary = results["summaries"]
    grown = results["growth"]
    shares = results["person_codes"]
    machine = results["machine"]
    calls = shares.get("calls", [])
    saving = shares.get("saved by factorizing once, estimate s")
    how_often = (
        f" Factorizing once over both inputs costs about what the first call does, so it would save roughly the "
        f"others: about {saving:.2f} s ({saving / shares['total median s']:.0%} of `reconcile`), an estimate."
        if saving is not None else
        " It runs once per `reconcile`, for all three searches: what remains is the cost of one factorization of "
        "both inputs' pseudonyms."
    )  # fmt: skip
    share_text = (
        f"`_person_codes` (`pd.factorize` of the pseudonyms and of the key ids, {len(calls)} "
        f"call{'s' if len(calls) != 1 else ''} per `reconcile`) takes {shares['median s']:.2f} s of "
        f"{shares['total median s']:.2f} s: "
        f"**{shares['timed (median s / median total)']:.0%} of `reconcile`** at {big_size}, timed without a profiler "
        f"(median of {args.repeat} runs); {shares['cProfile (cumulative / reconcile cumulative)']:.0%} under cProfile "
        f"({shares['cProfile s']:.2f} s of {results['profile']['total_seconds']:.2f} s). Its calls, in order "
        "(rows passed → median s): "
        + "; ".join(f"{call['rows']:,} → {call['median s']:.3f}" for call in calls)
        + "."
        + how_often
        if shares else "`_person_codes` is not in assets/reconcile.py any more: nothing to report."
    )  # fmt: skip
    return "\n\n".join([
        f"# Reconcile benchmark: {big_size} rows (`bench/reconcile.py`)",
        f"`{results['command']}`, {results['bench seconds'] / 60:.1f} minutes. Inputs built in memory "
        f"({big['generation s']:.1f} s at {big_size}), validated against `MunicipalInterventions` / `AfAssignments` "
        f"({big['validation s']:.1f} s), both outside the timings, and handed to fresh processes as Arrow IPC files. "
        f"{args.repeat} runs of each variant per size, each in a fresh process ('spawn'); each repeat runs every "
        "variant at both sizes back to back, "
        "so that other work coming and going hits all alike. Each run comes after an "
        f"untimed warm-up on {WARM_UP_ROWS:,} rows (lazy imports: Pandera registers its backends on first use); the "
        "DuckDB naive variant once per size. Medians, with min and max: the machine is noisy. "
        + load_note(results["load during runs"], machine["cores (os.cpu_count)"]),
        "## Ours against DuckDB",
        comparison_table(big_summary, small_summary, big_size, small_size, grown),
        ratio_table(results["ratios"]["big"], results["ratios"]["small"], big_size, small_size),
        "DuckDB found exactly our pairs with our classes, rule ids, overlap start, end and days and combined extent at "
        f"both sizes ({big['agreement']['pairs']:,} and {small['agreement']['pairs']:,} pairs), checked in a separate "
        "process before the timings (`disagreements`; the bench stops if anything differs).",
        "What the DuckDB query does **not** do, so read the like-for-like row (`find_overlaps` + `classify`) for the "
        "join itself: municipal-municipal overlaps (`find_municipal_overlaps`), AF's transition list, the "
        "`interruption_risk` and `upcoming` flags, the age-band fallback to AF's band, the reporting window "
        "(`in_window`), Pandera validation of the outputs, a deterministic row order, and the error on a category pair "
        "missing from the rule table (its inner join would silently drop such pairs). It uses DuckDB's default "
        f"{machine['DuckDB default threads']} threads on {machine['cores (os.cpu_count)']} vCPUs; ours runs on one "
        "(hence the 1-thread row). Its time includes `pa.Table.from_pandas` of both inputs (zero-copy for the pyarrow "
        "strings) and the conversion of the result to a pandas DataFrame with pyarrow strings, as ours returns. The "
        "naive row registers the pandas frames as they are and fetches with `.df()`: DuckDB 1.5's pandas scan of "
        "pyarrow-backed string columns and `.df()`'s Python strings are the slow paths there.",
        "Peak RSS: the whole process's resident set at its highest during the run (interpreter, libraries and the "
        "inputs included; the kernel's high-water mark is reset at the start). Above start: peak minus the resident "
        "set just before, i.e. what the run itself needed. Growth: the big size's median over the small size's "
        f"(rows ×{SCALE_DOWN}; near {SCALE_DOWN}× is linear).",
        "## The population",
        facts_table(big["facts"], small["facts"], big_size, small_size),
        f"## Ours, stage by stage at {big_size}",
        stage_table(big_summary),
        f"Rows out: {rows_line(big_summary)}.",
        f"## Ours, stage by stage at {small_size}",
        stage_table(small_summary),
        f"Rows out: {rows_line(small_summary)}.",
        "## Where `reconcile`'s time goes (cProfile)",
        share_text,
        "cProfile slows Python-heavy code more than C-heavy code: read its seconds as relative.",
        results["profile"]["tables"],
        "## Machine",
        ", ".join(f"{what} {value}" for what, value in machine.items()) + ".",
    ]) + "\n"  # fmt: skip


# --- main --------------------------------------------------------------------------------


def prepare_scale(municipal_rows: int, af_rows: int, seed: int, root: Path) -> dict:
    """Build, validate and hand over the inputs of one size, and check DuckDB agrees on them."""
    folder = root / f"{municipal_rows}x{af_rows}"
    folder.mkdir()
    began = time.perf_counter()
    municipal, af = build_inputs(municipal_rows, af_rows, seed)
    generation_seconds = time.perf_counter() - began
    began = time.perf_counter()
    validate_inputs(municipal, af)
    validation_seconds = time.perf_counter() - began
    facts = population_facts(municipal, af)
    write_inputs(folder, municipal, af)
    del municipal, af  # the parent's copy would only crowd the measured processes
    print(f"{municipal_rows:,} × {af_rows:,}: built in {generation_seconds:.1f} s, validated in "
          f"{validation_seconds:.1f} s; checking DuckDB agrees", flush=True)  # fmt: skip
    return {"facts": facts, "generation s": generation_seconds, "validation s": validation_seconds,
            "agreement": _in_fresh_process(check_agreement, str(folder)), "folder": folder,
            "runs": {variant: [] for variant in VARIANT_LABELS}}  # fmt: skip


def time_variants(scales: list[dict], repeat: int) -> list[float]:
    """Fill each scale's `runs`. Every repeat runs every variant at every size back to
    back, so that the machine's drift over the minutes hits all of them alike. Returns
    the 1-minute load average at the start of each repeat and at the end."""
    load = []
    for run in range(repeat):
        load.append(_load_average()[0])
        for scale in scales:
            runs = scale["runs"]
            for variant in REPEATED_VARIANTS:
                runs[variant].append(_in_fresh_process(measure, variant, str(scale["folder"])))
            seconds = ", ".join(f"{v} {runs[v][-1]['stages']['total'][0]:.2f} s" for v in REPEATED_VARIANTS)
            print(f"run {run + 1}, {_size(scale['facts'])}: {seconds}", flush=True)
    for scale in scales:
        scale["runs"]["duckdb_naive"].append(_in_fresh_process(measure, "duckdb_naive", str(scale["folder"])))
        print(f"{_size(scale['facts'])}: duckdb_naive {scale['runs']['duckdb_naive'][0]['stages']['total'][0]:.2f} s")
    return [*load, _load_average()[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--municipal-rows", type=int, default=1_000_000)
    parser.add_argument("--af-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each variant per size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=15, help="functions shown from the profile")
    args = parser.parse_args()
    results = {"command": " ".join([".venv/bin/python bench/reconcile.py", *sys.argv[1:]]),
               "load average before": _load_average(), "machine": machine_facts()}  # fmt: skip
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mellanrum-bench-") as root:
        small = prepare_scale(args.municipal_rows // SCALE_DOWN, args.af_rows // SCALE_DOWN, args.seed, Path(root))
        big = prepare_scale(args.municipal_rows, args.af_rows, args.seed, Path(root))
        results["load during runs"] = time_variants([small, big], args.repeat)
        results["profile"] = _in_fresh_process(profile_once, str(big["folder"]), args.top)
    for scale in (big, small):
        del scale["folder"]  # gone with the temporary directory
    results["load average after"] = _load_average()
    results["scales"] = (big, small)
    results["summaries"] = (summarize(big), summarize(small))
    results["growth"] = growth(*results["summaries"])
    results["ratios"] = {"big": ratios(results["summaries"][0]), "small": ratios(results["summaries"][1])}
    results["person_codes"] = person_codes_shares(big["runs"]["ours"], results["summaries"][0], results["profile"])
    results["bench seconds"] = time.perf_counter() - began
    text = report(args, results)
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reconcile.md").write_text(text, encoding="utf-8")
    (RESULTS / "reconcile.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'reconcile.md'} and reconcile.json in {results['bench seconds']:.0f} s")


if __name__ == "__main__":
    main()
