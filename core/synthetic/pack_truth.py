"""The truth of the agreement's indicator pack (`nyckeltal`, `core/indicators.py`):
`truth/nyckeltal.csv`, every figure before protection per closed quarter × kommun ×
indicator × breakdown, with the kommun totals, the region's and the share met.

Stated from the README's words, one person (or one planted record) at a time over the rows
the pipeline accepts, and built on the generator's other truths where they are the same
facts: the follow-up lists of `core.synthetic.registrations.truth` (the transition list's
registration-keyed rows, the youth monitor's spells and statuses), the rows of the outcome
oracle (`core.synthetic.outcome_cases.outcome_rows`, day by day) and the months a resident
of another municipality takes part (`core.synthetic.flows.participations`). Nothing of
`core.indicators`, `core.reconcile`, `core.registrations`, `core.outcomes` or `core.flows`:
an oracle that reuses the code under test proves nothing.

- `samtidiga_insatser`: per person, every municipal intervention × AF assignment (not
  cancelled) sharing a day, classed by the rule table (combined extent above its limit: a
  conflict), in the quarter of the first shared day, at the intervention's kommun;
- `overgangslista`: per person with an intervention begun by the as-of date and going on
  after it (the cut-off is the as-of date), once per kommun of such interventions: by
  `assignment` when the person has an AF assignment (not cancelled), else by `registration`
  when registered on the as-of date (the follow-up truth's list); in the latest closed quarter;
- `unga_90_dagar`: each youth spell of the monitor once, at the lowest kommunkod of the
  person's municipalities (`okand`: none), by status, in the quarter of day 0 + 90;
- `unga_90_dagar_andel_uppfyllt`: per quarter and kommun with due spells, met / due;
- `utfall_90_dagar`: each ended intervention by the status 90 days after its last day, in the
  quarter of that day;
- `kommunoverskridande_deltagande`: a person once per quarter at the providing kommun
  (`tar_emot`) and once at the home kommun (`deltar_annanstans`) when active there in at
  least one month of the quarter.

Only quarters that ended before the as-of date.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from core.synthetic.flows import participations
from core.synthetic.registrations import as_day, records_by_person
from core.synthetic.systems import Source
from schemas.catalogue import default_catalogue
from schemas.followup import NO_KOMMUN
from schemas.rules import default_rules
from schemas.statistics import TOTAL

COLUMNS = ["quarter", "level", "kommunkod", "indicator", "breakdown", "count", "denominator", "share"]
KEY = ["quarter", "level", "kommunkod", "indicator", "breakdown"]
YOUTH_DUE_DAYS = 90
OUTCOME_HORIZON = 90


def quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _quarter_of_month(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


def latest_closed(as_of: dt.date) -> str:
    """The quarter of the day before the as-of date's quarter began."""
    first_day = dt.date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
    return quarter(first_day - dt.timedelta(days=1))


def _overlaps(m_of: Mapping, a_of: Mapping) -> Counter:
    catalogue, rules = default_catalogue(), default_rules()
    class_of = {(rule.municipal, rule.af): rule.classification for rule in rules.rules}
    found: Counter = Counter()
    for person, m_rows in m_of.items():
        for m in m_rows:
            for a in a_of.get(person, ()):
                first = max(as_day(m.start_date), as_day(a.start_date))
                ends = [end for end in (as_day(m.end_date), as_day(a.end_date)) if end is not None]
                if ends and min(ends) < first:
                    continue  # no day in common
                pair = (catalogue.intervention_categories[m.insats_code], catalogue.programme_categories[a.programme_code])
                over = float(m.extent_pct) + float(a.extent_pct) > rules.extent_rule.above_pct
                found[(quarter(first), m.kommunkod, "samtidiga_insatser", "conflict" if over else class_of[pair])] += 1
    return found


def _transition_list(m_of: Mapping, a_of: Mapping, lists: Mapping[str, pd.DataFrame] | None, as_of: dt.date) -> Counter:
    on_the_list: set = set()
    for person, m_rows in m_of.items():
        if not a_of.get(person):
            continue  # keyed by registration, if at all: the follow-up truth's rows below
        for m in m_rows:
            end = as_day(m.end_date)
            if as_day(m.start_date) <= as_of and (end is None or end > as_of):
                on_the_list.add((m.kommunkod, "assignment", person))
    listed = lists["transition_list"] if lists is not None else pd.DataFrame()
    if len(listed):
        for kommunkod, registration_id in listed[["kommunkod", "registration_id"]].itertuples(index=False, name=None):
            on_the_list.add((kommunkod, "registration", registration_id))
    closed = latest_closed(as_of)
    return Counter((closed, kommunkod, "overgangslista", keyed) for kommunkod, keyed, _ in on_the_list)


def _youth(lists: Mapping[str, pd.DataFrame] | None, registrations: pd.DataFrame | None) -> Counter:
    monitor = lists["youth_monitor"] if lists is not None else pd.DataFrame()
    if not len(monitor):
        return Counter()
    # A spell's id is that of a registration begun on its day 0.
    day0 = dict(zip(registrations["registration_id"], registrations["start_date"], strict=True))
    spells: dict[str, tuple[str, str]] = {}
    for registration_id, kommunkod, status in monitor[["registration_id", "kommunkod", "status"]].itertuples(
            index=False, name=None):  # fmt: skip
        kommun = kommunkod if isinstance(kommunkod, str) and kommunkod else NO_KOMMUN
        held = spells.get(registration_id)
        if held is None or (kommun != NO_KOMMUN and (held[0] == NO_KOMMUN or kommun < held[0])):
            spells[registration_id] = (kommun, status)
    found: Counter = Counter()
    for registration_id, (kommun, status) in spells.items():
        due = as_day(day0[registration_id]) + dt.timedelta(days=YOUTH_DUE_DAYS)
        found[(quarter(due), kommun, "unga_90_dagar", status)] += 1
    return found


def _outcomes(outcome_rows: pd.DataFrame | None) -> Counter:
    if outcome_rows is None:
        return Counter()
    at = outcome_rows[outcome_rows["horizon"] == OUTCOME_HORIZON]
    rows = at[["on", "kommunkod", "status"]].itertuples(index=False, name=None)
    return Counter((quarter(on), kommunkod, "utfall_90_dagar", status) for on, kommunkod, status in rows)


def _cross_municipality(accepted_m: pd.DataFrame, sources: Sequence[Source], as_of: dt.date) -> Counter:
    taken_part: set = set()
    for row, home, months in participations(accepted_m, sources, as_of):
        for month in months:
            taken_part.add((_quarter_of_month(month), row.kommunkod, "tar_emot", row.person))
            taken_part.add((_quarter_of_month(month), home, "deltar_annanstans", row.person))
    return Counter((q, kommunkod, "kommunoverskridande_deltagande", breakdown)
                   for q, kommunkod, breakdown, _ in taken_part)  # fmt: skip


def pack_truth(accepted_m: pd.DataFrame, accepted_a: pd.DataFrame, sources: Sequence[Source], as_of: dt.date,
               registrations: pd.DataFrame | None = None, lists: Mapping[str, pd.DataFrame] | None = None,
               outcome_rows: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """The pack's figures before protection (`COLUMNS`; `denominator` and `share` on the share
    rows only), from the accepted municipal and AF rows (with `kommunkod`) and, with AF's
    registrations, the drawn registrations, the follow-up truth (`registrations.truth`) and the
    outcome oracle's rows (`outcome_rows`)."""
    m_of, a_of, _ = records_by_person(accepted_m, accepted_a, accepted_a.iloc[:0])
    cells = (_overlaps(m_of, a_of) + _transition_list(m_of, a_of, lists, as_of) + _youth(lists, registrations)
             + _outcomes(outcome_rows) + _cross_municipality(accepted_m, sources, as_of))  # fmt: skip
    now = quarter(as_of)
    cells = Counter({key: n for key, n in cells.items() if key[0] < now})  # 'YYYY-Qn' sorts in time order
    kommuner: Counter = Counter()
    region: Counter = Counter()
    for (q, kommunkod, indicator, _), n in cells.items():
        kommuner[(q, kommunkod, indicator)] += n
        region[(q, indicator)] += n
    rows = [(q, "cell", k, i, b, n, None, None) for (q, k, i, b), n in cells.items()]
    rows += [(q, "kommun", k, i, TOTAL, n, None, None) for (q, k, i), n in kommuner.items()]
    rows += [(q, "region", TOTAL, i, TOTAL, n, None, None) for (q, i), n in region.items()]
    for (q, kommunkod, indicator), due in kommuner.items():
        if indicator == "unga_90_dagar":
            met = cells.get((q, kommunkod, indicator, "met"), 0)
            rows.append((q, "kommun", kommunkod, "unga_90_dagar_andel_uppfyllt", "met", met, due, round(met / due, 4)))
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"count": "int64", "denominator": "Int64", "share": "Float64"})
    return table.sort_values(KEY, ignore_index=True)


def read_pack_truth(folder: Path) -> pd.DataFrame:
    """`truth/nyckeltal.csv` of a generated inbox's `truth/` folder, with its dtypes."""
    return pd.read_csv(Path(folder) / "nyckeltal.csv", dtype={c: str for c in KEY}, keep_default_na=False,
                       na_values={"denominator": [""], "share": [""]}).astype(
        {"count": "int64", "denominator": "Int64", "share": "Float64"})  # fmt: skip
