"""The publication contracts: every dataset that leaves the pipeline, declared once.

Each declaration carries everything publishing it needs: its strict Pandera model
(`schemas/published.py`, `schemas/statistics.py`), the internal datasets it is built from
and its builder. Adding a published dataset is one more declaration here; the publication
asset, its lineage, the database tables, the recipients' access, the log and
`mellanrum contracts` all follow from the list. See `schemas/contracts.py` for what the
fields mean.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from core.counts import regional_statistics, suppressed_counts, year_of
from core.flows import FLOW_DIMENSIONS, cross_municipality_participants
from core.gates import BOTH_MUNICIPALITIES, consent_given_for
from core.indicators import INPUTS as INDICATOR_INPUTS
from core.indicators import indicator_pack
from core.ingest import cast_to_model
from core.outcomes import OUTCOME_DIMENSIONS, outcome_keys
from core.publish import both_sides, consented_transitions, samplanering
from schemas.contracts import Contract, PublicationParameters, contract_problems
from schemas.errors import ConfigError
from schemas.published import AfPagaendeInsatser, AfSamplanering, KommunOverlapp, KommunSamplanering
from schemas.published_followup import (
    UNKNOWN_KOMMUN,
    KommunoverskridandeInsatser,
    Overlamningar,
    OverlamningarKommun,
    OverlamningarStatistik,
    UngaNittioDagar,
    UngaNittioDagarKommun,
    UngaNittioDagarStatistik,
    UppfoljningEfterInsats,
)
from schemas.published_indicators import Nyckeltal
from schemas.statistics import RegionalStatistik

_COUNTED_FROM = ("overlap_start", "kommunkod", "classification")


def _regional_statistik(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                        declared: Contract) -> pd.DataFrame:  # fmt: skip
    return regional_statistics(inputs["overlaps"], parameters.suppression_threshold, parameters.cell_key_secret)


def _unga_90_dagar(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                   declared: Contract) -> pd.DataFrame:  # fmt: skip
    """One row per spell for its AF office; whether a municipal activity is known only where
    a municipality holding the person recorded consent (else empty)."""
    monitor = inputs["youth_monitor"]
    consented = consent_given_for(monitor, "municipal", declared.consent_purpose)
    shown = monitor.assign(_known=monitor["municipal_activity"].where(consented, pd.NA).astype("boolean"))
    known = shown.groupby("registration_id", sort=False)["_known"].agg(lambda v: v.max() if v.notna().any() else pd.NA)
    spells = monitor.drop_duplicates("registration_id").set_index("registration_id")
    spells["municipal_activity"] = known.reindex(spells.index).astype("boolean")
    return cast_to_model(spells.reset_index()[declared.columns], declared.model)


def _unga_90_dagar_kommun(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                          declared: Contract) -> pd.DataFrame:  # fmt: skip
    """A municipality's own people (by its record id); AF's consent is a gate (`core/gates.py`)."""
    monitor = inputs["youth_monitor"]
    wanted = monitor["kommunkod"].notna().to_numpy(dtype=bool)
    return cast_to_model(monitor.loc[wanted, declared.columns].drop_duplicates(), declared.model)


def _youth_counted(monitor: pd.DataFrame) -> pd.DataFrame:
    """One row per spell: a person in several municipalities' records counts in the first by kommunkod."""
    first = monitor.sort_values(["registration_id", "kommunkod"], na_position="last").drop_duplicates("registration_id")
    return pd.DataFrame({
        "year": year_of(first["registration_date"]),
        "kommunkod": first["kommunkod"].astype(object).where(first["kommunkod"].notna(), UNKNOWN_KOMMUN).astype(str),
        "status": first["status"].astype(str),
        "person": first["pseudonym"].astype(str),  # the contributor, for the cell key
    })  # fmt: skip


def _unga_90_dagar_statistik(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                             declared: Contract) -> pd.DataFrame:  # fmt: skip
    counted = suppressed_counts(_youth_counted(inputs["youth_monitor"]), ["status"],
                                parameters.suppression_threshold, parameters.cell_key_secret, "year")  # fmt: skip
    return cast_to_model(counted[declared.columns], declared.model)


def _handovers(kinds: tuple[str, ...]):
    def build(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
              declared: Contract) -> pd.DataFrame:  # fmt: skip
        table = inputs["handovers"]
        wanted = table["kind"].isin(kinds).to_numpy(dtype=bool)
        return cast_to_model(table.loc[wanted, declared.columns].drop_duplicates(), declared.model)

    return build


def _overlamningar_statistik(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                             declared: Contract) -> pd.DataFrame:  # fmt: skip
    table = inputs["handovers"]
    # The contributor: the person by the municipality's record id (hand-overs hold no pseudonym).
    keys = pd.DataFrame({"year": year_of(table["ends_on"]),
                         "kommunkod": table["kommunkod"].astype(str), "kind": table["kind"].astype(str),
                         "person": table["kommunkod"].astype(str) + "/" + table["record_id"].astype(str)})  # fmt: skip
    counted = suppressed_counts(keys, ["kind"], parameters.suppression_threshold, parameters.cell_key_secret, "year")
    return cast_to_model(counted[declared.columns], declared.model)


def _uppfoljning_efter_insats(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                              declared: Contract) -> pd.DataFrame:  # fmt: skip
    """Ended interventions per year of the end × kommun × party × horizon ×
    status (`core.outcomes.outcome_keys`; `person` is the pipeline pseudonym, for the protection)."""
    keys = outcome_keys(inputs["intervention_outcomes"])
    counted = suppressed_counts(keys, OUTCOME_DIMENSIONS, parameters.suppression_threshold, parameters.cell_key_secret,
                                "year")  # fmt: skip
    return cast_to_model(counted[declared.columns], declared.model)


def _nyckeltal(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
               declared: Contract) -> pd.DataFrame:  # fmt: skip
    """The indicator pack of the closed quarters; those published before kept as they were."""
    pack = indicator_pack(inputs, parameters.as_of, parameters.suppression_threshold,
                          parameters.previous.get(declared.name), parameters.cell_key_secret)  # fmt: skip
    return cast_to_model(pack[declared.columns], declared.model)


def _kommunoverskridande_insatser(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                                  declared: Contract) -> pd.DataFrame:  # fmt: skip
    """People in another municipality's interventions per year × kommun × direction, a person
    once per cell (`core.flows.cross_municipality_participants`)."""
    keys = cross_municipality_participants(inputs["municipal_flows"])
    counted = suppressed_counts(keys, FLOW_DIMENSIONS, parameters.suppression_threshold, parameters.cell_key_secret,
                                "year")  # fmt: skip
    return cast_to_model(counted[declared.columns], declared.model)


_COUNTED = {"year": ("registration_date",), "level": ("registration_id",), "kommunkod": ("kommunkod",),
            "count": ("registration_id",), "suppressed": ("registration_id",)}  # fmt: skip
_HANDOVERS_COUNTED = {"year": ("ends_on",), "level": ("kind",), "count": ("kind",), "suppressed": ("kind",)}
_PACK_COUNTED = {"quarter": ("overlap_start",), "level": ("classification",), "indicator": ("classification",),
                 "breakdown": ("classification",), "count": ("classification",),
                 "denominator": ("classification",), "share": ("classification",),
                 "suppressed": ("classification",)}  # fmt: skip
_FLOWS_COUNTED = {"year": ("month",), "level": ("home_kommunkod",), "kommunkod": ("kommunkod", "home_kommunkod"),
                  "direction": ("kommunkod", "home_kommunkod"), "count": ("pseudonym",),
                  "suppressed": ("pseudonym",)}  # fmt: skip
_OUTCOMES_COUNTED = {"year": ("ends_on",), "level": ("status",), "count": ("status",), "suppressed": ("status",)}

CONTRACTS: tuple[Contract, ...] = (
    Contract(
        name="kommun_samplanering",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Lets a municipality plan together with AF for its own people whose intervention "
        "overlaps an AF programme, before one breaks off the other.",
        model=KommunSamplanering,
        inputs=("overlaps",),
        build=samplanering,
        consent_from="af_consent",
        recipient_column="kommunkod",
        consent_purpose="samplanering",
    ),
    Contract(
        name="af_samplanering",
        version="1.0.0",
        recipient_kind="af_office",
        purpose="Lets an AF office plan together with the municipality for its assignments that "
        "overlap a municipal intervention.",
        model=AfSamplanering,
        inputs=("overlaps",),
        build=samplanering,
        consent_from="municipal_consent",
        recipient_column="af_office",
        consent_purpose="samplanering",
    ),
    Contract(
        name="af_pagaende_insatser",
        version="1.1.0",
        recipient_kind="af_office",
        purpose="Tells an AF office which of its people (with an assignment, or registered at AF without "
        "one) have a municipal intervention planned to continue past the cut-off, so that a new "
        "assignment does not break it off.",
        model=AfPagaendeInsatser,
        inputs=("transition_list",),
        build=consented_transitions,
        consent_from="municipal_consent",
        recipient_column="af_office",
        consent_purpose="samplanering",
    ),
    Contract(
        name="regional_statistik",
        version="3.0.0",
        recipient_kind="region",
        purpose="Follow-up for the regional federation and DUA: how many overlaps of which class, "
        "by calendar year and municipality, perturbed by the cell key (each within ±2).",
        model=RegionalStatistik,
        inputs=("overlaps",),
        build=_regional_statistik,
        derived={"year": ("overlap_start",), "level": _COUNTED_FROM, "overlap_count": _COUNTED_FROM,
                 "suppressed": _COUNTED_FROM},  # fmt: skip
    ),
    Contract(
        name="unga_90_dagar",
        version="1.0.0",
        recipient_kind="af_office",
        purpose="The 90-day guarantee for young people (16-24): tells an AF office which of its young "
        "registered jobseekers are approaching or past day 90 with nothing started, so that it acts "
        "before or as soon as the promise is broken. Whether a municipal activity is known is shown only "
        "where the municipality recorded consent.",
        model=UngaNittioDagar,
        inputs=("youth_monitor",),
        build=_unga_90_dagar,
        recipient_column="af_office",
        consent_purpose="uppfoljning",
        derived={"municipal_activity": ("municipal_activity", "municipal_consent")},
    ),
    Contract(
        name="unga_90_dagar_kommun",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Tells a municipality which of its own young people registered at AF are approaching or past "
        "day 90 with nothing started (no AF date, only the status), so that it can offer an intervention.",
        model=UngaNittioDagarKommun,
        inputs=("youth_monitor",),
        build=_unga_90_dagar_kommun,
        consent_from="af_consent",
        recipient_column="kommunkod",
        consent_purpose="uppfoljning",
    ),
    Contract(
        name="unga_90_dagar_statistik",
        version="3.0.0",
        recipient_kind="region",
        purpose="Follow-up of the 90-day guarantee for the region and DUA: young people's registration "
        "spells by status per kommun and calendar year of day 0, perturbed by the cell key (each within ±2).",
        model=UngaNittioDagarStatistik,
        inputs=("youth_monitor",),
        build=_unga_90_dagar_statistik,
        derived=_COUNTED,
    ),
    Contract(
        name="overlamningar",
        version="1.0.0",
        recipient_kind="af_office",
        purpose="Hand-overs for AF so nobody falls between the chairs: a municipal intervention ending with "
        "no AF programme next (insats_slut_utan_af), KAA ending at 20 (kaa_slutar).",
        model=Overlamningar,
        inputs=("handovers",),
        build=_handovers(("insats_slut_utan_af", "kaa_slutar")),
        consent_from="municipal_consent",
        recipient_column="af_office",
        consent_purpose="samplanering",
    ),
    Contract(
        name="overlamningar_kommun",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Hand-overs for a municipality: an AF programme of one of its own people ends with nothing "
        "next within 30 days (af_slut_utan_fortsattning).",
        model=OverlamningarKommun,
        inputs=("handovers",),
        build=_handovers(("af_slut_utan_fortsattning",)),
        consent_from="af_consent",
        recipient_column="kommunkod",
        consent_purpose="samplanering",
    ),
    Contract(
        name="overlamningar_statistik",
        version="3.0.0",
        recipient_kind="region",
        purpose="Follow-up of the hand-overs for the region: how many of each kind per kommun and calendar year, "
        "perturbed by the cell key (each within ±2).",
        model=OverlamningarStatistik,
        inputs=("handovers",),
        build=_overlamningar_statistik,
        derived=_HANDOVERS_COUNTED,
    ),
    Contract(
        name="uppfoljning_efter_insats",
        version="3.0.0",
        recipient_kind="region",
        also_to=("kommun",),
        purpose="Follow-up of what happened after an intervention of either party ended: the person's status "
        "30, 90 and 180 days after the last day (de-registered from AF to work or studies, in an AF programme, in a "
        "municipal intervention, registered at AF, not known), counted per calendar year of the end, kommun and party, "
        "perturbed by the cell key (each within ±2); a horizon not yet reached is absent. Each municipality reads its own "
        "rows, the region its municipalities'.",
        model=UppfoljningEfterInsats,
        inputs=("intervention_outcomes",),
        build=_uppfoljning_efter_insats,
        derived=_OUTCOMES_COUNTED,
    ),
    Contract(
        name="nyckeltal",
        version="1.0.0",
        recipient_kind="region",
        also_to=("kommun",),
        purpose="The local agreement's indicator pack for the strategy group's quarterly meeting: per closed quarter "
        "and kommun, overlaps by class, people on the transition list, young people's 90-day promise (statuses, and "
        "the share met with its numerator and denominator), the status 90 days after an intervention ended, and "
        "people in another municipality's interventions; perturbed by the cell key. Only quarters that ended before "
        "the as-of date, each frozen once published (a later night never changes it). Each municipality reads its "
        "own rows, the region its municipalities'; also as a "
        "sealed XLSX/CSV export (`mellanrum export`).",
        model=Nyckeltal,
        inputs=INDICATOR_INPUTS,
        build=_nyckeltal,
        derived=_PACK_COUNTED,
        freezes_closed_quarters=True,
    ),
    Contract(
        name="kommunoverskridande_insatser",
        version="2.0.0",
        recipient_kind="region",
        also_to=("kommun",),
        purpose="Flows between municipalities: per calendar year and kommun, how many residents of other "
        "municipalities took part in its interventions (tar_emot) and how many of its residents (by "
        "folkbokföringskommun) took part in another's (deltar_annanstans), a person once per cell, perturbed by the "
        "cell key. Each municipality reads its own rows, the region its municipalities'.",
        model=KommunoverskridandeInsatser,
        inputs=("municipal_flows",),
        build=_kommunoverskridande_insatser,
        derived=_FLOWS_COUNTED,
    ),
    Contract(
        name="kommun_overlapp",
        version="1.0.0",
        recipient_kind="kommun",
        purpose="Lets two municipalities plan together when one person is in both's interventions at once: each "
        "reads its own record id, the other kommun, the overlap period and both categories (never the other's record "
        "id), only where both municipalities' consents are valid for samplanering and an agreement in force names "
        "the two of them.",
        model=KommunOverlapp,
        inputs=("municipal_overlaps",),
        build=both_sides,
        consent_from=BOTH_MUNICIPALITIES,
        recipient_column="kommunkod",
        consent_purpose="samplanering",
        derived={"kommunkod": ("kommunkod", "other_kommunkod"), "record_id": ("record_id", "other_record_id"),
                 "category": ("category", "other_category"), "other_kommunkod": ("kommunkod", "other_kommunkod"),
                 "other_category": ("category", "other_category")},
    ),
)


def contract(name: str, contracts: tuple[Contract, ...] = CONTRACTS) -> Contract:
    for declared in contracts:
        if declared.name == name:
            return declared
    raise ConfigError(f"no contract named {name!r} (declared: {', '.join(c.name for c in contracts)})")


_problems = contract_problems(CONTRACTS)
if _problems:
    raise ConfigError("core/contracts.py: " + "; ".join(_problems))
