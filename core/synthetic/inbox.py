"""Putting it together: every file of the inbox in memory (`build_inbox`), and writing them
into a folder (`generate`)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.synthetic.consents import (
    agreement_plan,
    agreement_truth,
    consent_truth,
    pick_protected,
    plant_consents,
    region_plan,
    region_truth,
)
from core.synthetic.defects import DEFECT_KINDS
from core.synthetic.deliveries import Delivery, deliver
from core.synthetic.outcome_cases import (
    case_truth,
    outcome_counts,
    outcome_rows,
    plant_outcome_cases,
    with_case_registrations,
)
from core.synthetic.flows import flows_truth, plant_homes, with_home_column
from core.synthetic.pack_truth import pack_truth
from core.synthetic.people import draw_people
from core.synthetic.population import build_population
from core.synthetic.randomness import _rng
from core.synthetic.registrations import REGISTRATION_SOURCE, draw_registrations, plant_kaa, registration_text
from core.synthetic.registrations import truth as followup_truth
from core.contracts import CONTRACTS
from core.synthetic.rendering import agreements_yaml, readme, recipients_yaml, sources_yaml
from core.synthetic.systems import (
    AF_SOURCE,
    Source,
    municipal_sources,
    validate_municipalities,
)
from core.synthetic.truth import _csv_text, _truth_overlaps, planted_overlaps
from schemas.errors import MellanrumError
from schemas.municipalities import GOTEBORGSREGIONEN

# What generate writes into DIR (and clears there first).
GENERATED_ENTRIES = ("sources.yaml", "recipients.yaml", "agreements.yaml", "README.txt", "kommun", "af", "truth")

MIN_PEOPLE = 100  # room for every planted case, and a few people in every kommun


class OutDirNotEmpty(MellanrumError):
    """The folder to write into holds files, and replacing an inbox there was not asked for."""


@dataclass(frozen=True)
class SourceSummary:
    source_id: str
    file: str
    format: str
    encoding: str  # as written; "(auto)" appended where the sources file leaves it to the reader
    delimiter: str
    rows: int
    bad_rows: int


@dataclass(frozen=True)
class Inbox:
    files: dict[str, bytes]  # path relative to DIR → content
    sources: tuple[SourceSummary, ...]
    overlaps: int
    made_up_numbers: int  # people beyond what the test numbers cover


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    as_of: dt.date
    people: int
    sources: tuple[SourceSummary, ...]
    overlaps: int
    made_up_numbers: int

    @property
    def truth_dir(self) -> Path:
        return self.out_dir / "truth"


def _summary(source: Source, delivery: Delivery) -> SourceSummary:
    export = source.export
    if export.format == "xlsx":
        encoding, delimiter = "-", "-"
    else:
        encoding = export.encoding + ("" if export.encoding_declared else " (auto)")
        shown = "tab" if export.delimiter == "\t" else export.delimiter
        delimiter = shown + ("" if export.delimiter_declared else " (auto)")
    return SourceSummary(
        source.id, delivery.file, export.format, encoding, delimiter, delivery.rows, len(delivery.bad_rows)
    )


def build_inbox(
    *, people: int, seed: int, municipalities: Sequence[str], as_of: dt.date, bad_share: float,
    registrations: bool = True,
) -> Inbox:
    """Every file of the inbox, in memory: a pure function of its arguments."""
    if people < MIN_PEOPLE:
        raise ValueError(f"people: got {people}, need at least {MIN_PEOPLE} for every planted case and a delivery from every kommun")
    sources = with_home_column(municipal_sources(validate_municipalities(municipalities)))
    persons = draw_people(people, [source.kommunkod for source in sources], as_of, seed)
    population = build_population(persons, sources, as_of, seed)
    interventions = population.interventions
    kaa_people = np.array([], dtype=np.int64)
    assignments, outcome_plan = population.assignments, None
    if registrations:
        interventions, kaa_people = plant_kaa(population.people, interventions, as_of, _rng(seed, "kaa"))
        interventions, assignments, outcome_plan = plant_outcome_cases(
            population.people, interventions, assignments, sources, as_of, _rng(seed, "outcome cases"), kaa_people)
    consents = _rng(seed, "consents")
    # Protected people among the planted overlaps that would otherwise be published (both
    # consents, over full time, touching the window), so that the protected-identity gate alone
    # withholds them; their consent records are kept plain (`plant_consents`).
    cases = planted_overlaps(population, as_of)
    touching = (cases["overlap_start"] <= pd.Timestamp(as_of) + pd.Timedelta(days=180)) & (
        cases["overlap_end"].isna() | (cases["overlap_end"] >= pd.Timestamp(as_of) - pd.Timedelta(days=90)))
    shown = cases[(cases["kind"] == "municipal_af") & cases["consent"].astype(bool) & cases["other_consent"].astype(bool)
                  & (cases["combined_extent"] > 100) & touching]  # fmt: skip
    case_people = population.interventions.drop_duplicates("case_id").set_index("case_id")["person"]
    protected = pick_protected(population.people, np.sort(case_people.reindex(shown["case_id"]).to_numpy()), consents)
    interventions, assignments = plant_consents(
        interventions, assignments, {source.id: source.export for source in [*sources, AF_SOURCE]},
        protected, as_of, consents,
    )
    interventions = plant_homes(population.people, interventions, sources, _rng(seed, "homes"))
    rows_of = {source.id: interventions[interventions.source_id == source.id] for source in sources}
    rows_of[AF_SOURCE.id] = assignments

    files: dict[str, bytes] = {}
    summaries, bad_rows, counts = [], [], []
    kind_order = list(DEFECT_KINDS)
    for source in [*sources, AF_SOURCE]:
        rows = rows_of[source.id]
        quota = max(1, round(bad_share * len(rows))) if bad_share > 0 else 0
        delivery, kind_order = deliver(source, rows, as_of, quota, kind_order, _rng(seed, "source", source.id))
        files[delivery.file] = delivery.content
        summaries.append(_summary(source, delivery))
        bad_rows.append(delivery.bad_rows)
        quarantined = len(delivery.bad_rows)
        counts.append({
            "source_id": source.id,
            "file": delivery.file,
            "rows": delivery.rows,
            "expected_accepted": delivery.rows - quarantined,
            "expected_quarantined": quarantined,
        })

    overlaps = planted_overlaps(population, as_of)
    declared = [*sources, AF_SOURCE]
    # The rows the pipeline accepts: the planted bad rows left out (a duplicate's first copy stays).
    bad = pd.concat(bad_rows, ignore_index=True)
    bad = bad[bad["kind"] != "duplicate_row"]
    accepted_m = interventions[~pd.MultiIndex.from_frame(interventions[["source_id", "record_id"]]).isin(
        pd.MultiIndex.from_frame(bad[["source_id", "record_id"]]))]
    accepted_m = accepted_m.assign(kommunkod=accepted_m["source_id"].map({x.id: x.kommunkod for x in sources}))
    accepted_a = assignments[~assignments["assignment_id"].isin(bad.loc[bad["source_id"] == AF_SOURCE.id, "record_id"])]
    drawn = lists = outcomes = None
    if registrations:
        declared.append(REGISTRATION_SOURCE)
        drawn = draw_registrations(population.people, interventions, assignments, as_of,
                                   _rng(seed, "registrations"), always=kaa_people)  # fmt: skip
        drawn = with_case_registrations(drawn, outcome_plan)
        file = REGISTRATION_SOURCE.file(as_of)
        files[file] = registration_text(drawn, population.people["personnummer"].iloc[drawn["person"]])
        counts.append({"source_id": REGISTRATION_SOURCE.id, "file": file, "rows": len(drawn),
                       "expected_accepted": len(drawn), "expected_quarantined": 0})  # fmt: skip
        summaries.append(SourceSummary(REGISTRATION_SOURCE.id, file, "csv", "utf-8", ";", len(drawn), 0))
        lists = followup_truth(population.people, accepted_m, accepted_a, drawn, as_of)
        for name, frame in lists.items():
            files[f"truth/{name}.csv"] = _csv_text(frame)
        outcomes = outcome_rows(population.people, accepted_m, accepted_a, drawn, as_of)
        files["truth/outcomes.csv"] = _csv_text(outcome_counts(outcomes))
        files["truth/outcome_cases.csv"] = _csv_text(case_truth(outcome_plan))
    files["sources.yaml"] = sources_yaml(declared)
    files["recipients.yaml"] = recipients_yaml([source.kommunkod for source in sources])
    files["agreements.yaml"] = agreements_yaml([source.kommunkod for source in sources], as_of,
                                               [c.name for c in CONTRACTS if c.recipient_column is not None])  # fmt: skip
    codes = [source.kommunkod for source in sources]
    files["truth/consent.csv"] = _csv_text(consent_truth(accepted_m, accepted_a, drawn, REGISTRATION_SOURCE.id))
    files["truth/agreements.csv"] = _csv_text(agreement_truth(codes, agreement_plan(codes, as_of), as_of))
    files["truth/regions.csv"] = _csv_text(region_truth(region_plan()))
    files["truth/overlaps.csv"] = _csv_text(_truth_overlaps(overlaps))
    files["truth/flows.csv"] = _csv_text(flows_truth(accepted_m, sources, as_of))
    files["truth/nyckeltal.csv"] = _csv_text(pack_truth(accepted_m, accepted_a, sources, as_of, drawn, lists, outcomes))
    files["truth/bad_rows.csv"] = _csv_text(pd.concat(bad_rows, ignore_index=True))
    files["truth/expected_counts.csv"] = _csv_text(pd.DataFrame(counts))
    made_up = int(population.people.made_up.sum())
    files["README.txt"] = readme(seed, as_of, people, made_up)
    return Inbox(files, tuple(summaries), len(overlaps), made_up)


def generate(
    out_dir: Path,
    *,
    people: int = 2000,
    seed: int = 1,
    municipalities: Sequence[str] = GOTEBORGSREGIONEN,
    as_of: dt.date,
    bad_share: float = 0.02,
    force: bool = False,
    registrations: bool = True,
) -> GenerationSummary:
    """Write a synthetic inbox into `out_dir` (see the module docstring for the layout).

    A non-empty `out_dir` is refused unless `force`, which first removes a previous inbox
    there, so that no stale delivery is left for a sources glob to pick up.
    """
    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutDirNotEmpty(f"{out_dir} is not empty: choose an empty folder, or force replacing the inbox there")
    inbox = build_inbox(
        people=people, seed=seed, municipalities=municipalities, as_of=as_of, bad_share=bad_share,
        registrations=registrations,
    )
    _remove_previous_inbox(out_dir)
    for relative, content in inbox.files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return GenerationSummary(out_dir, as_of, people, inbox.sources, inbox.overlaps, inbox.made_up_numbers)


def _remove_previous_inbox(out_dir: Path) -> None:
    """Remove what an earlier run wrote into `out_dir`; anything else there stays."""
    for name in GENERATED_ENTRIES:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
