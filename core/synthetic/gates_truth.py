"""The row-level datasets the pipeline must publish from a generated inbox, under the gates,
stated from the generator's truth alone (an oracle: nothing here uses `core.gates` or the
contracts' builders), and how many rows each gate withholds.

    truth = gated_truth(inbox / "truth", sources_by_kommun, as_of)
    truth["kommun_samplanering"].rows        # the published rows in the truth's terms, as text
    truth["kommun_samplanering"].withheld    # per gate, rows withheld (in the gates' order)
    found = published_rows("kommun_samplanering", table)   # a published table in the same terms

The rule, as issue 17 states it: a row about a person leaves only where the person is not
protected (in any source), the consent of the party the data comes from is recorded, valid
on the as-of date and covers the dataset's purpose, and an agreement in force covers the
municipality and AF (AF's own data to its own offices needs none). The candidate rows come
from the truth files: the planted overlaps in the window that need action (samplanering),
the transition list's registration-keyed rows, the youth monitor and the hand-overs.
`consent.csv` gives each record's consent state and scopes and whether its person is
protected, `agreements.csv` whether each municipality's agreement with AF is in force.

A gate's count is the rows the dataset loses with it, the gates applied in turn (a row that
several gates withhold counts for the first), on distinct published rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from schemas.catalogue import default_catalogue
from schemas.rules import default_rules

GATE_ORDER = ("protected_identity", "consent_missing", "consent_expired_or_withdrawn", "consent_out_of_scope",
              "no_agreement")  # fmt: skip
_NOT_VALID = ("expired", "not_started", "withdrawn")

# Per dataset: the published columns compared (ids, dates, statuses), the recipient column,
# the party its data comes from ('kommun', 'af', or None: AF's own data to its offices) and
# the purpose its consent must cover.
DATASETS: dict[str, tuple[tuple[str, ...], str, str | None, str]] = {
    "kommun_samplanering": (("kommunkod", "record_id", "insats_code"), "kommunkod", "af", "samplanering"),
    "af_samplanering": (("af_office", "assignment_id", "programme_code", "kommunkod"), "af_office", "kommun",
                        "samplanering"),
    "af_pagaende_insatser": (("af_office", "registration_id", "kommunkod", "planned_end"), "af_office", "kommun",
                             "samplanering"),
    "unga_90_dagar": (("af_office", "registration_id", "status", "days_to_start"), "af_office", None, "uppfoljning"),
    "unga_90_dagar_kommun": (("kommunkod", "record_id", "status"), "kommunkod", "af", "uppfoljning"),
    "overlamningar": (("af_office", "kind", "registration_id", "kommunkod", "ends_on"), "af_office", "kommun",
                      "samplanering"),
    "overlamningar_kommun": (("kommunkod", "kind", "record_id", "ends_on", "af_office"), "kommunkod", "af",
                             "samplanering"),
}  # fmt: skip
# af_pagaende_insatser: only its registration-keyed rows have a truth (`published_rows` keeps those).
PARTLY = {"af_pagaende_insatser"}


@dataclass(frozen=True)
class GatedTruth:
    columns: tuple[str, ...]
    recipient_column: str
    rows: pd.DataFrame  # the rows published, `columns` as text, distinct
    withheld: dict[str, int]  # per gate (GATE_ORDER)

    def of(self, scope: str) -> set[tuple]:
        """The rows a recipient with `scope` (kommunkod or office) reads."""
        own = self.rows[self.rows[self.recipient_column] == scope]
        return set(own.itertuples(index=False, name=None))


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / f"{name}.csv", dtype=str, keep_default_na=False)


# The lists' truth columns, for an inbox generated without registrations (no such files:
# those lists are empty, as the pipeline's are without a registration source).
_LISTS = {"transition_list": ["registration_id", "af_office", "kommunkod", "record_id", "planned_end"],
          "youth_monitor": ["registration_id", "af_office", "status", "days_to_start", "kommunkod", "record_id",
                            "af_consent"],
          "handovers": ["kind", "kommunkod", "record_id", "id", "ends_on"]}  # fmt: skip


def _read_list(folder: Path, name: str) -> pd.DataFrame:
    path = Path(folder) / f"{name}.csv"
    return _read(folder, name) if path.exists() else pd.DataFrame({c: pd.Series(dtype=str) for c in _LISTS[name]})


def _samplanering_cases(overlaps: pd.DataFrame, as_of: dt.date, window: tuple[int, int]) -> pd.DataFrame:
    """The planted municipal × AF overlaps touching the window and needing action: not
    complementary by the rule table, unless over full time together."""
    planted = overlaps[overlaps["kind"] == "municipal_af"]
    catalogue = default_catalogue()
    rule = pd.Series({(r.municipal, r.af): r.classification for r in default_rules().rules})
    first, last = as_of - dt.timedelta(days=window[0]), as_of + dt.timedelta(days=window[1])
    start = pd.to_datetime(planted["overlap_start"])
    end = pd.to_datetime(planted["overlap_end"].replace("", None))
    touches = (start <= pd.Timestamp(last)) & (end.isna() | (end >= pd.Timestamp(first)))
    pairs = pd.MultiIndex.from_arrays([planted["code"].map(catalogue.intervention_categories),
                                       planted["other_code"].map(catalogue.programme_categories)])  # fmt: skip
    table = rule.reindex(pairs).to_numpy()
    full_time = planted["combined_extent"].astype(float) > 100
    return planted[(touches & (full_time | (table != "complementary"))).to_numpy(dtype=bool)]


def candidates(folder: Path, kommun_of: Mapping[str, str], as_of: dt.date,
               window: tuple[int, int] = (90, 180)) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Per dataset, the rows before the gates: its published columns as text, and the
    record its data comes from (`data_source`, `data_record`; empty for AF's own), the record
    telling whether the person is protected (`person_source`, `person_record`) and the
    municipality whose agreement with AF it crosses under (`kommun`)."""
    source_of = {kommun: source for source, kommun in kommun_of.items()}
    records = _read(folder, "consent")
    office = records.set_index(["source_id", "record_id"])["af_office"]
    cases = _samplanering_cases(_read(folder, "overlaps"), as_of, window)
    cases = cases.assign(kommunkod=cases["source_id"].map(kommun_of))
    transitions, youth, handovers = (_read_list(folder, n) for n in ("transition_list", "youth_monitor", "handovers"))
    registrations = "af_inskrivningar"

    def frame(columns: dict, data: tuple, person: tuple, kommun) -> pd.DataFrame:
        return pd.DataFrame({**columns, "data_source": data[0], "data_record": data[1], "person_source": person[0],
                             "person_record": person[1], "kommun": kommun})  # fmt: skip

    def af_office(ids: pd.Series, source: str) -> pd.Series:
        keys = pd.MultiIndex.from_arrays([pd.Series(source, index=ids.index), ids])
        return pd.Series(office.reindex(keys).fillna("").to_numpy(), index=ids.index)

    municipal = handovers[handovers["kind"] != "af_slut_utan_fortsattning"]
    af_ends = handovers[handovers["kind"] == "af_slut_utan_fortsattning"]
    youth_kommun = youth[youth["kommunkod"] != ""]
    return {
        "kommun_samplanering": frame(
            {"kommunkod": cases["kommunkod"], "record_id": cases["record_id"], "insats_code": cases["code"]},
            ("af", cases["other_record_id"]), (cases["source_id"], cases["record_id"]), cases["kommunkod"]),
        "af_samplanering": frame(
            {"af_office": af_office(cases["other_record_id"], "af"), "assignment_id": cases["other_record_id"],
             "programme_code": cases["other_code"], "kommunkod": cases["kommunkod"]},
            (cases["source_id"], cases["record_id"]), (cases["source_id"], cases["record_id"]), cases["kommunkod"]),
        "af_pagaende_insatser": frame(
            {c: transitions[c] for c in DATASETS["af_pagaende_insatser"][0]},
            (transitions["kommunkod"].map(source_of), transitions["record_id"]),
            (transitions["kommunkod"].map(source_of), transitions["record_id"]), transitions["kommunkod"]),
        "unga_90_dagar": frame(
            {c: youth[c] for c in DATASETS["unga_90_dagar"][0]}, ("", ""), (registrations, youth["registration_id"]),
            ""),
        # AF's consent here is the spell's (its latest registration's), as the youth truth states it.
        "unga_90_dagar_kommun": frame(
            {c: youth_kommun[c] for c in DATASETS["unga_90_dagar_kommun"][0]},
            (registrations, youth_kommun["registration_id"]), (registrations, youth_kommun["registration_id"]),
            youth_kommun["kommunkod"]).assign(spell_consent=youth_kommun["af_consent"]),
        "overlamningar": frame(
            {"af_office": af_office(municipal["id"], registrations), "kind": municipal["kind"],
             "registration_id": municipal["id"], "kommunkod": municipal["kommunkod"], "ends_on": municipal["ends_on"]},
            (municipal["kommunkod"].map(source_of), municipal["record_id"]),
            (municipal["kommunkod"].map(source_of), municipal["record_id"]), municipal["kommunkod"]),
        "overlamningar_kommun": frame(
            {"kommunkod": af_ends["kommunkod"], "kind": af_ends["kind"], "record_id": af_ends["record_id"],
             "ends_on": af_ends["ends_on"], "af_office": af_office(af_ends["id"], "af")},
            ("af", af_ends["id"]), ("af", af_ends["id"]), af_ends["kommunkod"]),
    }  # fmt: skip


def gates_failed(rows: pd.DataFrame, records: pd.DataFrame, agreements: pd.DataFrame,
                 purpose: str, data_from: str | None) -> pd.DataFrame:  # fmt: skip
    """Per candidate row, whether each gate (GATE_ORDER) withholds it on its own."""
    facts = records.set_index(["source_id", "record_id"])
    data = facts.reindex(pd.MultiIndex.from_arrays([rows["data_source"], rows["data_record"]]))
    person = facts.reindex(pd.MultiIndex.from_arrays([rows["person_source"], rows["person_record"]]))
    state = data["state"].fillna("missing").to_numpy()
    if "spell_consent" in rows.columns:  # the spell's consent, from a registration (no record: every scope)
        state = rows["spell_consent"].map({"True": "valid", "False": "missing"}).to_numpy()
        scopes = pd.Series(["samplanering,uppfoljning"] * len(rows)).to_numpy()
    else:
        scopes = data["scopes"].fillna("").to_numpy()
    in_force = set(agreements.loc[agreements["in_force"] == "true", "kommunkod"])
    own = data_from is None
    return pd.DataFrame({
        "protected_identity": (person["protected"] == "true").to_numpy(),
        "consent_missing": ~own & (state == "missing"),
        "consent_expired_or_withdrawn": ~own & pd.Series(state).isin(_NOT_VALID).to_numpy(),
        "consent_out_of_scope": ~own & (state == "valid") & ~np.isin(scopes, [purpose, "samplanering,uppfoljning"]),
        "no_agreement": ~own & ~rows["kommun"].isin(in_force).to_numpy(),
    }, index=rows.index)  # fmt: skip


def gated_truth(folder: Path, kommun_of: Mapping[str, str], as_of: dt.date,
                window: tuple[int, int] = (90, 180)) -> dict[str, GatedTruth]:  # fmt: skip
    """Per row-level dataset: the rows published (distinct, as text) and each gate's count.
    `kommun_of`: each municipal source id's kommunkod (the sources file)."""
    records, agreements = _read(folder, "consent"), _read(folder, "agreements")
    result = {}
    for name, rows in candidates(folder, kommun_of, as_of, window).items():
        columns, recipient, data_from, purpose = DATASETS[name]
        failed = gates_failed(rows.reset_index(drop=True), records, agreements, purpose, data_from)
        rows = rows.reset_index(drop=True)
        kept = pd.Series(True, index=rows.index)
        distinct = lambda mask: rows.loc[mask, list(columns)].drop_duplicates()  # noqa: E731
        before, withheld = distinct(kept), {}
        for gate in GATE_ORDER:
            kept &= ~failed[gate]
            after = distinct(kept)
            withheld[gate], before = len(before) - len(after), after
        result[name] = GatedTruth(columns, recipient, before.reset_index(drop=True), withheld)
    return result


def _text(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, (pd.Timestamp, dt.date)):
        return value.isoformat()[:10]
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def published_rows(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """A published table in the truth's terms: the compared columns as text (a date as
    YYYY-MM-DD), distinct; af_pagaende_insatser's registration-keyed rows only."""
    columns = list(DATASETS[name][0])
    if name in PARTLY:
        table = table[table["keyed_by"] == "registration_id"]
    texts = {c: [_text(v) for v in table[c]] for c in columns}
    dates = {c for c in columns if c in ("planned_end", "ends_on")}
    texts |= {c: [t[:10] for t in texts[c]] for c in dates}  # SQLite may give '2026-11-30 00:00:00'
    return pd.DataFrame(texts, columns=columns).drop_duplicates().reset_index(drop=True)
