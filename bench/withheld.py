"""How many cells of each published aggregate are withheld: suppression against the Cell Key Method.

    MELLANRUM_EXTRAS=test,bench ./.ci/bootstrap && .venv/bin/python bench/withheld.py --scale S --scale M

Per scale, the benchmark's national data (`bench/national_data.py`, as `bench/national.py`
generates it, in a temporary folder deleted at the end) is ingested and reconciled the way
`bench/national.py` does (its `measure_ingest` and `measure_reconcile`, each in a fresh
interpreter), the outcomes after an intervention are computed as the night does
(`core.outcomes.intervention_outcomes`), as are the flows between municipalities
(`core.flows.municipal_flows`: the national data plants home municipalities), and then
every aggregate contract (the region's
datasets: no recipient column) is built twice from the same inputs in the same run:

- suppression: `PublicationParameters` without a record-key secret (primary and secondary
  suppression, `core/statistics.py`); withheld = the rows published empty;
- cell key: with the secret derived from the keyring's pipeline key, as the publication
  asset does (`core/cellkey.py`); withheld = the rows of the suppressed table (every
  non-zero true count) that the cell key perturbed to 0 and left out.

A share is of the table's non-zero true counts (cells and totals). The target (issue 18):
at most 20 % withheld in each published aggregate at S. Beside each published choice of
period and cell, `measure_variants` measures the alternatives in `VARIANTS` on the same store
with the cell key (among them what each dataset published before the choice). Results:
bench/results/withheld.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(1, str(BENCH.parent))

from national import (  # noqa: E402 (bench/national.py)
    AS_OF,
    PASSPHRASE,
    SCALES,
    _in_fresh_process,
    _say,
    generate,
    make_keyring,
    measure_ingest,
    measure_reconcile,
)

RESULTS = BENCH / "results" / "withheld.md"
TARGET = 0.20

# The alternatives measured beside each published choice: (dataset, period, cell within period ×
# kommun). The first of each dataset is what it publishes; the last is what it published before
# issue 18's choice (by month or quarter, every breakdown first named).
VARIANTS = (
    ("regional_statistik", "year", ("classification",)),
    ("regional_statistik", "quarter", ("classification",)),
    ("regional_statistik", "year", ("classification", "age_band")),
    ("regional_statistik", "year", ("classification", "municipal_category", "af_category", "age_band")),
    ("regional_statistik", "month", ("classification", "municipal_category", "af_category", "age_band")),
    ("unga_90_dagar_statistik", "year", ("status",)),
    ("unga_90_dagar_statistik", "quarter", ("status",)),
    ("unga_90_dagar_statistik", "quarter", ("age_band", "status")),
    ("overlamningar_statistik", "year", ("kind",)),
    ("overlamningar_statistik", "quarter", ("kind",)),
    ("uppfoljning_efter_insats", "year", ("party", "horizon", "status")),
    ("uppfoljning_efter_insats", "quarter", ("party", "horizon", "status")),
    ("uppfoljning_efter_insats", "year", ("party", "category", "horizon", "status")),
    ("uppfoljning_efter_insats", "quarter", ("party", "category", "age_band", "horizon", "status")),
    ("kommunoverskridande_insatser", "year", ("direction",)),
    ("kommunoverskridande_insatser", "quarter", ("direction",)),
    ("kommunoverskridande_insatser (by pair)", "year", ("home_kommunkod",)),
    ("kommunoverskridande_insatser (by pair)", "month", ("home_kommunkod", "category", "age_band")),
)


def measure_withheld(store: str, keyring_path: str) -> dict:
    """Per aggregate contract: rows, withheld by suppression, withheld by the cell key."""
    from core.contracts import CONTRACTS
    from core.flows import municipal_flows
    from core.keys.keyring import Keyring
    from core.keys.record_keys import cell_key_secret
    from core.outcomes import intervention_outcomes
    from core.publish import optional_inputs
    from core.store import DatasetFiles
    from orchestration.settings import Settings
    from schemas.contracts import PublicationParameters

    files = DatasetFiles(Path(store))
    inputs = {**optional_inputs(), "overlaps": files.load("overlaps")}
    # What `measure_reconcile` stored, as the publication reads it: the transition list (the
    # pack's), the follow-up datasets and the flows between municipalities.
    for name in ("transition_list", "youth_monitor", "handovers", "intervention_outcomes", "municipal_flows"):
        if files.path(name).exists():
            inputs[name] = files.load(name)
    if "intervention_outcomes" not in inputs and files.partitions("af_registrations"):  # a store kept from before
        inputs["intervention_outcomes"] = intervention_outcomes(
            files.load("municipal_interventions"), files.load("af_assignments"), files.load("af_registrations"), AS_OF)
    if not files.path("municipal_flows").exists():  # a store kept from before the flows were stored
        inputs["municipal_flows"] = municipal_flows(files.load("municipal_interventions"), AS_OF)
    ring = Keyring.load(Path(keyring_path), PASSPHRASE)
    secret = cell_key_secret(ring.active("pipeline", AS_OF).secret)
    threshold = Settings.of().suppression_threshold
    suppressing = PublicationParameters(AS_OF, threshold)
    perturbing = PublicationParameters(AS_OF, threshold, cell_key_secret=secret)
    tables = {}
    for declared in CONTRACTS:
        if declared.recipient_column is not None:
            continue
        began = time.perf_counter()
        suppressed = declared.build(inputs, suppressing, declared)
        suppression_seconds = time.perf_counter() - began
        began = time.perf_counter()
        perturbed = declared.build(inputs, perturbing, declared)
        cell_key_seconds = time.perf_counter() - began
        rows = len(suppressed)
        tables[declared.name] = {
            "version": declared.version, "rows": rows, "input_rows": len(inputs[declared.inputs[0]]),
            "suppressed": int(suppressed["suppressed"].sum()), "dropped": rows - len(perturbed),
            "cells": int((suppressed["level"] == "cell").sum()),
            "cells_suppressed": int(((suppressed["level"] == "cell") & suppressed["suppressed"]).sum()),
            "cells_dropped": int((suppressed["level"] == "cell").sum() - (perturbed["level"] == "cell").sum()),
            "seconds": {"suppression": suppression_seconds, "cell_key": cell_key_seconds},
        }  # fmt: skip
    return tables


def _period(days, period: str):
    import pandas as pd

    from core.counts import quarter_of, year_of

    days = pd.to_datetime(pd.Series(days))
    if period == "month":
        return days.dt.strftime("%Y-%m").to_numpy(dtype=object)
    return (quarter_of(days) if period == "quarter" else year_of(days)).to_numpy(dtype=object)


def measure_variants(store: str, keyring_path: str) -> list[dict]:
    """Per VARIANTS entry: the share of the non-zero true counts (cells and totals) that the
    cell key leaves out, each thing counted as its dataset counts it (the person as contributor)."""
    import pandas as pd

    from core.cellkey import cell_key_counts
    from core.counts import cell_counts
    from core.keys.keyring import Keyring
    from core.keys.record_keys import cell_key_secret
    from core.store import DatasetFiles

    files = DatasetFiles(Path(store))
    secret = cell_key_secret(Keyring.load(Path(keyring_path), PASSPHRASE).active("pipeline", AS_OF).secret)
    overlaps = files.load("overlaps")
    monitor = files.load("youth_monitor")
    spells = monitor.sort_values(["registration_id", "kommunkod"], na_position="last").drop_duplicates("registration_id")
    handovers = files.load("handovers")
    outcomes = files.load("intervention_outcomes")
    flows = files.load("municipal_flows")
    flows = flows[(flows["kommunkod"] != flows["home_kommunkod"]).to_numpy(dtype=bool)]
    # Both sides of a flow: taken in at the providing kommun, taking part elsewhere at the home kommun.
    sides = pd.concat([flows.assign(direction="tar_emot"),
                       flows.assign(kommunkod=flows["home_kommunkod"], direction="deltar_annanstans")], ignore_index=True)
    things = {  # dataset -> (its rows, the day that places a row in a period, its contributor)
        "regional_statistik": (overlaps, overlaps["overlap_start"], overlaps["pseudonym"]),
        "unga_90_dagar_statistik": (spells.assign(kommunkod=spells["kommunkod"].astype(object).fillna("okand")),
                                    spells["registration_date"], spells["pseudonym"]),
        "overlamningar_statistik": (handovers, handovers["ends_on"],
                                    handovers["kommunkod"].astype(str) + "/" + handovers["record_id"].astype(str)),
        "uppfoljning_efter_insats": (outcomes, outcomes["ends_on"], outcomes["pseudonym"]),
        "kommunoverskridande_insatser": (sides, pd.to_datetime(sides["month"].astype(str) + "-01"), sides["pseudonym"]),
        "kommunoverskridande_insatser (by pair)": (flows, pd.to_datetime(flows["month"].astype(str) + "-01"),
                                                   flows["pseudonym"]),
    }  # fmt: skip
    results = []
    for name, period, cell in VARIANTS:
        rows, days, person = things[name]
        keys = pd.DataFrame({"p": _period(days.to_numpy(), period), "kommunkod": rows["kommunkod"].astype(str).to_numpy(),
                             **{c: rows[c].astype(str).to_numpy() for c in cell}, "person": person.astype(str).to_numpy()})  # fmt: skip
        if name.startswith("kommunoverskridande_insatser"):  # people, once per cell (the others count rows)
            keys = keys.drop_duplicates(ignore_index=True)
        true = cell_counts(keys, list(cell), "p")
        published = cell_key_counts(keys, list(cell), secret, period="p")
        results.append({"dataset": name, "period": period, "cell": " × ".join(cell), "counts": len(true),
                        "withheld": (len(true) - len(published)) / max(len(true), 1)})  # fmt: skip
    return results


def run_scale(scale: str, seed: int, keep: Path | None = None) -> dict:
    municipal_rows, af_rows = SCALES[scale]
    began = time.perf_counter()
    if keep is not None and (keep / scale / "done").exists():  # a kept store: measure again only
        root = keep / scale
        tables = _in_fresh_process(measure_withheld, str(root / "store"), str(root / "keyring.json"))
        variants = _in_fresh_process(measure_variants, str(root / "store"), str(root / "keyring.json"))
        return {"scale": scale, "municipal_rows": municipal_rows, "af_rows": af_rows, "tables": tables,
                "variants": variants, "minutes": (time.perf_counter() - began) / 60}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=f"mellanrum-withheld-{scale}-") as temporary:
        root = Path(temporary) if keep is None else keep / scale
        root.mkdir(parents=True, exist_ok=True)
        _say(f"[{scale}] generating {municipal_rows:,} municipal × {af_rows:,} AF rows")
        inbox_json = _in_fresh_process(generate, str(root / "inbox"), municipal_rows, af_rows, seed, None, 1, True,
                                       False)  # no truth: nothing here compares with it, and at M it is the slow part
        keyring_path = root / "keyring.json"
        make_keyring(keyring_path)
        store = root / "store"
        _say(f"[{scale}] ingesting")
        _in_fresh_process(measure_ingest, inbox_json, str(keyring_path), str(store))
        _say(f"[{scale}] reconciling")
        _in_fresh_process(measure_reconcile, str(store), True)
        _say(f"[{scale}] building every aggregate twice")
        tables = _in_fresh_process(measure_withheld, str(store), str(keyring_path))
        variants = _in_fresh_process(measure_variants, str(store), str(keyring_path))
        (root / "done").touch()
    return {"scale": scale, "municipal_rows": municipal_rows, "af_rows": af_rows, "tables": tables,
            "variants": variants, "minutes": (time.perf_counter() - began) / 60}  # fmt: skip


def report(runs: list[dict]) -> str:
    lines = ["# Withheld cells: suppression against the Cell Key Method", "",
             "Written by `bench/withheld.py` (see its docstring for what is measured). A share is of the "
             "table's non-zero true counts (cells and totals); in brackets the cells alone. Target: at most "
             f"{TARGET:.0%} withheld in each published aggregate at S, with the cell key (what is published).", ""]  # fmt: skip
    for run in runs:
        lines += [f"## {run['scale']}: {run['municipal_rows']:,} municipal × {run['af_rows']:,} AF rows "
                  f"({run['minutes']:.1f} minutes in all)", "",
                  "| dataset (version) | input rows | non-zero counts | withheld, suppression | withheld, cell key "
                  "| target met | build s, suppression / cell key |",
                  "|---|---:|---:|---:|---:|---|---:|"]  # fmt: skip
        for name, t in run["tables"].items():
            rows, cells = max(t["rows"], 1), max(t["cells"], 1)
            cell_key = t["dropped"] / rows
            lines.append(
                f"| {name} ({t['version']}) | {t['input_rows']:,} | {t['rows']:,} "
                f"| {t['suppressed'] / rows:.1%} ({t['cells_suppressed'] / cells:.1%}) "
                f"| {cell_key:.1%} ({t['cells_dropped'] / cells:.1%}) | {'yes' if cell_key <= TARGET else 'no'} "
                f"| {t['seconds']['suppression']:.2f} / {t['seconds']['cell_key']:.2f} |")  # fmt: skip
        lines += ["", "The published choice against the alternatives (withheld with the cell key, of the non-zero "
                  "counts; the first row of each dataset is what it publishes):", "",
                  "| dataset | period | cell within period × kommun | non-zero counts | withheld |", "|---|---|---|---:|---:|"]
        lines += [f"| {v['dataset']} | {v['period']} | {v['cell']} | {v['counts']:,} | {v['withheld']:.1%} |"
                  for v in run.get("variants", [])]  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", action="append", choices=list(SCALES), help="S and/or M (default S)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="keep the generated store here (synthetic data only) and reuse it")
    args = parser.parse_args()
    runs = [run_scale(scale, args.seed, args.keep) for scale in args.scale or ["S"]]
    text = report(runs)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
