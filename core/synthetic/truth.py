"""The ground truth: the planted overlaps, identified by record and assignment ids only, and
the text of the truth/ files."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.synthetic.population import Population
from core.synthetic.systems import AF_SOURCE
from core.synthetic.text import date_text

OVERLAP_COLUMNS = (
    "case_id", "kind", "source_id", "record_id", "other_source_id", "other_record_id", "code", "other_code",
    "overlap_start", "overlap_end", "interruption_risk", "upcoming", "consent", "other_consent",
    "combined_extent", "youth",
)  # fmt: skip


def planted_overlaps(population: Population, as_of: dt.date) -> pd.DataFrame:
    """One row per planted case, identified by record and assignment ids only."""
    municipal = population.interventions[population.interventions.case_id != ""]
    af = population.assignments[population.assignments.case_id != ""]
    with_af = municipal.merge(af, on=["case_id", "person"], suffixes=("", "_af"))
    municipal_af = pd.DataFrame({
        "case_id": with_af.case_id,
        "kind": "municipal_af",
        "source_id": with_af.source_id,
        "record_id": with_af.record_id,
        "other_source_id": AF_SOURCE.id,
        "other_record_id": with_af.assignment_id,
        "code": with_af.insats_code,
        "other_code": with_af.programme_code,
        "start": with_af.start_date,
        "end": with_af.end_date,
        "other_start": with_af.start_date_af,
        "other_end": with_af.end_date_af,
        "interruption_risk": with_af.start_date_af > with_af.start_date,
        "upcoming": with_af.start_date_af > pd.Timestamp(as_of),
        "consent": with_af.consent,
        "other_consent": with_af.consent_af,
        "combined_extent": with_af.extent_pct + with_af.extent_pct_af,
        "person": with_af.person,
    })
    pairs = municipal[municipal.case_id.duplicated(keep=False)].sort_values(["case_id", "source_id"])
    first, second = pairs.iloc[0::2].reset_index(drop=True), pairs.iloc[1::2].reset_index(drop=True)
    two = pd.DataFrame({
        "case_id": first.case_id,
        "kind": "two_municipalities",
        "source_id": first.source_id,
        "record_id": first.record_id,
        "other_source_id": second.source_id,
        "other_record_id": second.record_id,
        "code": first.insats_code,
        "other_code": second.insats_code,
        "start": first.start_date,
        "end": first.end_date,
        "other_start": second.start_date,
        "other_end": second.end_date,
        "interruption_risk": pd.NA,  # defined for an AF assignment starting only
        "upcoming": pd.NA,
        "consent": first.consent,
        "other_consent": second.consent,
        "combined_extent": first.extent_pct + second.extent_pct,
        "person": first.person,
    })
    cases = pd.concat([municipal_af, two], ignore_index=True).sort_values("case_id", ignore_index=True)
    cases["overlap_start"] = cases[["start", "other_start"]].max(axis=1)
    cases["overlap_end"] = cases[["end", "other_end"]].min(axis=1)  # NaT only when both are open
    cases["youth"] = population.people.youth.to_numpy()[cases.person]
    return cases[list(OVERLAP_COLUMNS)]


def _csv_text(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _truth_overlaps(overlaps: pd.DataFrame) -> pd.DataFrame:
    written = overlaps.copy()
    for column in ("overlap_start", "overlap_end"):
        written[column] = date_text(written[column], "%Y-%m-%d")
    for column in ("interruption_risk", "upcoming", "consent", "other_consent", "youth"):
        written[column] = written[column].map({True: "true", False: "false"}).fillna("")
    written["combined_extent"] = written.combined_extent.map("{:g}".format)
    return written
