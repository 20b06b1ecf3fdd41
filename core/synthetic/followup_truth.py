"""The registration-based lists the pipeline computed against the generator's truth
(`truth/transition_list.csv`, `truth/youth_monitor.csv`, `truth/handovers.csv`), by ids,
per kommun. Used by the demo-scale test and by the national benchmark (`bench/national.py`),
so both compare the same way.

    differences = compare_followup(found_lists(listed, monitor, handed), read_truth(folder))
    assert not differences, difference_counts(differences)

Every value is compared as text (a date as YYYY-MM-DD, a whole number without decimals, no
value as ""). `difference_counts` gives only numbers of rows, never the rows themselves, for
output that must carry no delivered value (the bench's).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# Per list: the columns compared (all of them ids, dates, statuses or consents).
COLUMNS = {
    "transition_list": ["kommunkod", "registration_id", "af_office", "planned_end", "municipal_consent", "af_consent"],
    "youth_monitor": ["kommunkod", "record_id", "registration_id", "af_office", "status", "days_to_start"],
    "handovers": ["kind", "kommunkod", "record_id", "id", "ends_on"],
}
LISTS = tuple(COLUMNS)


def read_truth(folder: Path) -> dict[str, pd.DataFrame]:
    """The truth files of a generated inbox's `truth/` folder, every value as text."""
    return {name: pd.read_csv(Path(folder) / f"{name}.csv", dtype=str, keep_default_na=False) for name in LISTS}


def found_lists(transition_list: pd.DataFrame, youth_monitor: pd.DataFrame, handovers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The pipeline's lists in the truth's terms: the transition list's registration-keyed
    rows only, a hand-over's id its registration's, else its assignment's."""
    return {
        "transition_list": transition_list[transition_list["keyed_by"] == "registration_id"],
        "youth_monitor": youth_monitor,
        "handovers": handovers.assign(id=handovers["registration_id"].fillna(handovers["assignment_id"])),
    }


def _text(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value))
    text = str(value)
    return text.capitalize() if text in ("true", "false") else text


def _rows_by_kommun(frame: pd.DataFrame, columns: list[str]) -> dict[str, set[tuple]]:
    by_kommun: dict[str, set[tuple]] = {}
    for row in frame[columns].itertuples(index=False, name=None):
        texts = tuple(_text(v) for v in row)
        by_kommun.setdefault(texts[columns.index("kommunkod")], set()).add(texts)
    return by_kommun


def compare_followup(found: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> dict[str, dict[str, tuple[set, set]]]:
    """Per list, per kommun that differs: (rows only in the truth, rows only found). Empty
    when every list equals the truth in every kommun ("" is the kommun of a youth-monitor
    row of nobody in a municipality's data)."""
    differences: dict[str, dict[str, tuple[set, set]]] = {}
    for name, columns in COLUMNS.items():
        expected, got = _rows_by_kommun(truth[name], columns), _rows_by_kommun(found[name], columns)
        for kommunkod in sorted(set(expected) | set(got)):
            missing = expected.get(kommunkod, set()) - got.get(kommunkod, set())
            extra = got.get(kommunkod, set()) - expected.get(kommunkod, set())
            if missing or extra:
                differences.setdefault(name, {})[kommunkod] = (missing, extra)
    return differences


def difference_counts(differences: dict[str, dict[str, tuple[set, set]]]) -> dict[str, dict[str, list[int]]]:
    """Per list, per kommun that differs: [rows missing, rows not in the truth] (numbers only)."""
    return {name: {k: [len(missing), len(extra)] for k, (missing, extra) in by_kommun.items()}
            for name, by_kommun in differences.items()}  # fmt: skip


def row_counts(frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Rows per list (and, for the youth monitor, per status), to report what was compared."""
    counts = {name: len(frames[name]) for name in LISTS}
    counts |= {f"youth_monitor:{status}": int(n) for status, n in frames["youth_monitor"]["status"].value_counts().items()}
    counts |= {f"handovers:{kind}": int(n) for kind, n in frames["handovers"]["kind"].value_counts().items()}
    return counts
