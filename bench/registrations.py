"""What the registration-based lists add to a nightly reconciliation: the complete transition
list, the 90-day youth monitor and the hand-overs, timed on in-memory inputs.

    .venv/bin/python bench/registrations.py [--scale S] [--scale M] [--repeat 3]

The municipal and AF inputs are `bench/reconcile.py`'s (`build_inputs`: S = 100,000
municipal × 500,000 AF rows, M = 1,000,000 × 5,000,000); AF's registrations are about as
many as its assignments (the issue's estimate): one registration per AF person, from up to
60 days before their first programme, ending 0–20 days after their last one when it ended
more than 60 days ago, plus 40 % of the people with only municipal interventions, and a
tenth split around a gap of 5–60 days. Pseudonyms are random base32 (no personal number
anywhere). Each repeat times, in this process: `reconcile` without and with registrations
(its transition list completed), `youth_monitor`, `handovers`; peak RSS is the process's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reconcile import build_inputs  # noqa: E402
from core.ingest import cast_to_model  # noqa: E402
from core.reconcile import Window, reconcile  # noqa: E402
from core.registrations import handovers, youth_monitor  # noqa: E402
from schemas.datasets import AfRegistrations  # noqa: E402
from schemas.rules import default_rules  # noqa: E402

AS_OF = dt.date(2026, 11, 23)
SCALES = {"S": (100_000, 500_000), "M": (1_000_000, 5_000_000)}


def build_registrations(municipal: pd.DataFrame, af: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kept = af[af["status"] != "cancelled"]
    by_person = kept.groupby(["pseudonym", "key_id"], sort=False).agg(
        first=("start_date", "min"), last=("end_date", "max"), open=("end_date", lambda e: e.isna().any()),
        office=("af_office", "first"), band=("age_band", "first")).reset_index()  # fmt: skip
    only_m = municipal[~municipal["pseudonym"].isin(by_person["pseudonym"])].drop_duplicates("pseudonym")
    only_m = only_m[rng.random(len(only_m)) < 0.4]
    base = pd.Timestamp(AS_OF)
    start = pd.concat([by_person["first"] - pd.to_timedelta(rng.integers(0, 61, len(by_person)), unit="D"),
                       only_m["start_date"] - pd.to_timedelta(rng.integers(-30, 90, len(only_m)), unit="D")],
                      ignore_index=True).clip(upper=base)  # fmt: skip
    ended = (~by_person["open"]) & (by_person["last"] < base - pd.Timedelta(days=60))
    end = pd.concat([by_person["last"].where(ended) + pd.to_timedelta(rng.integers(0, 21, len(by_person)), unit="D"),
                     pd.Series(pd.NaT, index=range(len(only_m)))], ignore_index=True)  # fmt: skip
    frame = pd.DataFrame({
        "pseudonym": np.r_[by_person["pseudonym"].to_numpy(dtype=object), only_m["pseudonym"].to_numpy(dtype=object)],
        "key_id": np.r_[by_person["key_id"].to_numpy(dtype=object), only_m["key_id"].to_numpy(dtype=object)],
        "age_band": np.r_[by_person["band"].to_numpy(dtype=object), only_m["age_band"].to_numpy(dtype=object)],
        "af_office": np.r_[by_person["office"].to_numpy(dtype=object), np.full(len(only_m), "Arbetsförmedlingen X")],
        "registration_date": start.to_numpy(), "deregistration_date": end.to_numpy(),
    })  # fmt: skip
    split = (rng.random(len(frame)) < 0.1) & ((frame["deregistration_date"].fillna(base) - frame["registration_date"]
                                               ).dt.days > 120)  # fmt: skip
    first = frame[split].copy()
    cut = first["registration_date"] + pd.to_timedelta(rng.integers(20, 60, len(first)), unit="D")
    second = first.assign(registration_date=cut + pd.to_timedelta(rng.integers(5, 61, len(first)), unit="D"))
    second = second[second["deregistration_date"].isna() | (second["deregistration_date"] >= second["registration_date"])]
    frame = pd.concat([frame[~split], first.assign(deregistration_date=cut), second], ignore_index=True)
    count = len(frame)
    frame = frame.assign(
        source_id="af_inskrivningar", file="inskrivningar.csv", line=np.arange(2, count + 2),
        consent=rng.random(count) < 0.85, registration_id=[f"I{n:09d}" for n in range(count)],
        deregistration_reason=np.where(frame["deregistration_date"].isna(), None, "work"),
        jobseeker_category="11", turns_20_on=pd.NaT,
    )  # fmt: skip
    return cast_to_model(frame[list(AfRegistrations.to_schema().columns)], AfRegistrations)


def _timed(work):
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=list(SCALES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    rules = default_rules()
    for scale in arguments.scale or ["S"]:
        municipal, af = build_inputs(*SCALES[scale], arguments.seed)
        registrations = build_registrations(municipal, af, arguments.seed)
        times: dict[str, list[float]] = {"reconcile": [], "reconcile with registrations": [], "youth_monitor": [],
                                          "handovers": []}  # fmt: skip
        sizes = {}
        for _ in range(arguments.repeat):
            seconds, plain = _timed(lambda: reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF))
            times["reconcile"].append(seconds)
            seconds, complete = _timed(lambda: reconcile(municipal, af, rules, AS_OF, Window(90, 180), AS_OF,
                                                         registrations=registrations))  # fmt: skip
            times["reconcile with registrations"].append(seconds)
            seconds, monitor = _timed(lambda: youth_monitor(municipal, af, registrations, AS_OF))
            times["youth_monitor"].append(seconds)
            seconds, handed = _timed(lambda: handovers(municipal, af, registrations, AS_OF))
            times["handovers"].append(seconds)
            sizes = {"transition list": len(plain.transition_list), "complete transition list":
                     len(complete.transition_list), "youth monitor": len(monitor), "hand-overs": len(handed)}  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"\n## {scale}: {len(municipal):,} municipal × {len(af):,} AF rows, {len(registrations):,} registrations")
        print("| stage | median s | min s | max s |\n| --- | ---: | ---: | ---: |")
        for name, values in times.items():
            print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + f"; peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
