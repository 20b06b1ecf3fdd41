"""The agreement's indicator pack (`nyckeltal`): the figures a strategy group opens at its
quarterly meeting, per closed quarter and kommun (issue 18 §3).

Pure functions over the internal datasets. Each indicator is one small function that turns
its input into one row per counted thing (quarter, kommunkod, breakdown and, where the
person is known, `person`, the pipeline pseudonym); every indicator is then counted and
protected by `core.counts.suppressed_counts`, on its own (its kommun totals are its own).
Adding an indicator is one more entry in `INDICATOR_KEYS`.

Which quarter a thing belongs to, so that a closed quarter's figure is complete when the
quarter closes:

- `samtidiga_insatser`: overlaps by class (conflict, parallel, complementary), in the
  quarter of the overlap's first shared day;
- `unga_90_dagar`: youth registration spells by their 90-day status (met, breached, ended),
  in the quarter of day 90 (day 0 + 90: when the promise fell due, so every status is
  decided by the quarter's end); a spell counts in the first of its municipalities by code
  (`okand`: in none), as in `unga_90_dagar_statistik`;
- `unga_90_dagar_andel_uppfyllt`: per kommun, the share of those spells whose promise was
  met: `count` met (numerator), `denominator` all due, `share`; withheld when either is;
- `utfall_90_dagar`: ended interventions by the person's status 90 days after the last day
  (`core/outcomes.py`), in the quarter of that day;
- `kommunoverskridande_deltagande`: people in another municipality's intervention in the
  quarter (`municipal_flows`): `tar_emot` at the providing kommun, `deltar_annanstans` at the
  home kommun;
- `overgangslista`: people on the transition list (distinct AF id per kommun), by whether
  keyed by a registration (no programme yet) or an assignment. The list is a state, not an
  event: it counts for the latest closed quarter, taken on the night that quarter is first
  published (the first night after its end, as scheduled), and is never recomputed.

Only closed quarters are published (a quarter that ended before the as-of date). A closed
quarter's figures are frozen once out: `keep_frozen` takes every (quarter, indicator)
already published from the previous publication unchanged, so a later night, where people
changed afterwards, differs from an earlier one only by whole new quarters, and subtracting
two nights' packs reveals nothing about a person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from core.counts import cell_counts, quarter_of, suppressed_counts
from core.flows import cross_municipality_participants
from schemas.followup import NO_KOMMUN
from schemas.published_indicators import INDICATORS
from schemas.statistics import LEVELS

GUARANTEE_DAYS = 90
OUTCOME_HORIZON = 90
KEYED = {"registration_id": "registration", "assignment_id": "assignment"}
_KEY_COLUMNS = ["quarter", "kommunkod", "breakdown", "person"]


# --- quarters ------------------------------------------------------------------------------


def quarter_number(quarters: pd.Series) -> np.ndarray:
    """Quarters as consecutive integers (year × 4 + quarter − 1), for comparing."""
    text = quarters.astype(str)
    return text.str[:4].astype(np.int64).to_numpy() * 4 + text.str[-1].astype(np.int64).to_numpy() - 1


def _number_of(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def closed(quarters: pd.Series, as_of: dt.date) -> np.ndarray:
    """Whether each quarter ended before the as-of date (its last day < as_of)."""
    return quarter_number(quarters) < _number_of(as_of)


def latest_closed(as_of: dt.date) -> str:
    number = _number_of(as_of) - 1
    return f"{number // 4}-Q{number % 4 + 1}"


# --- what each indicator counts -------------------------------------------------------------


def _keys(quarter, kommunkod, breakdown, person=None) -> pd.DataFrame:
    frame = pd.DataFrame({"quarter": quarter, "kommunkod": kommunkod, "breakdown": breakdown})
    frame["person"] = person if person is not None else pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame.astype({"quarter": object, "kommunkod": object, "breakdown": object})


def overlap_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    overlaps = inputs["overlaps"]
    return _keys(quarter_of(overlaps["overlap_start"]).to_numpy(), overlaps["kommunkod"].astype(str).to_numpy(),
                 overlaps["classification"].astype(str).to_numpy(), overlaps["pseudonym"].astype(str).to_numpy())  # fmt: skip


def transition_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    listed = inputs["transition_list"].drop_duplicates(["assignment_id", "registration_id", "kommunkod"])
    # The AF id the row is keyed by stands for the person (the list holds no pseudonym).
    by_assignment = (listed["keyed_by"] == "assignment_id").to_numpy(dtype=bool)
    person = np.where(by_assignment, listed["assignment_id"].astype(str), listed["registration_id"].astype(str))
    return _keys(latest_closed(as_of), listed["kommunkod"].astype(str).to_numpy(),
                 listed["keyed_by"].map(KEYED).astype(str).to_numpy(), person)  # fmt: skip


def youth_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    monitor = inputs["youth_monitor"]
    first = monitor.sort_values(["registration_id", "kommunkod"], na_position="last").drop_duplicates("registration_id")
    due = pd.to_datetime(first["registration_date"]) + pd.Timedelta(days=GUARANTEE_DAYS)
    kommun = first["kommunkod"].astype(object).where(first["kommunkod"].notna(), NO_KOMMUN).astype(str)
    return _keys(quarter_of(due).to_numpy(), kommun.to_numpy(), first["status"].astype(str).to_numpy(),
                 first["pseudonym"].astype(str).to_numpy())  # fmt: skip


def outcome_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    outcomes = inputs["intervention_outcomes"]
    at = outcomes[outcomes["horizon"].to_numpy() == OUTCOME_HORIZON]
    day = pd.to_datetime(at["ends_on"]) + pd.Timedelta(days=OUTCOME_HORIZON)
    return _keys(quarter_of(day).to_numpy(), at["kommunkod"].astype(str).to_numpy(), at["status"].astype(str).to_numpy(),
                 at["pseudonym"].astype(str).to_numpy())  # fmt: skip


def cross_municipality_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """People in another municipality's intervention in a quarter (`municipal_flows`, home ≠
    providing): `tar_emot` at the providing kommun, `deltar_annanstans` at the home kommun
    (`core.flows.cross_municipality_participants`)."""
    keys = cross_municipality_participants(inputs["municipal_flows"], "quarter")
    return _keys(keys["quarter"].to_numpy(), keys["kommunkod"].to_numpy(), keys["direction"].to_numpy(),
                 keys["person"].to_numpy())  # fmt: skip


# The counted indicators: name -> its input datasets and the function giving its keys.
INDICATOR_KEYS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, pd.DataFrame], dt.date], pd.DataFrame]]] = {
    "samtidiga_insatser": (("overlaps",), overlap_keys),
    "overgangslista": (("transition_list",), transition_keys),
    "unga_90_dagar": (("youth_monitor",), youth_keys),
    "utfall_90_dagar": (("intervention_outcomes",), outcome_keys),
    "kommunoverskridande_deltagande": (("municipal_flows",), cross_municipality_keys),
}
INPUTS = tuple(dict.fromkeys(name for inputs, _ in INDICATOR_KEYS.values() for name in inputs))
COLUMNS = ["quarter", "level", "kommunkod", "indicator", "breakdown", "count", "denominator", "share", "suppressed"]


# --- counting, shares, freezing --------------------------------------------------------------


def counted(keys: pd.DataFrame, indicator: str, threshold: int, cell_key_secret: bytes | None = None) -> pd.DataFrame:
    """One indicator's keys counted per quarter × kommun × breakdown with totals, protected
    (perturbed with the record-key secret, else suppressed)."""
    table = suppressed_counts(keys, ["breakdown"], threshold, cell_key_secret, "quarter")
    return table.assign(indicator=indicator)


def share_met(youth: pd.DataFrame) -> pd.DataFrame:
    """Per quarter and kommun with due spells: met / due, from the counted `unga_90_dagar`
    rows (their suppression carries over: a share is withheld when its numerator or its
    denominator is). Kommun rows only: a region share would reveal a withheld numerator."""
    totals = youth[youth["level"] == "kommun"].set_index(["quarter", "kommunkod"])
    cells = youth[(youth["level"] == "cell") & (youth["breakdown"] == "met")].set_index(["quarter", "kommunkod"])
    met = cells.reindex(totals.index)
    numerator = met["count"].astype("Int64").where(met["suppressed"].notna(), 0)
    withheld = met["suppressed"].fillna(False).to_numpy(dtype=bool) | totals["suppressed"].to_numpy(dtype=bool)
    denominator = totals["count"].astype("Int64")
    # Perturbed counts (cell key) can put the met above the due by a little: never above 100 %.
    numerator = numerator.where(numerator <= denominator, denominator)
    share = (numerator.astype("Float64") / denominator.astype("Float64")).round(4)
    return pd.DataFrame({
        "quarter": totals.index.get_level_values(0), "level": "kommun", "kommunkod": totals.index.get_level_values(1),
        "indicator": "unga_90_dagar_andel_uppfyllt", "breakdown": "met",
        "count": numerator.mask(withheld).to_numpy(), "denominator": denominator.mask(withheld).to_numpy(),
        "share": share.mask(withheld).to_numpy(), "suppressed": withheld,
    })  # fmt: skip


def keep_frozen(fresh: pd.DataFrame, previous: pd.DataFrame | None, as_of: dt.date) -> pd.DataFrame:
    """`fresh` with every (quarter, indicator) already in `previous` (a closed quarter's
    published figures) taken from `previous` unchanged."""
    if previous is None or previous.empty:
        return fresh
    frozen = previous[closed(previous["quarter"], as_of)]
    published = pd.MultiIndex.from_frame(frozen[["quarter", "indicator"]].drop_duplicates())
    new = ~pd.MultiIndex.from_frame(fresh[["quarter", "indicator"]]).isin(published)
    return pd.concat([frozen[COLUMNS], fresh.loc[new, COLUMNS]], ignore_index=True)


def closed_keys(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """Each counted indicator's keys in the closed quarters: what the pack counts."""
    keyed = {}
    for name, (_, keys_of) in INDICATOR_KEYS.items():
        keys = keys_of(inputs, as_of)
        keyed[name] = keys[closed(keys["quarter"], as_of)]
    return keyed


def _assembled(parts: list[pd.DataFrame]) -> pd.DataFrame:
    fresh = pd.concat([p.assign(denominator=p.get("denominator"), share=p.get("share")) for p in parts],
                      ignore_index=True)  # fmt: skip
    fresh = fresh.astype({"count": "Int64", "denominator": "Int64", "share": "Float64", "suppressed": bool})
    order = {name: n for n, name in enumerate(INDICATORS)}
    fresh = fresh.assign(_order=fresh["indicator"].map(order)).sort_values(["quarter", "_order"], kind="stable")
    return fresh[COLUMNS].reset_index(drop=True)


def indicator_pack(inputs: Mapping[str, pd.DataFrame], as_of: dt.date, threshold: int,
                   previous: pd.DataFrame | None = None, cell_key_secret: bytes | None = None) -> pd.DataFrame:  # fmt: skip
    """The pack (`schemas.published_indicators.Nyckeltal`'s columns): closed quarters only,
    those already published taken from `previous`."""
    parts = []
    for name, keys in closed_keys(inputs, as_of).items():
        table = counted(keys, name, threshold, cell_key_secret)
        parts.append(table)
        if name == "unga_90_dagar":
            parts.append(share_met(table))
    return keep_frozen(_assembled(parts), previous, as_of)


def figures_before_protection(inputs: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """The pack's figures before any protection (true counts; the share of the true counts),
    from the same keys as `indicator_pack`: for comparing with the generator's truth
    (`truth/nyckeltal.csv`), never published."""
    parts = []
    for name, keys in closed_keys(inputs, as_of).items():
        table = cell_counts(keys, ["breakdown"], "quarter")
        table = table.assign(level=np.array(LEVELS, dtype=object)[table["depth"].to_numpy(dtype=np.int64)],
                             count=table["count"].astype("Int64"), suppressed=False, indicator=name)  # fmt: skip
        parts.append(table.drop(columns="depth"))
        if name == "unga_90_dagar":
            parts.append(share_met(table))
    return _assembled(parts)
