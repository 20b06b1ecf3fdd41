"""Column lineage: which upstream columns each column of a dataset is made from.

Recorded as `dagster/column_lineage` on the reconciliation's and the publication's assets
(the open-source UI does not draw it; it is kept for the steward's lineage questions,
see docs/runbook.md). The step from a delivery's own column names to ours is recorded on
each ingest materialization as `source_columns`, from the sources file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd

from assets.metadata import table
from assets.names import AF_ASSIGNMENTS, AF_REGISTRATIONS, MUNICIPAL_INTERVENTIONS

# Where each internal reconciliation column comes from: (asset, column) pairs.
_M, _A = MUNICIPAL_INTERVENTIONS, AF_ASSIGNMENTS
_PERIODS = [(_M, "start_date"), (_M, "end_date"), (_A, "start_date"), (_A, "end_date")]
_CATEGORIES = [(_M, "category"), (_A, "category"), (_M, "extent_pct"), (_A, "extent_pct")]
_RECORD = ("consent", "consent_valid_from", "consent_valid_to", "consent_withdrawn_on", "consent_scope")


def _gates(municipal: Sequence[dg.AssetKey], af: Sequence[dg.AssetKey]) -> dict[str, list[tuple[dg.AssetKey, str]]]:
    """The gates' columns (`core/gates.py`): each party's consent record, protection from every source."""
    return {"municipal_consent_for": [(key, c) for key in municipal for c in _RECORD],
            "af_consent_for": [(key, c) for key in af for c in _RECORD],
            "protected_identity": [(key, "protected_identity") for key in (*municipal, *af)]}  # fmt: skip


OVERLAP_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    "pseudonym": [(_M, "pseudonym"), (_A, "pseudonym")],
    "key_id": [(_M, "key_id"), (_A, "key_id")],
    "age_band": [(_M, "age_band"), (_A, "age_band")],
    "municipal_source_id": [(_M, "source_id")],
    "kommunkod": [(_M, "kommunkod")],
    "record_id": [(_M, "record_id")],
    "insats_code": [(_M, "insats_code")],
    "municipal_category": [(_M, "category")],
    "municipal_extent_pct": [(_M, "extent_pct")],
    "municipal_consent": [(_M, "consent")],
    "af_source_id": [(_A, "source_id")],
    "assignment_id": [(_A, "assignment_id")],
    "programme_code": [(_A, "programme_code")],
    "af_category": [(_A, "category")],
    "af_office": [(_A, "af_office")],
    "af_extent_pct": [(_A, "extent_pct")],
    "af_consent": [(_A, "consent")],
    "overlap_start": _PERIODS,
    "overlap_end": _PERIODS,
    "overlap_days": _PERIODS,
    "combined_extent_pct": [(_M, "extent_pct"), (_A, "extent_pct")],
    "interruption_risk": [(_M, "start_date"), (_A, "start_date")],
    "upcoming": [(_A, "decision_date"), (_A, "start_date")],
    "classification": _CATEGORIES,
    "rule_id": _CATEGORIES,
    "in_window": _PERIODS,
    **_gates([_M], [_A]),
}
# One person's two municipal interventions: every column from the interventions' own.
MUNICIPAL_PAIR_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    **{f"{prefix}{column}": [(_M, column)] for prefix in ("", "other_")
       for column in ("source_id", "kommunkod", "record_id", "insats_code", "category", "extent_pct", "consent")},
    **{column: [(_M, column)] for column in ("pseudonym", "key_id", "age_band")},
    **{column: [(_M, "start_date"), (_M, "end_date")] for column in ("overlap_start", "overlap_end", "overlap_days",
                                                                    "in_window")},
    "combined_extent_pct": [(_M, "extent_pct")],
    **{f"{prefix}consent_for": [(_M, c) for c in ("consent", "consent_valid_from", "consent_valid_to",
                                                  "consent_withdrawn_on", "consent_scope")] for prefix in ("", "other_")},
    "protected_identity": [(_M, "protected_identity")],
}  # fmt: skip
TRANSITION_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    "assignment_id": [(_A, "assignment_id"), (_A, "start_date"), (_A, "end_date"), (_A, "status")],
    "af_office": [(_A, "af_office")],
    "kommunkod": [(_M, "kommunkod")],
    "intervention_category": [(_M, "category")],
    "planned_end": [(_M, "end_date")],
    "municipal_consent": [(_M, "consent")],
    "af_consent": [(_A, "consent"), (AF_REGISTRATIONS, "consent")],
    "registration_id": [(AF_REGISTRATIONS, "registration_id"), (AF_REGISTRATIONS, "registration_date"),
                        (AF_REGISTRATIONS, "deregistration_date")],
    "keyed_by": [(_A, "assignment_id"), (AF_REGISTRATIONS, "registration_id")],
    **_gates([_M], [_A, AF_REGISTRATIONS]),
}
_R = AF_REGISTRATIONS
_SPELL = [(_R, "registration_date"), (_R, "deregistration_date")]
_STARTS = [(_A, "start_date"), (_A, "status"), (_M, "start_date")]
YOUTH_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    "pseudonym": [(_R, "pseudonym")], "key_id": [(_R, "key_id")],
    "registration_id": [(_R, "registration_id"), *_SPELL], "af_office": [(_R, "af_office")],
    "registration_date": _SPELL, "spell_end": _SPELL, "age_band": [(_R, "age_band")], "day": _SPELL,
    "status": [*_SPELL, *_STARTS], "days_to_start": [*_SPELL, *_STARTS], "started_by": _STARTS,
    "af_consent": [(_R, "consent")], "kommunkod": [(_M, "kommunkod")], "record_id": [(_M, "record_id")],
    "municipal_consent": [(_M, "consent")], "municipal_activity": [(_M, "start_date"), (_M, "end_date")],
    **_gates([_M], [_R]),
}  # fmt: skip
HANDOVER_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    "kind": [(_M, "end_date"), (_A, "end_date"), (_M, "insats_code"), (_R, "turns_20_on")],
    "af_office": [(_R, "af_office"), (_A, "af_office")], "kommunkod": [(_M, "kommunkod")],
    "record_id": [(_M, "record_id")], "registration_id": [(_R, "registration_id")],
    "assignment_id": [(_A, "assignment_id")], "category": [(_M, "category"), (_A, "category")],
    "ends_on": [(_M, "end_date"), (_A, "end_date"), (_R, "turns_20_on")],
    "municipal_consent": [(_M, "consent")], "af_consent": [(_R, "consent"), (_A, "consent")],
    **_gates([_M], [_R, _A]),
}  # fmt: skip
_OUTCOME_DAYS = [(_M, "start_date"), (_M, "end_date"), (_A, "start_date"), (_A, "end_date"), (_A, "status"),
                 (_R, "registration_date"), (_R, "deregistration_date"), (_R, "deregistration_reason")]
OUTCOME_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    "pseudonym": [(_M, "pseudonym"), (_A, "pseudonym")], "key_id": [(_M, "key_id"), (_A, "key_id")],
    "party": [(_M, "record_id"), (_A, "assignment_id")],
    "intervention_id": [(_M, "record_id"), (_A, "assignment_id")],
    "kommunkod": [(_M, "kommunkod"), (_M, "start_date")], "category": [(_M, "category"), (_A, "category")],
    "age_band": [(_M, "age_band"), (_A, "age_band")], "ends_on": [(_M, "end_date"), (_A, "end_date")],
    "horizon": [(_M, "end_date"), (_A, "end_date")], "status": _OUTCOME_DAYS,
}  # fmt: skip
FLOW_SOURCES: dict[str, list[tuple[dg.AssetKey, str]]] = {
    **{column: [(_M, column)] for column in ("pseudonym", "key_id", "record_id", "kommunkod", "category", "age_band")},
    "home_kommunkod": [(_M, "home_kommunkod"), (_M, "kommunkod")],
    "month": [(_M, "start_date"), (_M, "end_date")],
}  # fmt: skip


def column_lineage(sources: Mapping[str, Sequence[tuple[dg.AssetKey, str]]]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=key, column_name=name) for key, name in deps]
            for column, deps in sources.items()
        }
    )


def same_named(columns: Sequence[str], upstream: dg.AssetKey,
               derived: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[tuple[dg.AssetKey, str]]]:  # fmt: skip
    """Lineage of a dataset whose columns are `upstream`'s under the same names, except the
    `derived` ones (column: the upstream columns it is computed from)."""
    derived = derived or {}
    return {c: [(upstream, d) for d in derived.get(c, [c])] for c in columns}


# What the reconciliation's datasets are made from, by dataset: the second hop of a
# published column's lineage.
INTERNAL_SOURCES: dict[str, Mapping[str, Sequence[tuple[dg.AssetKey, str]]]] = {
    "overlaps": OVERLAP_SOURCES,
    "municipal_overlaps": MUNICIPAL_PAIR_SOURCES,
    "transition_list": TRANSITION_SOURCES,
    "youth_monitor": YOUTH_SOURCES,
    "handovers": HANDOVER_SOURCES,
    "intervention_outcomes": OUTCOME_SOURCES,
    "municipal_flows": FLOW_SOURCES,
}


def lineage_table(lineage: Mapping[str, Sequence[tuple[dg.AssetKey, str]]]) -> dg.MetadataValue:
    """Column lineage as a table the open-source UI shows (it does not draw column lineage):
    each column, what it is made from, and what that was ingested as."""
    rows = []
    for column, deps in lineage.items():
        made_from = sorted({f"{key.to_user_string()}.{name}" for key, name in deps})
        ingested = sorted({f"{source.to_user_string()}.{field}" for key, name in deps
                           for source, field in INTERNAL_SOURCES.get(key.to_user_string(), {}).get(name, [])})  # fmt: skip
        rows.append({"column": column, "made from": ", ".join(made_from), "ingested as": ", ".join(ingested) or "-"})
    return table(pd.DataFrame(rows, columns=["column", "made from", "ingested as"]))
