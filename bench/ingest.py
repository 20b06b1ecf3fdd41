"""Ingest of one municipal delivery of N rows, stage by stage, through the real library code.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--repeat 3] [--seed 1]

Writes one synthetic Göteborg-style delivery (the generator's "semikolon_cp1252" case
system: Windows-1252, `;`, CRLF, Swedish column names, YYYYMMDD-NNNN personnummer,
ISO dates, decimal comma, local intervention words, Ja/Nej consent) and its sources.yaml
into a `tempfile.TemporaryDirectory()`, which is deleted at the end. People repeat
(about 1.3 records per person) and about 1 % of the rows carry a planted defect.

Each repeat runs `core.ingest.ingest_source` once, in a fresh process (multiprocessing
'spawn'), with the functions it calls wrapped in timers, so every stage is timed on
exactly the inputs of the real run:

- read: `read_source_file` + `to_canonical`
- pseudonymize: `pseudonymize_identities` (normalize, both HMAC levels, age band)
- validate: total - read - pseudonymize; of which `type_columns`, `duplicates`,
  `cast_to_model` and `model_problems` are timed alone; the rest (row filters, the
  quarantine and its Pandera check, the counts) is what remains
- total: `ingest_source` end to end (imports and the keyring are outside it)

Memory is the process's resident set from /proc/self/status: the kernel's high-water
mark (VmHWM) is reset at the start of each stage (writing 5 to /proc/self/clear_refs), so
a stage's "peak RSS" is the most the whole process held while that stage ran, including
the interpreter, the imported libraries and the stage's inputs; "RSS at start" shows
that baseline. Arrow's and numpy's allocations count (tracemalloc would miss Arrow's).

Then one more fresh process runs `ingest_source` under cProfile and prints the top
functions by cumulative and by own time (cProfile slows Python-heavy code more than
C-heavy code, so read its seconds as relative). Results go to stdout and overwrite
bench/results/ingest.md.

`write_municipal_delivery` is meant for reuse by a national-scale bench.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import core.ingest
from core.keys.keyring import Keyring, pseudonym_keys
from core.synthetic import CASE_SYSTEMS, municipal_sources, sources_yaml
from schemas.sources import load_sources

AS_OF = dt.date(2026, 11, 23)
KOMMUNKOD = "1480"  # Göteborg, whose made-up case system is the semicolon/cp1252 export
RECORDS_PER_PERSON = 1.3
SAMORDNING_SHARE = 0.05
BAD_SHARE = 0.01
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.md"
PROJECT = Path(__file__).resolve().parent.parent

# --- the delivery ------------------------------------------------------------------------

_EXTENTS = np.array(["25", "37,5", "50", "62,5", "75", "100"], dtype=object)
_EXTENT_WEIGHTS = np.array([1, 1, 3, 1, 2, 3]) / 11
_COMMENTS = np.array([
    "Uppföljning om tre veckor", "Avbrott p.g.a. sjukdom; återupptas",  # a ';' must be quoted
    'Har körkort, s.k. "B-behörighet"', "Önskar praktik inom äldreomsorg",  # so must a '"'
], dtype=object)  # fmt: skip
_IMPOSSIBLE_MONTH_DAYS = np.array([(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1)])
DEFECT_KINDS = (
    "wrong_check_digit", "blank_personnummer", "impossible_date", "end_before_start",
    "unknown_code", "extent_out_of_range", "duplicate_row",
)  # fmt: skip


def planted_bad_rows(rows: int) -> int:
    """How many rows `write_municipal_delivery` makes bad: each must end up in quarantine."""
    return round(BAD_SHARE * rows)


def write_municipal_delivery(folder: Path, rows: int, seed: int, as_of: dt.date = AS_OF) -> Path:
    """Write one Göteborg delivery of `rows` rows and its sources.yaml into `folder`.

    Vectorized with numpy, no loop over rows: about 10 s per million rows here, two
    thirds of it pandas' CSV writer. Returns the path of sources.yaml (its file globs
    are relative to `folder`).
    """
    folder = Path(folder)
    source = municipal_sources([KOMMUNKOD])[0]
    export = source.export
    assert export == CASE_SYSTEMS["semikolon_cp1252"], "Göteborg's case system changed in core/synthetic/systems.py"
    rng = np.random.default_rng(seed)
    fields = _delivery_fields(rows, export, rng, as_of)
    _plant_defects(fields, export, rng)
    table = pd.DataFrame({their: fields[ours] for their, ours in export.columns})
    path = folder / source.file(as_of)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Minimal quoting, as the generator's own `_csv_bytes` writes it.
    table.to_csv(path, sep=export.delimiter, lineterminator=export.line_ending, index=False, encoding=export.encoding)
    sources = folder / "sources.yaml"
    sources.write_bytes(sources_yaml([source]))
    return sources


def _delivery_fields(rows: int, export, rng: np.random.Generator, as_of: dt.date) -> dict[str, np.ndarray]:
    """Every column as text, keyed by our field names; all rows valid."""
    people = max(1, round(rows / RECORDS_PER_PERSON))
    # Everyone at least once, the rest drawn again: about 1.3 records per person.
    person = rng.permutation(np.r_[np.arange(people), rng.integers(0, people, rows - people)])
    start = np.datetime64(as_of, "D") + rng.integers(-700, 61, rows)
    end = start + rng.integers(14, 366, rows) - 1
    insats_words = np.array(list(export.codes["insats_code"]), dtype=object)
    consent_words = np.array(list(export.codes["consent"]), dtype=object)  # Ja, Nej
    caseworkers = np.array([f"H{code}" for code in rng.choice(np.arange(100, 1000), 12, replace=False)], dtype=object)
    return {
        "personnummer_digits": _personnummer_digits(people, rng, as_of)[person],
        "record_id": _record_ids(start, rows),
        "insats_code": insats_words[rng.integers(0, len(insats_words), rows)],
        "start_day": start,  # popped by _plant_defects
        "start_date": np.datetime_as_string(start, unit="D").astype(object),
        "end_date": np.where(rng.random(rows) < 0.2, "", np.datetime_as_string(end, unit="D")).astype(object),
        "extent_pct": rng.choice(_EXTENTS, rows, p=_EXTENT_WEIGHTS),
        "consent": consent_words[(rng.random(rows) >= 0.8).astype(int)],
        "handlaggare": caseworkers[rng.integers(0, len(caseworkers), rows)],
        "kommentar": np.where(rng.random(rows) < 0.25, _COMMENTS[rng.integers(0, len(_COMMENTS), rows)], ""),
    }


def _personnummer_digits(people: int, rng: np.random.Generator, as_of: dt.date) -> np.ndarray:
    """(people, 12) digits of distinct valid numbers of people aged 16-66 at `as_of`.

    A calendar birth date, serial 001-999 and the Luhn check digit; a few are
    samordningsnummer (day + 60). Drawn without replacement from (birth day, serial)
    pairs, so no two people share a number.
    """
    oldest = np.datetime64(as_of.replace(year=as_of.year - 67), "D") + 1
    youngest = np.datetime64(as_of.replace(year=as_of.year - 16), "D")
    days = int((youngest - oldest).astype(np.int64)) + 1
    pick = rng.choice(days * 999, people, replace=False)
    birth = oldest + pick // 999
    serial = pick % 999 + 1
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    day = day + np.where(rng.random(people) < SAMORDNING_SHARE, 60, 0)
    first_eleven = ((year * 100 + month) * 100 + day) * 1000 + serial
    digits = (first_eleven[:, None] // 10 ** np.arange(10, -1, -1)) % 10
    return np.c_[digits, _luhn(digits[:, 2:11])].astype(np.uint8)


def _luhn(nine: np.ndarray) -> np.ndarray:
    """Check digit for rows of YYMMDDNNN digits (double every other digit from the left)."""
    products = nine * np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])
    return (10 - (products // 10 + products % 10).sum(axis=1) % 10) % 10


def _record_ids(start: np.ndarray, rows: int) -> np.ndarray:
    """'{start year}-{seq}', the export's pattern, zero-padded to fit `rows` sequence numbers."""
    width = max(5, len(str(rows)))
    year = pd.Series(start.astype("datetime64[Y]").astype(np.int64) + 1970).astype("string")
    seq = pd.Series(np.arange(1, rows + 1)).astype("string").str.zfill(width)
    return (year + "-" + seq).to_numpy(dtype=object)


def _plant_defects(fields: dict[str, np.ndarray], export, rng: np.random.Generator) -> None:
    """Make `planted_bad_rows` rows bad, each with one defect, and render personnummer.

    Row 0 stays good, so a duplicate always has an earlier good row to copy.
    """
    rows = len(fields["record_id"])
    bad = rng.choice(np.arange(1, rows), planted_bad_rows(rows), replace=False)
    kinds = np.array(DEFECT_KINDS)[np.arange(len(bad)) % len(DEFECT_KINDS)]
    at = {kind: bad[kinds == kind] for kind in DEFECT_KINDS}

    digits = fields.pop("personnummer_digits")
    digits[at["wrong_check_digit"], 11] = (digits[at["wrong_check_digit"], 11] + rng.integers(1, 10)) % 10
    fields["personnummer"] = _number_text(digits)
    fields["personnummer"][at["blank_personnummer"]] = ""

    start = fields.pop("start_day")
    month_day = _IMPOSSIBLE_MONTH_DAYS[rng.integers(0, len(_IMPOSSIBLE_MONTH_DAYS), len(at["impossible_date"]))]
    year = start[at["impossible_date"]].astype("datetime64[Y]").astype(np.int64) + 1970
    fields["start_date"][at["impossible_date"]] = [f"{y:04d}-{m:02d}-{d:02d}" for y, (m, d) in zip(year, month_day)]
    before = start[at["end_before_start"]] - rng.integers(1, 61, len(at["end_before_start"]))
    fields["end_date"][at["end_before_start"]] = np.datetime_as_string(before, unit="D")
    fields["insats_code"][at["unknown_code"]] = export.unknown_code
    fields["extent_pct"][at["extent_out_of_range"]] = rng.choice(["0", "150", "-50"], len(at["extent_out_of_range"]))

    # An exact copy of the nearest earlier good row: the later line is the bad one.
    good = np.setdiff1d(np.arange(rows), bad)
    copies = at["duplicate_row"]
    originals = good[np.searchsorted(good, copies) - 1]
    for column in fields.values():
        column[copies] = column[originals]


def _number_text(digits: np.ndarray) -> np.ndarray:
    """YYYYMMDD-NNNN text from (n, 12) digits, through a fixed-width byte matrix."""
    chars = np.full((len(digits), 13), ord("-"), dtype=np.uint8)
    chars[:, :8] = digits[:, :8] + ord("0")
    chars[:, 9:] = digits[:, 8:] + ord("0")
    return chars.view("S13").ravel().astype(str).astype(object)


# --- measuring one run (in a fresh process) ------------------------------------------------

# Functions `ingest_source` calls through core.ingest's globals, timed where they are called.
TIMED = ("read_source_file", "to_canonical", "pseudonymize_identities", "type_columns", "duplicates",
         "cast_to_model", "model_problems")  # fmt: skip


def _kib(field: str) -> int:
    """VmHWM or VmRSS of this process, in KiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


class PeakMeter:
    """Per-stage resident-set peaks: the kernel's high-water mark, reset at each stage start.

    `highest` keeps the process's peak since `restart` across those resets.
    """

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> int:
        """Start a new overall peak; the resident set now (KiB)."""
        self.highest = self._reset()
        return self.highest

    def start(self) -> int:
        """Reset the high-water mark; the resident set now (KiB)."""
        self.highest = max(self.highest, _kib("VmHWM"))
        return self._reset()

    def stop(self) -> int:
        """The stage's peak (KiB)."""
        peak = _kib("VmHWM")
        self.highest = max(self.highest, peak)
        return peak

    @staticmethod
    def _reset() -> int:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # VmHWM := VmRSS
        return _kib("VmRSS")


def _timed(function: Callable, name: str, record: dict, meter: PeakMeter) -> Callable:
    """`function`, adding its seconds, peak and start RSS to `record[name]` on every call."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        rss_start = meter.start()
        began = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - began
        peak = meter.stop()
        seconds_so_far, peak_so_far, rss_so_far = record.get(name, (0.0, 0, rss_start))
        record[name] = (seconds_so_far + seconds, max(peak_so_far, peak), rss_so_far)
        return result

    return wrapper


def _inputs(sources_yaml: str):
    """What the Dagster asset hands `ingest_source`; the keyring lives only in memory."""
    sources = load_sources(Path(sources_yaml))
    source = sources.all[0]
    ring = Keyring(path=Path(sources_yaml).parent / "keyring-never-saved.json")
    ring, _ = ring.with_new_key("pipeline", dt.date(AS_OF.year, 1, 1))
    ring, _ = ring.with_new_key("linkage", dt.date(AS_OF.year, 1, 1))
    return source, sources.files(source), sources.catalogue, pseudonym_keys(ring, AS_OF), ring, AS_OF


def measure_once(sources_yaml: str) -> dict:
    """One instrumented `ingest_source` run, and its row counts.

    `stages` maps each name in TIMED, and "total", to (seconds, peak RSS KiB, RSS KiB at
    start): plain tuples, so they cross the process boundary without pickling our classes.
    """
    inputs = _inputs(sources_yaml)
    meter, record = PeakMeter(), {}
    for name in TIMED:
        setattr(core.ingest, name, _timed(getattr(core.ingest, name), name, record, meter))
    rss_start = meter.restart()
    began = time.perf_counter()
    result = core.ingest.ingest_source(*inputs)
    seconds = time.perf_counter() - began
    meter.stop()
    record["total"] = (seconds, meter.highest, rss_start)
    counts = {"rows": result.rows_read, "accepted": len(result.accepted), "quarantined": len(result.quarantine)}
    return {"stages": record, "counts": counts}


def profile_once(sources_yaml: str, top: int) -> str:
    """Markdown tables of the top functions of one `ingest_source` run under cProfile."""
    inputs = _inputs(sources_yaml)
    profiler = cProfile.Profile()
    profiler.runcall(core.ingest.ingest_source, *inputs)
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (calls, ncalls, own, cumulative, callers)
    tables = []
    for title, column in (("cumulative", 3), ("own (tottime)", 2)):
        ranked = sorted(stats.items(), key=lambda item: item[1][column], reverse=True)[:top]
        lines = [f"Top {top} by {title} time, one run under cProfile:", "",
                 "| function | calls | own s | cumulative s |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
        lines += [f"| `{_where(key)}` | {value[1]:,} | {value[2]:.3f} | {value[3]:.3f} |" for key, value in ranked]
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def _where(key: tuple[str, int, str]) -> str:
    """'assets/ingest.py:240(ingest_source)' with site-packages and project paths shortened."""
    file, line, function = key
    if file == "~":
        return function  # a builtin
    for prefix in (str(PROJECT) + os.sep, "site-packages" + os.sep):
        if prefix in file:
            file = file.split(prefix, 1)[1]
    return f"{file}:{line}({function})"


def _in_fresh_process(function: Callable, *args):
    """Run `function(*args)` in a new interpreter, so no run inherits another's caches or heap."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# --- reporting ---------------------------------------------------------------------------

# Table rows: the timed functions each sums; "validate" and "rest" are derived per run.
PARTS = {
    "read": ("read_source_file", "to_canonical"),
    "pseudonymize": ("pseudonymize_identities",),
    "type_columns": ("type_columns",),
    "duplicates": ("duplicates",),
    "cast_to_model": ("cast_to_model",),
    "model_problems": ("model_problems",),
    "total": ("total",),
}
VALIDATE_PARTS = ("type_columns", "duplicates", "cast_to_model", "model_problems")
LABELS = {
    "read": "read (`read_source_file` + `to_canonical`)",
    "pseudonymize": "pseudonymize (`pseudonymize_identities`)",
    "validate": "validate (total − read − pseudonymize)",
    "type_columns": "· of which `type_columns`",
    "duplicates": "· of which `duplicates`",
    "cast_to_model": "· of which `cast_to_model`",
    "model_problems": "· of which `model_problems` (Pandera, lazy)",
    "rest": "· of which the rest (row filters, quarantine, counts)",
    "total": "total (`ingest_source`)",
}


def _seconds_per_run(runs: list[dict]) -> dict[str, list[float]]:
    """Seconds of each table row, one value per run (derived per run, before any median)."""
    per_run = {row: [] for row in LABELS}
    for run in runs:
        seconds = {row: sum(run["stages"][name][0] for name in names) for row, names in PARTS.items()}
        seconds["validate"] = seconds["total"] - seconds["read"] - seconds["pseudonymize"]
        seconds["rest"] = seconds["validate"] - sum(seconds[row] for row in VALIDATE_PARTS)
        for row, value in seconds.items():
            per_run[row].append(value)
    return per_run


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def stage_table(runs: list[dict], rows: int) -> str:
    per_run = _seconds_per_run(runs)
    total = statistics.median(per_run["total"])
    lines = ["| stage | median s | min s | max s | rows/s | share of total | peak RSS MiB | RSS at start MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for row, label in LABELS.items():
        seconds = per_run[row]
        median = statistics.median(seconds)
        rate = f"{rows / median:,.0f}" if median > 0 else "–"
        peak = start = "–"  # unknown for the derived rows
        if row in PARTS:
            names = PARTS[row]
            peak = _mib(statistics.median(max(run["stages"][n][1] for n in names) for run in runs))
            start = _mib(statistics.median(run["stages"][names[0]][2] for run in runs))
        lines.append(f"| {label} | {median:.3f} | {min(seconds):.3f} | {max(seconds):.3f} | {rate} | "
                     f"{median / total:.0%} | {peak} | {start} |")  # fmt: skip
    return "\n".join(lines)


def machine_facts() -> str:
    import cryptography
    import pandera
    import pyarrow

    with open("/proc/meminfo") as meminfo:
        total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    versions = {"Python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
                "pyarrow": pyarrow.__version__, "pandera": pandera.__version__,
                "cryptography": cryptography.__version__}  # fmt: skip
    return (f"Machine: {os.cpu_count()} cores (os.cpu_count), {total_kib / 1024**2:.1f} GiB memory "
            f"(/proc/meminfo MemTotal); " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")  # fmt: skip


def report(args, runs: list[dict], profile: str, generation_seconds: float, file_bytes: int) -> str:
    counts = runs[0]["counts"]
    expected = {"rows": args.rows, "accepted": args.rows - planted_bad_rows(args.rows),
                "quarantined": planted_bad_rows(args.rows)}  # fmt: skip
    check = "as planted" if counts == expected else f"NOT as planted (expected {expected})"
    return "\n\n".join([
        f"# Ingest benchmark: {args.rows:,} municipal rows (`bench/ingest.py`)",
        f"One Göteborg-style delivery (cp1252, `;`, {file_bytes / 1024**2:,.0f} MiB, written in "
        f"{generation_seconds:.1f} s), {args.repeat} runs of `ingest_source`, each in a fresh process. "
        f"Rows read {counts['rows']:,}, accepted {counts['accepted']:,}, quarantined {counts['quarantined']:,}: "
        f"{check}.",
        stage_table(runs, args.rows),
        "Peak RSS: the whole process's resident set at its highest while the stage ran (interpreter, "
        "libraries and the stage's inputs included; the kernel's high-water mark is reset at each "
        "stage start). RSS at start: the same process just before the stage.",
        machine_facts(),
        profile,
    ]) + "\n"  # fmt: skip


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=15, help="functions shown from the profile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mellanrum-bench-") as folder:
        began = time.perf_counter()
        sources_yaml = write_municipal_delivery(Path(folder), args.rows, args.seed)
        generation_seconds = time.perf_counter() - began
        file_bytes = sum(p.stat().st_size for p in Path(folder).rglob("*.csv"))
        print(f"wrote {args.rows:,} rows in {generation_seconds:.1f} s; timing {args.repeat} runs", flush=True)
        runs = []
        for run in range(args.repeat):
            runs.append(_in_fresh_process(measure_once, str(sources_yaml)))
            print(f"run {run + 1}: total {runs[-1]['stages']['total'][0]:.2f} s", flush=True)
        profile = _in_fresh_process(profile_once, str(sources_yaml), args.top)
    text = report(args, runs, profile, generation_seconds, file_bytes)
    print("\n" + text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
