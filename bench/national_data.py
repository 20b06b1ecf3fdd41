"""A national inbox at scale: every municipality's delivery in its own format, and AF's.

    write_national_inbox(folder, municipal_rows=100_000, af_rows=500_000, seed=1)

What `core.synthetic.generate` writes, only vectorized (numpy and Arrow, no loop over
rows) so that millions of rows take seconds, and with made-up identities: the generator's
people come from Skatteverket's test numbers, which cover a few thousand people, not
millions. Used by `bench/national.py`; everything goes into `folder`, which the bench
makes with `tempfile.TemporaryDirectory()` and deletes at the end.

- Sources: one per municipality (all 290 by default, or those given), each in the export
  format `core.synthetic.export_for` gives its kommunkod (`CASE_SYSTEMS`: semicolon and
  Windows-1252 with CRLF, comma with a BOM, tab, comma and Windows-1252, and two Excel
  layouts), with the generator's column names, local code words, date formats
  (2021-09-29, 20210929, 29/9/2021), decimal marks and personnummer styles
  (YYYYMMDD-NNNN, YYMMDD-NNNN, YYYYMMDDNNNN, YYMMDDNNNN); and AF (`AF_EXPORT`: `;`,
  UTF-8, its programme names and statuses) in one or several files. `sources.yaml` and
  `recipients.yaml` are the generator's own (`sources_yaml`, `recipients_yaml`).
- Rows are spread over the municipalities by the generator's population weights
  (Göteborg 6 %, the other Göteborgsregionen members by size, every other kommun alike).
- People: distinct valid personnummer made up at run time (`bench/ingest.py`'s
  `_personnummer_digits`: aged 16-66, a calendar birth date, a serial, the Luhn digit,
  5 % samordningsnummer). About 1.3 records per municipal person and 1.6 per AF person;
  a third of the municipal people also have AF assignments. 1 % of municipal rows are
  registered in a second, random municipality (people who moved: the municipal-municipal
  overlaps).
- Home municipalities (folkbokföringskommun), as `core.synthetic.flows` plants them in the
  demo: LIVING_ELSEWHERE_SHARE (12 %) of the municipal people live in a neighbour, another
  kommun of the same county (län: the first two digits of the kommunkod), drawn by the
  population weights (a kommun alone in its county, Gotland, keeps its people); everyone
  else lives where their interventions are. One home per person, on all their rows. The case
  systems that carry the column (`with_home_column`: all but `komma_bom`) write it last
  (`Folkbokföringskommun`), only where it differs from the providing kommun: empty for a
  resident, the home kommun for a neighbour's resident and for a moved row (provided by a
  second municipality, it names where its person lives; so does a row moved to top up a
  small kommun's delivery, which happens only at small scales). Drawn from a random stream
  of its own: every other cell of every delivery is as without it. About 11 % of the
  municipal rows carry a home kommun (`komma_bom`'s municipalities write none).
- Periods start anywhere from 700 days before to 60 days after the as-of date and last
  2 weeks to a year (AF: a month to 15 months); 15 % of started interventions and 20 %
  of started assignments are open-ended; 4 % of AF assignments are cancelled. Periods
  overlap at random, so about a third of a municipal person's AF assignments share a
  day with one of their interventions.
- 1 % of every delivery's rows are bad, one planted defect each, dealt in turn: wrong
  check digit, blank personnummer, impossible start date, end before start, unknown
  code, extent out of range, an exact duplicate of an earlier row. Each must end up in
  quarantine: `expected` gives rows, accepted and quarantined per source.
- AF's registrations (`registrations=True`, the default): drawn from the accepted rows by
  the demo generator's rules (`core.synthetic.registrations.draw_registrations`: every AF
  person registered around their programmes, half of the people with only municipal
  interventions, a tenth split around a 5-60 day gap), about as many as AF's assignment
  rows, written in AF's export (`registration_text`) with no bad rows, from a random
  stream of their own (the other deliveries are the same with or without them); and the
  truth of the lists built on them, by the slow rules (`truth/transition_list.csv`,
  `truth/youth_monitor.csv`, `truth/handovers.csv`, as `core.synthetic.generate` writes),
  and the outcomes after an intervention counted per published cell (`truth/outcomes.csv`,
  by the day-by-day oracle; the bench plants no named cases), and the flows between
  municipalities per published cell (`truth/flows.csv`, `flows_truth`: vectorized, from
  the generated rows, not by `core/flows.py`).
  No KAA is planted here (the `kaa_slutar` hand-overs occur only by chance).
- Excel deliveries are also written as UTF-8 CSV with the same cells under
  `xlsx-as-csv/` (DuckDB cannot read .xlsx without an extension downloaded at run time):
  the "converted beforehand" copies the DuckDB alternative reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from ingest import (
    _personnummer_digits,  # bench/ingest.py: distinct valid made-up numbers
)

from core.synthetic import (
    AF_EXPORT,
    AF_SOURCE,
    CASE_SYSTEMS,
    Export,
    municipal_sources,
    recipients_yaml,
    sources_yaml,
)
from core.synthetic.flows import HOME_COLUMN, LIVING_ELSEWHERE_SHARE, with_home_column
from core.synthetic.flows import FLOW_CELL
from core.synthetic.people import (
    _OTHER_POPULATION_THOUSANDS,
    _POPULATION_THOUSANDS,
    _offices_of,
)
from core.synthetic.outcome_cases import outcome_counts, outcome_rows
from core.synthetic.registrations import REGISTRATION_SOURCE, draw_registrations, registration_text
from core.synthetic.registrations import truth as registration_truth
from core.synthetic.truth import _csv_text
from schemas.municipalities import municipality_names
from schemas.personnummer import birth_dates
from schemas.sources import OPTIONAL_COLUMNS

AS_OF = dt.date(2026, 11, 23)
MUNICIPAL_RECORDS_PER_PERSON = 1.3
AF_RECORDS_PER_PERSON = 1.6
SHARED_SHARE = 1 / 3  # of the municipal people, also at AF
MOVED_SHARE = 0.01  # of municipal rows, registered in a second municipality
BAD_SHARE = 0.01
CHUNK_ROWS = 1_000_000  # AF rows rendered and written at a time (bounds the generator's memory)

DEFECT_KINDS = (
    "wrong_check_digit", "blank_personnummer", "impossible_date", "end_before_start",
    "unknown_code", "extent_out_of_range", "duplicate_row",
)  # fmt: skip
_EXTENTS = np.array([25.0, 37.5, 50.0, 62.5, 75.0, 100.0])
_MUNICIPAL_EXTENT_WEIGHTS = np.array([1, 1, 3, 1, 2, 3]) / 11
_AF_EXTENT_WEIGHTS = np.array([1, 0.5, 2, 0.5, 2, 5]) / 11
_COMMENTS = np.array([
    "Uppföljning om tre veckor", "Avbrott p.g.a. sjukdom; återupptas", 'Har körkort, s.k. "B-behörighet"',
    "Önskar praktik inom äldreomsorg", "Deltar även i SFI på förmiddagar, ring först",
], dtype=object)  # fmt: skip
_UNITS = np.array(["Arbetsmarknadsenheten", "Jobbtorget", "Ungdomsteamet", "Vuxenutbildningen"], dtype=object)
_IMPOSSIBLE_MONTH_DAYS = np.array([(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1)])
_BAD_EXTENTS = np.array(["0", "150", "-50"], dtype=object)


@dataclass(frozen=True)
class SourceFacts:
    source_id: str
    kind: str
    kommunkod: str | None
    system: str  # the CASE_SYSTEMS name, or "af"
    format: str
    files: list[str]  # relative to the inbox
    csv_files: list[str]  # what DuckDB reads: the files themselves, or the xlsx-as-csv copies
    rows: int
    expected_accepted: int
    expected_quarantined: int


@dataclass(frozen=True)
class Inbox:
    folder: str
    sources_yaml: str
    municipal_rows: int
    af_rows: int
    people: int
    municipal_people: int
    af_people: int
    shared_people: int
    sources: list[SourceFacts]
    bytes_by_format: dict[str, int]
    seconds: float
    registration_rows: int = 0  # 0: no registration source
    truth_seconds: float = 0.0  # of `seconds`: drawing the registrations and computing the truth

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Inbox":
        return cls(**{**data, "sources": [SourceFacts(**s) for s in data["sources"]]})


def system_name(export: Export) -> str:
    """The CASE_SYSTEMS name of `export`, with or without the home column it may write."""
    bare = dataclasses.replace(export, columns=tuple(c for c in export.columns if c != HOME_COLUMN))
    return next(name for name, system in CASE_SYSTEMS.items() if system is export or system == bare)


def delivers_home(export: Export) -> bool:
    return HOME_COLUMN in export.columns


# --- people and rows ------------------------------------------------------------------------


def _weighted_counts(total: int, weights: np.ndarray, minimum: int, rng: np.random.Generator) -> np.ndarray:
    """`total` split by `weights`, at least `minimum` each (no empty delivery)."""
    floor = np.full(len(weights), minimum)
    rest = rng.multinomial(total - floor.sum(), weights / weights.sum())
    return floor + rest


def _periods(count: int, lengths: tuple[int, int], open_share: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Start and end day (datetime64[D]); NaT end = ongoing (only for started periods)."""
    start = np.datetime64(AS_OF, "D") + rng.integers(-700, 61, count)
    end = start + rng.integers(lengths[0], lengths[1] + 1, count) - 1
    started = start <= np.datetime64(AS_OF, "D")
    end[started & (rng.random(count) < open_share)] = np.datetime64("NaT")
    return start, end


def _homes(codes: list[str], weights: np.ndarray, kommun: np.ndarray, rng) -> np.ndarray:
    """Each person's home kommun (folkbokföringskommun, an index into `codes`): their own
    `kommun`, but for LIVING_ELSEWHERE_SHARE of them a neighbour (`neighbours`); one alone in
    its county (Gotland) stays at home."""
    first, past = county_runs(codes)
    elsewhere = (rng.random(len(kommun)) < LIVING_ELSEWHERE_SHARE) & (past[kommun] - first[kommun] > 1)
    homes = kommun.copy()
    homes[elsewhere] = neighbours(codes, weights, kommun[elsewhere], rng.random(int(elsewhere.sum())))
    return homes


def county_runs(codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per kommun, the first and past-last index of its county (län: the first two digits of
    the kommunkod) in `codes`, which are sorted, so that a county is one run of them."""
    county = np.array([code[:2] for code in codes])
    return np.searchsorted(county, county, side="left"), np.searchsorted(county, county, side="right")


def neighbours(codes: list[str], weights: np.ndarray, own: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """For each kommun index in `own` (of a county with another kommun), another kommun of its
    county drawn by `weights` (whole thousands of inhabitants), `uniform` in [0, 1) being the
    draw: laid on the county's weights less the own kommun's, in whole units so that no float
    rounding moves a draw across a kommun's edge. Vectorized: the point, shifted past the own
    kommun's interval, is looked up in the cumulative weights."""
    whole = np.rint(weights).astype(np.int64)
    first, past = county_runs(codes)
    ends = np.cumsum(whole)  # the cumulative weight up to and including each kommun
    starts = ends - whole
    low = starts[first[own]]
    others = ends[past[own] - 1] - low - whole[own]
    point = low + np.minimum((uniform * others).astype(np.int64), others - 1)
    point = np.where(point >= starts[own], point + whole[own], point)
    return np.searchsorted(ends, point, side="right")


# --- text in each system's style ------------------------------------------------------------


def _number_text(digits: np.ndarray, style: str) -> np.ndarray:
    """Personnummer text in a source's style, through a fixed-width byte matrix."""
    chars = digits + ord("0")
    if not style.startswith("YYYY"):
        chars = chars[:, 2:]
    if "-" in style:
        chars = np.concatenate([chars[:, :-4], np.full((len(chars), 1), ord("-"), np.uint8), chars[:, -4:]], axis=1)
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    return chars.view(f"S{chars.shape[1]}").ravel().astype(str).astype(object)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return year, month, day


def _date_text(year: np.ndarray, month: np.ndarray, day: np.ndarray, date_format: str) -> pa.Array:
    """Dates as the system writes them (day/month without zero padding in %d/%m/%Y)."""
    def text(values: np.ndarray, width: int) -> pa.Array:
        strings = pc.cast(pa.array(values), pa.string())
        return pc.utf8_lpad(strings, width, "0") if width else strings

    if date_format == "%Y-%m-%d":
        return pc.binary_join_element_wise(text(year, 4), text(month, 2), text(day, 2), "-")
    if date_format == "%Y%m%d":
        return pc.binary_join_element_wise(text(year, 4), text(month, 2), text(day, 2), "")
    if date_format == "%d/%m/%Y":
        return pc.binary_join_element_wise(text(day, 0), text(month, 0), text(year, 4), "/")
    raise ValueError(f"no writer for date format {date_format!r}")


def _dates(days: np.ndarray, date_format: str) -> np.ndarray:
    """Text of each day; an empty field for NaT."""
    missing = np.isnat(days)
    safe = np.where(missing, np.datetime64(AS_OF, "D"), days)
    text = np.asarray(_date_text(*_ymd(safe), date_format).to_numpy(zero_copy_only=False), dtype=object)
    text[missing] = ""
    return text


def _extent_text(extents: np.ndarray, decimal: str) -> np.ndarray:
    table = {value: f"{value:g}".replace(".", decimal) for value in np.unique(extents)}
    codes = np.searchsorted(np.array(sorted(table)), extents)
    return np.array([table[v] for v in sorted(table)], dtype=object)[codes]


def _words(mapping: dict, ours: np.ndarray, rng) -> np.ndarray:
    """Each of our values in the system's words (any of them where several mean one)."""
    words = np.empty(len(ours), dtype=object)
    pick = rng.random(len(ours))
    for value in {v for v in mapping.values()}:
        theirs = np.array([w for w, v in mapping.items() if v == value], dtype=object)
        rows = ours == value
        words[rows] = theirs[(pick[rows] * len(theirs)).astype(int)]
    return words


# --- defects --------------------------------------------------------------------------------


def _plant_defects(fields: dict[str, np.ndarray], days: dict[str, np.ndarray], digits: np.ndarray,
                   export: Export, rng) -> np.ndarray:  # fmt: skip
    """Make 1 % of the rows bad, one defect each (row 0 stays good); which rows (each one
    quarantined: of an exact duplicate, the later copy)."""
    rows = len(digits)
    count = min(round(BAD_SHARE * rows), rows // 2)
    bad = rng.choice(np.arange(1, rows), count, replace=False) if count else np.array([], dtype=np.int64)
    kinds = np.array(DEFECT_KINDS)[(np.arange(count) + rng.integers(len(DEFECT_KINDS))) % len(DEFECT_KINDS)]
    at = {kind: bad[kinds == kind] for kind in DEFECT_KINDS}
    wrong = at["wrong_check_digit"]
    digits[wrong, 11] = (digits[wrong, 11] + rng.integers(1, 10, len(wrong))) % 10
    before = days["start_date"][at["end_before_start"]] - rng.integers(1, 61, len(at["end_before_start"]))
    days["end_date"][at["end_before_start"]] = before
    for field, values in days.items():
        fields[field] = _dates(values, export.date_format)
    fields["personnummer"] = _number_text(digits, export.number_style)
    fields["personnummer"][at["blank_personnummer"]] = ""
    impossible = at["impossible_date"]
    year = _ymd(days["start_date"][impossible])[0]
    month_day = _IMPOSSIBLE_MONTH_DAYS[rng.integers(0, len(_IMPOSSIBLE_MONTH_DAYS), len(impossible))]
    fields["start_date"][impossible] = np.asarray(
        _date_text(year, month_day[:, 0], month_day[:, 1], export.date_format).to_numpy(zero_copy_only=False)
    )
    fields[export.code_field][at["unknown_code"]] = export.unknown_code
    fields["extent_pct"][at["extent_out_of_range"]] = rng.choice(_BAD_EXTENTS, len(at["extent_out_of_range"]))
    # An exact copy of the nearest earlier good row: the later line is the bad one.
    good = np.setdiff1d(np.arange(rows), bad)
    copies = at["duplicate_row"]
    originals = good[np.searchsorted(good, copies) - 1]
    for column in fields.values():
        column[copies] = column[originals]
    return bad


# --- files ----------------------------------------------------------------------------------


def _quoted(column: pa.Array, delimiter: str) -> pa.Array:
    """Minimal quoting, as pandas' writer does: only values holding the delimiter, a quote
    or a line break are quoted, with quotes doubled."""
    needs = pc.match_substring_regex(column, "[" + {"\t": "\\t"}.get(delimiter, delimiter) + '"\r\n]')
    if not pc.any(needs).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


def _csv_bytes(names: list[str], columns: list[np.ndarray], export: Export, header: bool) -> bytes:
    arrays = [_quoted(pa.array(column, type=pa.string()), export.delimiter) for column in columns]
    lines = pc.binary_join_element_wise(*arrays, export.delimiter)
    lines = pc.binary_join_element_wise(lines, export.line_ending, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    body = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    text = (export.delimiter.join(names) + export.line_ending).encode("utf-8") if header else b""
    data = text + body
    encoding = export.encoding
    if encoding not in ("utf-8", "utf-8-sig"):
        data = data.decode("utf-8").encode(encoding)
    elif encoding == "utf-8-sig" and header:
        data = b"\xef\xbb\xbf" + data
    return data


def _xlsx(path: Path, names: list[str], columns: list[np.ndarray], sheet: str) -> None:
    """One sheet, every cell text (an empty field is an empty cell), as the generator writes."""
    workbook = openpyxl.Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    worksheet.append(names)
    for values in zip(*columns):
        worksheet.append([value or None for value in values])
    workbook.save(path)


# --- the inbox ------------------------------------------------------------------------------


def write_national_inbox(folder: Path, municipal_rows: int, af_rows: int, seed: int = 1,
                         municipalities: Sequence[str] | None = None, af_files: int = 1,
                         registrations: bool = True, truth: bool = True) -> Inbox:  # fmt: skip
    """Write every delivery, sources.yaml and recipients.yaml into `folder` (see the module);
    with `registrations`, also AF's registrations and, with `truth`, the follow-up truth
    (`truth/`: one person at a time, the slow part at M; `bench/withheld.py` needs none)."""
    began = time.perf_counter()
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    codes = sorted(municipalities or municipality_names())
    sources = with_home_column(municipal_sources(codes))
    weights = np.array([_POPULATION_THOUSANDS.get(c, _OTHER_POPULATION_THOUSANDS) for c in codes], dtype=float)

    municipal_people = max(1, round(municipal_rows / MUNICIPAL_RECORDS_PER_PERSON))
    shared = round(SHARED_SHARE * municipal_people)
    af_people = max(shared, round(af_rows / AF_RECORDS_PER_PERSON))
    people = municipal_people + af_people - shared
    digits = _personnummer_digits(people, rng, AS_OF)  # (people, 12), distinct, valid
    home = rng.choice(len(codes), people, p=weights / weights.sum())
    office_names, office_of = _offices(codes, home, rng)

    facts: list[SourceFacts] = []
    sizes: dict[str, int] = {}

    # Each municipal person's home kommun, from a random stream of its own (the other columns
    # and deliveries are the same as without it): delivered where it differs from the provider.
    homes = np.array(codes, dtype=object)[_homes(codes, weights, home[:municipal_people],
                                                 np.random.default_rng([seed, 17]))]  # fmt: skip

    # Municipal rows: everyone at least once, the rest drawn again; 1 % in a second kommun.
    person = rng.permutation(np.r_[np.arange(municipal_people), rng.integers(0, municipal_people, municipal_rows - municipal_people)])
    kommun = home[person]
    moved = rng.random(municipal_rows) < MOVED_SHARE
    kommun[moved] = rng.choice(len(codes), int(moved.sum()), p=weights / weights.sum())
    # No empty delivery: top up any kommun with fewer than 10 rows from the largest one.
    counts = np.bincount(kommun, minlength=len(codes))
    for index in np.flatnonzero(counts < 10):
        donors = np.flatnonzero(kommun == np.argmax(np.bincount(kommun, minlength=len(codes))))[: 10 - counts[index]]
        kommun[donors] = index
    order = np.argsort(kommun, kind="stable")
    bounds = np.searchsorted(kommun[order], np.arange(len(codes) + 1))
    accepted_m = []
    for index, source in enumerate(sources):
        rows = order[bounds[index] : bounds[index + 1]]
        source_facts, accepted = _municipal_delivery(folder, source, digits[person[rows]], homes[person[rows]], rng,
                                                     sizes, person[rows] if registrations else None)  # fmt: skip
        facts.append(source_facts)
        accepted_m.append(accepted)

    # AF rows: the shared people and AF's own, everyone at least once.
    af_person_ids = np.r_[np.arange(shared), np.arange(municipal_people, people)]
    af_person = af_person_ids[rng.permutation(np.r_[np.arange(af_people), rng.integers(0, af_people, af_rows - af_people)])]
    af_facts, accepted_a = _af_delivery(folder, digits[af_person], office_names[office_of[af_person]], af_files, rng,
                                        sizes, af_person if registrations else None)  # fmt: skip
    facts.append(af_facts)
    declared = [*sources, AF_SOURCE]
    registration_rows = 0
    if registrations:  # its own random stream: the other deliveries are the same with or without it
        truth_began = time.perf_counter()
        registration_facts = _registrations_delivery(folder, digits, office_names[office_of],
                                                     pd.concat(accepted_m, ignore_index=True), accepted_a,
                                                     np.random.default_rng([seed, 16]), sizes, truth)  # fmt: skip
        facts.append(registration_facts)
        declared.append(REGISTRATION_SOURCE)
        registration_rows = registration_facts.rows
        truth_seconds = time.perf_counter() - truth_began
    del accepted_m, accepted_a

    sources_file = folder / "sources.yaml"
    sources_file.write_bytes(sources_yaml(declared))
    (folder / "recipients.yaml").write_bytes(_recipients(codes))
    inbox = Inbox(
        folder=str(folder), sources_yaml=str(sources_file), municipal_rows=municipal_rows, af_rows=af_rows,
        people=people, municipal_people=municipal_people, af_people=af_people, shared_people=shared,
        sources=facts, bytes_by_format=sizes, seconds=time.perf_counter() - began,
        registration_rows=registration_rows, truth_seconds=truth_seconds if registrations else 0.0,
    )  # fmt: skip
    (folder / "inbox.json").write_text(json.dumps(inbox.to_json()), encoding="utf-8")
    return inbox


def _recipients(codes: list[str]) -> bytes:
    """The generator's recipients.yaml, with AF offices whose ids fold alike made distinct.

    `recipients_yaml` names an office's recipient `af_<slug of its name>`, so for all 290
    municipalities Håbo's and Habo's offices both become `af_habo`, which
    `load_recipients` rightly refuses; the kommunkod is appended there, as `source_id`
    does for the sources.
    """
    document = yaml.safe_load(recipients_yaml(codes))
    office_kommun = {office: code for code in codes for office in _offices_of(code)}
    ids = [r["id"] for r in document["recipients"]]
    for recipient in document["recipients"]:
        if recipient["kind"] == "af_office" and ids.count(recipient["id"]) > 1:
            recipient["id"] = f"{recipient['id']}_{office_kommun[recipient['af_office']]}"
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return ("# Recipients for a national bench inbox (bench/national_data.py), synthetic data only.\n" + body).encode()


def _offices(codes: list[str], home: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Office names, and each person's office (Göteborg's people split between two)."""
    names, first, width = [], [], []
    for code in codes:
        offices = _offices_of(code)
        first.append(len(names))
        width.append(len(offices))
        names += offices
    first, width = np.array(first), np.array(width)
    office = first[home] + (rng.random(len(home)) * width[home]).astype(int)
    return np.array(names, dtype=object), office


def _municipal_delivery(folder: Path, source, digits: np.ndarray, homes: np.ndarray, rng, sizes: dict,
                        person: np.ndarray | None = None) -> tuple[SourceFacts, pd.DataFrame | None]:  # fmt: skip
    """The delivery, and with `person` (each row's person) the rows the pipeline must accept,
    in our terms, for the follow-up truth (None without). `homes`: each row's person's home
    kommun, written (where the system has the column) only where it differs from the source's."""
    export = source.export
    rows = len(digits)
    digits = digits.copy()
    home = np.where(homes != source.kommunkod, homes, "") if delivers_home(export) else np.full(rows, "", dtype=object)
    start, end = _periods(rows, (14, 365), 0.15, rng)
    consent = rng.random(rows) < 0.8
    fields: dict[str, np.ndarray] = {
        "record_id": _record_ids(export.record_id_pattern, start, rows),
        "insats_code": np.array(list(export.codes["insats_code"]), dtype=object)[
            rng.integers(0, len(export.codes["insats_code"]), rows)],
        "extent_pct": _extent_text(rng.choice(_EXTENTS, rows, p=_MUNICIPAL_EXTENT_WEIGHTS), export.decimal),
        "consent": _words(export.codes["consent"], consent, rng),
        "handlaggare": np.array([f"H{c}" for c in rng.choice(np.arange(100, 1000), 12, replace=False)],
                                dtype=object)[rng.integers(0, 12, rows)],
        "kommentar": np.where(rng.random(rows) < 0.25, _COMMENTS[rng.integers(0, len(_COMMENTS), rows)], ""),
        "enhet": _UNITS[rng.integers(0, len(_UNITS), rows)],
        "home_kommunkod": home.astype(object),
    }  # fmt: skip
    accepted = None
    if person is not None:  # before the defects: they change the fields in place
        accepted = pd.DataFrame({"person": person, "record_id": fields["record_id"].copy(),
                                 "kommunkod": source.kommunkod,
                                 "insats_code": pd.Series(fields["insats_code"]).map(export.codes["insats_code"]).to_numpy(),
                                 "consent": consent, "start_date": start.copy(), "end_date": end.copy(),
                                 "home_kommunkod": home.astype(object)})  # fmt: skip
    bad = _plant_defects(fields, {"start_date": start, "end_date": end}, digits, export, rng)
    if accepted is not None:
        accepted = accepted.drop(index=bad)
    relative = source.file(AS_OF)
    csv_relative = relative
    names = [their for their, _ in export.columns]
    columns = [_field(fields, ours, rows) for _, ours in export.columns]
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if export.format == "xlsx":
        _xlsx(path, names, columns, export.sheet)
        csv_relative = f"xlsx-as-csv/{relative}.csv"
        converted = Export(**{**asdict_shallow(export), "format": "csv", "encoding": "utf-8", "delimiter": ",",
                              "line_ending": "\n"})  # fmt: skip
        (folder / csv_relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / csv_relative).write_bytes(_csv_bytes(names, columns, converted, header=True))
    else:
        path.write_bytes(_csv_bytes(names, columns, export, header=True))
    sizes[export.format] = sizes.get(export.format, 0) + path.stat().st_size
    return SourceFacts(source.id, "municipal", source.kommunkod, system_name(export), export.format, [relative],
                       [csv_relative], rows, rows - len(bad), len(bad)), accepted  # fmt: skip


def _field(fields: dict[str, np.ndarray], ours: str, rows: int) -> np.ndarray:
    """A delivered column; the consent record and protected flag that the generator's systems
    now carry are delivered blank here (consent yes/no for every scope, nobody protected), so
    the bench's truth and its alternatives stay as they were."""
    if ours not in fields and ours in OPTIONAL_COLUMNS:
        return np.full(rows, "", dtype=object)
    return fields[ours]


def asdict_shallow(export: Export) -> dict:
    return {name: getattr(export, name) for name in export.__dataclass_fields__}


def _af_delivery(folder: Path, digits: np.ndarray, offices: np.ndarray, files: int, rng, sizes: dict,
                 person: np.ndarray | None = None) -> tuple[SourceFacts, pd.DataFrame | None]:  # fmt: skip
    """AF's assignments in `files` files, rendered and written CHUNK_ROWS at a time; with
    `person`, also the rows the pipeline must accept, in our terms (as `_municipal_delivery`)."""
    export = AF_EXPORT
    rows = len(digits)
    names = [their for their, _ in export.columns]
    programme_words = np.array(list(export.codes["programme_code"]), dtype=object)
    status_words = {ours: theirs for theirs, ours in export.codes["status"].items()}
    ids = 100_000_000 + np.cumsum(rng.integers(1, 40, rows))
    bounds = np.linspace(0, rows, files + 1).round().astype(int)
    relatives, bad_total, accepted = [], 0, []
    for part in range(files):
        relative = AF_SOURCE.file(AS_OF) if files == 1 else f"af/anvisningar_{AS_OF.isoformat()}_{part + 1:02d}.csv"
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for low in range(bounds[part], bounds[part + 1], CHUNK_ROWS):
                high = min(low + CHUNK_ROWS, bounds[part + 1])
                count = high - low
                start, end = _periods(count, (30, 450), 0.20, rng)
                decision = np.minimum(start, np.datetime64(AS_OF, "D")) - rng.integers(0, 31, count)
                cancelled = rng.random(count) < 0.04
                today = np.datetime64(AS_OF, "D")
                status = np.select([cancelled, start > today, ~np.isnat(end) & (end < today)],
                                   ["cancelled", "planned", "ended"], "ongoing")  # fmt: skip
                fields = {
                    "assignment_id": np.char.add("A", ids[low:high].astype("U9")).astype(object),
                    "programme_code": programme_words[rng.integers(0, len(programme_words), count)],
                    "extent_pct": _extent_text(rng.choice(_EXTENTS, count, p=_AF_EXTENT_WEIGHTS), export.decimal),
                    "af_office": offices[low:high],
                    "status": np.vectorize(status_words.get, otypes=[object])(status),
                    "consent": _words(export.codes["consent"], rng.random(count) < 0.7, rng),
                }
                chunk_digits = digits[low:high].copy()
                if person is not None:
                    kept = pd.DataFrame({"person": person[low:high], "assignment_id": fields["assignment_id"],
                                         "programme_code": pd.Series(fields["programme_code"]).map(
                                             export.codes["programme_code"]).to_numpy(),
                                         "status": status, "start_date": start.copy(), "end_date": end.copy()})  # fmt: skip
                bad = _plant_defects(
                    fields, {"start_date": start, "end_date": end, "decision_date": decision}, chunk_digits, export, rng
                )
                bad_total += len(bad)
                if person is not None:
                    accepted.append(kept.drop(index=bad))
                columns = [_field(fields, ours, count) for _, ours in export.columns]
                out.write(_csv_bytes(names, columns, export, header=low == bounds[part]))
        relatives.append(relative)
        sizes["csv"] = sizes.get("csv", 0) + path.stat().st_size
    facts = SourceFacts(AF_SOURCE.id, "af", None, "af", "csv", relatives, relatives, rows, rows - bad_total, bad_total)
    return facts, (pd.concat(accepted, ignore_index=True) if person is not None else None)


def _registrations_delivery(folder: Path, digits: np.ndarray, offices: np.ndarray, municipal: pd.DataFrame,
                            af: pd.DataFrame, rng, sizes: dict, truth: bool = True) -> SourceFacts:  # fmt: skip
    """AF's registrations, drawn by the demo generator's rules (`draw_registrations`) from the
    rows the pipeline accepts, in AF's export (`registration_text`), and the truth of the
    registration-based lists (`core.synthetic.registrations.truth`: the transition list's
    registration-keyed rows, the youth monitor, the hand-overs, by ids) in `truth/`."""
    pnr = pd.Series(np.ascontiguousarray(digits + ord("0")).view("S12").ravel().astype(str), dtype=object)
    births = birth_dates(pnr)
    age = _age_on(births, AS_OF)
    people = pd.DataFrame({"personnummer": pnr, "youth": ((age >= 16) & (age <= 24)).to_numpy(), "af_office": offices})
    for frame in (municipal, af):
        for column in ("start_date", "end_date"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[s]")
    drawn = draw_registrations(people, municipal, af, AS_OF, rng)
    relative = REGISTRATION_SOURCE.file(AS_OF)
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(registration_text(drawn, pnr.iloc[drawn["person"].to_numpy()]))
    sizes["csv"] = sizes.get("csv", 0) + path.stat().st_size
    if not truth:
        return SourceFacts(REGISTRATION_SOURCE.id, "af_registrations", None, "af_registrations", "csv", [relative],
                           [relative], len(drawn), len(drawn), 0)  # fmt: skip
    (folder / "truth").mkdir(exist_ok=True)
    for name, frame in registration_truth(people, municipal, af, drawn, AS_OF).items():
        (folder / "truth" / f"{name}.csv").write_bytes(_csv_text(frame))
    outcomes = outcome_counts(outcome_rows(people, municipal, af, drawn, AS_OF))
    (folder / "truth" / "outcomes.csv").write_bytes(_csv_text(outcomes))
    (folder / "truth" / "flows.csv").write_bytes(_csv_text(flows_truth(municipal, AS_OF)))
    return SourceFacts(REGISTRATION_SOURCE.id, "af_registrations", None, "af_registrations", "csv", [relative],
                       [relative], len(drawn), len(drawn), 0)  # fmt: skip


def flows_truth(municipal: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """People per cell of `kommunoverskridande_insatser` before protection, from the accepted
    municipal rows as generated (`person`, `kommunkod`, `start_date`, `end_date`,
    `home_kommunkod` as delivered, "" for none): a person in an intervention whose delivered
    home kommun differs counts once per calendar year holding a day of it up to min(last day,
    as-of), at the providing kommun as `tar_emot` and at the home kommun as `deltar_annanstans`."""
    cross = municipal[(municipal["home_kommunkod"] != "").to_numpy(dtype=bool)]
    start = cross["start_date"].to_numpy().astype("datetime64[D]")
    end = cross["end_date"].to_numpy().astype("datetime64[D]")
    today = np.datetime64(as_of, "D")
    last_day = np.where(np.isnat(end) | (end > today), today, end)
    first, last = start.astype("datetime64[Y]"), last_day.astype("datetime64[Y]")
    years = np.where(start <= today, (last - first).astype(np.int64) + 1, 0)
    row = np.repeat(np.arange(len(cross)), years)
    year = np.datetime_as_string(first[row] + (np.arange(len(row)) - np.repeat(np.cumsum(years) - years, years)), unit="Y")
    person = cross["person"].to_numpy()[row]
    sides = [pd.DataFrame({"year": year, "kommunkod": cross[column].to_numpy(dtype=object)[row], "direction": direction,
                           "person": person})
             for column, direction in (("kommunkod", "tar_emot"), ("home_kommunkod", "deltar_annanstans"))]  # fmt: skip
    cells = pd.concat(sides, ignore_index=True).drop_duplicates()
    counted = cells.groupby(FLOW_CELL, sort=True).size().rename("participants").reset_index()
    return counted.astype({"participants": "int64"})


def _age_on(births: pd.Series, day: dt.date) -> pd.Series:
    """Whole years on `day` (NaN without a birth date)."""
    before_birthday = (births.dt.month > day.month) | ((births.dt.month == day.month) & (births.dt.day > day.day))
    return day.year - births.dt.year - before_birthday.astype(int)


def _record_ids(pattern: str, start: np.ndarray, rows: int) -> np.ndarray:
    """The system's record ids, numbered in file order (`pattern` takes {seq} and {year})."""
    years = start.astype("datetime64[Y]").astype(np.int64) + 1970
    if "{year}" in pattern:
        return np.array([pattern.format(seq=s, year=y) for s, y in zip(range(1, rows + 1), years)], dtype=object)
    return np.array([pattern.format(seq=s) for s in range(1, rows + 1)], dtype=object)
