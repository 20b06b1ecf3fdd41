"""Synthetic inbox: messy municipal deliveries, AF's assignments and the ground truth.

`generate` writes what the pipeline reads in production, only made up:

    DIR/sources.yaml                      every source, its format and its code mappings
    DIR/recipients.yaml                   who receives the published datasets: each municipality,
                                          each AF office, the region, and two regions scoped to
                                          their kommuner with groupings (GR, Kronoberg)
    DIR/agreements.yaml                   local agreements: one in force, one expired, and the last
                                          municipality in none (`consents.agreement_plan`)
    DIR/kommun/<kommunkod>_<slug>/<file>  one delivery per municipality, in its own format
    DIR/af/anvisningar_<as-of>.csv        AF's programme assignments (anvisningar)
    DIR/af/inskrivningar_<as-of>.csv      AF's registrations (without `registrations=False`)
    DIR/truth/overlaps.csv                planted overlaps, by record ids only
    DIR/truth/bad_rows.csv                planted bad rows: file, line, defect, column
    DIR/truth/expected_counts.csv         rows, expected accepted and quarantined per source
    DIR/truth/consent.csv                 per accepted row (source id, record id): consent as
                                          delivered, its state on the as-of date (missing, valid,
                                          expired, not_started, withdrawn), the scopes it then
                                          covers, whether the person is protected, AF's office
    DIR/truth/agreements.csv              per municipality: its agreement with AF, in force or not
    DIR/truth/regions.csv                 per scoped region: its kommuner and their groupings
    DIR/truth/transition_list.csv,        the registration-based lists by ids (with registrations;
      youth_monitor.csv, handovers.csv    `followup_truth`)
    DIR/truth/outcomes.csv                outcomes after an intervention: counts per published cell
                                          (level, month, kommun, party, category, age band, horizon,
                                          status) before protection, by the oracle (with registrations)
    DIR/truth/outcome_cases.csv           the planted outcome cases (`outcome_cases`): per case, ended
                                          intervention (party, id) and horizon, the expected status
                                          (`absent`: horizon not reached)
    DIR/truth/nyckeltal.csv               the indicator pack before protection: per closed quarter,
                                          level, kommun, indicator and breakdown the count (a share
                                          row: met, due, share), stated one person at a time
                                          (`pack_truth`; youth and outcomes with registrations only)
    DIR/README.txt                        what this is

Consent records and protected people (`consents`): most systems deliver the consent's period,
withdrawal and scope and a protected-identity flag (one keeps today's single consent column,
as does AF's registrations); the variants are planted so that on the as-of date some
consents are valid, some ended the day before or earlier, some start later, some were
withdrawn on or before it and some after it, some cover samplanering or uppfoljning only.
The planted overlaps sit on the edges (valid from and to the as-of date, ended the day
before, withdrawn on the day, withdrawn the day after). `gates_truth` states from these
files alone which rows every row-level dataset must publish, per recipient, and what each
gate withholds: an oracle for the gates (`core/gates.py`), never using them.

People are Skatteverket's published test personnummer and samordningsnummer, numbers
reserved for testing and never assigned to anyone. Only when more people are asked for
than the test numbers cover in an age band are the rest made up (a valid date, a serial,
a correct check digit); such a number could coincide with a real person's, but no data
about anyone real is behind it.

Each municipality exports from one of six made-up case systems (`CASE_SYSTEMS`), chosen
by kommunkod, so the 13 Göteborgsregionen defaults exercise every encoding, delimiter,
date format and personnummer style the readers must handle.

Apart from the planted cases nobody's periods overlap: a person's own interventions are
sequential, and their AF assignments sit before or after them. Cancelled AF assignments
may overlap (they do not count) and a few are planted to prove it. Planted overlaps only
involve valid rows; bad rows are made from the other rows.

Everything is a function of the arguments: the same arguments give byte-identical files.
Randomness comes from generators derived from the seed per purpose (`_rng`), and the
workbooks' timestamps are fixed to the as-of date.

The modules, each importing only those before it (and `schemas`):

    randomness     a generator per purpose derived from the seed (`_rng`), a weighted draw
    systems        the case systems and AF's export format, the sources, slugs, source ids
    people         test numbers, made-up numbers, ages and bands, drawing the people
    interventions  regular interventions and AF assignments: catalogues, sequential periods
    planted        the planted overlaps and the cancelled decoys
    population     everyone's rows with dates, statuses and the systems' ids
    consents       consent records, protected people, the agreements and scoped regions, and
                   their truth
    text           a source's rows as its system writes them
    defects        the planted bad rows: which rows, which defect, the faulty text
    deliveries     a source's file (CSV or workbook) and where its bad rows landed
    rendering      sources.yaml, recipients.yaml and README.txt
    truth          the planted overlaps by ids, and the truth files' text
    inbox          putting it together: `build_inbox` in memory, `generate` into a folder
    followup, followup_truth, registrations, gates_truth: the registrations and the truths of
                   the lists and of the gates, stated apart from the pipeline's code
    pack_truth     the indicator pack's truth, from the other truths and the accepted rows
"""

from core.synthetic.defects import DEFECT_KINDS
from core.synthetic.inbox import (
    GENERATED_ENTRIES,
    MIN_PEOPLE,
    GenerationSummary,
    OutDirNotEmpty,
    build_inbox,
    generate,
)
from core.synthetic.people import made_up_numbers
from core.synthetic.rendering import recipients_yaml, sources_yaml
from core.synthetic.systems import (
    AF_EXPORT,
    AF_SOURCE,
    CASE_SYSTEMS,
    EXTRA_FIELDS,
    Export,
    export_for,
    municipal_sources,
    source_id,
    validate_municipalities,
)

__all__ = [
    "AF_EXPORT",
    "AF_SOURCE",
    "CASE_SYSTEMS",
    "DEFECT_KINDS",
    "EXTRA_FIELDS",
    "GENERATED_ENTRIES",
    "MIN_PEOPLE",
    "Export",
    "GenerationSummary",
    "OutDirNotEmpty",
    "build_inbox",
    "export_for",
    "generate",
    "made_up_numbers",
    "municipal_sources",
    "recipients_yaml",
    "source_id",
    "sources_yaml",
    "validate_municipalities",
]
