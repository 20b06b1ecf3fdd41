"""The synthetic inbox: deterministic, messy in every declared way, and true to its truth.

The central check reads every generated file back on its own (pandas, the declared
formats, a little detection where the sources file says `auto`), validates each row with
simple rules, and computes all overlapping periods by brute force: the rows that fail
must be exactly truth/bad_rows.csv, and the overlaps exactly truth/overlaps.csv.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from core.synthetic import DEFECT_KINDS, generate, made_up_numbers, source_id
from orchestration.cli.generate import generate as generate_command
from schemas.municipalities import GOTEBORGSREGIONEN, municipality_names
from schemas.personnummer import KIND_SAMORDNINGSNUMMER, normalize
from schemas.sources import load_sources
from testkit.leakscan import scan

AS_OF = dt.date(2026, 11, 23)
BOM = b"\xef\xbb\xbf"
# 10 or 12 digits, optionally with - or + before the last four: a personnummer's shapes.
PERSONNUMMER_LIKE = re.compile(r"(?<![0-9])(?:[0-9]{6}|[0-9]{8})[-+]?[0-9]{4}(?![0-9])")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inbox")
    generate(out, people=600, seed=3, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def sources(inbox):
    return load_sources(inbox / "sources.yaml")


def _truth(inbox: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(inbox / "truth" / name, dtype=str, keep_default_na=False)


def _detect_encoding(data: bytes) -> str:
    if data.startswith(BOM):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _read(sources, source) -> tuple[str, pd.DataFrame]:
    """The source's one file (relative path) and its cells as text, their column names."""
    (path,) = sources.files(source)
    if source.format == "xlsx":
        table = pd.read_excel(path, sheet_name=source.sheet, dtype=str, keep_default_na=False, engine="calamine")
    else:
        data = path.read_bytes()
        encoding = _detect_encoding(data) if source.encoding == "auto" else source.encoding
        header = data.decode(encoding).splitlines()[0]
        delimiter = max(";,\t", key=header.count) if source.delimiter == "auto" else source.delimiter
        table = pd.read_csv(path, sep=delimiter, encoding=encoding, dtype=str, keep_default_na=False)
    return path.relative_to(sources.inbox).as_posix(), table


def _dates(text: pd.Series, source) -> pd.Series:
    (date_format,) = source.date_formats
    return pd.to_datetime(text, format=date_format, errors="coerce")


def _canonical(sources, source) -> pd.DataFrame:
    """One source's rows in our column names, with `valid` by simple rules of our own."""
    file, table = _read(sources, source)
    rows = table.rename(columns=source.columns)[list(source.columns.values())]
    numbers = normalize(rows.personnummer, AS_OF)
    start = _dates(rows.start_date, source)
    end = _dates(rows.end_date, source)
    extent = pd.to_numeric(rows.extent_pct.str.replace(source.decimal, ".", regex=False), errors="coerce")
    code_field = "insats_code" if source.kind == "municipal" else "programme_code"
    valid = (
        numbers.canonical.notna()
        & start.notna()
        & (end.notna() | (rows.end_date == ""))
        & ~(end < start)
        & rows[code_field].isin(source.codes[code_field])
        & extent.between(0, 100, inclusive="right")
        & rows.consent.isin(source.codes["consent"])
        & ~rows.duplicated(keep="first")
    )
    if source.kind == "af":
        decided = _dates(rows.decision_date, source)
        valid &= decided.notna() & rows.status.isin(source.codes["status"])
    status = rows.status.map(source.codes["status"]) if source.kind == "af" else "municipal"
    id_field = "record_id" if source.kind == "municipal" else "assignment_id"
    return pd.DataFrame({
        "source_id": source.id,
        "file": file,
        "line": (table.index + 2).astype(str),  # the header is line 1, no field spans lines
        "id": rows[id_field],
        "person": numbers.canonical,
        "kind": numbers.kind,
        "start": start,
        "end": end,
        "extent": extent,
        "consent": rows.consent.map(source.codes["consent"]),
        "status": status,
        "valid": valid,
    })


@pytest.fixture(scope="module")
def read_back(sources) -> pd.DataFrame:
    # Interventions and assignments (AF's registrations have a shape of their own: tests/test_followup_truth.py).
    return pd.concat([_canonical(sources, source) for source in sources.all if source.kind != "af_registrations"],
                     ignore_index=True)  # fmt: skip


def _share_a_day(pairs: pd.DataFrame, suffix: str) -> pd.Series:
    """Inclusive day periods; no end date means ongoing."""
    other_end, end = pairs[f"end{suffix}"], pairs.end
    return ((pairs.start <= other_end) | other_end.isna()) & ((pairs[f"start{suffix}"] <= end) | end.isna())


def _brute_force_overlaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Every pair of valid, not cancelled rows of one person whose periods share a day."""
    rows = rows[rows.valid & (rows.status != "cancelled")]
    pairs = rows.merge(rows, on="person", suffixes=("", "_other"))
    each_pair_once = (pairs.source_id < pairs.source_id_other) | (
        (pairs.source_id == pairs.source_id_other) & (pairs.id < pairs.id_other)
    )
    pairs = pairs[each_pair_once & _share_a_day(pairs, "_other")]
    # Municipal first, AF second, as truth writes them ("af" sorts before every kommun).
    af_first = pairs.source_id == "af"
    for column in ("source_id", "id", "start", "end", "extent", "consent", "status"):
        both = [column, f"{column}_other"]
        pairs.loc[af_first, both] = pairs.loc[af_first, both[::-1]].to_numpy()
    return pairs


def _contents(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_same_arguments_give_identical_bytes_and_another_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("first", 5), ("second", 5), ("other_seed", 6)):
        generate(tmp_path / name, people=300, seed=seed, as_of=AS_OF)
        runs[name] = _contents(tmp_path / name)
    assert runs["first"] == runs["second"]  # every file, byte for byte (xlsx included)
    differing = {file for file, data in runs["first"].items() if runs["other_seed"].get(file) != data}
    assert {Path(file).suffix for file in differing} >= {".csv", ".xlsx"}


def test_every_source_has_its_own_format(inbox, sources):
    municipal = [s for s in sources.all if s.kind == "municipal"]
    assert sorted(s.kommunkod for s in municipal) == sorted(GOTEBORGSREGIONEN)
    assert [s.id for s in sources.all if s.kind == "af"] == ["af"]
    assert {"goteborg", "molndal", "ockero", "lilla_edet"} <= {s.id for s in municipal}
    assert sum(s.format == "xlsx" for s in municipal) >= 2

    csv_files = {s.id: sources.files(s)[0].read_bytes() for s in sources.all if s.format == "csv"}
    assert {_detect_encoding(data) for data in csv_files.values()} == {"utf-8", "utf-8-sig", "cp1252"}
    headers = [data.replace(BOM, b"").split(b"\n")[0] for data in csv_files.values()]
    assert {max(b";,\t", key=header.count) for header in headers} == {ord(";"), ord(","), ord("\t")}
    assert {s.encoding for s in sources.all if s.format == "csv"} >= {"auto", "cp1252", "utf-8"}
    assert {s.delimiter for s in sources.all if s.format == "csv"} >= {"auto", ";", ","}
    assert {s.date_formats[0] for s in sources.all} == {"%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"}
    assert {s.decimal for s in sources.all} == {",", "."}
    assert all(s.sheet for s in municipal if s.format == "xlsx")


def test_files_decode_as_declared_and_hold_swedish_letters(inbox, sources):
    for source in sources.all:
        file, table = _read(sources, source)
        text = " ".join(table.columns) + " " + " ".join(table.astype(str).to_numpy().ravel())
        assert re.search("[åäöÅÄÖ]", text), file
        if source.encoding == "cp1252":
            with pytest.raises(UnicodeDecodeError):
                (inbox / file).read_bytes().decode("utf-8")
    partille = sources.files(sources.source("partille"))[0].read_text("utf-8")
    assert re.search(r"(?<![0-9])[1-9]/[1-9]/20[0-9]{2}", partille), "day and month without zero padding"
    comma_delimited = "".join(
        sources.files(s)[0].read_text("cp1252") for s in sources.all if s.delimiter == s.decimal == ","
    )
    assert re.search(r'"[0-9]+,5"', comma_delimited), "a decimal comma, quoted in a comma-delimited file"
    assert re.search(r'"[^"\n]*, [^"\n]*"', comma_delimited), "a comment holding the delimiter, quoted"


def test_rows_that_fail_simple_checks_are_exactly_the_planted_bad_rows(inbox, read_back):
    bad = _truth(inbox, "bad_rows.csv")
    failing = read_back[~read_back.valid]
    assert sorted(zip(failing.file, failing.line)) == sorted(zip(bad.file, bad.line))
    assert set(bad.kind) == set(DEFECT_KINDS)
    assert "af" in set(bad.source_id)
    assert bad.file.str.endswith(".xlsx").any()
    assert set(bad.source_id) == set(read_back.source_id), "every source has a bad row"


def test_expected_counts_add_up(inbox, read_back):
    counts = _truth(inbox, "expected_counts.csv").set_index("source_id").astype({
        "rows": int, "expected_accepted": int, "expected_quarantined": int
    })
    assert (counts.expected_accepted + counts.expected_quarantined == counts.rows).all()
    counts = counts.drop(index="af_inskrivningar")  # no planted bad rows there: its counts are checked at ingest
    in_files = read_back.groupby("source_id").agg(rows=("valid", "size"), accepted=("valid", "sum"))
    assert in_files.rows.to_dict() == counts.rows.to_dict()
    assert in_files.accepted.to_dict() == counts.expected_accepted.to_dict()
    quarantined = _truth(inbox, "bad_rows.csv").source_id.value_counts()
    assert quarantined.reindex(counts.index, fill_value=0).to_dict() == counts.expected_quarantined.to_dict()


def test_overlaps_among_valid_rows_are_exactly_the_planted_ones(inbox, read_back):
    pair = ["source_id", "record_id", "other_source_id", "other_record_id"]
    truth = _truth(inbox, "overlaps.csv").set_index(pair)
    found = _brute_force_overlaps(read_back).set_index(["source_id", "id", "source_id_other", "id_other"])
    assert sorted(found.index) == sorted(truth.index)

    found = found.loc[truth.index]
    with_af = (truth.kind == "municipal_af").to_numpy()
    assert list(with_af) == list(found.index.get_level_values(2) == "af")
    overlap_start = found[["start", "start_other"]].max(axis=1)
    overlap_end = found[["end", "end_other"]].min(axis=1)
    assert list(overlap_start.dt.strftime("%Y-%m-%d")) == list(truth.overlap_start)
    assert list(overlap_end.dt.strftime("%Y-%m-%d").fillna("")) == list(truth.overlap_end)
    assert list((found.extent + found.extent_other).map("{:g}".format)) == list(truth.combined_extent)
    assert list(found.consent.map(str).str.lower()) == list(truth.consent)
    assert list(found.consent_other.map(str).str.lower()) == list(truth.other_consent)
    risk = (found.start_other > found.start).map(str).str.lower()
    upcoming = (found.start_other > pd.Timestamp(AS_OF)).map(str).str.lower()
    assert list(risk[with_af]) == list(truth.interruption_risk[with_af])
    assert list(upcoming[with_af]) == list(truth.upcoming[with_af])
    assert set(truth.interruption_risk[~with_af]) == set(truth.upcoming[~with_af]) == {""}


def test_cancelled_assignments_may_overlap_but_do_not_count(read_back):
    cancelled = read_back[read_back.valid & (read_back.status == "cancelled")]
    municipal = read_back[read_back.valid & (read_back.source_id != "af")]
    pairs = cancelled.merge(municipal, on="person", suffixes=("", "_m"))
    assert _share_a_day(pairs, "_m").sum() >= 2


def test_planted_cases_cover_every_property(inbox):
    truth = _truth(inbox, "overlaps.csv")
    assert set(truth.kind) == {"municipal_af", "two_municipalities"}
    with_af = truth[truth.kind == "municipal_af"]
    assert set(with_af.interruption_risk) == set(with_af.upcoming) == {"true", "false"}
    assert (truth.overlap_start == truth.overlap_end).any(), "a one-day overlap"
    assert (truth.overlap_end == "").any(), "an open-ended overlap"
    assert (truth.combined_extent.astype(float) > 100).any()
    assert len(set(zip(with_af.consent, with_af.other_consent))) == 4, "consent given or not on each side"
    assert set(truth.youth) == {"true", "false"}
    start = pd.to_datetime(truth.overlap_start)
    end = pd.to_datetime(truth.overlap_end.replace("", None))
    back, ahead = pd.Timestamp(AS_OF) - pd.Timedelta(days=90), pd.Timestamp(AS_OF) + pd.Timedelta(days=180)
    inside = (start <= ahead) & (end.isna() | (end >= back))
    assert inside.any() and (~inside).any()


def test_people_are_of_working_age_with_a_share_of_youth(read_back):
    people = read_back.dropna(subset=["person"]).drop_duplicates("person")
    samordning = people.kind == KIND_SAMORDNINGSNUMMER
    month_zero = people.person.str[4:6] == "00"
    day = people.person.str[6:8].astype(int) - np.where(samordning, 60, 0)
    birth = pd.to_datetime(people.person.str[:6] + day.map("{:02d}".format), format="%Y%m%d", errors="coerce")
    age = AS_OF.year - birth.dt.year - (birth.dt.strftime("%m%d") > AS_OF.strftime("%m%d"))
    assert age[~month_zero].between(16, 66).all()
    assert 0.25 <= age.between(16, 24).sum() / len(people) <= 0.35
    assert 0.03 <= samordning.mean() <= 0.07
    assert month_zero[samordning].sum() in (1, 2), "samordningsnummer with birth month 00"


def test_made_up_numbers_are_valid_and_in_their_age_band():
    made = made_up_numbers(300, youth=True, samordning=True, as_of=AS_OF, rng=np.random.default_rng(0))
    checked = normalize(made.number, AS_OF)
    assert checked.reason.isna().all()
    assert (checked.kind == KIND_SAMORDNINGSNUMMER).all()
    assert made.number.is_unique and set(made.band) <= {0, 1}


def test_truth_and_sources_file_hold_no_identity_numbers(inbox, read_back):
    for path in [inbox / "sources.yaml", *sorted((inbox / "truth").glob("*.csv"))]:
        assert not PERSONNUMMER_LIKE.search(path.read_text("utf-8")), path.name
    people = read_back.person.dropna().unique()
    assert scan(inbox / "truth", people) == []
    assert scan(inbox, people, exclude=[inbox / "kommun", inbox / "af"]) == []


def test_source_ids_are_unique_across_all_kommuner():
    ids = [source_id(code) for code in municipality_names()]
    assert len(set(ids)) == len(ids) == 290
    assert (source_id("1480"), source_id("0305"), source_id("0643")) == ("goteborg", "habo_0305", "habo_0643")


def test_cli_writes_the_inbox_and_prints_a_summary(tmp_path):
    out = tmp_path / "inbox"
    args = ["--out", str(out), "--people", "100", "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    assert "goteborg" in result.output and "anvisningar_2026-11-23.csv" in result.output
    assert str(out / "truth") in result.output
    load_sources(out / "sources.yaml")
    assert (out / "README.txt").read_text("utf-8").startswith("Synthetic data")


def test_cli_names_an_unknown_kommunkod(tmp_path):
    out = tmp_path / "x"
    result = CliRunner().invoke(generate_command, ["--out", str(out), "--municipalities", "1480,9999"])
    assert result.exit_code == 2
    assert "9999" in result.output
    assert not out.exists()


def test_cli_refuses_a_non_empty_folder_unless_forced(tmp_path):
    args = ["--out", str(tmp_path), "--people", "100", "--municipalities", "1480,1481", "--as-of", AS_OF.isoformat()]
    (tmp_path / "notes.txt").write_text("keep me")
    refused = CliRunner().invoke(generate_command, args)
    assert refused.exit_code == 2
    assert "not empty" in refused.output and "--force" in refused.output

    stale = tmp_path / "kommun" / "1480_goteborg" / "insatser_2026-01-01.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old delivery")
    forced = CliRunner().invoke(generate_command, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert not stale.exists(), "a previous inbox's deliveries are removed"
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert len(load_sources(tmp_path / "sources.yaml").all) == 4  # two municipalities, AF's assignments and registrations


def test_consent_records_protected_people_agreements_and_regions_are_planted_with_their_truth(inbox, sources):
    consent = _truth(inbox, "consent.csv")
    assert set(consent.state) == {"missing", "valid", "expired", "not_started", "withdrawn"}
    assert set(consent.scopes) == {"", "samplanering", "uppfoljning", "samplanering,uppfoljning"}
    assert set(consent.loc[consent.protected == "true", "source_id"]) & {"af"}  # AF flags some
    assert set(consent.loc[consent.protected == "true", "source_id"]) - {"af", "af_inskrivningar"}  # municipalities too
    assert not consent.duplicated(["source_id", "record_id"]).any()
    # The delivered files carry the record where the system has it, and not where it has not.
    mapped = {s.id: set(s.columns.values()) for s in sources.all}
    assert any("consent_withdrawn_on" in m and "protected_identity" in m for m in mapped.values())
    assert any("consent_scope" not in m for s, m in mapped.items() if s not in ("af", "af_inskrivningar"))
    agreements = _truth(inbox, "agreements.csv")
    assert sorted(agreements.in_force) == ["false"] * 2 + ["true"] * (len(agreements) - 2)
    assert (agreements.agreement_id == "").sum() == 1
    regions = _truth(inbox, "regions.csv")
    assert set(regions.recipient) == {"region_gr", "region_kronoberg"}
    assert set(regions.loc[regions.recipient == "region_gr", "kommunkod"]) == set(GOTEBORGSREGIONEN)


def test_the_gates_truth_without_registrations_has_empty_lists_and_samplanering_rows(tmp_path):
    from core.synthetic.gates_truth import gated_truth

    generate(tmp_path, people=150, seed=4, as_of=AS_OF, registrations=False)
    kommun_of = {s.id: s.kommunkod for s in load_sources(tmp_path / "sources.yaml").all if s.kind == "municipal"}
    truth = gated_truth(tmp_path / "truth", kommun_of, AS_OF)
    assert len(truth["kommun_samplanering"].rows) > 0 and len(truth["af_samplanering"].rows) > 0
    assert all(len(truth[name].rows) == 0 for name in ("unga_90_dagar", "overlamningar", "overlamningar_kommun"))
