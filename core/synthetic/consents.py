"""Consent records, protected people and local agreements for the synthetic inbox, and their
truth: what each delivered row's consent is on the as-of date, who is protected, which
municipalities an agreement in force covers.

Consent as a record (`schemas/sources.py`): each row with consent yes gets one of `VARIANTS`,
a known state on the as-of date by construction (a period around it, one that ended before
it or starts after it, a withdrawal before it, on it or after it, a scope of samplanering
only or uppfoljning only). The planted overlap cases cycle through `_PLANTED_VARIANTS` (seven,
prime to the nine geometries and four consent combinations, so that every variant meets
every geometry), the other rows draw them. A system that does not deliver the record
(`delivers_record`) keeps today's single consent column: its rows are `plain`.

Protected people (skyddad identitet): about one in sixty people, at least three of them in
planted overlap cases that would otherwise be published (their consent records kept plain,
so that the protected-identity gate alone withholds them), flagged in their municipal rows (every other one) or in their AF
assignments (the others), where that source delivers the flag. Protection is the person's:
the truth marks every row of a person flagged in any accepted row.

The truth (`consent_truth`) is stated from the variants, never from the gates' code: a
row's `state` on the as-of date and the `scopes` it then covers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.synthetic.systems import AF_SOURCE, Export
from schemas.municipalities import GOTEBORGSREGIONEN

SCOPES = ("samplanering", "uppfoljning")
BOTH = "samplanering,uppfoljning"

# label → (state on the as-of date, the scopes then covered, the scope written ('' = none))
VARIANTS: dict[str, tuple[str, str, str]] = {
    "plain": ("valid", BOTH, ""),  # no dates, no scope: every scope, as today
    "period": ("valid", BOTH, BOTH),  # from on or before as-of to on or after it, both scopes written
    "ends_on_as_of": ("valid", BOTH, ""),  # valid to the as-of date itself: still valid
    "expired": ("expired", "", ""),  # valid to a day before as-of (the day before, or earlier)
    "not_started": ("not_started", "", ""),  # valid from a day after as-of
    "withdrawn": ("withdrawn", "", ""),  # withdrawn on or before as-of
    "withdrawn_later": ("valid", BOTH, ""),  # withdrawn after as-of (from the day after): valid tonight
    "samplanering_only": ("valid", "samplanering", "samplanering"),
    "uppfoljning_only": ("valid", "uppfoljning", "uppfoljning"),
}
_PLANTED_VARIANTS = ("plain", "expired", "withdrawn", "samplanering_only", "uppfoljning_only", "withdrawn_later",
                     "period")  # fmt: skip
_REGULAR_WEIGHTS = {"plain": 0.55, "period": 0.08, "ends_on_as_of": 0.02, "expired": 0.06, "not_started": 0.03,
                    "withdrawn": 0.06, "withdrawn_later": 0.04, "samplanering_only": 0.08,
                    "uppfoljning_only": 0.08}  # fmt: skip
RECORD_FIELDS = ("consent_valid_from", "consent_valid_to", "consent_withdrawn_on", "consent_scope",
                 "protected_identity")  # fmt: skip
PROTECTED_SHARE = 1 / 60


def delivers_record(export: Export) -> bool:
    """Whether a system's export carries the consent record and the protected flag."""
    return any(ours == "consent_scope" for _, ours in export.columns)


def _variants(rows: pd.DataFrame, delivers: np.ndarray, rng, offset: int) -> np.ndarray:
    """A variant per row: planted cases cycle, others draw; consent no or no record: plain."""
    labels, weights = list(_REGULAR_WEIGHTS), np.array(list(_REGULAR_WEIGHTS.values()))
    drawn = np.array(labels, dtype=object)[rng.choice(len(labels), len(rows), p=weights / weights.sum())]
    planted = (rows["case_id"] != "").to_numpy()
    number = pd.to_numeric(rows["case_id"].str[1:], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    cycled = np.array(_PLANTED_VARIANTS, dtype=object)[(number + offset) % len(_PLANTED_VARIANTS)]
    chosen = np.where(planted, cycled, drawn)
    return np.where(rows["consent"].to_numpy(dtype=bool) & delivers, chosen, "plain")


def _record(variants: np.ndarray, planted: np.ndarray, as_of: dt.date, rng) -> pd.DataFrame:
    """The consent record's dates and scope for each variant, relative to `as_of`. A planted
    case's dates sit on the edges: valid from and to the as-of date itself (`period`), ended
    the day before, withdrawn on the day, withdrawn the day after."""
    n = len(variants)
    day = pd.Timestamp(as_of)

    def days(offsets) -> pd.Series:
        return day + pd.to_timedelta(np.asarray(offsets, dtype=float), unit="D")

    def edge(offsets, on_the_edge) -> np.ndarray:
        return np.where(planted, on_the_edge, offsets)

    is_ = {label: variants == label for label in VARIANTS}
    before, after = rng.integers(1, 400, n), rng.integers(1, 400, n)
    start = np.select([is_["period"], is_["ends_on_as_of"], is_["expired"], is_["not_started"],
                       is_["withdrawn"], is_["withdrawn_later"]],
                      [edge(-before, 0), -before, -before - 60, rng.integers(1, 31, n), -before - 31, -before], np.nan)  # fmt: skip
    end = np.select([is_["period"], is_["ends_on_as_of"], is_["expired"], is_["not_started"]],
                    [edge(after - 1, 0), 0, edge(-rng.integers(1, 61, n), -1), after + 30], np.nan)  # fmt: skip
    # Withdrawn on the as-of date itself (offset 0) is withdrawn: a fifth of the others too.
    withdrawn = np.select([is_["withdrawn"], is_["withdrawn_later"]],
                          [edge(-rng.integers(0, 31, n) * (rng.random(n) > 0.2), 0),
                           edge(rng.integers(1, 61, n), 1)], np.nan)  # fmt: skip
    scope = pd.Series(variants).map({label: v[2] for label, v in VARIANTS.items()}).to_numpy(dtype=object)
    return pd.DataFrame({"consent_valid_from": days(start), "consent_valid_to": days(end),
                         "consent_withdrawn_on": days(withdrawn), "consent_scope": scope})  # fmt: skip


def pick_protected(people: pd.DataFrame, planted: np.ndarray, rng) -> np.ndarray:
    """About PROTECTED_SHARE of the people (at least four), three of them from `planted`."""
    count = max(4, round(PROTECTED_SHARE * len(people)))
    from_planted = rng.choice(planted, min(3, len(planted)), replace=False) if len(planted) else planted
    others = np.setdiff1d(np.arange(len(people)), from_planted)
    return np.sort(np.r_[from_planted, rng.choice(others, count - len(from_planted), replace=False)])


def plant_consents(interventions: pd.DataFrame, assignments: pd.DataFrame, exports: Mapping[str, Export],
                   protected: np.ndarray, as_of: dt.date, rng) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The rows with the consent record (`RECORD_FIELDS`, canonical values) and `variant`.
    `exports`: each source id's export (AF's under its id); `protected`: the people to flag."""
    out = []
    for rows, offset, side in ((interventions, 0, 0), (assignments, 3, 1)):
        sources = rows["source_id"] if "source_id" in rows.columns else pd.Series(AF_SOURCE.id, index=rows.index)
        delivers = sources.map({s: delivers_record(e) for s, e in exports.items()}).fillna(False).to_numpy(dtype=bool)
        # A protected person's consent stays plain: the protected-identity gate alone withholds them.
        variants = np.where(np.isin(rows["person"].to_numpy(), protected), "plain", _variants(rows, delivers, rng, offset))
        record = _record(variants, (rows["case_id"] != "").to_numpy(), as_of, rng).set_axis(rows.index)
        # Every other protected person (by position) is flagged by the municipality, the others by AF.
        flag_here = np.isin(rows["person"].to_numpy(), protected[side::2])
        out.append(rows.assign(**record, variant=variants, protected_identity=flag_here & delivers))
    return out[0], out[1]


def consent_truth(interventions: pd.DataFrame, assignments: pd.DataFrame, registrations: pd.DataFrame | None,
                  registration_source: str) -> pd.DataFrame:  # fmt: skip
    """Per accepted row: source_id, record_id (the assignment's or registration's id for AF),
    consent (as delivered), state on the as-of date (`missing`, `valid`, `expired`,
    `not_started`, `withdrawn`), the scopes it then covers, and whether the person is
    protected (flagged in any accepted row of any source); for AF's rows the office."""
    frames = [
        interventions.assign(id=interventions["record_id"]),
        assignments.assign(id=assignments["assignment_id"], source_id=AF_SOURCE.id),
    ]
    if registrations is not None:
        frames.append(registrations.assign(id=registrations["registration_id"], source_id=registration_source,
                                           variant="plain", protected_identity=False))  # fmt: skip
    frames[0] = frames[0].assign(af_office="")
    rows = pd.concat([f[["source_id", "id", "person", "consent", "variant", "protected_identity", "af_office"]]
                      for f in frames], ignore_index=True)  # fmt: skip
    consent = rows["consent"].to_numpy(dtype=bool)
    state = np.where(consent, rows["variant"].map({label: v[0] for label, v in VARIANTS.items()}), "missing")
    scopes = np.where(consent, rows["variant"].map({label: v[1] for label, v in VARIANTS.items()}), "")
    flagged = set(rows.loc[rows["protected_identity"].to_numpy(dtype=bool), "person"])
    truth = pd.DataFrame({
        "source_id": rows["source_id"], "record_id": rows["id"],
        "consent": np.where(consent, "true", "false"), "state": state, "scopes": scopes,
        "protected": np.where(rows["person"].isin(flagged), "true", "false"), "af_office": rows["af_office"],
    })  # fmt: skip
    return truth.sort_values(["source_id", "record_id"], kind="stable", ignore_index=True)


# --- local agreements and regions ------------------------------------------------------------------

# Göteborgsregionen's northern and southern clusters, Kronoberg's east and west (issue 17).
GR_GROUPINGS = {"norra": ("1407", "1415", "1419", "1440", "1462", "1482"),
                "sodra": ("1384", "1401", "1402", "1481")}  # fmt: skip
KRONOBERG = ("0760", "0761", "0763", "0764", "0765", "0767", "0780", "0781")
KRONOBERG_GROUPINGS = {"ost": ("0760", "0761", "0763", "0780"), "vast": ("0764", "0765", "0767", "0781")}


def agreement_plan(municipalities: Sequence[str], as_of: dt.date) -> list[dict]:
    """The generated agreements: one in force between AF, the region and every municipality
    but the last two; the second to last has its own agreement with AF, expired at the end of
    last year; the last is covered by none (with fewer than three municipalities, every one
    is covered by the one in force)."""
    municipalities = list(municipalities)
    expired, uncovered = (municipalities[-2], municipalities[-1]) if len(municipalities) >= 3 else (None, None)
    covered = [m for m in municipalities if m not in (expired, uncovered)]
    plan = [{"id": "samverkan_demo", "name": "Samverkansöverenskommelse (synthetic)",
             "parties": [*covered, "AF", "region"],
             "valid_from": as_of.replace(year=as_of.year - 1, day=1), "valid_to": as_of.replace(year=as_of.year + 2, day=1)}]  # fmt: skip
    if expired is not None:
        plan.append({"id": f"overenskommelse_{expired}_{as_of.year - 3}", "name": f"DUA-överenskommelse {expired} (synthetic, expired)",
                     "parties": [expired, "AF"], "valid_from": dt.date(as_of.year - 3, 1, 1),
                     "valid_to": dt.date(as_of.year - 1, 12, 31)})  # fmt: skip
    return plan


def agreement_truth(municipalities: Sequence[str], plan: list[dict], as_of: dt.date) -> pd.DataFrame:
    """Per municipality: the agreement naming it and AF (empty: none) and whether it is in
    force on `as_of` (every generated agreement allows every row-level contract)."""
    rows = []
    for code in municipalities:
        naming = [a for a in plan if code in a["parties"] and "AF" in a["parties"]]
        in_force = [a for a in naming if a["valid_from"] <= as_of <= a["valid_to"]]
        chosen = (in_force or naming or [{"id": ""}])[0]
        rows.append({"kommunkod": code, "agreement_id": chosen["id"], "in_force": "true" if in_force else "false"})
    return pd.DataFrame(rows, columns=["kommunkod", "agreement_id", "in_force"])


def region_plan() -> list[dict]:
    """The two scoped region recipients: Göteborgsregionen and Kronoberg, each with its
    municipalities and groupings of them."""
    return [
        {"id": "region_gr", "kind": "region", "description": "Göteborgsregionen (GR): its 13 municipalities",
         "kommuner": list(GOTEBORGSREGIONEN), "groupings": {k: list(v) for k, v in GR_GROUPINGS.items()}},
        {"id": "region_kronoberg", "kind": "region", "description": "Region Kronoberg: its 8 municipalities",
         "kommuner": list(KRONOBERG), "groupings": {k: list(v) for k, v in KRONOBERG_GROUPINGS.items()}},
    ]  # fmt: skip


def region_truth(regions: list[dict]) -> pd.DataFrame:
    """Per region recipient and municipality: the groupings it is in (';' between)."""
    rows = [{"recipient": r["id"], "kommunkod": code,
             "groupings": ";".join(sorted(g for g, codes in r["groupings"].items() if code in codes))}
            for r in regions for code in r["kommuner"]]  # fmt: skip
    return pd.DataFrame(rows, columns=["recipient", "kommunkod", "groupings"])
