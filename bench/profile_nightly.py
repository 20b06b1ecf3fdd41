"""Where one whole nightly run through Dagster spends its time, sampled by py-spy.

    MELLANRUM_EXTRAS=test,bench ./.ci/bootstrap && .venv/bin/python bench/profile_nightly.py --scale S

Generates the national inbox of `--scale` into a temporary folder (as bench/national.py
does; deleted at the end), then runs the whole nightly run exactly as bench/national.py
measures it (`measure_dagster`: definitions, one Dagster run per source kind, reconcile,
publish) in a child process under `py-spy record --format raw`. A sampling profiler
barely slows what it watches, so, unlike cProfile, its shares are the real ones. The
sampled stacks are folded into bench/results/national_profile.md: the share of the run
per phase, and the functions with the most samples, inclusive and own.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path.insert(0, str(BENCH))

import national  # noqa: E402 (bench/national.py)

# Phases of a nightly run, by a function on the sampled stack (first match wins).
PHASES = [
    ("our ingest: read, pseudonymize, type (`prepare_source`)", ("prepare_source",)),
    ("our ingest: Pandera once per kind, quarantine (`validate_sources`)", ("validate_sources",)),
    ("parsing sources.yaml / recipients.yaml (`load_yaml_model`)", ("load_yaml_model",)),
    ("unlocking the keyring (`Keyring.load`, Scrypt)", ("load (core/keys/keyring.py",)),
    ("writing datasets (`DatasetFiles.write`, Parquet)", ("write (core/store.py", "handle_output")),
    ("the checks' results and metadata per partition (`_reported`)", ("_reported",)),
    ("reconcile (`reconcile`)", ("reconcile (core/reconcile.py",)),
    ("publish (`build_publication`, `replace_publication`)", ("build_publication", "replace_publication")),
    ("Dagster: storing events (event log, run storage)", ("store_event", "handle_new_event", "add_run",
                                                          "create_run", "report_dagster_event")),
    ("Dagster: compute-log capture", ("capture_logs", "execute_posix_tail", "redirect_to_file")),
    ("Dagster: planning, resources, everything else of `execute_in_process`", ("execute_in_process",)),
    ("building the definitions, opening the instance", ("build_definitions", "open_instance")),
]  # fmt: skip


def _child(inbox_json_path: str, keyring_path: str, home: str) -> None:
    """Run in the profiled child: one whole nightly run."""
    inbox_json = json.loads(Path(inbox_json_path).read_text(encoding="utf-8"))
    result = national.measure_dagster(inbox_json, keyring_path, home)
    Path(home, "seconds.json").write_text(json.dumps(result["stages"]), encoding="utf-8")


def fold(raw: str) -> dict:
    """py-spy's raw output (`frame;frame;... count` per line) into phase and function shares."""
    total = 0
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    phases: collections.Counter = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        phases[_phase(frames)] += count
    return {"samples": total, "phases": phases, "inclusive": inclusive, "own": own}


def _short(frame: str) -> str:
    """'function (/abs/path/site-packages/pkg/mod.py:12)' -> 'function (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(PROJECT) + "/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def _phase(frames: list[str]) -> str:
    for label, markers in PHASES:
        if any(marker in frame for frame in frames for marker in markers):
            return label
    return "the rest (process start, imports, the bench's own bookkeeping)"


def report(scale: str, folded: dict, stages: dict, rate: int, top: int) -> str:
    total = folded["samples"] or 1
    lines = [
        f"# Profile of one whole nightly run through Dagster at scale {scale} (py-spy, `bench/profile_nightly.py`)",
        "",
        "```sh",
        f"MELLANRUM_EXTRAS=test,bench ./.ci/bootstrap && .venv/bin/python bench/profile_nightly.py --scale {scale}",
        "```",
        "",
        f"{folded['samples']:,} samples at {rate} per second of the run's wall time "
        f"(idle waits included: py-spy `--idle`). The run took {stages['total']['seconds']:.1f} s under the sampler "
        f"(ingest_all {stages['ingest_all']['seconds']:.1f} s, reconcile_stored "
        f"{stages['reconcile_stored']['seconds']:.1f} s, publish_latest {stages['publish_latest']['seconds']:.1f} s).",
        "",
        "## Share of the run per phase (each sample counted once, in the first phase it belongs to)",
        "",
        "| phase | share | ≈ seconds |",
        "| --- | ---: | ---: |",
    ]
    seconds = stages["total"]["seconds"]
    for label, count in folded["phases"].most_common():
        lines.append(f"| {label} | {count / total:.1%} | {seconds * count / total:,.1f} |")
    for title, key in (("inclusive (on the stack)", "inclusive"), ("own (at the top of the stack)", "own")):
        lines += ["", f"## Top {top} functions, {title}", "", "| function | share |", "| --- | ---: |"]
        lines += [f"| `{name}` | {count / total:.1%} |" for name, count in folded[key].most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=list(national.SCALES), default="S")
    parser.add_argument("--rows", help="MUNICIPAL,AF: a custom scale instead (a quick trial)")
    parser.add_argument("--municipalities", choices=("all", "gr"), default="all")
    parser.add_argument("--rate", type=int, default=50, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=national.RESULTS)
    args = parser.parse_args()
    municipal_rows, af_rows = tuple(int(n) for n in args.rows.split(",")) if args.rows else national.SCALES[args.scale]
    scale = "X" if args.rows else args.scale
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        parser.error("py-spy is not installed: MELLANRUM_EXTRAS=test,bench ./.ci/bootstrap")
    municipalities = None if args.municipalities == "all" else list(national._gr())
    with tempfile.TemporaryDirectory(prefix=f"mellanrum-profile-{scale}-") as temporary:
        root = Path(temporary)
        national._say(f"[{scale}] generating {municipal_rows:,} municipal × {af_rows:,} AF rows into {root}")
        inbox_json = national.generate(str(root / "inbox"), municipal_rows, af_rows, 1, municipalities, 1)
        (root / "inbox.json").write_text(json.dumps(inbox_json), encoding="utf-8")
        national.make_keyring(root / "keyring.json")
        home = root / "home"
        home.mkdir()
        code = (f"import sys; sys.path[:0] = [{str(BENCH)!r}, {str(PROJECT)!r}]; import profile_nightly; "
                f"profile_nightly._child({str(root / 'inbox.json')!r}, {str(root / 'keyring.json')!r}, {str(home)!r})")  # fmt: skip
        raw = root / "profile.txt"
        national._say(f"[{scale}] one whole nightly run under py-spy ({args.rate} samples/s)")
        began = time.perf_counter()
        subprocess.run([py_spy, "record", "--rate", str(args.rate), "--idle", "--format", "raw", "--output", str(raw),
                        "--", sys.executable, "-c", code], check=True, cwd=PROJECT)  # fmt: skip
        national._say(f"[{scale}] profiled in {time.perf_counter() - began:.0f} s")
        stages = json.loads((home / "seconds.json").read_text(encoding="utf-8"))
        text = report(scale, fold(raw.read_text(encoding="utf-8")), stages, args.rate, args.top)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "national_profile.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
