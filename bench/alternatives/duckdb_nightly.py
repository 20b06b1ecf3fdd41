"""Run the nightly job as one DuckDB SQL script (`duckdb_nightly.sql`) on a job spec.

    .venv/bin/python bench/alternatives/duckdb_nightly.py SPEC.json [--threads N] [--show]

The spec (written by bench/national.py into its temporary folder) lists the deliveries
by export format with their delimiter, encoding, date format, decimal mark and column
names, the code words, the catalogue's categories, the rule table, the as-of date, the
keys (hex: they live only in the temporary folder) and where the output goes. This
module only fills the template's placeholders: the reads (one `read_csv` per export
format, over all of that format's files), the small tables as VALUES lists, the keys'
HMAC pads as BLOB literals. `--show` prints the rendered script instead of running it.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("duckdb_nightly.sql")
# DuckDB reads UTF-8 (a BOM is skipped), UTF-16 and latin-1 without extensions.
_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "latin-1"}


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _values(rows) -> str:
    return ",\n    ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pads(key_hex: str) -> tuple[str, str]:
    """The key's HMAC inner and outer pads (64-byte block) as DuckDB BLOB literals."""
    key = bytes.fromhex(key_hex).ljust(64, b"\0")

    def blob(data: bytes) -> str:
        return "'" + "".join(f"\\x{b:02X}" for b in data) + "'::BLOB"

    return blob(bytes(b ^ 0x36 for b in key)), blob(bytes(b ^ 0x5C for b in key))


def _read(group: dict) -> str:
    """One SELECT reading every file of one export format, in our column names, as text
    (dates parsed with the format's pattern, numbers with its decimal mark)."""
    theirs = {ours: their for their, ours in group["columns"].items()}

    def text(field: str) -> str:
        return f"coalesce(trim(r.{_identifier(theirs[field])}), '')"

    def date(field: str) -> str:
        return f"CAST(try_strptime(trim(r.{_identifier(theirs[field])}), {_literal(group['date_format'])}) AS DATE)"

    extent = f"trim(r.{_identifier(theirs['extent_pct'])})"
    if group["decimal"] == ",":
        extent = f"replace({extent}, ',', '.')"
    columns = [f"{_literal(group['name'])} AS grp", "f.source_id", "f.kommunkod", f"{text('personnummer')} AS pnr"]
    if group["kind"] == "municipal":
        columns += [f"{text('record_id')} AS record_id", f"{text('insats_code')} AS code_text"]
    else:
        columns += [f"{text('assignment_id')} AS assignment_id", f"{text('programme_code')} AS code_text",
                    f"{date('decision_date')} AS decision_date", f"{text('af_office')} AS af_office",
                    f"{text('status')} AS status_text"]  # fmt: skip
    columns += [f"{date('start_date')} AS start_date", f"{date('end_date')} AS end_date",
                f"{text('end_date')} AS end_text", f"try_cast({extent} AS DOUBLE) AS extent_pct",
                f"{text('consent')} AS consent_text"]  # fmt: skip
    files = "[" + ", ".join(_literal(f["csv_path"]) for f in group["files"]) + "]"
    options = (f"delim={_literal(group['csv_delimiter'])}, encoding={_literal(_ENCODINGS[group['csv_encoding']])}, "
               "header=true, all_varchar=true, filename=true, quote='\"', escape='\"'")  # fmt: skip
    return (f"SELECT {', '.join(columns)}\nFROM read_csv({files}, {options}) r\n"
            f"JOIN files f ON f.path = r.filename")  # fmt: skip


def render(spec: dict, threads: int | None = None) -> str:
    """The script with every placeholder filled in."""
    groups = spec["groups"]
    codes = [(g["name"], field, theirs, str(ours).lower() if isinstance(ours, bool) else ours)
             for g in groups for field, mapping in g["codes"].items() for theirs, ours in mapping.items()]  # fmt: skip
    files = [(f["csv_path"], f["source_id"], f["kommunkod"] or "") for g in groups for f in g["files"]]
    (k2,) = spec["keys"]["chain"]  # one pipeline key: no rotation in the bench
    k1_ipad, k1_opad = _pads(spec["keys"]["linkage"])
    k2_ipad, k2_opad = _pads(k2)
    as_of = spec["as_of"]
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        threads=threads or spec.get("threads") or 2,
        files=_values(files),
        codes=_values(codes),
        categories=_values(sorted(spec["categories"].items())),
        rules=_values(spec["rules"]),
        as_of_year=int(as_of[:4]),
        as_of_key=int(as_of.replace("-", "")),
        municipal_reads="\nUNION ALL\n".join(_read(g) for g in groups if g["kind"] == "municipal"),
        af_reads="\nUNION ALL\n".join(_read(g) for g in groups if g["kind"] == "af"),
        k1_ipad=k1_ipad, k1_opad=k1_opad, k2_ipad=k2_ipad, k2_opad=k2_opad,
        extent_above=spec["extent_rule"]["above_pct"],
        extent_rule_id=spec["extent_rule"]["id"],
        out_parquet=str(Path(spec["out_dir"]) / "duckdb_overlaps.parquet"),
    )  # fmt: skip


def run(spec: dict, threads: int | None = None) -> dict:
    """Run the script in an in-memory DuckDB; counts of what it kept and found."""
    import duckdb

    script = render(spec, threads)
    with duckdb.connect() as connection:
        connection.execute(script)
        counts = {
            name: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for name, table in (("municipal_raw", "municipal_raw"), ("municipal", "municipal"), ("af_raw", "af_raw"),
                                ("af", "af"), ("people", "people"), ("overlaps", "found_overlaps"))
        }  # fmt: skip
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--show", action="store_true", help="print the rendered script, do not run it")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    if args.show:
        sys.stdout.write(render(spec, args.threads))
    else:
        print(run(spec, args.threads))


if __name__ == "__main__":
    main()
