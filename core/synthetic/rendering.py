"""The inbox's descriptive files: sources.yaml (every source, its format and its code
mappings), recipients.yaml (who receives the published datasets) and README.txt."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import yaml

from core.synthetic.consents import agreement_plan, region_plan
from core.synthetic.people import _offices_of
from core.synthetic.systems import EXTRA_FIELDS, Source, slug


def source_entry(source: Source) -> dict:
    """The sources-file entry describing how the source writes its files."""
    export = source.export
    entry: dict = {"id": source.id, "kind": source.kind}
    if source.kommunkod is not None:
        entry["kommunkod"] = source.kommunkod
    entry |= {"name": source.name, "files": source.files_glob, "format": export.format}
    if export.format == "csv":
        entry["encoding"] = export.encoding if export.encoding_declared else "auto"
        entry["delimiter"] = export.delimiter if export.delimiter_declared else "auto"
    else:
        entry["sheet"] = export.sheet
    entry |= {
        "date_formats": [export.date_format],
        "decimal": export.decimal,
        "columns": {their: ours for their, ours in export.columns if ours not in EXTRA_FIELDS},
        "codes": {field: dict(mapping) for field, mapping in export.codes.items()},
    }
    return entry


_SOURCES_HEADER = """\
# Sources of a synthetic inbox written by `mellanrum generate` (synthetic data only).
# Each municipality exports from its own case system: its own column names, local codes,
# encoding, delimiter, date format and personnummer style. Paths are relative to this file.
"""


def sources_yaml(sources: Sequence[Source]) -> bytes:
    document = {"version": 1, "sources": [source_entry(source) for source in sources]}
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return (_SOURCES_HEADER + body).encode("utf-8")


_RECIPIENTS_HEADER = """\
# Recipients of the published datasets for a synthetic inbox (`mellanrum generate`):
# each municipality, each AF office that serves them, the regional federation (every
# municipality's statistics) and two regions scoped to their municipalities, with groupings.
# Register a recipient's public key (`mellanrum recipient-key new`) to export to it.
"""


def recipients_yaml(municipalities: Sequence[str]) -> bytes:
    offices = sorted({office for code in municipalities for office in _offices_of(code)})
    recipients = [
        *({"id": f"kommun_{code}", "kind": "kommun", "kommunkod": code} for code in municipalities),
        *({"id": f"af_{slug(office.removeprefix('Arbetsförmedlingen '))}", "kind": "af_office", "af_office": office}
          for office in offices),
        {"id": "region", "kind": "region", "description": "Göteborgsregionen (GR) and DUA follow-up"},
        *region_plan(),
    ]  # fmt: skip
    body = yaml.safe_dump({"version": 1, "recipients": recipients}, sort_keys=False, allow_unicode=True, width=120)
    return (_RECIPIENTS_HEADER + body).encode("utf-8")


_AGREEMENTS_HEADER = """\
# Local agreements for a synthetic inbox (`mellanrum generate`), each allowing every row-level
# dataset: one in force between AF, the region and the municipalities but the last two; the
# second to last has its own agreement with AF, expired; the last has none, so its rows to and
# from AF are withheld (truth/agreements.csv). Without this file the agreement gate is not
# applied (docs/runbook.md, "What may leave").
"""


def agreements_yaml(municipalities: Sequence[str], as_of: dt.date, contracts: Sequence[str]) -> bytes:
    """agreements.yaml from `agreement_plan`: one in force from a year before `as_of` to two
    years after, one expired, and a municipality without any."""
    agreements = [{**a, "valid_from": a["valid_from"].isoformat(), "valid_to": a["valid_to"].isoformat(),
                   "contracts": list(contracts)} for a in agreement_plan(municipalities, as_of)]  # fmt: skip
    body = yaml.safe_dump({"version": 1, "agreements": agreements}, sort_keys=False, allow_unicode=True, width=120)
    return (_AGREEMENTS_HEADER + body).encode("utf-8")


def readme(seed: int, as_of: dt.date, people: int, made_up: int) -> bytes:
    """README.txt: one paragraph on what the inbox is, and that nobody real is in it."""
    made_up_note = (
        f" The test numbers did not cover {made_up} of the people in their age band: they have "
        "made-up valid numbers, which may coincide with a real person's number but carry no "
        "data about anyone."
        if made_up
        else ""
    )
    text = (
        f"Synthetic data written by `mellanrum generate` (seed {seed}, as of {as_of.isoformat()}, "
        f"{people} people). Every person is made up: the identity numbers are Skatteverket's "
        "published test personnummer and samordningsnummer, reserved for testing and never "
        f"assigned to anyone, so these files never describe real people.{made_up_note} "
        "sources.yaml declares each municipality's delivery under kommun/ and AF's assignments "
        "under af/, each in its own messy format, with consent records (periods, withdrawals, "
        "scopes) and a few people with a protected identity; recipients.yaml adds two regions "
        "scoped to their municipalities, agreements.yaml one agreement in force, one expired and "
        "a municipality without any. truth/ holds what was planted, by record and "
        "assignment ids only: the overlaps the pipeline must find, the bad rows it must "
        "quarantine (file and line), the expected row counts per source, each row's consent on "
        "the as-of date and who is protected, the agreements and the regions' municipalities.\n"
    )
    return text.encode("utf-8")
