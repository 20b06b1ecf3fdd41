"""National-scale benchmark: the whole nightly run, its stages, and the alternatives, side by side.

    MELLANRUM_EXTRAS=test,bench ./.ci/bootstrap && .venv/bin/python bench/national.py --scale S

    --scale S | M | L          100,000 municipal × 500,000 AF rows | 1,000,000 × 5,000,000 |
                               10,000,000 × 50,000,000 (repeatable: --scale S --scale M)
    --repeat N                 runs of each fast stage and alternative (default 3)
    --dagster-repeat N         runs of the whole nightly run through Dagster (default 2), of
                               each instance variant and through the daemon
    --variants-at S            scales at which every instance storage variant runs (default S)
    --daemon-at S              scales at which the night also runs through dagster-daemon (default S)
    --profile                  one more whole nightly run under cProfile (largest scale given)
    --municipalities gr|all    the 13 Göteborgsregionen sources, or all 290 (default)
    --af-files N               AF delivers N files (default 1)
    --no-registrations         the same deliveries without AF's registrations: our stages only,
                               stored apart, for "what the registrations add" (default: with them)

Per scale, a `tempfile.TemporaryDirectory()` (deleted at the end, never committed) gets
a generated national inbox (`bench/national_data.py`: every municipality's delivery in
its own messy format, AF's assignments, sources.yaml, recipients.yaml; identities are
made-up valid personnummer that exist only there; AF's registrations, about as many as its
assignment rows, and the generator's truth of the registration-based lists), an encrypted keyring, and the job
spec the alternatives read. A PostgreSQL server is started from the installed binaries
(`testkit/pgserver.py`'s `start_server`, as the `postgres` user when root) and stopped at
the end. Every measurement runs in a fresh interpreter (multiprocessing 'spawn'); each
repeat runs every variant back to back, so the machine's drift spreads over all of them:

- ingest, through the library, as the ingest asset does it, in one process: per kind,
  `prepare_source` for each source (read, pseudonymize, type, duplicates), then one
  `validate_sources` (the model's rules once over the kind's rows, quarantine, the split
  per source), with the functions they call wrapped in timers: read (`read_source_file` +
  `to_canonical`; the .xlsx part also alone), pseudonymize (`pseudonymize_identities`:
  normalize, both HMAC levels, base32, age band; `level2_pseudonyms` also alone), validate
  (the rest: typing, duplicates, Pandera, quarantine). The first run stores the accepted
  rows and quarantine as the Dagster store would (`core.store.DatasetFiles`).
- reconcile: `core.reconcile.reconcile` on those stored rows (loaded outside the timing).
- publish: `build_publication` (the contracts' datasets, the suppressed statistics, a
  checksum per recipient, the log), then `core.database.replace_publication` into a new
  SQLite file (with its private file) and into a new database on the PostgreSQL server
  (COPY), as the `publication` asset does.
- the whole nightly run through Dagster, in-process, in a fresh MELLANRUM_HOME and
  DAGSTER_HOME: what `run_nightly` (`mellanrum run`) does minus its printing: definitions,
  preflight, `open_instance`, `ingest_all` (one run per source kind), `reconcile_stored`,
  `publish_latest` (SQLite). Each Dagster run is timed around `execute`. The instance's
  `dagster.yaml` is written for each storage variant (INSTANCE_VARIANTS: event log and
  compute logs, `embedded_instance_yaml`; at `--variants-at` scales, default S); every
  source must come out as planted.
- the whole nightly run through a real `dagster-daemon` (`measure_daemon`; at `--daemon-at`
  scales, default S): queued run coordinator, default run launcher, the schedules' run
  requests enqueued, the sequencer sensor starting the reconcile-and-publish run.
- the alternatives, same data, same keys: `bench/alternatives/duckdb_nightly.sql` (one
  DuckDB script; .xlsx deliveries read from CSV copies made at generation time, outside
  any timing) and `bench/alternatives/pandas_nightly.py` (a plain pandas script).
- the HMAC floor: a pre-keyed `cryptography` HMAC `.copy()`d per value, both levels, over
  as many distinct identifiers as our ingest hashed (as bench/pseudonymize.py measures it).

The truth check, before anything but the first ingest and reconciliation is timed: the
transition list's registration-keyed rows, the youth monitor and the hand-over lists the
library stages stored, and (after the timing of the first whole Dagster night) those the
night stored, must equal the generator's truth by ids, per kommun
(`core.synthetic.followup_truth`, as the demo-scale test compares them); otherwise the run
stops, naming per list and kommun only the numbers of rows missing and extra; so must the
outcomes after an intervention and the flows between municipalities, counted per published
cell before protection (`truth/outcomes.csv`, `truth/flows.csv`: numbers of cells only). The
library's reconcile stage is `reconcile` with the registrations (`with_registrations` also
timed alone), then `youth_monitor`, `handovers`, `intervention_outcomes` and
`municipal_flows`, as the reconciliation asset calls them; the publish stage loads every
input the publication asset reads, so every contract is built and written, as at night.

Memory: peak RSS from /proc/self/status, the kernel's high-water mark reset at each
stage start (`bench/ingest.py`'s PeakMeter); a stage's peak is the whole process's,
inputs included ("at start" is that baseline). Before the timings, the first runs'
results are checked against each other: our overlaps, DuckDB's and pandas' must be the
same (record, assignment) pairs with the same classes, and DuckDB's pseudonym (hex) must
be our level-2 pseudonym (base32). Results (medians with min and max, ratios, growth
factors S→M, targets) go to bench/results/national.md and national.json; a scale run
alone replaces only its own results there.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path.insert(1, str(PROJECT))  # testkit/pgserver.py: a real PostgreSQL server, shared with the tests

from ingest import PeakMeter, _in_fresh_process, _where  # noqa: E402 (bench/ingest.py)
from national_data import AS_OF, Inbox, write_national_inbox  # noqa: E402

SCALES = {"S": (100_000, 500_000), "M": (1_000_000, 5_000_000), "L": (10_000_000, 50_000_000)}
PASSPHRASE = "national bench keyring: synthetic data only"
RESULTS = BENCH / "results"  # national.md and national.json; --out elsewhere
MIB = 1024  # KiB per MiB
# Issue 15's targets: the whole nightly through Dagster against the DuckDB script, at S and
# at M; Dagster's own seconds per source; the daemon path against the in-process run; our
# pseudonymization against the HMAC floor; peak memory at M (GiB = 2**30 bytes).
TARGETS = {"dagster_vs_duckdb": {"S": 8.0, "M": 2.5}, "dagster_per_source": 0.050, "daemon_vs_inprocess": 1.3,
           "pseudonymize_vs_floor": 1.5, "peak_gib": 4.0, "growth": 12.0}


# --- set-up (parent) ---------------------------------------------------------------------------


def generate(folder: str, municipal_rows: int, af_rows: int, seed: int, municipalities: list[str] | None,
             af_files: int, registrations: bool = True, truth: bool = True) -> dict:  # fmt: skip
    return write_national_inbox(Path(folder), municipal_rows, af_rows, seed, municipalities, af_files,
                                registrations, truth).to_json()


def make_keyring(path: Path) -> dict:
    """A keyring with one linkage and one pipeline key, saved encrypted; the raw keys for
    the alternatives (hex, written only into the temporary folder)."""
    from core.keys.keyring import Keyring, pseudonym_keys

    ring, _ = Keyring(path=path).with_new_key("pipeline", dt.date(AS_OF.year, 1, 1))
    ring, _ = ring.with_new_key("linkage", dt.date(AS_OF.year, 1, 1))
    ring.save(PASSPHRASE)
    keys = pseudonym_keys(ring, AS_OF)
    return {"linkage": keys.linkage.secret.hex(), "chain": [k.hex() for k in keys.chain], "key_id": keys.key_id}


def build_spec(inbox: Inbox, keys: dict, out_dir: Path) -> dict:
    """What the alternatives need to know, as an analyst would keep it: the deliveries by
    export format (delimiter, encoding, date format, decimal mark, column names, code
    words), the catalogue's categories, the rule table, the keys."""
    from core.synthetic import AF_EXPORT, CASE_SYSTEMS, EXTRA_FIELDS
    from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
    from schemas.rules import DEFAULT_RULES, load_rules

    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    rules = load_rules(DEFAULT_RULES, catalogue)
    folder = Path(inbox.folder)
    groups: dict[str, dict] = {}
    for facts in (f for f in inbox.sources if f.kind != "af_registrations"):  # the alternatives have no such lists
        export = AF_EXPORT if facts.system == "af" else CASE_SYSTEMS[facts.system]
        group = groups.setdefault(facts.system, {
            "name": facts.system, "kind": facts.kind, "format": export.format, "sheet": export.sheet,
            "encoding": export.encoding, "delimiter": export.delimiter,
            "csv_encoding": export.encoding if export.format == "csv" else "utf-8",
            "csv_delimiter": export.delimiter if export.format == "csv" else ",",
            "date_format": export.date_format, "decimal": export.decimal,
            "columns": {their: ours for their, ours in export.columns if ours not in EXTRA_FIELDS},
            "codes": {field: dict(mapping) for field, mapping in export.codes.items()},
            "files": [],
        })  # fmt: skip
        for path, csv_path in zip(facts.files, facts.csv_files, strict=True):
            group["files"].append({"source_id": facts.source_id, "kommunkod": facts.kommunkod or "",
                                   "path": str(folder / path), "csv_path": str(folder / csv_path)})  # fmt: skip
    return {
        "as_of": AS_OF.isoformat(),
        "groups": list(groups.values()),
        "categories": {**catalogue.intervention_categories, **catalogue.programme_categories},
        "rules": [(r.municipal, r.af, r.classification, r.id) for r in rules.rules],
        "extent_rule": {"id": rules.extent_rule.id, "above_pct": rules.extent_rule.above_pct},
        "keys": {"linkage": keys["linkage"], "chain": keys["chain"]},
        "out_dir": str(out_dir),
    }


# --- measuring (each in a fresh process) ---------------------------------------------------------

KINDS = ("municipal", "af", "af_registrations")  # the source kinds, in the night's order
STORED = {"municipal": ("municipal_interventions", "municipal_quarantine"), "af": ("af_assignments", "af_quarantine"),
          "af_registrations": ("af_registrations", "af_registrations_quarantine")}  # fmt: skip
# Functions `ingest_source` calls through core.ingest's globals, timed where they are called.
INGEST_TIMED = ("read_source_file", "to_canonical", "pseudonymize_identities", "normalize", "level2_pseudonyms",
                "type_columns", "duplicates", "cast_to_model", "model_problems")  # fmt: skip


def _stage(record: dict, name: str, seconds: float, peak: int, start: int) -> None:
    """Add a call to `record[name]`: seconds summed, peak and start RSS of the highest call."""
    old = record.get(name)
    if old is None:
        record[name] = {"seconds": seconds, "peak_kib": peak, "start_kib": start, "calls": 1}
        return
    old["seconds"] += seconds
    old["calls"] += 1
    if peak > old["peak_kib"]:
        old["peak_kib"], old["start_kib"] = peak, start


def _wrapped(function: Callable, name: Callable[..., str], record: dict, meter: PeakMeter | None,
             after: Callable | None = None) -> Callable:  # fmt: skip
    """`function`, timed into `record`; with `meter`, its peak too (None for a function called
    inside another timed one: resetting the high-water mark there would hide the outer peak)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = meter.start() if meter else 0
        began = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - began
        _stage(record, name(*args, **kwargs), seconds, meter.stop() if meter else 0, start)
        if after is not None:
            after(*args, **kwargs)
        return result

    return wrapper


def _keys(keyring_path: str):
    from core.keys.keyring import Keyring, pseudonym_keys

    ring = Keyring.load(Path(keyring_path), PASSPHRASE)
    return ring, pseudonym_keys(ring, AS_OF)


def measure_ingest(inbox_json: dict, keyring_path: str, store: str | None) -> dict:
    """Every source as the ingest asset does it (see the module): per kind, `prepare_source`
    for each source, then one `validate_sources` over all of them."""
    import core.ingest
    from core.store import DatasetFiles
    from schemas.sources import load_sources

    inbox = Inbox.from_json(inbox_json)
    sources = load_sources(Path(inbox.sources_yaml))
    ring, keys = _keys(keyring_path)
    meter, record = PeakMeter(), {}
    distinct = {"hashed": 0}

    def count_distinct(canonical, *_args, **_kwargs) -> None:
        distinct["hashed"] += int(canonical.nunique())  # outside the timing

    for name in INGEST_TIMED:
        if name == "read_source_file":
            label = lambda source, path: f"read_source_file[{source.format}]"  # noqa: E731
        else:
            label = functools.partial(lambda n, *a, **k: n, name)
        after = count_distinct if name == "level2_pseudonyms" else None
        nested = name in ("normalize", "level2_pseudonyms")  # inside pseudonymize_identities
        setattr(core.ingest, name, _wrapped(getattr(core.ingest, name), label, record, None if nested else meter,
                                              after))  # fmt: skip
    counts, total, highest, per_source, per_kind = {}, 0.0, 0, {}, {}
    files = DatasetFiles(Path(store)) if store else None
    for kind in KINDS:
        prepared = []
        began_kind = time.perf_counter()
        of_kind = [f for f in inbox.sources if f.kind == kind]
        if not of_kind:
            continue
        for facts in of_kind:
            source = sources.source(facts.source_id)
            paths = sources.files(source)
            meter.restart()
            began = time.perf_counter()
            prepared.append(core.ingest.prepare_source(source, paths, sources.catalogue, keys, ring, AS_OF))
            per_source[facts.source_id] = time.perf_counter() - began
            meter.stop()
            highest = max(highest, meter.highest)
        start = meter.restart()
        began = time.perf_counter()
        results = core.ingest.validate_sources(prepared)
        _stage(record, "validate_sources", time.perf_counter() - began, meter.stop(), start)
        highest = max(highest, meter.highest)
        per_kind[kind] = time.perf_counter() - began_kind
        total += per_kind[kind]
        del prepared
        record[f"kind[{kind}]"] = {"seconds": per_kind[kind], "peak_kib": highest, "start_kib": 0, "calls": len(of_kind)}
        for source_id, result in results.items():
            counts[source_id] = [result.rows_read, len(result.accepted), len(result.quarantine)]
            if files is not None:
                main, quarantine = STORED[kind]
                files.write(main, source_id, result.accepted)
                files.write(quarantine, source_id, result.quarantine)
        del results
    record["total"] = {"seconds": total, "peak_kib": highest, "start_kib": 0, "calls": len(inbox.sources)}
    municipal_ids = {f.source_id for f in inbox.sources if f.kind == "municipal"}
    return {"stages": record, "counts": counts, "distinct_hashed": distinct["hashed"],
            "per_source": {**per_kind, "municipal_median": statistics.median(s for k, s in per_source.items()
                                                                             if k in municipal_ids)}}  # fmt: skip


def _files(store: str):
    from core.store import DatasetFiles

    return DatasetFiles(Path(store))


def measure_reconcile(store: str, write: bool) -> dict:
    """`reconcile` as the night calls it (with the registrations when stored: the transition
    list completed by `with_registrations`, timed also alone), then `youth_monitor`,
    `handovers`, `intervention_outcomes` and `municipal_flows`, each timed, as the
    reconciliation asset calls them; the first run writes what they give to the store."""
    import core.reconcile
    from core.flows import municipal_flows
    from core.reconcile import Window, reconcile
    from core.outcomes import intervention_outcomes
    from core.registrations import handovers, youth_monitor
    from orchestration.settings import Settings
    from schemas.catalogue import DEFAULT_CATALOGUE, load_catalogue
    from schemas.rules import DEFAULT_RULES, load_rules

    datasets = _files(store)
    defaults = Settings.of()  # the window a night uses
    municipal, af = datasets.load("municipal_interventions"), datasets.load("af_assignments")
    registrations = datasets.load("af_registrations") if datasets.partitions("af_registrations") else None
    rules = load_rules(DEFAULT_RULES, load_catalogue(DEFAULT_CATALOGUE))
    meter, stages = PeakMeter(), {}
    core.reconcile.with_registrations = _wrapped(core.reconcile.with_registrations, lambda *a, **k: "with_registrations",
                                                 stages, None)  # fmt: skip

    def timed(name: str, work: Callable):
        start = meter.restart()
        began = time.perf_counter()
        result = work()
        _stage(stages, name, time.perf_counter() - began, max(meter.stop(), meter.highest), start)
        return result

    result = timed("reconcile", lambda: reconcile(municipal, af, rules, AS_OF, Window(defaults.look_back_days,
                                                  defaults.look_ahead_days), AS_OF, registrations=registrations))  # fmt: skip
    counts = {"municipal_rows": len(municipal), "af_rows": len(af), "overlaps": len(result.overlaps),
              "overlaps_in_window": int(result.overlaps["in_window"].sum()),
              "municipal_overlaps": len(result.municipal_overlaps), "transition_list": len(result.transition_list)}  # fmt: skip
    written = [("overlaps", result.overlaps), ("municipal_overlaps", result.municipal_overlaps),
               ("transition_list", result.transition_list)]  # fmt: skip
    if registrations is not None:
        monitor = timed("youth_monitor", lambda: youth_monitor(municipal, af, registrations, AS_OF))
        handed = timed("handovers", lambda: handovers(municipal, af, registrations, AS_OF))
        counts |= {"registrations": len(registrations), "youth_monitor": len(monitor), "handovers": len(handed),
                   "transition_list_by_registration": int((result.transition_list["keyed_by"] == "registration_id").sum())}  # fmt: skip
        outcomes = timed("intervention_outcomes", lambda: intervention_outcomes(municipal, af, registrations, AS_OF))
        counts |= {"intervention_outcomes": len(outcomes)}
        written += [("youth_monitor", monitor), ("handovers", handed), ("intervention_outcomes", outcomes)]
    # The flows between municipalities: the night computes them with or without registrations.
    flows = timed("municipal_flows", lambda: municipal_flows(municipal, AS_OF))
    counts |= {"municipal_flows": len(flows),
               "municipal_flows_cross": int((flows["kommunkod"] != flows["home_kommunkod"]).sum())}
    written.append(("municipal_flows", flows))
    if write:
        for name, frame in written:
            datasets.write(name, None, frame)
    return {"stages": stages, "counts": counts}


def check_truth(store: str, truth_dir: str) -> dict:
    """The stored transition list (its registration-keyed rows), youth monitor and hand-overs
    against the generator's truth, by ids, per kommun (`core.synthetic.followup_truth`): rows
    compared, and per list and kommun that differs only the numbers of rows missing and extra;
    and the stored outcomes counted per published cell before protection
    (`core.outcomes.outcome_cell_counts`) against `truth/outcomes.csv`, and the stored flows
    between municipalities counted per cell of `kommunoverskridande_insatser` before protection
    (`core.flows.cross_municipality_participants`) against `truth/flows.csv` (numbers of cells
    only)."""
    from core.flows import cross_municipality_participants
    from core.outcomes import outcome_cell_counts
    from core.synthetic.followup_truth import compare_followup, difference_counts, found_lists, read_truth, row_counts
    from core.synthetic.outcome_cases import compare_outcome_counts, read_outcome_truth

    datasets = _files(store)
    found = found_lists(*(datasets.load(name) for name in ("transition_list", "youth_monitor", "handovers")))
    truth = read_truth(Path(truth_dir))
    differences = difference_counts(compare_followup(found, truth))
    outcomes = compare_outcome_counts(outcome_cell_counts(datasets.load("intervention_outcomes")),
                                      read_outcome_truth(truth_dir))  # fmt: skip
    if outcomes["only_found"] or outcomes["only_truth"] or outcomes["count_differs"]:
        differences["outcomes"] = {"cells": [outcomes["only_truth"], outcomes["only_found"], outcomes["count_differs"]]}
    flows = compare_flow_counts(cross_municipality_participants(datasets.load("municipal_flows")), truth_dir)
    if flows["only_found"] or flows["only_truth"] or flows["count_differs"]:
        differences["flows"] = {"cells": [flows["only_truth"], flows["only_found"], flows["count_differs"]]}
    kommuner = {name: int(frame["kommunkod"].replace("", None).nunique()) for name, frame in truth.items()}
    return {"equal": not differences, "found": row_counts(found), "truth": row_counts(truth), "kommuner": kommuner,
            "differences": differences, "outcome_cells": outcomes["cells"], "flow_cells": flows["cells"],
            "flow_participants": flows["participants"]}  # fmt: skip


def compare_flow_counts(participants, truth_dir: str) -> dict:
    """The flows found (one row per person and cell, `cross_municipality_participants`) counted
    per cell against `truth/flows.csv`: cells only in either, cells whose counts differ (counts
    only, never a cell's values)."""
    import pandas as pd
    from core.synthetic.flows import FLOW_CELL

    truth = pd.read_csv(Path(truth_dir) / "flows.csv", dtype={c: str for c in FLOW_CELL})
    found = participants.groupby(FLOW_CELL).size().rename("found")
    joined = pd.concat([found, truth.set_index(FLOW_CELL)["participants"]], axis=1, join="outer")
    return {"cells": len(truth), "participants": int(truth["participants"].sum()),
            "only_found": int(joined["participants"].isna().sum()), "only_truth": int(joined["found"].isna().sum()),
            "count_differs": int((joined.dropna()["found"] != joined.dropna()["participants"]).sum())}


def _require_truth(scale: str, where: str, check: dict) -> None:
    """Fail loudly: a bench of lists that are wrong measures nothing."""
    if not check["equal"]:
        raise SystemExit(f"[{scale}] {where}: the registration-based lists, the outcome or the flow counts differ "
                         f"from the generator's truth (per list and kommun: [rows missing, rows not in the truth]; "
                         f"outcomes, flows: [cells missing, cells not in the truth, counts differing]): "
                         f"{check['differences']}")


def measure_publish(store: str, recipients_file: str, sqlite_path: str, postgres_url: str | None,
                    keyring_path: str) -> dict:  # fmt: skip
    """`build_publication` and `replace_publication`, as the `publication` asset calls them."""
    from core.contracts import CONTRACTS
    from core.keys.record_keys import cell_key_secret
    from core.database import INTERNAL, PUBLISHED, Dataset, create_engine, replace_publication
    from core.publish import build_publication
    from orchestration.settings import Settings
    from schemas.contracts import PublicationParameters
    from schemas.datasets import Quarantine
    from schemas.recipients import load_recipients
    from schemas.reconciled import MunicipalOverlaps, Overlaps

    datasets = _files(store)
    inputs = {name: datasets.load(name) for name in ("overlaps", "municipal_overlaps", "transition_list",
                                                      "municipal_quarantine", "af_quarantine")}  # fmt: skip
    from core.publish import empty
    from schemas.flows import MunicipalFlows
    from schemas.followup import Handovers, InterventionOutcomes, YouthMonitor

    # As the publication asset: the follow-up datasets (empty without registrations) and the flows.
    for name, model in (("youth_monitor", YouthMonitor), ("handovers", Handovers),
                        ("intervention_outcomes", InterventionOutcomes), ("municipal_flows", MunicipalFlows)):
        inputs[name] = datasets.load(name) if datasets.path(name).exists() else empty(model)
    stored = datasets.partitions("af_registrations_quarantine")
    inputs["af_registrations_quarantine"] = datasets.load("af_registrations_quarantine") if stored else empty(Quarantine)
    registered = load_recipients(Path(recipients_file))
    key_ids = sorted(inputs["overlaps"]["key_id"].dropna().unique())
    by_name = {c.name: c for c in CONTRACTS}
    meter, stages = PeakMeter(), {}

    def timed(name: str, work: Callable):
        start = meter.restart()
        began = time.perf_counter()
        result = work()
        _stage(stages, name, time.perf_counter() - began, max(meter.stop(), meter.highest), start)
        return result

    # The statistics are perturbed with the record keys of the pipeline key, as the publication asset does.
    secret = cell_key_secret(_keys(keyring_path)[0].active("pipeline", AS_OF).secret)
    parameters = PublicationParameters(AS_OF, Settings.of().suppression_threshold, cell_key_secret=secret)
    made = timed("build", lambda: build_publication(inputs, CONTRACTS, registered, parameters,
                                                    key_ids=key_ids, run_id="national-bench",
                                                    published_at=dt.datetime.now(dt.UTC)))  # fmt: skip
    tables = [Dataset(name, PUBLISHED, by_name[name].model, frame, by_name[name].recipient_kind,
                      by_name[name].recipient_column, by_name[name].also_to, by_name[name].kommun_columns)
              for name, frame in made.datasets.items()]  # fmt: skip
    internal = [
        Dataset("overlaps", INTERNAL, Overlaps, inputs["overlaps"]),
        Dataset("municipal_overlaps", INTERNAL, MunicipalOverlaps, inputs["municipal_overlaps"]),
        Dataset("municipal_quarantine", INTERNAL, Quarantine, inputs["municipal_quarantine"]),
        Dataset("af_quarantine", INTERNAL, Quarantine, inputs["af_quarantine"]),
        Dataset("af_registrations_quarantine", INTERNAL, Quarantine, inputs["af_registrations_quarantine"]),
        Dataset("youth_monitor", INTERNAL, YouthMonitor, inputs["youth_monitor"]),
        Dataset("handovers", INTERNAL, Handovers, inputs["handovers"]),
    ]
    private = Path(sqlite_path).with_suffix(".private.sqlite")
    targets = [("write_sqlite", f"sqlite:///{sqlite_path}", f"sqlite:///{private}")]
    if postgres_url:
        targets.append(("write_postgres", postgres_url, None))
    for name, url, private_url in targets:
        engine = create_engine(url)
        private_engine = create_engine(private_url) if private_url else None
        timed(name, lambda: replace_publication(engine, [*tables, *internal], made.log, registered,
                                                private=private_engine))  # fmt: skip
        engine.dispose()
        if private_engine is not None:
            private_engine.dispose()
    private.unlink(missing_ok=True)
    counts = {name: len(frame) for name, frame in made.datasets.items()}
    counts |= {"publication_log": len(made.log), "internal_rows": sum(len(d.rows) for d in internal)}
    return {"stages": stages, "counts": counts}


# The embedded instance's storage, measured in the whole nightly run (orchestration/app/runs.py,
# EVENT_LOGS and COMPUTE_LOGS): name -> (event log, compute logs). The first is what
# `open_instance` writes; the second is Dagster's default.
DEFAULT_VARIANT = "pooled+none"
INSTANCE_VARIANTS = {"pooled+none": ("pooled", "none"), "per_run+local": ("per_run", "local"),
                     "consolidated+none": ("consolidated", "none"), "pooled+local": ("pooled", "local"),
                     # Production's storage (deploy/dagster.yaml): runs, events and schedules in PostgreSQL.
                     "postgres+local": ("postgres", "local")}  # fmt: skip
# The variants measured unless --all-variants (each costs a whole night per repeat).
MEASURED_VARIANTS = ("pooled+none", "per_run+local", "postgres+local")


def _bench_home(inbox: Inbox, keyring_path: str, home: str) -> Path:
    home_path = Path(home)
    home_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(keyring_path, home_path / "keyring.json")
    os.environ.update({"MELLANRUM_HOME": home, "DAGSTER_HOME": str(home_path / "dagster"),
                       "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE, "MELLANRUM_SOURCES": inbox.sources_yaml})  # fmt: skip
    for name in ("MELLANRUM_DATABASE_URL", "MELLANRUM_KEYRING", "MELLANRUM_RECIPIENTS"):
        os.environ.pop(name, None)
    return home_path


def measure_dagster(inbox_json: dict, keyring_path: str, home: str, variant: str = DEFAULT_VARIANT,
                    profile_top: int = 0, postgres_url: str | None = None, truth_dir: str | None = None) -> dict:  # fmt: skip
    """The whole nightly run as `mellanrum run` (`run_nightly`) does it, in a fresh home, the
    instance's storage as `variant` says (see the module); with `truth_dir`, after the timing,
    what the night stored checked against the generator's truth (`check_truth`)."""
    inbox = Inbox.from_json(inbox_json)
    home_path = _bench_home(inbox, keyring_path, home)
    import orchestration.app.runs as runs
    from orchestration.definitions import build_definitions, load_declared_sources
    from orchestration.settings import Settings

    settings = Settings.of(home=home_path, sources=Path(inbox.sources_yaml))
    dagster_home = home_path / "dagster"
    dagster_home.mkdir(mode=0o700, parents=True)
    event_log, compute_logs = INSTANCE_VARIANTS[variant]
    text = runs.embedded_instance_yaml(dagster_home, "per_run" if event_log == "postgres" else event_log, compute_logs)
    if event_log == "postgres":  # as deploy/dagster.yaml, with the bench server's URL
        text += f"storage:\n  postgres:\n    postgres_url: {json.dumps(postgres_url)}\n"
    (dagster_home / "dagster.yaml").write_text(text, encoding="utf-8")
    meter, stages, run_seconds = PeakMeter(), {}, {}
    profiler = cProfile.Profile() if profile_top else None

    def timed(name: str, work: Callable):
        start = meter.restart()
        began = time.perf_counter()
        result = profiler.runcall(work) if profiler else work()
        _stage(stages, name, time.perf_counter() - began, max(meter.stop(), meter.highest), start)
        return result

    execute = runs.execute

    def timed_execute(defs, instance, job, **kwargs):  # each Dagster run, by job
        began = time.perf_counter()
        try:
            return execute(defs, instance, job, **kwargs)
        finally:
            run_seconds[job] = run_seconds.get(job, 0.0) + time.perf_counter() - began

    runs.execute = timed_execute
    overall = PeakMeter()
    overall_start = overall.restart()
    began = time.perf_counter()

    def definitions():
        sources = load_declared_sources(settings)
        defs = build_definitions(settings)
        runs.preflight(settings, sources)
        instance = runs.open_instance(settings)
        return sources, defs, instance

    sources, defs, instance = timed("definitions", definitions)
    outcomes = timed("ingest_all", lambda: runs.ingest_all(defs, sources, instance, AS_OF))
    reconciled = timed("reconcile_stored", lambda: runs.reconcile_stored(defs, instance, AS_OF))
    published = timed("publish_latest", lambda: runs.publish_latest(defs, instance))
    seconds = time.perf_counter() - began
    stages["total"] = {"seconds": seconds, "peak_kib": max(s["peak_kib"] for s in stages.values()),
                       "start_kib": overall_start, "calls": 1}  # fmt: skip
    for job, job_seconds in run_seconds.items():
        stages[f"run:{job}"] = {"seconds": job_seconds, "peak_kib": 0, "start_kib": 0, "calls": 1}
    instance_files = [p for p in dagster_home.rglob("*") if p.is_file()]
    result = {
        "variant": variant,
        "stages": stages,
        "counts": {o.source.id: [o.rows_read, o.accepted, o.quarantined] for o in outcomes},
        "failed": {o.source.id: o.error for o in outcomes if not o.ok},
        "reconciled": reconciled.ok and {k: v for k, v in reconciled.metadata.items() if isinstance(v, int)},
        "reconcile_error": reconciled.error,
        "published": published.ok and {k: v.get("dagster/row_count") for k, v in published.metadata.items()},
        "publish_error": published.error,
        "run_seconds": run_seconds,
        "instance_files": len(instance_files),
        "instance_bytes": sum(p.stat().st_size for p in instance_files),
    }  # fmt: skip
    if profiler:
        result["profile"] = _top_functions(profiler, profile_top)
    if truth_dir and reconciled.ok:
        result["truth"] = check_truth(str(settings.storage), truth_dir)
    return result


# The code location the daemon loads: ours, without the delivery sensors (a fresh inbox would
# make them ingest every source again, one run each) and without the schedules (02:00 is not
# now: their run requests are made from the same schedule definitions and enqueued).
DAEMON_CODE = """from orchestration.definitions import build_definitions
from orchestration.settings import Settings
import dagster as dg
from assets.names import NIGHTLY_SEQUENCER


def _nightly_only():
    every = build_definitions(Settings.load())
    return dg.Definitions(assets=every.assets, jobs=every.jobs, resources=every.resources,
                          sensors=[s for s in every.sensors if s.name == NIGHTLY_SEQUENCER])


defs = _nightly_only()
"""


def measure_daemon(inbox_json: dict, keyring_path: str, home: str, timeout: float = 3600) -> dict:
    """The production path: a real `dagster-daemon` (QueuedRunCoordinator, DefaultRunLauncher:
    each run a subprocess that loads the code location) drains the nightly schedules' run
    requests (one ingest run per kind, exactly as `nightly_ingest_schedule` makes them,
    enqueued by `dagster job launch`), and the sequencer sensor `nightly_reconcile_and_publish`
    then starts the reconcile-and-publish run. Timed from the instance's own run records:
    the night from the first run's creation to the last run's end, and the same without the
    sequencer's wait (from the ingest's end to its request: its tick interval)."""
    import subprocess

    import yaml

    inbox = Inbox.from_json(inbox_json)
    home_path = _bench_home(inbox, keyring_path, home)
    import dagster as dg

    from orchestration.app.runs import embedded_instance_yaml, open_instance
    from orchestration.automation import nightly_ingest_schedule
    from orchestration.definitions import load_declared_sources
    from orchestration.settings import Settings

    settings = Settings.of(home=home_path, sources=Path(inbox.sources_yaml))
    dagster_home = home_path / "dagster"
    dagster_home.mkdir(mode=0o700, parents=True)
    config = yaml.safe_load(embedded_instance_yaml(dagster_home))
    config["run_coordinator"] = {"module": "dagster", "class": "QueuedRunCoordinator",
                                 "config": {"max_concurrent_runs": 4, "dequeue_interval_seconds": 1}}  # fmt: skip
    config["run_launcher"] = {"module": "dagster", "class": "DefaultRunLauncher"}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    code = home_path / "bench_definitions.py"
    code.write_text(DAEMON_CODE, encoding="utf-8")
    workspace = home_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": str(code), "working_directory": str(PROJECT), "location_name": "mellanrum"}}]}))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    bin_dir = Path(sys.executable).parent
    instance = open_instance(settings)
    log = open(home_path / "daemon.log", "wb")  # noqa: SIM115 (closed below)
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        sources = load_declared_sources(settings)
        night = dt.datetime.combine(AS_OF, dt.time(2, 0))
        requests = []
        for kind in ("municipal", "af"):
            schedule = nightly_ingest_schedule(sources, kind)
            with dg.build_schedule_context(scheduled_execution_time=night) as context:
                requests += [(schedule.job_name, r) for r in schedule.evaluate_tick(context).run_requests]
        for job, request in requests:
            done = subprocess.run([str(bin_dir / "dagster"), "job", "launch", "-w", str(workspace), "-j", job,
                                   "--tags", json.dumps(dict(request.tags)),
                                   "--config-json", json.dumps(request.run_config)],
                                  env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"dagster job launch {job}: {done.stderr[-2000:]}")
        finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = instance.get_run_records()
            sequenced = [r for r in records if r.dagster_run.job_name == "reconcile_and_publish"]
            if sequenced and all(r.dagster_run.status in finished for r in records):
                break
            if daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited: {(home_path / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the daemon's night did not finish within {timeout:.0f} s")
    finally:
        os.killpg(daemon.pid, 15)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
        log.close()
    runs = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
        run = record.dagster_run
        created = record.create_timestamp.timestamp()
        runs.append({"job": run.job_name, "status": run.status.value, "created": created,
                     "start": record.start_time, "end": record.end_time})  # fmt: skip
    ingest = [r for r in runs if r["job"].startswith("ingest")]
    (sequenced,) = [r for r in runs if r["job"] == "reconcile_and_publish"]
    first, ingest_end, last_end = min(r["created"] for r in runs), max(r["end"] for r in ingest), sequenced["end"]
    wait = sequenced["created"] - ingest_end

    def stage(seconds: float, calls: int = 1) -> dict:
        return {"seconds": seconds, "peak_kib": 0, "start_kib": 0, "calls": calls}

    return {"runs": runs, "ok": all(r["status"] == "SUCCESS" for r in runs),
            "stages": {"total": stage(last_end - first), "total_without_wait": stage(last_end - first - wait),
                       "ingest": stage(ingest_end - first, len(ingest)), "sequencer_wait": stage(wait),
                       "reconcile_and_publish": stage(sequenced["end"] - sequenced["created"]),
                       "worker_start": stage(sum(r["start"] - r["created"] for r in runs), len(runs))}}  # fmt: skip


# Functions whose cumulative time the report shows whatever their rank: (file ending, function).
FOCUS = [
    ("orchestration/app/runs.py", "ingest_all"), ("assets/ingest.py", "ingest"),
    ("core/ingest.py", "prepare_source"), ("core/ingest.py", "validate_sources"),
    ("schemas/sources.py", "load_sources"), ("yaml/__init__.py", "load"), ("core/keys/keyring.py", "load"),
    ("~", "<method 'derive' of 'cryptography.hazmat.bindings._rust.openssl.kdf.Scrypt' objects>"),
    ("~", "<method 'derive' of 'cryptography.hazmat.primitives.kdf.scrypt.Scrypt' objects>"),
    ("core/validate.py", "schema_failures"), ("core/validate.py", "model_problems"), ("assets/ingest.py", "_outputs"),
    ("assets/resources.py", "handle_output"), ("assets/resources.py", "load"),
    ("~", "<method 'execute' of 'sqlite3.Cursor' objects>"), ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("~", "<method 'close' of 'sqlite3.Connection' objects>"), ("~", "<built-in method time.sleep>"),
    ("orchestration/app/runs.py", "reconcile_stored"), ("assets/reconcile.py", "reconcile"),
    ("orchestration/app/runs.py", "publish_latest"), ("core/publish.py", "build_publication"),
    ("core/publish.py", "log_rows"), ("core/database.py", "replace_publication"),
]  # fmt: skip


def _top_functions(profiler: cProfile.Profile, top: int) -> dict:
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (calls, ncalls, own, cumulative, callers)
    ranked = {"focus": []}
    for ending, function in FOCUS:
        for key, value in stats.items():
            if key[2] == function and key[0].endswith(ending):
                ranked["focus"].append([_where(key), value[1], round(value[2], 3), round(value[3], 3)])
    for title, column in (("cumulative", 3), ("own", 2)):
        rows = sorted(stats.items(), key=lambda item: item[1][column], reverse=True)[:top]
        ranked[title] = [[_where(key), value[1], round(value[2], 3), round(value[3], 3)] for key, value in rows]
    return ranked


def measure_alternative(which: str, spec_path: str, threads: int | None = None) -> dict:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    sys.path.insert(0, str(BENCH / "alternatives"))
    if which == "duckdb":
        import duckdb  # noqa: F401 (imported before the timing, like our libraries)
        import duckdb_nightly

        work = functools.partial(duckdb_nightly.run, spec, threads)
    else:
        import pandas_nightly

        work = functools.partial(pandas_nightly.run, spec)
    meter = PeakMeter()
    start = meter.restart()
    began = time.perf_counter()
    counts = work()
    seconds = time.perf_counter() - began
    meter.stop()
    return {"stages": {which: {"seconds": seconds, "peak_kib": meter.highest, "start_kib": start, "calls": 1}},
            "counts": counts}  # fmt: skip


def measure_floor(count: int, repeat: int) -> dict:
    """The two-level HMAC floor over `count` distinct identifiers, and our HMAC + base32
    (`level2_pseudonyms`) on the same identifiers."""
    import numpy as np
    import pandas as pd
    from cryptography.hazmat.primitives import hashes, hmac

    from core.keys.pseudonyms import level2_pseudonyms

    k1, k2 = os.urandom(32), os.urandom(32)
    rng = np.random.default_rng(1)
    numbers = pd.Series(np.char.add("19", np.char.zfill(rng.choice(10**10, size=count, replace=False).astype(str), 10)),
                        dtype="string[pyarrow]")  # fmt: skip
    raw = [value.encode("ascii") for value in numbers]

    def floor() -> None:
        first, second = hmac.HMAC(k1, hashes.SHA256()), hmac.HMAC(k2, hashes.SHA256())
        for value in raw:
            one = first.copy()
            one.update(value)
            two = second.copy()
            two.update(one.finalize())
            two.finalize()

    times = {"floor": [], "level2_pseudonyms": []}
    for _ in range(repeat):
        for name, work in (("floor", floor), ("level2_pseudonyms", lambda: level2_pseudonyms(numbers, k1, [k2]))):
            began = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - began)
    return {"count": count, "seconds": times}


def measure_config_costs(sources_yaml: str, keyring_path: str, repeat: int) -> dict:
    """What every ingest run pays before reading a row: `load_sources` (first parse in a process,
    libyaml's CSafeLoader; a later run in the same process finds the parsed file in a cache), the
    same text with pure-Python `yaml.safe_load` for comparison, and `Keyring.load` (Scrypt)."""
    import yaml

    from core.keys.keyring import Keyring
    from schemas import yamlconfig
    from schemas.sources import load_sources

    text = Path(sources_yaml).read_text(encoding="utf-8")

    def first_load_sources() -> None:
        yamlconfig._PARSED.clear()
        load_sources(Path(sources_yaml))

    cases = {
        "load_sources (first in a process)": first_load_sources,
        "load_sources (again, unchanged file)": lambda: load_sources(Path(sources_yaml)),
        "yaml.safe_load (pure Python)": lambda: yaml.safe_load(text),
        "yaml.load with CSafeLoader": lambda: yaml.load(text, Loader=yaml.CSafeLoader),
        "Keyring.load (Scrypt n=2^15)": lambda: Keyring.load(Path(keyring_path), PASSPHRASE),
    }
    times = {name: [] for name in cases}
    for _ in range(repeat):
        for name, work in cases.items():
            began = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - began)
    return {"bytes": len(text.encode()), "lines": text.count("\n"), "seconds": times}


def check_agreement(store: str, out_dir: str) -> dict:
    """Our overlaps, DuckDB's and pandas': the same pairs, classes and overlap periods; and
    DuckDB's hex pseudonym is our base32 level-2 pseudonym."""
    import sqlite3

    import pandas as pd

    from core.keys.pseudonyms import b32decode_pseudonyms

    key = ["municipal_source_id", "record_id", "assignment_id"]
    compared = ["classification", "rule_id", "overlap_start", "overlap_end"]
    ours = pd.read_parquet(Path(store) / "overlaps" / "all.parquet", columns=[*key, *compared, "pseudonym"])
    digests, invalid = b32decode_pseudonyms(ours["pseudonym"])
    ours["pseudonym"] = [digests[i * 32 : (i + 1) * 32].hex().upper() for i in range(len(ours))]
    theirs = {"duckdb": pd.read_parquet(Path(out_dir) / "duckdb_overlaps.parquet", columns=[*key, *compared, "pseudonym"])}
    with sqlite3.connect(Path(out_dir) / "pandas_overlaps.sqlite") as connection:
        theirs["pandas"] = pd.read_sql(f"SELECT {', '.join([*key, *compared])} FROM overlaps", connection)
    result = {"ours": len(ours), "invalid_pseudonyms": int(invalid.sum())}
    for name, frame in theirs.items():
        for column in ("overlap_start", "overlap_end"):  # an open end: "" on both sides (NaN != NaN)
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d").fillna("")
        mine = ours.assign(**{c: pd.to_datetime(ours[c]).dt.strftime("%Y-%m-%d").fillna("")
                              for c in ("overlap_start", "overlap_end")})  # fmt: skip
        merged = mine.merge(frame, on=key, how="outer", suffixes=("", "_theirs"), indicator=True)
        both = merged["_merge"] == "both"
        differing = {c: int((merged.loc[both, c].astype(str) != merged.loc[both, c + "_theirs"].astype(str)).sum())
                     for c in compared + (["pseudonym"] if "pseudonym" in frame else [])}  # fmt: skip
        result[name] = {"rows": len(frame), "only_ours": int((merged["_merge"] == "left_only").sum()),
                        "only_theirs": int((merged["_merge"] == "right_only").sum()), "differing": differing}  # fmt: skip
    return result


# --- the runs of one scale -----------------------------------------------------------------------


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_scale(scale: str, args, postgres) -> dict:
    municipal_rows, af_rows = SCALES[scale]
    municipalities = None if args.municipalities == "all" else list(_gr())
    summary: dict = {"scale": scale, "municipal_rows": municipal_rows, "af_rows": af_rows, "repeat": args.repeat,
                     "registrations": args.registrations, "load_average_before": _load_average()}  # fmt: skip
    began_scale = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mellanrum-national-{scale}-") as temporary:
        root = Path(temporary)
        _say(f"[{scale}] generating {municipal_rows:,} municipal × {af_rows:,} AF rows into {root}")
        inbox_json = _in_fresh_process(generate, str(root / "inbox"), municipal_rows, af_rows, args.seed,
                                       municipalities, args.af_files, args.registrations)  # fmt: skip
        truth_dir = str(root / "inbox" / "truth") if args.registrations else None
        inbox = Inbox.from_json(inbox_json)
        _say(f"[{scale}] generated in {inbox.seconds:.0f} s: {len(inbox.sources)} sources, "
             f"{sum(inbox.bytes_by_format.values()) / 2**20:,.0f} MiB, {inbox.registration_rows:,} registrations "
             f"(drawing them and the truth: {inbox.truth_seconds:.0f} s)")  # fmt: skip
        keyring_path = root / "keyring.json"
        keys = make_keyring(keyring_path)
        out_dir = root / "alternatives"
        out_dir.mkdir()
        spec_path = root / "spec.json"
        spec_path.write_text(json.dumps(build_spec(inbox, keys, out_dir)), encoding="utf-8")
        store = root / "store"
        variants = [v for v in (INSTANCE_VARIANTS if args.all_variants else MEASURED_VARIANTS)
                    if postgres or not v.startswith("postgres")]
        variants = variants if scale in args.variants_at and args.registrations else [DEFAULT_VARIANT]
        runs: dict[str, list[dict]] = {name: [] for name in ("ingest", "reconcile", "publish", "duckdb", "pandas",
                                                               "dagster", "daemon")}  # fmt: skip
        runs |= {f"dagster:{v}": [] for v in variants if v != DEFAULT_VARIANT}
        dagster_repeat = args.dagster_repeat_at.get(scale, args.dagster_repeat)
        summary["dagster_repeat"] = dagster_repeat
        for repeat in range(max(args.repeat, dagster_repeat)):
            if repeat < args.repeat:
                first = repeat == 0
                runs["ingest"].append(_in_fresh_process(measure_ingest, inbox_json, str(keyring_path),
                                                        str(store) if first else None))  # fmt: skip
                _say(f"[{scale}] run {repeat + 1}: ingest {runs['ingest'][-1]['stages']['total']['seconds']:.1f} s")
                runs["reconcile"].append(_in_fresh_process(measure_reconcile, str(store), first))
                if first and truth_dir:  # before anything else is timed: the lists must be right
                    summary["truth"] = _in_fresh_process(check_truth, str(store), truth_dir)
                    _require_truth(scale, "library stages", summary["truth"])
                    _say(f"[{scale}] the registration-based lists equal the generator's truth per kommun: "
                         f"{ {k: v for k, v in summary['truth']['found'].items() if ':' not in k} }; so do the "
                         f"{summary['truth']['outcome_cells']} outcome cells and the "
                         f"{summary['truth']['flow_cells']} flow cells before protection")  # fmt: skip
                database = f"national_{scale.lower()}_{repeat}"
                postgres_url = postgres.create_database(database) if postgres else None
                runs["publish"].append(_in_fresh_process(measure_publish, str(store), str(root / "inbox" / "recipients.yaml"),
                                                         str(root / f"published-{repeat}.sqlite"), postgres_url,
                                                         str(keyring_path)))  # fmt: skip
                if postgres:
                    with postgres.connect() as connection, connection.cursor() as cursor:
                        cursor.execute(f"DROP DATABASE {database} WITH (FORCE)")
                (root / f"published-{repeat}.sqlite").unlink(missing_ok=True)
                _say(f"[{scale}] run {repeat + 1}: reconcile {runs['reconcile'][-1]['stages']['reconcile']['seconds']:.1f} s, "
                     f"publish {sum(s['seconds'] for s in runs['publish'][-1]['stages'].values()):.1f} s")  # fmt: skip
                for which in ("duckdb", "pandas") if args.registrations else ():
                    runs[which].append(_in_fresh_process(measure_alternative, which, str(spec_path)))
                    _say(f"[{scale}] run {repeat + 1}: {which} {runs[which][-1]['stages'][which]['seconds']:.1f} s")
                if first and args.registrations:
                    summary["agreement"] = _in_fresh_process(check_agreement, str(store), str(out_dir))
                    _say(f"[{scale}] agreement: {summary['agreement']}")
            if repeat < dagster_repeat:
                for variant in variants:
                    home = root / f"home-{repeat}"
                    name = "dagster" if variant == DEFAULT_VARIANT else f"dagster:{variant}"
                    instance_db = f"instance_{scale.lower()}_{repeat}"
                    url = postgres.create_database(instance_db) if variant.startswith("postgres") else None
                    check = truth_dir if repeat == 0 and variant == DEFAULT_VARIANT else None
                    runs[name].append(_in_fresh_process(measure_dagster, inbox_json, str(keyring_path), str(home),
                                                        variant, 0, url, check))  # fmt: skip
                    if check:
                        if "truth" not in runs[name][-1]:
                            raise SystemExit(f"[{scale}] the Dagster night did not reconcile: "
                                             f"{runs[name][-1]['reconcile_error']}")
                        _require_truth(scale, "the whole nightly run through Dagster", runs[name][-1]["truth"])
                        summary["truth_dagster"] = runs[name][-1]["truth"]
                    if url:
                        with postgres.connect() as connection, connection.cursor() as cursor:
                            cursor.execute(f"DROP DATABASE {instance_db} WITH (FORCE)")
                    shutil.rmtree(home, ignore_errors=True)
                    _say(f"[{scale}] run {repeat + 1}: whole nightly through Dagster, instance {variant}: "
                         f"{runs[name][-1]['stages']['total']['seconds']:.1f} s "
                         f"{ {k: round(v, 1) for k, v in runs[name][-1]['run_seconds'].items()} }")  # fmt: skip
                if scale in args.daemon_at and args.registrations:
                    home = root / f"daemon-{repeat}"
                    runs["daemon"].append(_in_fresh_process(measure_daemon, inbox_json, str(keyring_path), str(home)))
                    shutil.rmtree(home, ignore_errors=True)
                    _say(f"[{scale}] run {repeat + 1}: whole nightly through dagster-daemon: "
                         f"{ {k: round(v['seconds'], 1) for k, v in runs['daemon'][-1]['stages'].items()} }")  # fmt: skip
        summary["config_costs"] = _in_fresh_process(measure_config_costs, inbox.sources_yaml, str(keyring_path),
                                                    args.repeat)  # fmt: skip
        distinct = runs["ingest"][0]["distinct_hashed"]
        summary["floor"] = _in_fresh_process(measure_floor, distinct, args.repeat)
        if args.profile:
            _say(f"[{scale}] profiling one whole nightly run under cProfile")
            profiled = _in_fresh_process(measure_dagster, inbox_json, str(keyring_path), str(root / "home-profile"),
                                         DEFAULT_VARIANT, args.top)  # fmt: skip
            summary["profile"] = {"seconds": profiled["stages"]["total"]["seconds"], **profiled["profile"]}
    summary["inbox"] = {k: v for k, v in inbox_json.items() if k not in ("sources", "folder", "sources_yaml")}
    summary["inbox"]["sources"] = len(inbox.sources)
    summary["inbox"]["files"] = sum(len(s.files) for s in inbox.sources)
    summary["inbox"]["formats"] = _format_mix(inbox)
    summary["expected"] = {s.source_id: [s.rows, s.expected_accepted, s.expected_quarantined] for s in inbox.sources}
    summary["runs"] = runs
    summary["load_average_after"] = _load_average()
    summary["wall_minutes"] = round((time.perf_counter() - began_scale) / 60, 1)
    return summary


def _format_mix(inbox: Inbox) -> dict:
    mix: dict[str, dict] = {}
    for s in inbox.sources:
        entry = mix.setdefault(s.system, {"sources": 0, "rows": 0})
        entry["sources"] += 1
        entry["rows"] += s.rows
    return mix


def _gr() -> tuple[str, ...]:
    from schemas.municipalities import GOTEBORGSREGIONEN

    return GOTEBORGSREGIONEN


def _say(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


# --- summarizing and reporting -------------------------------------------------------------------

# Table rows: (key, label, which runs, how to get seconds / peak / start from one run)
ROWS = [
    ("read", "read: `read_source_file` + `to_canonical`, all sources", "ingest",
     ("read_source_file[csv]", "read_source_file[xlsx]", "to_canonical")),
    ("read_xlsx", "· of which the .xlsx deliveries (`pd.read_excel`, calamine)", "ingest", ("read_source_file[xlsx]",)),
    ("pseudonymize", "pseudonymize: `pseudonymize_identities` (normalize, level 1 + level 2, base32, age band)",
     "ingest", ("pseudonymize_identities",)),
    ("pseudonymize_hmac", "· of which `level2_pseudonyms` (distinct numbers, both HMAC levels, base32)", "ingest",
     ("level2_pseudonyms",)),
    ("pseudonymize_normalize", "· of which `normalize` (personnummer rules)", "ingest", ("normalize",)),
    ("validate", "validate: the rest of the ingest (typing, duplicates, Pandera, quarantine)", "ingest", None),
    ("validate_model", "· of which `model_problems` (Pandera, lazy)", "ingest", ("model_problems",)),
    ("validate_typing", "· of which `type_columns`", "ingest", ("type_columns",)),
    ("validate_sources", "· of which `validate_sources` (Pandera once per kind, quarantine, per-source split)", "ingest",
     ("validate_sources",)),
    ("ingest", "ingest total: `prepare_source` per source + `validate_sources` per kind, one process", "ingest",
     ("total",)),
    ("ingest_registrations", "· of which AF's registrations (`prepare_source` + `validate_sources`)", "ingest",
     ("kind[af_registrations]",)),
    ("reconcile", "reconcile: `reconcile` (overlaps, municipal overlaps, transition list with the registrations, "
     "Pandera)", "reconcile", ("reconcile",)),
    ("reconcile_registrations", "· of which `with_registrations` (the transition list's registration-keyed rows)",
     "reconcile", ("with_registrations",)),
    ("youth_monitor", "youth monitor: `youth_monitor` (spells, statuses, per kommun)", "reconcile", ("youth_monitor",)),
    ("handovers", "hand-overs: `handovers` (the three lists)", "reconcile", ("handovers",)),
    ("intervention_outcomes", "outcomes: `intervention_outcomes` (status at 30, 90, 180 days after an end)",
     "reconcile", ("intervention_outcomes",)),
    ("municipal_flows", "flows: `municipal_flows` (one row per municipal intervention and month active)",
     "reconcile", ("municipal_flows",)),
    ("publish_build", "publish, build: `build_publication` (contracts, statistics, checksums, log)", "publish",
     ("build",)),
    ("publish_sqlite", "publish to SQLite: build + `replace_publication` (executemany)", "publish",
     ("build", "write_sqlite")),
    ("publish_sqlite_write", "· of which the SQLite write", "publish", ("write_sqlite",)),
    ("publish_postgres", "publish to PostgreSQL: build + `replace_publication` (COPY, roles, RLS)", "publish",
     ("build", "write_postgres")),
    ("publish_postgres_write", "· of which the PostgreSQL write", "publish", ("write_postgres",)),
    ("dagster", "**whole nightly run through Dagster, in-process** (`run_nightly`'s steps)", "dagster", ("total",)),
    ("dagster_definitions", "· `build_definitions` + `preflight` + `open_instance`", "dagster", ("definitions",)),
    ("dagster_ingest", "· `ingest_all` (one Dagster run per source kind)", "dagster", ("ingest_all",)),
    ("dagster_ingest_registrations", "· · of which the `ingest_af_registrations` run", "dagster",
     ("run:ingest_af_registrations",)),
    ("dagster_reconcile", "· `reconcile_stored`", "dagster", ("reconcile_stored",)),
    ("dagster_publish", "· `publish_latest` (SQLite)", "dagster", ("publish_latest",)),
    ("daemon", "**whole nightly run through `dagster-daemon`** (queued runs, default launcher, sequencer)", "daemon",
     ("total",)),
    ("daemon_without_wait", "· the same without the sequencer's wait (the daemon path's own cost)", "daemon",
     ("total_without_wait",)),
    ("daemon_ingest", "· the night's ingest: first run queued → last ingest run finished (2 runs)", "daemon",
     ("ingest",)),
    ("daemon_wait", "· the sequencer's wait: ingest finished → its request (sensor interval 60 s)", "daemon",
     ("sequencer_wait",)),
    ("daemon_reconcile", "· `reconcile_and_publish`: queued → finished", "daemon", ("reconcile_and_publish",)),
    ("daemon_worker_start", "· queued → started, summed over the 3 runs (dequeue, run worker start, code load)",
     "daemon", ("worker_start",)),
    ("duckdb", "**DuckDB script** (`bench/alternatives/duckdb_nightly.sql`, 2 threads)", "duckdb", ("duckdb",)),
    ("pandas", "**pandas script** (`bench/alternatives/pandas_nightly.py`)", "pandas", ("pandas",)),
]  # fmt: skip
MAIN_STAGES = ("read", "pseudonymize", "validate", "ingest", "reconcile", "publish_sqlite", "publish_postgres",
               "dagster", "duckdb", "pandas")  # fmt: skip


def _row_values(run: dict, key: str, names) -> tuple[float, int, int] | None:
    stages = run["stages"]
    if names is None:  # validate: derived per run
        total = stages["total"]["seconds"]
        read = sum(stages[n]["seconds"] for n in ("read_source_file[csv]", "read_source_file[xlsx]", "to_canonical")
                   if n in stages)  # fmt: skip
        return total - read - stages["pseudonymize_identities"]["seconds"], 0, 0
    present = [n for n in names if n in stages]
    if not present:
        return None
    seconds = sum(stages[n]["seconds"] for n in present)
    peak = max(stages[n]["peak_kib"] for n in present)
    start = stages[present[0]]["start_kib"]
    return seconds, peak, start


def summarize(summary: dict) -> dict:
    table = {}
    for key, label, which, names in ROWS:
        values = [v for v in (_row_values(run, key, names) for run in summary["runs"][which]) if v is not None]
        if not values:
            continue
        seconds = [v[0] for v in values]
        peaks = [v[1] for v in values if v[1]]
        starts = [v[2] for v in values if v[2]]
        table[key] = {"label": label, "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
                      "runs": len(seconds), "peak_mib": statistics.median(peaks) / MIB if peaks else None,
                      "peak_max_mib": max(peaks) / MIB if peaks else None,
                      "start_mib": statistics.median(starts) / MIB if starts else None}  # fmt: skip
    floor = summary["floor"]
    table["floor"] = {"label": f"HMAC floor: pre-keyed HMAC `.copy()`, both levels, {floor['count']:,} distinct ids",
                      **_spread(floor["seconds"]["floor"])}  # fmt: skip
    table["floor_ours"] = {"label": "· `level2_pseudonyms` on the same ids (HMAC + base32)",
                           **_spread(floor["seconds"]["level2_pseudonyms"])}  # fmt: skip
    return table


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values),
            "peak_mib": None, "peak_max_mib": None, "start_mib": None}  # fmt: skip


def ratios(table: dict) -> dict:
    def r(a: str, b: str) -> float | None:
        return table[a]["median"] / table[b]["median"] if a in table and b in table else None

    library = sum(table[k]["median"] for k in ("ingest", "reconcile", "youth_monitor", "handovers",
                                               "intervention_outcomes", "municipal_flows", "publish_sqlite")
                  if k in table)  # fmt: skip
    return {
        "dagster_vs_duckdb": r("dagster", "duckdb"),
        "dagster_vs_pandas": r("dagster", "pandas"),
        "library_vs_duckdb": library / table["duckdb"]["median"] if "duckdb" in table else None,
        "library_vs_pandas": library / table["pandas"]["median"] if "pandas" in table else None,
        "library_seconds": library,
        "pseudonymize_vs_floor": r("pseudonymize", "floor"),
        "hmac_vs_floor": r("pseudonymize_hmac", "floor"),
        "level2_vs_floor": r("floor_ours", "floor"),
        "pandas_vs_duckdb": r("pandas", "duckdb"),
        "daemon_vs_inprocess": r("daemon_without_wait", "dagster"),
        "daemon_with_wait_vs_inprocess": r("daemon", "dagster"),
    }


def checks(summary: dict) -> dict:
    """Did every source come out as planted, in the library runs and in Dagster's?"""
    expected = summary["expected"]
    library = [run["counts"] == expected for run in summary["runs"]["ingest"]]
    dagster = [run["counts"] == expected and not run["failed"] and bool(run["reconciled"]) and bool(run["published"])
               for name, runs in summary["runs"].items() if name.startswith("dagster") for run in runs]  # fmt: skip
    dagster += [run["ok"] for run in summary["runs"].get("daemon", [])]
    accepted = {kind: sum(v[1] for k, v in expected.items() if _kind(k) == kind) for kind in KINDS}
    alternatives = {which: {k: run["counts"].get(k) for k in ("municipal", "af", "overlaps")}
                    for which in ("duckdb", "pandas") for run in summary["runs"][which][:1]}  # fmt: skip
    return {"library_as_planted": all(library), "dagster_as_planted": all(dagster), "accepted": accepted,
            "alternatives": alternatives}  # fmt: skip


def _kind(source_id: str) -> str:
    from core.synthetic.registrations import REGISTRATION_SOURCE

    return "af" if source_id == "af" else "af_registrations" if source_id == REGISTRATION_SOURCE.id else "municipal"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def stage_table(scales: dict) -> str:
    names = list(scales)
    header = "| stage | " + " | ".join(f"{s}: median s (min–max), runs | {s}: peak RSS MiB" for s in names) + " |"
    lines = [header, "| --- |" + " ---: | ---: |" * len(names)]
    keys = [k for k, *_ in ROWS] + ["floor", "floor_ours"]
    for key in keys:
        cells = []
        label = None
        for s in names:
            row = scales[s]["table"].get(key)
            if row is None:
                cells += ["–", "–"]
                continue
            label = row["label"]
            cells.append(f"{_fmt(row['median'])} ({_fmt(row['min'])}–{_fmt(row['max'])}), {row['runs']}")
            cells.append(_mib(row["peak_mib"]))
        if label:
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def growth_table(small: dict, big: dict, small_name: str, big_name: str) -> tuple[str, dict]:
    lines = [f"| stage | {small_name} s | {big_name} s | growth: time | {small_name} peak MiB | {big_name} peak MiB "
             "| growth: peak | growth: peak above start |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    grown = {}
    for key, label, *_ in ROWS:
        a, b = small["table"].get(key), big["table"].get(key)
        if not a or not b:
            continue
        time_growth = b["median"] / a["median"] if a["median"] > 0 else None
        peak_growth = b["peak_mib"] / a["peak_mib"] if a["peak_mib"] and b["peak_mib"] else None
        above = None
        if a["start_mib"] and b["start_mib"] and a["peak_mib"] - a["start_mib"] > 1:
            above = (b["peak_mib"] - b["start_mib"]) / (a["peak_mib"] - a["start_mib"])
        grown[key] = {"time": time_growth, "peak": peak_growth, "peak_above_start": above}
        lines.append(f"| {label} | {_fmt(a['median'])} | {_fmt(b['median'])} | {_fmt(time_growth, 1)}× | "
                     f"{_mib(a['peak_mib'])} | {_mib(b['peak_mib'])} | {_fmt(peak_growth, 1)}× | "
                     f"{_fmt(above, 1) + '×' if above else '–'} |")  # fmt: skip
    return "\n".join(lines), grown


def machine_facts() -> dict:
    import cryptography
    import dagster
    import duckdb
    import numpy as np
    import pandas as pd
    import pandera
    import pyarrow
    import sqlalchemy

    with open("/proc/meminfo") as meminfo:
        total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": round(total_kib / 1024**2, 1),
            "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
            "pyarrow": pyarrow.__version__, "pandera": pandera.__version__, "cryptography": cryptography.__version__,
            "sqlalchemy": sqlalchemy.__version__, "dagster": dagster.__version__, "duckdb": duckdb.__version__,
            "postgresql": _postgres_version()}  # fmt: skip


def _postgres_version() -> str:
    from testkit.pgserver import find_binaries

    try:
        return find_binaries().parent.name
    except BaseException:  # noqa: BLE001 (pytest.fail raises outside pytest)
        return "not found"


def report(results: dict) -> str:
    scales = {s: results["scales"][s] for s in SCALES if s in results["scales"]}
    for data in scales.values():
        data["table"] = summarize(data)
        data["ratios"] = ratios(data["table"])
        data["checks"] = checks(data)
    out = ["# National-scale benchmark: the whole nightly run, its stages, and the alternatives (`bench/national.py`)"]
    out.append("```sh\nMELLANRUM_EXTRAS=test,bench ./.ci/bootstrap && .venv/bin/python bench/national.py "
               + " ".join(f"--scale {s}" for s in scales) + "\n```")
    out.append(_setup_text(scales))
    out.append("## Every stage, medians of fresh-process runs\n\n" + stage_table(scales) + "\n\n" + _stage_notes())
    out.append(_registrations_text(results))
    out.append("## Ours against the alternatives\n\n" + _ratio_table(scales))
    out.append(_per_source_text(scales))
    out.append(_instance_text(scales))
    out.append(_config_costs_text(scales))
    if "S" in scales and "M" in scales:
        text, grown = growth_table(scales["S"], scales["M"], "S", "M")
        results["growth"] = grown
        out.append("## Growth S → M (10× the rows)\n\n" + text + "\n\nGrowth: the M median over the S median "
                   "(linear is 10×; the target is at most 12×). Peak: the stage process's whole resident set; above "
                   "start: minus what the process held before the stage (interpreter, libraries, inputs).")  # fmt: skip
    out.append("## Targets\n\n" + _targets_text(scales, results.get("growth")))
    out.append(READING)
    out.append(_fairness_text())
    for s, data in scales.items():
        if data.get("profile"):
            out.append(_profile_text(s, data["profile"]))
    out.append("## Machine\n\n" + ", ".join(f"{k} {v}" for k, v in results["machine"].items()) + ".")
    return "\n\n".join(out) + "\n"


READING = """## Reading these figures (2026-12-05), and what the profile says is left

- **This run includes AF's registrations** (issue 16): about 0.71 registrations per AF assignment row, their ingest,
  the transition list's registration-keyed rows, the youth monitor, the hand-overs and their publication, all checked
  against the generator's truth before the timings. S: 3 repeats of every stage and of the whole night; M: one
  (about 16 minutes with the generation). The same nights without the registrations (`--no-registrations`) ran right
  after, for "What AF's registrations add". The machine was shared less than in issue 15's run (load average 1–2 for
  most of it, 5 at S's start): the night without registrations at M took 110 s here against issue 15's 167 s on a
  busier machine, so compare within this run. Issue 15's instance variants and daemon path were not run again.
- **What the registrations cost at M**: +131 s (×2.2) and +2.6 GiB peak (7.4 GiB, the reconciliation run: five
  million assignments, 3.6 million registrations and the youth monitor's half a million rows in one process). The
  reconciliation run grows ×4 (the library's `youth_monitor` 19.5 s, `handovers` 9.3 s, `with_registrations` 7.5 s;
  each factorizes the persons of all three inputs again, and the store's Parquet round trips of the larger outputs
  add the rest), the publication ×3.9 (three more contracts with statistics, the youth monitor's rows written
  twice: steward's table and recipients' tables), the registrations' ingest 26 s. At S the same adds 8.8 s (×1.21).
  **The targets above compare our night with the registrations against scripts that do none of that work**; the
  same night without them against the same scripts: 16.0× DuckDB at S (41.8 / 2.6 s), 4.9× at M (109.7 / 22.4 s),
  1.02× pandas at M (109.7 / 107.4 s).
- (Issue 15's run, without registrations; here 24 ms at S, 64 ms at M.) **Dagster's own cost per source was within noise of zero at S** (the `ingest_municipal` run takes what the
  library takes for the same 290 sources): one run per kind, the keyring unlocked once per process, one event
  database with its connections kept open (storing events fell from 40 % of a py-spy sample of the night to 12 %).
  At M the difference (65 ms per source) is within what the load swung by; a second run would tell.
- **What is left is the library's fixed cost per source and M's memory.** py-spy at S (bench/profile_nightly.py)
  puts 45 % of the night in `prepare_source`; of the ingest, `type_columns` is the largest part (11.4 s at S, 12.3 s
  at M: ~39 ms per source whatever its size, from `on_distinct`, `required_text` and the problem frames each column
  builds), then `pseudonymize_identities` outside the HMAC (problem frames, age bands), `cast_to_model` (875
  `astype` calls) and the readers. Typing every municipal source of a night at once, as `validate_sources` already
  does for the model's rules, would pay these once per kind. At M the peak (4.5 GiB) is the reconciliation after
  the ingest in one process (`reconcile_stored`, and the library's `reconcile` at 4.4 GiB): the 5 million AF rows
  and their pseudonyms held as Python-object strings.
- **The daemon path** pays a process start and a code-location load for each of its three runs (17 s queued →
  started in all at S) and the sequencer's tick (up to its 60 s interval; 11 s here). It ran at S only.
"""


def _setup_text(scales: dict) -> str:
    lines = ["## What ran", ""]
    for s, data in scales.items():
        inbox, check = data["inbox"], data["checks"]
        mix = ", ".join(f"{name} {v['sources']} sources / {v['rows']:,} rows" for name, v in inbox["formats"].items())
        agreement = data.get("agreement", {})
        lines.append(
            f"- **{s}**: {data['municipal_rows']:,} municipal rows in "
            f"{sum(1 for k in data['expected'] if _kind(k) == 'municipal')} municipalities' "
            f"deliveries + {data['af_rows']:,} AF rows"
            + (f" + {inbox.get('registration_rows', 0):,} AF registrations" if inbox.get("registration_rows") else "")
            + f" ({inbox['files']} files, "
            f"{sum(inbox['bytes_by_format'].values()) / 2**20:,.0f} MiB: "
            + ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in inbox["bytes_by_format"].items())
            + f"; generated in {inbox['seconds']:.0f} s, outside every timing). {inbox['people']:,} made-up people "
            f"({inbox['municipal_people']:,} with municipal interventions, {inbox['af_people']:,} at AF, "
            f"{inbox['shared_people']:,} both). Formats: {mix}. "
            f"Runs: {data['repeat']} of each stage and alternative, {data['dagster_repeat']} of the whole Dagster run; "
            f"{data['wall_minutes']} minutes in all; load average {data['load_average_before']} before, "
            f"{data['load_average_after']} after (other work was running). "
            f"Every source's rows read / accepted / quarantined as planted: library runs "
            f"{'yes' if check['library_as_planted'] else '**NO**'}, Dagster runs "
            f"{'yes' if check['dagster_as_planted'] else '**NO**'}. "
            f"Accepted: {check['accepted']['municipal']:,} municipal, {check['accepted']['af']:,} AF; DuckDB kept "
            f"{_alt(check, 'duckdb')}, pandas {_alt(check, 'pandas')}. Overlaps: ours "
            f"{agreement.get('ours', 0):,}; {_agreement_text(agreement)}." + _truth_text(data)
        )  # fmt: skip
    return "\n".join(lines)


def _truth_text(data: dict) -> str:
    """The check against the generator's truth, made before the timings (counts only)."""
    library, dagster = data.get("truth"), data.get("truth_dagster")
    if not library:
        return ""
    found = library["found"]
    statuses = ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in sorted(found.items()) if k.startswith("youth_monitor:"))
    kinds = ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in sorted(found.items()) if k.startswith("handovers:"))
    verdict = lambda c: "**equal**" if c and c["equal"] else "**DIFFERENT**" if c else "not checked"  # noqa: E731
    return (f" **The registration-based lists against the generator's truth, by ids, per kommun** (checked before "
            f"the timings; the run stops if they differ): library stages {verdict(library)}, the whole night through "
            f"Dagster {verdict(dagster)}: the transition list's {found['transition_list']:,} registration-keyed rows "
            f"in {library['kommuner']['transition_list']} municipalities, the youth monitor's {found['youth_monitor']:,}"
            f" rows ({statuses}) and {found['handovers']:,} hand-overs ({kinds})"
            + (f"; and per cell before protection, {library['outcome_cells']:,} outcome cells and "
               f"{library['flow_cells']:,} cells of the flows between municipalities "
               f"({library['flow_participants']:,} participants counted)" if "flow_cells" in library else "") + ".")


def _registrations_text(results: dict) -> str:
    """The whole night and the library stages with AF's registrations against the same night
    without them (`--no-registrations`: the same deliveries, no registration source)."""
    pairs = {s: (results["scales"][s], results["without_registrations"][s]) for s in SCALES
             if s in results["scales"] and s in results.get("without_registrations", {})
             and results["scales"][s].get("registrations")}  # fmt: skip
    if not pairs:
        return ""
    tables = {s: (summarize(w), summarize(wo)) for s, (w, wo) in pairs.items()}
    lines = ["## What AF's registrations add to the night", "",
             "The same generated deliveries with and without AF's registrations (`--no-registrations`: no "
             "registration source in sources.yaml; then the youth monitor and the hand-overs are empty and the "
             "transition list has no registration-keyed rows). Medians of fresh-process runs; peak RSS the "
             "highest of the runs.", "",
             "| | " + " | ".join(f"{s}: with | {s}: without | {s}: added" for s in pairs) + " |",
             "| --- |" + " ---: | ---: | ---: |" * len(pairs)]  # fmt: skip
    rows = [("dagster", "whole nightly run through Dagster, s"), ("dagster_ingest", "· `ingest_all`, s"),
            ("dagster_ingest_registrations", "· · the `ingest_af_registrations` run, s"),
            ("dagster_reconcile", "· `reconcile_stored` (reconciliation, youth monitor, hand-overs), s"),
            ("dagster_publish", "· `publish_latest`, s"),
            ("ingest", "library: ingest of every source, s"), ("reconcile", "library: `reconcile`, s"),
            ("youth_monitor", "library: `youth_monitor`, s"), ("handovers", "library: `handovers`, s"),
            ("publish_sqlite", "library: publish to SQLite, s")]  # fmt: skip
    for key, label in rows:
        cells = []
        for s, (w, wo) in tables.items():
            a, b = w.get(key, {}).get("median"), wo.get(key, {}).get("median")
            runs = f" ({w[key]['runs']}/{wo[key]['runs']} runs)" if key in w and key in wo and key == "dagster" else ""
            cells += [_fmt(a), _fmt(b), (f"{a - (b or 0):+,.2f}" + (f" (×{a / b:.2f})" if b else "") + runs)
                      if a is not None else "–"]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for s, (w, wo) in tables.items():
        a, b = w.get("dagster", {}).get("peak_max_mib"), wo.get("dagster", {}).get("peak_max_mib")
        cells += [_mib(a), _mib(b), f"{a - b:+,.0f}" if a is not None and b is not None else "–"]
    lines.append("| peak RSS of the whole nightly run (one process), MiB | " + " | ".join(cells) + " |")
    for s, (w, wo) in pairs.items():
        lines.append(f"\n{s}: load average {w['load_average_before']} → {w['load_average_after']} with, "
                     f"{wo['load_average_before']} → {wo['load_average_after']} without; "
                     f"{w['inbox'].get('registration_rows', 0):,} registrations beside {w['af_rows']:,} AF assignment rows.")  # fmt: skip
    return "\n".join(lines)


def _alt(check: dict, which: str) -> str:
    counts = check["alternatives"].get(which, {})
    return f"{counts.get('municipal', 0):,} + {counts.get('af', 0):,} rows and found {counts.get('overlaps', 0):,} overlaps"


def _agreement_text(agreement: dict) -> str:
    parts = []
    for which in ("duckdb", "pandas"):
        a = agreement.get(which)
        if not a:
            continue
        differing = {k: v for k, v in a["differing"].items() if v}
        same = not a["only_ours"] and not a["only_theirs"] and not differing
        parts.append(f"{which}: " + ("the same pairs, classes, rule ids and periods"
                                     + (" and pseudonyms" if "pseudonym" in a["differing"] else "") if same else
                                     f"{a['only_ours']} pairs only ours, {a['only_theirs']} only theirs, differing {differing}"))  # fmt: skip
    return "; ".join(parts)


def _stage_notes() -> str:
    return (
        "Peak RSS: the measuring process's resident set at its highest during the stage (interpreter, libraries and "
        "the stage's inputs included; the kernel's high-water mark is reset at each stage start); the median over runs. "
        "The library stages run all sources one after the other in one process (the peak is the largest source's, AF). "
        "Validate is derived per run (ingest total − read − pseudonymize). The whole Dagster run's peak is that of its "
        "process across all its phases. cProfile is not on in any timed run."
    )


def _ratio_table(scales: dict) -> str:
    lines = ["| ours / theirs (ratio of medians) | " + " | ".join(scales) + " |", "| --- |" + " ---: |" * len(scales)]
    rows = [
        ("dagster_vs_duckdb", "whole nightly run through Dagster / DuckDB script (target ≤ 8 at S, ≤ 2.5 at M)"),
        ("dagster_vs_pandas", "whole nightly run through Dagster / pandas script (target < 1)"),
        ("daemon_vs_inprocess", "through `dagster-daemon` (without the sequencer's wait) / in-process (target ≤ 1.3)"),
        ("daemon_with_wait_vs_inprocess", "through `dagster-daemon`, with the sequencer's wait / in-process"),
        ("library_vs_duckdb", "library stages without Dagster (ingest + reconcile + publish to SQLite) / DuckDB script"),
        ("library_vs_pandas", "library stages without Dagster / pandas script"),
        ("pandas_vs_duckdb", "pandas script / DuckDB script"),
        ("level2_vs_floor", "`level2_pseudonyms` (both levels + base32) / HMAC floor, same identifiers (target ≤ 1.5)"),
        ("hmac_vs_floor", "`level2_pseudonyms` inside ingest (per source, every row) / HMAC floor"),
        ("pseudonymize_vs_floor", "whole pseudonymize stage (with the personnummer rules) / HMAC floor"),
    ]
    for key, label in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(d["ratios"].get(key)) for d in scales.values()) + " |")
    return "\n".join(lines)


def per_source(data: dict) -> dict:
    """Seconds per source: the library's, and what Dagster adds around them (its own cost)."""
    library = data["runs"]["ingest"]
    dagster = data["runs"]["dagster"]
    sources = sum(1 for k in data["expected"] if _kind(k) == "municipal")
    library_municipal = statistics.median(r["per_source"]["municipal"] for r in library)
    library_af = statistics.median(r["per_source"]["af"] for r in library)
    facts = {
        "library_municipal_mean": library_municipal / sources,
        "library_municipal_median": statistics.median(r["per_source"]["municipal_median"] for r in library),
        "library_municipal": library_municipal,
        "library_af": library_af,
    }
    if dagster:
        municipal = statistics.median(r["run_seconds"]["ingest_municipal"] for r in dagster)
        af = statistics.median(r["run_seconds"]["ingest_af"] for r in dagster)
        facts |= {
            "dagster_municipal": municipal,
            "dagster_af": af,
            "dagster_municipal_own": municipal - library_municipal,
            "dagster_per_source": (municipal - library_municipal) / sources,
            "dagster_af_own": af - library_af,
            "dagster_reconcile_run": statistics.median(r["run_seconds"]["reconcile"] for r in dagster),
            "dagster_publish_run": statistics.median(r["run_seconds"]["publish"] for r in dagster),
        }
    return facts


def _per_source_text(scales: dict) -> str:
    lines = ["## Per source: what Dagster adds to a delivery", "",
             "The library's seconds (the ingest runs above, one process, no Dagster) against the same work inside "
             "the in-process Dagster run (each kind's run timed around `execute_in_process`, from the same night).",
             "", "| seconds | " + " | ".join(scales) + " |", "| --- |" + " ---: |" * len(scales)]  # fmt: skip
    rows = [
        ("library_municipal", "library: every municipal source (`prepare_source` each + one `validate_sources`)"),
        ("library_municipal_median", "library: `prepare_source` of one municipal source, median"),
        ("library_municipal_mean", "library: municipal ingest / number of municipal sources"),
        ("library_af", "library: AF (`prepare_source` + `validate_sources`)"),
        ("dagster_municipal", "Dagster: the `ingest_municipal` run (every municipal source, one run)"),
        ("dagster_municipal_own", "· Dagster's own part (run − library)"),
        ("dagster_per_source", "**· per municipal source** (target ≤ 0.050)"),
        ("dagster_af", "Dagster: the `ingest_af` run"),
        ("dagster_af_own", "· Dagster's own part (run − library)"),
        ("dagster_reconcile_run", "Dagster: the `reconcile` run"),
        ("dagster_publish_run", "Dagster: the `publish` run"),
    ]
    facts = {s: per_source(d) for s, d in scales.items()}
    for key, label in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(facts[s].get(key), 3) for s in scales) + " |")
    return "\n".join(lines)


def _instance_text(scales: dict) -> str:
    """The embedded instance's storage variants, whole nightly run in-process."""
    measured = {s: d for s, d in scales.items() if any(k.startswith("dagster:") for k in d["runs"])}
    if not measured:
        return ""
    lines = ["## The embedded instance: event log and compute logs (`open_instance`)", "",
             "The whole nightly run in-process, as above, with the instance's `dagster.yaml` written by "
             "`embedded_instance_yaml` for each choice; the runs of every variant alternate within each repeat.", "",
             "| event log + compute logs | " + " | ".join(f"{s}: median s (min–max), runs | {s}: instance files, MiB"
                                                        for s in measured) + " |",
             "| --- |" + " ---: | ---: |" * len(measured)]  # fmt: skip
    labels = {"pooled+none": "one SQLite event log, connections kept open (`PooledSqliteEventLogStorage`) + no "
                             "compute logs (**chosen**, `open_instance`)",
              "per_run+local": "a SQLite file per run + local compute logs (Dagster's default)",
              "consolidated+none": "one SQLite event log (`ConsolidatedSqliteEventLogStorage`) + no compute logs",
              "per_run+none": "a SQLite file per run + no compute logs",
              "pooled+local": "one SQLite event log, connections kept open + local compute logs",
              "postgres+none": "PostgreSQL (runs, events, schedules; as in production) + no compute logs",
              "postgres+local": "PostgreSQL + local compute logs (production's `deploy/dagster.yaml`)"}  # fmt: skip
    for variant in INSTANCE_VARIANTS:
        cells = []
        for data in measured.values():
            runs = data["runs"].get("dagster" if variant == DEFAULT_VARIANT else f"dagster:{variant}", [])
            seconds = [r["stages"]["total"]["seconds"] for r in runs]
            if not seconds:
                cells += ["–", "–"]
                continue
            cells.append(f"{_fmt(statistics.median(seconds))} ({_fmt(min(seconds))}–{_fmt(max(seconds))}), {len(seconds)}")
            cells.append(f"{runs[0].get('instance_files', 0)}, {runs[0].get('instance_bytes', 0) / 2**20:,.1f}")
        lines.append(f"| {labels[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _targets_text(scales: dict, grown: dict | None) -> str:
    lines = ["| target | value | met? |", "| --- | ---: | --- |"]
    for name, data in scales.items():
        limit = TARGETS["dagster_vs_duckdb"].get(name)
        ratio = data["ratios"]["dagster_vs_duckdb"]
        if limit:
            lines.append(f"| whole nightly through Dagster (in-process) / DuckDB script ≤ {limit}× at {name} | "
                         f"{_fmt(ratio)}× | {_met(ratio is not None and ratio <= limit)} |")  # fmt: skip
        ratio = data["ratios"]["dagster_vs_pandas"]
        lines.append(f"| whole nightly through Dagster faster than the pandas script at {name} | {_fmt(ratio)}× | "
                     f"{_met(ratio is not None and ratio < 1)} |")  # fmt: skip
        own = per_source(data).get("dagster_per_source")
        lines.append(f"| Dagster's own cost per municipal source ≤ 50 ms at {name} | "
                     f"{_fmt(own * 1000 if own is not None else None, 0)} ms | "
                     f"{_met(own is not None and own <= TARGETS['dagster_per_source'])} |")  # fmt: skip
        ratio = data["ratios"].get("daemon_vs_inprocess")
        if ratio is not None:
            lines.append(f"| the daemon path within 1.3× of the in-process run at {name} (without the sequencer's "
                         f"wait) | {_fmt(ratio)}× | {_met(ratio <= TARGETS['daemon_vs_inprocess'])} |")  # fmt: skip
            ratio = data["ratios"].get("daemon_with_wait_vs_inprocess")
            lines.append(f"| · the same with the sequencer's wait | {_fmt(ratio)}× | "
                         f"{_met(ratio is not None and ratio <= TARGETS['daemon_vs_inprocess'])} |")  # fmt: skip
        ratio = data["ratios"].get("level2_vs_floor")
        lines.append(f"| pseudonymization (`level2_pseudonyms`: both HMAC levels + base32) ≤ 1.5× the HMAC floor on "
                     f"the same identifiers at {name} | {_fmt(ratio)}× | "
                     f"{_met(ratio is not None and ratio <= TARGETS['pseudonymize_vs_floor'])} |")  # fmt: skip
        for key, what in (("hmac_vs_floor", "`level2_pseudonyms` as ingest calls it (per source, every row)"),
                          ("pseudonymize_vs_floor", "the whole pseudonymize stage (also the personnummer rules, "
                                                    "age bands, problems)")):  # fmt: skip
            lines.append(f"| · for reference: {what} / HMAC floor ({name}) | {_fmt(data['ratios'].get(key))}× | – |")
    if "M" in scales:
        data = scales["M"]
        ours = [data["table"][k]["peak_max_mib"] for k in ("dagster", "ingest", "reconcile", "publish_sqlite",
                                                            "publish_postgres") if k in data["table"]]  # fmt: skip
        peak = max(ours) / 1024 if ours else None
        lines.append(f"| peak memory at M < 4 GiB (highest of our stages and the whole in-process Dagster run, max "
                     f"over runs) | {_fmt(peak)} GiB | {_met(peak is not None and peak < TARGETS['peak_gib'])} |")  # fmt: skip
    if grown:
        ours = {k: g for k, g in grown.items() if k not in ("duckdb", "pandas") and g["time"]}
        worst = max(((k, g["time"]) for k, g in ours.items()), key=lambda item: item[1])
        over = [k for k, g in ours.items() if g["time"] > TARGETS["growth"]]
        lines.append(f"| for reference: no stage grows more than 12× for 10× rows (worst: {worst[0]}) | "
                     f"{_fmt(worst[1], 1)}× | {_met(not over)}{' (' + ', '.join(over) + ')' if over else ''} |")  # fmt: skip
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _fairness_text() -> str:
    return """## What the alternatives do not do (read the ratios with this)

Both scripts do the job's core: read every delivery in its own format, drop invalid rows, hash the
personnummer with two keyed levels, join, find and classify the overlaps, write them out. What ours does
and they do not:

| | ours | DuckDB script | pandas script |
| --- | --- | --- | --- |
| quarantine: every bad row kept with file, line, column, masked value and a reason in plain words | yes | dropped silently | dropped silently |
| validation with the Pandera models of every input and output dataset; the blocking `matches_schema` check and the quarantine-share and delivery-age checks | yes | no | no |
| per-source isolation: an unreadable delivery fails its own partition only, the last good data stays | yes (one run per kind, each source failing on its own) | one bad file fails the whole script | the same |
| encoding and delimiter detection (`auto` in sources.yaml), header checks, rows with the wrong field count | yes | told per format (cp1252 read as latin-1) | told per format |
| .xlsx deliveries | read as delivered | read from CSV copies made beforehand, **outside its timing** | read as delivered (`pd.read_excel`) |
| personnummer rules: shape reasons, organisation numbers, birth after the as-of date, month 00 | all of them | shape, date, serial, Luhn | shape, date, serial, Luhn |
| pseudonyms in base32 with their key id, keys from an encrypted keyring (Scrypt) in every run | yes | raw bytes, keys given as pads | hex, keys given |
| hashing per source (each delivery on its own, as sources arrive) | each source's distinct numbers | once over all distinct numbers | once over all distinct numbers |
| municipal-municipal overlaps, AF's transition list, window, interruption-risk and upcoming flags | yes | no | no |
| contracts: minimal-need datasets per recipient kind, strict models, consent filter | yes | no | no |
| regional statistics with primary and secondary small-cell suppression | yes | no | no |
| publication in one transaction with per-recipient checksums and a publication log row per dataset and recipient | yes | Parquet file | `to_sql` into SQLite |
| PostgreSQL roles and row-level security per recipient | yes | no | no |
| Dagster: runs, event log, asset materializations with metadata and lineage, checks the steward sees | yes | no | no |
| threads | one | two (both cores) | one |

So "library stages / DuckDB" compares like with more than like; the whole-run ratio also prices Dagster's
bookkeeping (three runs a night: one per source kind, then reconcile, then publish)."""


def _config_costs_text(scales: dict) -> str:
    measured = {s: d["config_costs"] for s, d in scales.items() if d.get("config_costs")}
    if not measured:
        return ""
    lines = ["## What each ingest run pays before its first row", "",
             "Measured alone in a fresh process (median of the runs), on the same sources.yaml the runs read "
             f"({next(iter(measured.values()))['lines']:,} lines, "
             f"{next(iter(measured.values()))['bytes'] / 1024:,.0f} KiB for "
             f"{next(iter(scales.values()))['inbox']['sources']} sources). The ingest asset calls `sources.load()` "
             "(`load_sources`) and `keyring.open()` (`Keyring.load`) in every ingest "
             "run; the keyring is unlocked once per process (`KeyringResource`), the sources file parsed once per process.", "",
             "| seconds | " + " | ".join(measured) + " |", "| --- |" + " ---: |" * len(measured)]  # fmt: skip
    names = list(next(iter(measured.values()))["seconds"])
    for name in names:
        lines.append(f"| `{name}` | " + " | ".join(_fmt(statistics.median(m["seconds"][name]), 3) for m in measured.values())
                     + " |")  # fmt: skip
    return "\n".join(lines)


def _profile_text(scale: str, profile: dict) -> str:
    out = [f"## Profile: one whole nightly run at {scale} under cProfile ({profile['seconds']:.0f} s with the profiler)",
           "cProfile slows Python-heavy code more than C-heavy code: read its seconds as relative."]  # fmt: skip
    for title in ("focus", "cumulative", "own"):
        heading = ("Selected functions (the pipeline's own steps and what every run pays):" if title == "focus"
                   else f"Top {len(profile[title])} by {title} time:")  # fmt: skip
        if not profile.get(title):
            continue
        lines = [heading, "", "| function | calls | own s | cumulative s |",
                 "| --- | ---: | ---: | ---: |"]  # fmt: skip
        lines += [f"| `{where}` | {calls:,} | {own:.3f} | {cumulative:.3f} |" for where, calls, own, cumulative in profile[title]]
        out.append("\n".join(lines))
    return "\n\n".join(out)


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", action="append", choices=list(SCALES), help="S, M or L; repeatable (default S)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stage and alternative")
    parser.add_argument("--dagster-repeat", type=int, default=2, help="runs of the whole nightly run through Dagster")
    parser.add_argument("--profile", action="store_true", help="one more whole run under cProfile (largest scale)")
    parser.add_argument("--top", type=int, default=25, help="functions shown from the profile")
    parser.add_argument("--municipalities", choices=("all", "gr"), default="all")
    parser.add_argument("--af-files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--all-variants", action="store_true", help="every instance variant, not MEASURED_VARIANTS")
    parser.add_argument("--dagster-repeat-at", action="append", default=[], metavar="SCALE=N",
                        help="runs of the whole nightly run at one scale (e.g. M=1), instead of --dagster-repeat")
    parser.add_argument("--variants-at", action="append", default=None,
                        help="scales at which every instance storage variant runs (default S)")
    parser.add_argument("--daemon-at", action="append", default=None,
                        help="scales at which the whole night also runs through dagster-daemon (default S)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL publication")
    parser.add_argument("--registrations", action=argparse.BooleanOptionalAction, default=True,
                        help="AF's registrations delivery and the truth check (default); --no-registrations: the same "
                             "deliveries without it, our stages only (no alternatives, variants or daemon), stored "
                             "apart as the comparison 'without registrations'")
    parser.add_argument("--rows", help="MUNICIPAL,AF: a custom scale 'X' instead (a quick trial)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for national.md and national.json")
    parser.add_argument("--report-only", action="store_true", help="rewrite national.md from national.json")
    args = parser.parse_args()
    if args.rows:
        SCALES["X"] = tuple(int(n) for n in args.rows.split(","))
        args.scale = ["X"]
    scales = sorted(set(args.scale or ["S"]), key=list(SCALES).index)
    args.variants_at = args.variants_at or ["S"]
    args.daemon_at = args.daemon_at or ["S"]
    args.dagster_repeat_at = {k: int(v) for k, v in (item.split("=") for item in args.dagster_repeat_at)}
    RESULTS = args.out
    results_json = RESULTS / "national.json"
    results = json.loads(results_json.read_text(encoding="utf-8")) if results_json.exists() else {"scales": {}}
    if args.report_only:
        if not results["scales"]:
            parser.error(f"no results in {results_json} to report")
        _write(results)
        return
    postgres = None
    if not args.no_postgres:
        from testkit.pgserver import start_server

        postgres = start_server()
        _say(f"PostgreSQL {postgres.bindir.parent.name} on {postgres.host}:{postgres.port}")
    try:
        for scale in scales:
            profile = args.profile and scale == scales[-1]
            measured = run_scale(scale, argparse.Namespace(**{**vars(args), "profile": profile}), postgres)
            results.setdefault("scales" if args.registrations else "without_registrations", {})[scale] = measured
            results["machine"] = machine_facts()
            _write(results)
    finally:
        if postgres:
            from testkit.pgserver import stop_server

            stop_server(postgres)
    print((RESULTS / "national.md").read_text(encoding="utf-8"))


def _write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    # The measurements first: a report that fails to render is redone with --report-only.
    (RESULTS / "national.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    text = report(results)
    (RESULTS / "national.md").write_text(text, encoding="utf-8")
    stored = {**results, "scales": {s: {k: v for k, v in d.items() if k != "table"} | {"table": d.get("table")}
                                    for s, d in results["scales"].items()}}  # fmt: skip
    (RESULTS / "national.json").write_text(json.dumps(stored, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
