"""The sources file and the catalogue: validated on load, errors name file, key and value."""

import textwrap

import pytest

from schemas.catalogue import default_catalogue, load_catalogue
from schemas.errors import ConfigError
from schemas.recipients import load_recipients
from schemas.sources import load_sources

MUNICIPAL = """\
  - id: partille
    kind: municipal
    kommunkod: "1402"
    files: "partille/*.csv"
    format: csv
    encoding: cp1252
    delimiter: ";"
    date_formats: ["%Y%m%d"]
    decimal: ","
    columns:
      Personnr: personnummer
      Ärende: record_id
      Insats: insats_code
      Från: start_date
      Till: end_date
      Omfattning: extent_pct
      Samtycke: consent
    codes:
      insats_code: {AT: ARBETSTRANING, 1: PRAKTIK}
      consent: {Ja: true, Nej: false}
"""
AF = """\
  - id: af
    kind: af
    files: "af/*.csv"
    format: csv
    columns:
      pseudonym: pseudonym_l1
      nyckel: pseudonym_key_id
      Anvisning: assignment_id
      Program: programme_code
      Beslut: decision_date
      Start: start_date
      Slut: end_date
      Omfattning: extent_pct
      Kontor: af_office
      Status: status
      Samtycke: consent
    codes:
      programme_code: {Rusta och matcha: KROM}
      status: {Pågående: ongoing}
"""


def write(tmp_path, sources: str):
    path = tmp_path / "sources.yaml"
    path.write_text("version: 1\nsources:\n" + sources, encoding="utf-8")
    return path


def test_a_valid_sources_file_loads(tmp_path):
    sources = load_sources(write(tmp_path, MUNICIPAL + AF))
    partille = sources.source("partille")
    assert partille.kommunkod == "1402" and partille.identity == "plain"
    assert partille.codes["insats_code"] == {"AT": "ARBETSTRANING", "1": "PRAKTIK"}  # keys are text
    assert sources.source("af").identity == "level1"
    assert sources.inbox == tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kommunkod: "1402"', "kommunkod: 1402"), "kommunkod: got 1402: write the kommunkod in quotes"),
        (('kommunkod: "1402"', 'kommunkod: "9999"'), "kommunkod: got '9999': not one of Sweden's 290"),
        (('delimiter: ";"', 'delimiter: "::"'), "delimiter: got '::': expected one of auto"),
        (("encoding: cp1252", "encoding: latin-42"), "encoding: got 'latin-42': unknown encoding"),
        (('["%Y%m%d"]', '["%Y"]'), "'%Y' is not a date format"),
        (("format: csv", "format: pdf"), "format: got 'pdf'"),
        (("    decimal", "    decimall"), "decimall: unknown key (check the spelling)"),
        (("      Samtycke: consent\n", ""), "nothing maps to consent"),
        (("Från: start_date", "Från: begin"), "'Från' maps to 'begin', which is not one of ours"),
        (("AT: ARBETSTRANING", "AT: ARBETSTRÄNING"), "codes.insats_code.AT: got 'ARBETSTRÄNING': not in the catalogue"),
        (("Ja: true", "Ja: kanske"), "codes.consent.Ja: got 'kanske': consent maps to true or false"),
    ],
)
def test_errors_name_file_key_and_value(tmp_path, change, message):
    old, new = change
    assert old in MUNICIPAL
    path = write(tmp_path, MUNICIPAL.replace(old, new))
    with pytest.raises(ConfigError) as problem:
        load_sources(path)
    text = str(problem.value)
    assert text.startswith(str(path))
    assert "sources[0] (id 'partille')" in text
    assert message in text


def test_a_changed_sources_file_is_read_again_and_a_broken_one_never_served_from_before(tmp_path):
    # Parsed files are kept per process (every in-process ingest run loads sources.yaml):
    # an edit must take effect at once, and a file broken after a good load must fail.
    path = write(tmp_path, MUNICIPAL + AF)
    assert load_sources(path).source("partille").kommunkod == "1402"
    assert load_sources(path).spec is load_sources(path).spec  # unchanged: parsed once
    path.write_text(path.read_text(encoding="utf-8").replace("1402", "1480"), encoding="utf-8")
    assert load_sources(path).source("partille").kommunkod == "1480"
    path.write_text(path.read_text(encoding="utf-8").replace('delimiter: ";"', 'delimiter: "::"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="delimiter: got '::'"):
        load_sources(path)


def test_af_status_must_be_one_of_ours(tmp_path):
    with pytest.raises(ConfigError, match=r"codes.status.Pågående: got 'running': expected one of planned"):
        load_sources(write(tmp_path, AF.replace("Pågående: ongoing", "Pågående: running")))


def test_duplicate_ids_and_identity_rules(tmp_path):
    with pytest.raises(ConfigError, match="partille declared twice"):
        load_sources(write(tmp_path, MUNICIPAL + MUNICIPAL))
    with pytest.raises(ConfigError, match="map exactly one identity"):
        load_sources(write(tmp_path, AF.replace("      nyckel: pseudonym_key_id\n", "")))


def test_yaml_syntax_errors_give_the_line(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("version: 1\nsources:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.yaml: line \d+, column \d+"):
        load_sources(path)


def test_the_catalogue_is_consistent():
    catalogue = default_catalogue()
    assert catalogue.intervention_categories["ARBETSTRANING"] == "work_training"
    assert catalogue.programme_categories["KROM"] == "matching"
    assert set(catalogue.intervention_categories.values()) <= set(catalogue.municipal_categories)


def test_a_catalogue_code_with_an_undeclared_category_is_refused(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        textwrap.dedent("""\
            version: "x"
            municipal_categories: {work_training: W}
            municipal_interventions: [{code: AT, name: Arbetsträning, category: training}]
            af_categories: {matching: M}
            af_programmes: [{code: KROM, name: KROM, category: matching}]
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="category 'training', which is not declared"):
        load_catalogue(path)


# --- the recipients file ---------------------------------------------------------------------

RECIPIENTS = """\
version: 1
recipients:
  - id: kommun_1402
    kind: kommun
    kommunkod: "1402"
  - id: af_partille
    kind: af_office
    af_office: Arbetsförmedlingen Partille
  - id: region
    kind: region
"""


def test_a_recipients_file_loads_with_roles_and_scopes(tmp_path):
    path = tmp_path / "recipients.yaml"
    path.write_text(RECIPIENTS, encoding="utf-8")
    recipients = load_recipients(path)
    assert [(r.role, r.scope) for r in recipients.all] == [
        ("mellanrum_kommun_1402", "1402"), ("mellanrum_af_partille", "Arbetsförmedlingen Partille"),
        ("mellanrum_region", None),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="no recipient with id 'kommun_1480' \\(declared: kommun_1402, af_partille"):
        recipients.get("kommun_1480")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('kommunkod: "1402"', 'kommunkod: "0000"', "recipients[0] (id 'kommun_1402'): kommunkod '0000' is not one of"),
        ("id: af_partille", "id: AF-Partille", "recipients[1] (id 'AF-Partille').id: got 'AF-Partille'"),
        ("kind: region", "kind: county", "recipients[2] (id 'region').kind: got 'county'"),
        ("    af_office: Arbetsförmedlingen Partille\n", "", "an af_office recipient needs the office's name"),
        ("  - id: region\n    kind: region\n", "  - id: region\n    kind: region\n    kommunkod: \"1402\"\n",
         "only a kommun recipient has a kommunkod"),
        ("  - id: region\n", "  - id: kommun_1402\n", "id 'kommun_1402' is already recipients[0]'s"),
        ("    kind: region\n", "    kind: region\n    public_key: not-a-key\n", "public_key: got 'not-a-key'"),
        ("    kind: region\n", "    kind: region\n    email: gr@example.org\n", "email: unknown key"),
    ],
)  # fmt: skip
def test_a_broken_recipients_file_is_refused_naming_the_key(tmp_path, old, new, message):
    assert old in RECIPIENTS
    path = tmp_path / "recipients.yaml"
    path.write_text(RECIPIENTS.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_recipients(path)
    assert str(refused.value).startswith(str(path))
    assert message in str(refused.value)
