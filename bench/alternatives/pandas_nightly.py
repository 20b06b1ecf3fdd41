"""The nightly job as a plain pandas script, the way a competent analyst would write it.

    .venv/bin/python bench/alternatives/pandas_nightly.py SPEC.json

Same job and same spec as `duckdb_nightly.sql` (see bench/national.py): read every
delivery (CSV with `pd.read_csv(engine="pyarrow")` in its own delimiter and encoding,
Excel with `pd.read_excel`, as delivered: no conversion beforehand), drop the rows that
cannot be used, pseudonymize with the standard library's `hmac.digest` (both levels,
each distinct number once, hex out), merge municipal interventions with AF assignments on
the pseudonym, keep the pairs that share a day, classify them with the rule table, and
write them to SQLite with `DataFrame.to_sql`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

FAR_FUTURE = pd.Timestamp("2262-01-01")


def read_group(group: dict) -> pd.DataFrame:
    """Every file of one export format, in our column names, all text."""
    frames = []
    for file in group["files"]:
        if group["format"] == "xlsx":
            frame = pd.read_excel(file["path"], sheet_name=group["sheet"], dtype=str).fillna("")
        else:
            frame = pd.read_csv(file["path"], sep=group["delimiter"], encoding=group["encoding"], dtype=str,
                                keep_default_na=False, engine="pyarrow")  # fmt: skip
        frame = frame.rename(columns=group["columns"])[list(group["columns"].values())]
        frames.append(frame.assign(source_id=file["source_id"], kommunkod=file["kommunkod"]))
    frame = pd.concat(frames, ignore_index=True)
    for column, mapping in group["codes"].items():
        frame[column] = frame[column].str.strip().map(mapping)
    for column in ("start_date", "end_date", "decision_date"):
        if column in frame:
            text = frame[column].str.strip()
            frame[column + "_given"] = text != ""
            frame[column] = pd.to_datetime(text, format=group["date_format"], errors="coerce")
    extent = frame["extent_pct"].str.strip()
    frame["extent_pct"] = pd.to_numeric(extent.str.replace(",", ".") if group["decimal"] == "," else extent,
                                        errors="coerce")  # fmt: skip
    frame["consent"] = frame["consent"].fillna(False).astype(bool)
    frame["personnummer"] = canonical_numbers(frame["personnummer"], group["as_of"])
    return frame


def canonical_numbers(values: pd.Series, as_of: str) -> pd.Series:
    """12-digit canonical personnummer, or NA where the value is not a valid one."""
    text = values.str.strip()
    shaped = text.str.fullmatch(r"(?:\d{6}|\d{8})[-+]?\d{4}").fillna(False)
    digits = text.str.replace(r"[-+]", "", regex=True).where(shaped, "000000000000")
    short = digits.str.len() == 10
    year_now, key_now = int(as_of[:4]), int(as_of.replace("-", ""))
    yy = pd.to_numeric(digits.str[:2]).to_numpy()
    mm = pd.to_numeric(digits.str[2:4]).to_numpy()
    dd = pd.to_numeric(digits.str[4:6]).to_numpy()
    year = year_now - (year_now - yy) % 100
    year = year - 100 * ((year * 10000 + mm * 100 + np.where(dd >= 60, dd - 60, dd)) > key_now)
    year = year - 100 * text.str.contains("+", regex=False).fillna(False).to_numpy()
    century = pd.Series((year // 100).astype(str), index=values.index)
    canonical = digits.where(~short, century + digits)
    matrix = np.frombuffer("".join(canonical.where(shaped, "0" * 12)).encode(), dtype=np.uint8).reshape(-1, 12) - 48
    month = matrix[:, 4] * 10 + matrix[:, 5]
    day = matrix[:, 6] * 10 + matrix[:, 7]
    samordning = day >= 60
    calendar = pd.to_datetime(canonical.str[:8], format="%Y%m%d", errors="coerce").notna().to_numpy()
    date_ok = np.where(samordning, (month <= 12) & (day <= 91), calendar)
    serial_ok = (matrix[:, 8:11] != 0).any(axis=1)
    doubled = matrix[:, 2:11:2] * 2
    total = (doubled // 10 + doubled % 10).sum(axis=1) + matrix[:, 3:11:2].sum(axis=1)
    luhn_ok = (10 - total % 10) % 10 == matrix[:, 11]
    return canonical.where(shaped.to_numpy() & date_ok & serial_ok & luhn_ok)


def valid_rows(frame: pd.DataFrame, key: str, required: list[str]) -> pd.DataFrame:
    ok = frame["personnummer"].notna() & frame["start_date"].notna() & (frame[key].str.strip() != "")
    ok &= frame["end_date"].notna() | ~frame["end_date_given"]
    ok &= (frame["extent_pct"] > 0) & (frame["extent_pct"] <= 100)
    ok &= frame["end_date"].isna() | (frame["end_date"] >= frame["start_date"])
    for column in required:
        ok &= frame[column].notna() & (frame[column].astype(str) != "")
    frame = frame[ok].drop(columns=[c for c in frame.columns if c.endswith("_given")])
    return frame.drop_duplicates().drop_duplicates(["source_id", key])


def pseudonymize(municipal: pd.DataFrame, af: pd.DataFrame, keys: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace personnummer by p2 = HMAC(K2, HMAC(K1, number)), hex, each distinct number once."""
    k1 = bytes.fromhex(keys["linkage"])
    chain = [bytes.fromhex(k) for k in keys["chain"]]
    codes, distinct = pd.factorize(pd.concat([municipal["personnummer"], af["personnummer"]], ignore_index=True))
    pseudonyms = []
    for number in distinct:
        digest = hmac.digest(k1, number.encode(), "sha256")
        for key in chain:
            digest = hmac.digest(key, digest, "sha256")
        pseudonyms.append(digest.hex())
    pseudonyms = np.array(pseudonyms, dtype=object)[codes]
    return (municipal.drop(columns="personnummer").assign(pseudonym=pseudonyms[: len(municipal)]),
            af.drop(columns="personnummer").assign(pseudonym=pseudonyms[len(municipal) :]))  # fmt: skip


def find_overlaps(municipal: pd.DataFrame, af: pd.DataFrame, spec: dict) -> pd.DataFrame:
    af = af[af["status"] != "cancelled"]
    pairs = municipal.merge(af, on="pseudonym", suffixes=("_m", "_a"))
    shared = (pairs["start_date_m"] <= pairs["end_date_a"].fillna(FAR_FUTURE)) & (
        pairs["start_date_a"] <= pairs["end_date_m"].fillna(FAR_FUTURE))  # fmt: skip
    pairs = pairs[shared]
    rules = pd.DataFrame(spec["rules"], columns=["category_m", "category_a", "classification", "rule_id"])
    pairs = pairs.merge(rules, on=["category_m", "category_a"])
    combined = pairs["extent_pct_m"] + pairs["extent_pct_a"]
    over = (combined > spec["extent_rule"]["above_pct"]) & (pairs["classification"] != "conflict")
    return pd.DataFrame({
        "pseudonym": pairs["pseudonym"],
        "municipal_source_id": pairs["source_id_m"],
        "kommunkod": pairs["kommunkod_m"],
        "record_id": pairs["record_id"],
        "insats_code": pairs["insats_code"],
        "municipal_category": pairs["category_m"],
        "af_source_id": pairs["source_id_a"],
        "assignment_id": pairs["assignment_id"],
        "programme_code": pairs["programme_code"],
        "af_category": pairs["category_a"],
        "af_office": pairs["af_office"],
        "overlap_start": pairs[["start_date_m", "start_date_a"]].max(axis=1),
        "overlap_end": pairs[["end_date_m", "end_date_a"]].min(axis=1),
        "combined_extent_pct": combined,
        "classification": pairs["classification"].where(~over, "conflict"),
        "rule_id": pairs["rule_id"].where(~over, spec["extent_rule"]["id"]),
        "municipal_consent": pairs["consent_m"],
        "af_consent": pairs["consent_a"],
    })


def run(spec: dict) -> dict:
    frames = {"municipal": [], "af": []}
    for group in spec["groups"]:
        frames[group["kind"]].append(read_group({**group, "as_of": spec["as_of"]}))
    municipal_raw = pd.concat(frames["municipal"], ignore_index=True)
    af_raw = pd.concat(frames["af"], ignore_index=True)
    categories = spec["categories"]
    municipal_raw["category"] = municipal_raw["insats_code"].map(categories)
    af_raw["category"] = af_raw["programme_code"].map(categories)
    municipal = valid_rows(municipal_raw, "record_id", ["insats_code"])
    af = valid_rows(af_raw, "assignment_id", ["programme_code", "status", "af_office"])
    municipal, af = pseudonymize(municipal, af, spec["keys"])
    overlaps = find_overlaps(municipal, af, spec)
    with sqlite3.connect(Path(spec["out_dir"]) / "pandas_overlaps.sqlite") as connection:
        overlaps.to_sql("overlaps", connection, index=False, if_exists="replace")
    return {"municipal_raw": len(municipal_raw), "municipal": len(municipal), "af_raw": len(af_raw), "af": len(af),
            "overlaps": len(overlaps)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    args = parser.parse_args()
    print(run(json.loads(args.spec.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
