"""Synthetic inbox: messy municipal deliveries, AF's assignments and the ground truth.

`generate` writes what the pipeline reads in production, only made up:

    DIR/sources.yaml                      every source, its format and its code mappings
    DIR/recipients.yaml                   who receives the published datasets
    DIR/kommun/<kommunkod>_<slug>/<file>  one delivery per municipality, in its own format
    DIR/af/anvisningar_<as-of>.csv        AF's programme assignments (anvisningar)
    DIR/truth/overlaps.csv                planted overlaps, by record ids only
    DIR/truth/bad_rows.csv                planted bad rows: file, line, defect, column
    DIR/truth/expected_counts.csv         rows, expected accepted and quarantined per source
    DIR/README.txt                        what this is

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
    text           a source's rows as its system writes them
    defects        the planted bad rows: which rows, which defect, the faulty text
    deliveries     a source's file (CSV or workbook) and where its bad rows landed
    rendering      sources.yaml, recipients.yaml and README.txt
    truth          the planted overlaps by ids, and the truth files' text
    inbox          putting it together: `build_inbox` in memory, `generate` into a folder
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
