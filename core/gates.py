"""The gates: what may leave, row by row. Pure functions, DataFrame in, DataFrame out.

A row-level dataset (one with a recipient column) publishes a row only where every gate
lets it through; a gate never touches an aggregate (statistics count everyone). In order:

1. `protected_identity`: the person has a protected identity (skyddad identitet) in any
   source: never in a row-level dataset, whichever source the row comes from.
2. `consent_missing`: the party the row's data comes from (`Contract.consent_from`)
   recorded no consent.
3. `consent_expired_or_withdrawn`: it did, but the consent is not valid on the as-of date
   (before its start, after its end, or on or after its withdrawal).
4. `consent_out_of_scope`: valid, but it does not cover the contract's purpose
   (`Contract.consent_purpose`: samplanering or uppfoljning).
5. `no_agreement`: no local agreement (`agreements.yaml`) in force on the as-of date names
   the recipient's party, the party the data comes from and the contract. Without an
   agreements file this gate is not applied (the run says so).

The consent columns are made at the reconciliation, where the as-of date is known
(`consent_columns`, `protect_people`), and carried into its datasets next to each party's
consent: `municipal_consent_for`, `af_consent_for` (the scopes the consent covers on the
as-of date, joined by ','; empty when it is not valid then) and `protected_identity`.
How many rows each gate withheld is counted by `core.publish.build_datasets`: counts only.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from schemas.agreements import AF_PARTY, Agreements
from schemas.contracts import Contract
from schemas.datasets import ALL_SCOPES

GATES = ("protected_identity", "consent_missing", "consent_expired_or_withdrawn", "consent_out_of_scope",
         "no_agreement")  # fmt: skip
CONSENT_FOR = "consent_for"
# `Contract.consent_from` of a pair of two municipalities' records (`municipal_overlaps`):
# both `consent` and `other_consent` must be valid, and the data crosses from `other_kommunkod`.
BOTH_MUNICIPALITIES = "both_municipalities"
PROTECTED = "protected_identity"
_RECORD_DEFAULTS = {"consent_valid_from": pd.NaT, "consent_valid_to": pd.NaT, "consent_withdrawn_on": pd.NaT}


def consent_valid_on(frame: pd.DataFrame, day: dt.date) -> np.ndarray:
    """Whether each row's consent is valid on `day`: consent yes, `day` within [valid from,
    valid to] (an empty end is open) and before any withdrawal."""
    frame = with_consent_record(frame)
    moment = np.datetime64(day, "s")
    start = frame["consent_valid_from"].to_numpy(dtype="datetime64[s]")
    end = frame["consent_valid_to"].to_numpy(dtype="datetime64[s]")
    withdrawn = frame["consent_withdrawn_on"].to_numpy(dtype="datetime64[s]")
    return (frame["consent"].to_numpy(dtype=bool) & (np.isnat(start) | (start <= moment))
            & (np.isnat(end) | (end >= moment)) & (np.isnat(withdrawn) | (withdrawn > moment)))  # fmt: skip


def with_consent_record(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the consent record's columns, as a delivery without them gives them
    (no dates, every scope, not protected), where it has none (data stored before them)."""
    missing = {**{c: pd.Series(v, index=frame.index, dtype="datetime64[s]") for c, v in _RECORD_DEFAULTS.items()},
               "consent_scope": pd.Series(ALL_SCOPES, index=frame.index, dtype="string"),
               PROTECTED: pd.Series(False, index=frame.index, dtype=bool)}  # fmt: skip
    absent = {c: v for c, v in missing.items() if c not in frame.columns}
    return frame.assign(**absent) if absent else frame


def consent_columns(frame: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """`frame` (ingested rows of one party) with `consent_for`: the scopes its consent covers
    on `as_of`, '' where it is not valid then. Already there: unchanged."""
    if CONSENT_FOR in frame.columns:
        return frame
    frame = with_consent_record(frame)
    valid = consent_valid_on(frame, as_of)
    scopes = frame["consent_scope"].astype("string").fillna(ALL_SCOPES)
    return frame.assign(**{CONSENT_FOR: scopes.where(valid, "").astype("string")})


def protect_people(*frames: pd.DataFrame | None) -> list[pd.DataFrame | None]:
    """The frames with `protected_identity` true on every row of a person (pseudonym and key
    id) whom any of them flags as protected: protection is the person's, not the row's."""
    present = [with_consent_record(f) for f in frames if f is not None]
    flagged = [f.loc[f[PROTECTED].to_numpy(dtype=bool), ["pseudonym", "key_id"]] for f in present]
    people = pd.concat(flagged, ignore_index=True) if flagged else pd.DataFrame(columns=["pseudonym", "key_id"])
    keys = pd.MultiIndex.from_frame(people.astype(str)) if len(people) else None

    def marked(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        frame = with_consent_record(frame)
        if keys is None:
            return frame
        mine = pd.MultiIndex.from_frame(frame[["pseudonym", "key_id"]].astype(str)).isin(keys)
        return frame.assign(**{PROTECTED: frame[PROTECTED].to_numpy(dtype=bool) | mine})

    return [marked(f) for f in frames]


def prepare(as_of: dt.date, municipal: pd.DataFrame, af: pd.DataFrame,
            registrations: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:  # fmt: skip
    """The reconciliation's inputs with the gates' columns: each row's `consent_for` on
    `as_of` and the person-level `protected_identity`."""
    municipal, af, registrations = protect_people(municipal, af, registrations)
    return (consent_columns(municipal, as_of), consent_columns(af, as_of),
            None if registrations is None else consent_columns(registrations, as_of))  # fmt: skip


def covers(consent_for: pd.Series, purpose: str) -> np.ndarray:
    """Whether each `consent_for` value (scopes joined by ',') covers `purpose`."""
    text = consent_for.astype("string").fillna("")
    return text.str.contains(rf"(?:^|,){purpose}(?:,|$)", regex=True).fillna(False).to_numpy(dtype=bool)


def consent_given_for(frame: pd.DataFrame, side: str, purpose: str | None) -> np.ndarray:
    """Whether the consent of `side` ('municipal' or 'af') is valid for `purpose` on each row
    of a reconciled dataset."""
    yes = frame[f"{side}_consent"].to_numpy(dtype=bool)
    if purpose is None:
        return yes & (frame[f"{side}_{CONSENT_FOR}"].astype("string").fillna("") != "").to_numpy(dtype=bool)
    return yes & covers(frame[f"{side}_{CONSENT_FOR}"], purpose)


def withheld_by(frame: pd.DataFrame, declared: Contract, as_of: dt.date,
                agreements: Agreements | None) -> dict[str, np.ndarray]:  # fmt: skip
    """Per gate (`GATES`), the rows of `frame` (the contract's first input) it withholds on
    its own (a row may be withheld by several). Nothing for an aggregate."""
    nothing = np.zeros(len(frame), dtype=bool)
    if declared.recipient_column is None:
        return {gate: nothing for gate in GATES}
    masks = {"protected_identity": frame[PROTECTED].to_numpy(dtype=bool) if PROTECTED in frame.columns else nothing}
    if declared.consent_from == BOTH_MUNICIPALITIES:
        # A pair of two municipalities' records: each side's data goes to the other, so both
        # consents must be valid and cover the purpose (one missing withholds the pair).
        yes = frame["consent"].to_numpy(dtype=bool) & frame["other_consent"].to_numpy(dtype=bool)
        first, other = (frame[c].astype("string").fillna("") for c in (CONSENT_FOR, f"other_{CONSENT_FOR}"))
        valid = ((first != "") & (other != "")).to_numpy(dtype=bool)
        purpose = declared.consent_purpose or ""
        masks["consent_missing"] = ~yes
        masks["consent_expired_or_withdrawn"] = yes & ~valid
        masks["consent_out_of_scope"] = yes & valid & ~(covers(first, purpose) & covers(other, purpose))
    elif declared.consent_from is not None:
        side = declared.consent_from.removesuffix("_consent")
        yes = frame[declared.consent_from].to_numpy(dtype=bool)
        scopes = frame[f"{side}_{CONSENT_FOR}"].astype("string").fillna("")
        valid = (scopes != "").to_numpy(dtype=bool)
        masks["consent_missing"] = ~yes
        masks["consent_expired_or_withdrawn"] = yes & ~valid
        masks["consent_out_of_scope"] = yes & valid & ~covers(scopes, declared.consent_purpose or "")
    masks["no_agreement"] = nothing if agreements is None else ~agreement_ids(frame, declared, as_of, agreements).notna().to_numpy()
    return {gate: masks.get(gate, nothing) for gate in GATES}


def parties(frame: pd.DataFrame, declared: Contract) -> tuple[pd.Series, pd.Series]:
    """Per row: the recipient's party and the party the data comes from (a kommunkod, or AF).
    A contract that needs no consent publishes the recipient's own party's data."""
    recipient = (frame[declared.recipient_column].astype("string") if declared.recipient_kind == "kommun"
                 else pd.Series(AF_PARTY, index=frame.index, dtype="string"))  # fmt: skip
    if declared.consent_from == BOTH_MUNICIPALITIES:
        # An agreement names its parties in every order: one direction stands for both.
        source = frame["other_kommunkod"].astype("string")
    elif declared.consent_from == "municipal_consent":
        source = frame["kommunkod"].astype("string")
    elif declared.consent_from == "af_consent":
        source = pd.Series(AF_PARTY, index=frame.index, dtype="string")
    else:
        source = recipient
    return recipient, source


def agreement_ids(frame: pd.DataFrame, declared: Contract, as_of: dt.date, agreements: Agreements) -> pd.Series:
    """Per row, the agreement (the first by id) in force on `as_of` that names the contract,
    the recipient's party and the data's party; empty where there is none. A row of a
    party's own data to itself needs none (its id is empty too, but it is not withheld)."""
    recipient, source = parties(frame, declared)
    pairs = agreements.pairs(declared.name, as_of)
    index = pd.MultiIndex.from_arrays([recipient.fillna(""), source.fillna("")])
    found = pd.Series(pairs.reindex(index).to_numpy(), index=frame.index, dtype="string")
    own = (recipient == source).fillna(False).to_numpy(dtype=bool)
    return found.mask(own, "-")
