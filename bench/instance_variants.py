"""The embedded instance's storage choices, one after the other, by CPU time as well as wall time.

    .venv/bin/python bench/instance_variants.py --scale S

On a machine shared with other work, wall time swings by 2× from one minute to the next;
the CPU time a run's own process spends does not. Generates the national inbox of `--scale`
(bench/national_data.py) into a temporary folder, then runs the whole nightly run in-process
(`national.measure_dagster`) once per variant of `national.INSTANCE_VARIANTS`, each in a
fresh process, and prints one line per variant: wall seconds, the process's CPU seconds and
its children's (the compute-log capture's `tail` subprocesses), and each Dagster run's seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import national  # noqa: E402 (bench/national.py)
from ingest import _in_fresh_process  # noqa: E402 (bench/ingest.py)


def one_night(inbox_json: dict, keyring_path: str, home: str, variant: str) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    result = national.measure_dagster(inbox_json, keyring_path, home, variant)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"variant": variant, "wall": round(time.perf_counter() - wall, 1), "cpu": round(time.process_time() - cpu, 1),
            "children_cpu": round(children.ru_utime + children.ru_stime, 1),
            "runs": {job: round(seconds, 1) for job, seconds in result["run_seconds"].items()},
            "as_planted": not result["failed"] and bool(result["reconciled"]) and bool(result["published"])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=list(national.SCALES), default="S")
    parser.add_argument("--variant", action="append",
                        choices=[v for v in national.INSTANCE_VARIANTS if not v.startswith("postgres")],
                        help="repeatable (default: pooled+none, consolidated+none, per_run+local)")
    args = parser.parse_args()
    variants = args.variant or ["pooled+none", "consolidated+none", "per_run+local"]
    municipal_rows, af_rows = national.SCALES[args.scale]
    with tempfile.TemporaryDirectory(prefix="mellanrum-instance-") as temporary:
        root = Path(temporary)
        inbox_json = _in_fresh_process(national.generate, str(root / "inbox"), municipal_rows, af_rows, 1, None, 1)
        national.make_keyring(root / "keyring.json")
        for variant in variants:
            home = root / f"home-{variant}"
            print(json.dumps(_in_fresh_process(one_night, inbox_json, str(root / "keyring.json"), str(home), variant)),
                  flush=True)  # fmt: skip
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
