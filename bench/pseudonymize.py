"""Pseudonymization throughput against the HMAC floor, on 1,000,000 distinct identifiers.

    .venv/bin/python bench/pseudonymize.py [--count 1000000] [--repeat 5]

Compares, on the same identifiers in the same run (medians of --repeat runs):
- floor: one pre-keyed `cryptography` HMAC `.copy()`d per value in a tight loop, over
  pre-encoded bytes, raw digests out (level 1 only, and both levels);
- stdlib one-shot `hmac.digest` per value (level 1 only), the obvious alternative;
- ours: `level2_pseudonyms`, both levels, distinct values only, base32 output;
- ours from partner level-1 pseudonyms: `level2_from_level1` (base32 decode + level 2 + encode).
Identifiers are generated valid-looking 12-digit strings, only ever held in memory.
"""

from __future__ import annotations

import argparse
import hmac as stdlib_hmac
import os
import statistics
import time

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives import hashes, hmac

from core.keys.pseudonyms import (
    level1_pseudonyms,
    level2_from_level1,
    level2_pseudonyms,
)


def _identifiers(count: int) -> pd.Series:
    rng = np.random.default_rng(1)
    picks = rng.choice(10**8, size=count, replace=False)
    return pd.Series(np.char.add("19", np.char.zfill(picks.astype(str), 10)), dtype="string[pyarrow]")


def _floor(values: list[bytes], key: bytes) -> list[bytes]:
    keyed = hmac.HMAC(key, hashes.SHA256())
    digests = []
    for value in values:
        one = keyed.copy()
        one.update(value)
        digests.append(one.finalize())
    return digests


def _stdlib(values: list[bytes], key: bytes) -> None:
    for value in values:
        stdlib_hmac.digest(key, value, "sha256")


def _time(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    k1, k2 = os.urandom(32), os.urandom(32)
    numbers = _identifiers(args.count)
    raw = [value.encode("ascii") for value in numbers]
    level1 = level1_pseudonyms(numbers, k1)
    cases = {
        "floor: pre-keyed HMAC .copy(), level 1 only": lambda: _floor(raw, k1),
        "floor: the same, level 1 + level 2": lambda: _floor(_floor(raw, k1), k2),
        "stdlib hmac.digest per value, level 1 only": lambda: _stdlib(raw, k1),
        "ours: level 1 + level 2 from plain numbers": lambda: level2_pseudonyms(numbers, k1, [k2]),
        "ours: level 2 from partner level-1 pseudonyms": lambda: level2_from_level1(level1, [k2]),
    }
    results = {name: _time(case, args.repeat) for name, case in cases.items()}
    floor = statistics.median(results["floor: the same, level 1 + level 2"])
    print(f"{args.count:,} distinct identifiers, median of {args.repeat} runs, one core\n")
    print(f"{'case':48} {'median s':>9} {'min':>7} {'max':>7} {'ids/s':>11} {'vs floor':>9}")
    print("(vs floor: against the two-level floor, both levels counted)")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:48} {median:9.3f} {min(times):7.3f} {max(times):7.3f} "
              f"{args.count / median:11,.0f} {median / floor:8.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
