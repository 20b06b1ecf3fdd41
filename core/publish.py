"""Publish: the minimal-need datasets of the contracts, from the reconciliation's results.

Pure functions, DataFrame in, DataFrame out: the contracts' builders (declared with their
contracts in `core/contracts.py`), `conform` (which refuses any column outside the
contract), `checksum`, the publication log's rows, and `build_publication`, which makes a
whole publication from its input datasets. The Dagster asset (`assets/publish.py`), the
CLI and the benchmarks all call `build_publication`; `core/database.py` writes it in one
transaction.

What each recipient gets: samplanering rows only for the overlaps that touch the
reporting window and need action (conflict or parallel), and only where the party the
data comes from recorded consent; the statistics count everyone.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.gates import GATES, agreement_ids, parties, withheld_by
from core.validate import validated
from schemas.agreements import Agreements
from schemas.contracts import Contract, PublicationParameters
from schemas.errors import MellanrumError
from schemas.flows import MunicipalFlows
from schemas.followup import Handovers, InterventionOutcomes, YouthMonitor
from schemas.published import ACTIONABLE, PublicationLog
from schemas.reconciled import MunicipalOverlaps
from schemas.recipients import Recipient, Recipients


class ContractError(MellanrumError):
    """A dataset does not conform to its contract: publication is refused."""


# --- builders ---------------------------------------------------------------------------


def samplanering(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                 declared: Contract) -> pd.DataFrame:  # fmt: skip
    """Overlaps in the window that need action (consent is a gate, `core/gates.py`)."""
    overlaps = inputs["overlaps"]
    wanted = overlaps["in_window"].to_numpy(dtype=bool) & overlaps["classification"].isin(ACTIONABLE).to_numpy(dtype=bool)
    return overlaps.loc[wanted, declared.columns]


def both_sides(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
               declared: Contract) -> pd.DataFrame:  # fmt: skip
    """`municipal_overlaps` as each of its two municipalities reads it: one row per pair and
    side, with that side's own record id and the other's kommun. The gates (`core/gates.py`,
    `BOTH_MUNICIPALITIES`) have kept only pairs whose two consents are valid for the purpose
    and which an agreement in force naming both municipalities covers."""
    pairs = inputs["municipal_overlaps"]
    shared = {"overlap_start": pairs["overlap_start"], "overlap_end": pairs["overlap_end"]}
    first = pd.DataFrame({"kommunkod": pairs["kommunkod"], "record_id": pairs["record_id"],
                          "category": pairs["category"], "other_kommunkod": pairs["other_kommunkod"],
                          "other_category": pairs["other_category"], **shared})  # fmt: skip
    second = pd.DataFrame({"kommunkod": pairs["other_kommunkod"], "record_id": pairs["other_record_id"],
                           "category": pairs["other_category"], "other_kommunkod": pairs["kommunkod"],
                           "other_category": pairs["category"], **shared})  # fmt: skip
    return pd.concat([first, second], ignore_index=True)[declared.columns].drop_duplicates()


def consented_transitions(inputs: Mapping[str, pd.DataFrame], parameters: PublicationParameters,
                          declared: Contract) -> pd.DataFrame:  # fmt: skip
    """The transition list's rows, each once (consent is a gate, `core/gates.py`)."""
    return inputs["transition_list"][declared.columns].drop_duplicates()


# --- conforming and summing ----------------------------------------------------------------


def conform(frame: pd.DataFrame, declared: Contract) -> pd.DataFrame:
    """`frame` checked against its contract and in canonical row order; a column outside the
    contract (or one missing) refuses publication, naming the columns, never a value."""
    stray = [c for c in frame.columns if c not in declared.columns]
    missing = [c for c in declared.columns if c not in frame.columns]
    if stray or missing:
        problems = [f"not in the contract: {', '.join(stray)}"] * bool(stray) + [f"missing: {', '.join(missing)}"] * bool(
            missing
        )
        raise ContractError(
            f"publication of {declared.name} (contract {declared.version}) refused: columns {'; '.join(problems)}"
        )
    try:
        return canonical(validated(frame[declared.columns], declared.model))
    except RuntimeError as problem:
        raise ContractError(f"publication of {declared.name} (contract {declared.version}) refused: {problem}") from None


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column (empty values first), so equal data is equal bytes."""
    return frame.sort_values(list(frame.columns), na_position="first", kind="stable").reset_index(drop=True)


def checksum(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows in canonical order as CSV (dates YYYY-MM-DD): equal data, equal sum."""
    text = canonical(frame).to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipient_rows(frame: pd.DataFrame, declared: Contract, scope: str | None) -> pd.DataFrame:
    """The rows of `frame` a recipient with `scope` (kommunkod, office; None: all) reads."""
    if declared.recipient_column is None:
        return frame
    return frame[(frame[declared.recipient_column] == scope).to_numpy(dtype=bool)].reset_index(drop=True)


def rows_for(frame: pd.DataFrame, declared: Contract, recipient: Recipient) -> pd.DataFrame:
    """The rows of `frame` `recipient` reads: its scope's, or a region's municipalities'."""
    kommuner = recipient.region_kommuner
    columns = [c for c in declared.kommun_columns if c in frame.columns]
    if declared.recipient_column is None and recipient.kind == "kommun" and recipient.kind in declared.also_to:
        kommuner = (recipient.kommunkod,)
    elif declared.recipient_column is not None or kommuner is None or not columns:
        return recipient_rows(frame, declared, recipient.scope)
    # A row is the recipient's where any of its kommun columns names one of its kommuner.
    mine = np.zeros(len(frame), dtype=bool)
    for column in columns:
        mine |= frame[column].isin(kommuner).to_numpy(dtype=bool)
    return frame[mine].reset_index(drop=True)


def log_rows(datasets: Mapping[str, pd.DataFrame], contracts: Mapping[str, Contract], recipients: Iterable[Recipient],
             *, run_id: str, as_of: dt.date, key_ids: Sequence[str], published_at: dt.datetime,
             channel: str = "database", sealed_to: str | None = None,
             agreements: Agreements | None = None) -> pd.DataFrame:  # fmt: skip
    """The publication log's rows: per dataset and recipient of its kind, one row per key id
    the data was linked on (each with that recipient's row count and checksum)."""
    if not key_ids:
        raise ValueError("a publication names the key ids its data was linked on")
    recipients = list(recipients)
    moment = pd.Timestamp(published_at)
    if moment.tzinfo is None:
        raise ValueError("log_rows: published_at needs a time zone (e.g. datetime.now(datetime.UTC))")
    # Kept in UTC, to the second, so that publications of one day stay apart and in order.
    moment = moment.tz_convert("UTC").floor("s")
    rows = []
    for name, frame in datasets.items():
        declared = contracts[name]
        for recipient in (r for r in recipients if r.kind in declared.recipient_kinds):
            own = rows_for(frame, declared, recipient)
            facts = {"run_id": run_id, "as_of": pd.Timestamp(as_of), "dataset": name,
                     "contract_version": declared.version, "recipient": recipient.id, "channel": channel,
                     "row_count": len(own), "checksum": checksum(own), "sealed_to": sealed_to,
                     "published_at": moment,
                     "agreement_id": _agreements_of(own, declared, as_of, agreements)}  # fmt: skip
            rows.extend({**facts, "key_id": key_id} for key_id in sorted(set(key_ids)))
    log = pd.DataFrame(rows, columns=list(PublicationLog.to_schema().columns))
    return validated(log.astype({"as_of": "datetime64[s]", "published_at": "datetime64[s, UTC]",
                                 "row_count": "int64"}), PublicationLog)  # fmt: skip


def _agreements_of(rows: pd.DataFrame, declared: Contract, as_of: dt.date, agreements: Agreements | None) -> str | None:
    """The agreement ids a recipient's rows crossed under (',' between), or None."""
    if agreements is None or declared.recipient_column is None or rows.empty:
        return None
    ids = sorted(set(agreement_ids(rows, declared, as_of, agreements).dropna()) - {"-"})
    return ",".join(ids) or None


def unreached(datasets: Mapping[str, pd.DataFrame], contracts: Mapping[str, Contract],
              recipients: Recipients) -> dict[str, int]:  # fmt: skip
    """Rows whose kommunkod or office has no registered recipient, per dataset: stored but
    readable by no one, and reported so the steward can register the recipient."""
    counts = {}
    for name, frame in datasets.items():
        declared = contracts[name]
        if declared.recipient_column is None:
            continue
        scopes = {r.scope for r in recipients.of_kind(declared.recipient_kind)}
        counts[name] = int((~frame[declared.recipient_column].isin(scopes)).sum())
    return counts


# --- sources left behind by a key rotation ---------------------------------------------------


@dataclass(frozen=True)
class HeldBack:
    """Whose rows keep their previous publication tonight, because a source's data could not
    be brought to the night's keys (`core/epochs.py`): the kommuner of municipal sources left
    behind, or everything when an AF source is (all rows hold AF's side)."""

    kommuner: tuple[str, ...] = ()
    everything: bool = False
    reason: str = ""  # the runbook's words: which source is under which key

    def __bool__(self) -> bool:
        return self.everything or bool(self.kommuner)


def held_back(epochs: pd.DataFrame, reason: str = "") -> HeldBack:
    """From the reconciliation's `key_epochs` dataset (`schemas.reconciled.KeyEpochs`)."""
    behind = epochs[epochs["status"] == "behind"]
    return HeldBack(kommuner=tuple(sorted(set(behind.loc[behind["kind"] == "municipal", "kommunkod"]))),
                    everything=bool((behind["kind"] == "af").any()), reason=reason)  # fmt: skip


def keep_previous(datasets: Mapping[str, pd.DataFrame], previous: Mapping[str, pd.DataFrame | None],
                  contracts: Mapping[str, Contract], held: HeldBack) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:  # fmt: skip
    """Tonight's datasets with the held-back part taken from the previous publication instead:
    a row-level list keeps its previous rows of the held-back kommuner (and tonight's of the
    others); an aggregate, or everything when AF is held back, keeps its previous table whole.
    Never a list emptied without a word: returns, per dataset, what was kept."""
    if not held:
        return dict(datasets), {}
    result, kept = {}, {}
    for name, frame in datasets.items():
        declared = contracts[name]
        before = previous.get(name)
        before = frame.iloc[:0] if before is None else before[declared.columns]
        if held.everything or declared.recipient_column is None or "kommunkod" not in declared.columns:
            result[name], kept[name] = conform(before, declared), "the whole previous publication"
            continue
        mine = frame["kommunkod"].isin(held.kommuner).to_numpy(dtype=bool)
        theirs = before["kommunkod"].isin(held.kommuner).to_numpy(dtype=bool)
        result[name] = conform(pd.concat([frame[~mine], before[theirs]], ignore_index=True), declared)
        kept[name] = "the previous rows of kommun " + ", ".join(held.kommuner)
    return result, kept


# --- a whole publication ---------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """Every contract's dataset (conformed, by name) and the log rows that record them."""

    datasets: dict[str, pd.DataFrame]
    log: pd.DataFrame
    unreached: dict[str, int]  # rows without a registered recipient, per dataset
    kept: dict[str, str] = field(default_factory=dict)  # per dataset: what kept its previous publication
    # per dataset: rows each gate withheld (`core.gates.GATES`), counts only
    withheld: dict[str, dict[str, int]] = field(default_factory=dict)


def build_datasets(inputs: Mapping[str, pd.DataFrame], contracts: Sequence[Contract],
                   parameters: PublicationParameters) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Every contract's dataset from the internal datasets it names, through the gates,
    conformed, by name."""
    return gated_datasets(inputs, contracts, parameters)[0]


def gated_datasets(inputs: Mapping[str, pd.DataFrame], contracts: Sequence[Contract],
                   parameters: PublicationParameters) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:  # fmt: skip
    """Every contract's dataset through the gates (`core/gates.py`), and per dataset how many
    of its rows each gate withheld: the gates are applied in turn to the contract's first
    input, and a gate's count is the rows the dataset lost with it (a row withheld by
    several gates counts for the first). Counts only."""
    inputs = {**optional_inputs(), **inputs}
    datasets, withheld = {}, {}
    for declared in contracts:
        datasets[declared.name], withheld[declared.name] = _gated(declared, inputs, parameters)
    return datasets, withheld


def _gated(declared: Contract, inputs: Mapping[str, pd.DataFrame],
           parameters: PublicationParameters) -> tuple[pd.DataFrame, dict[str, int]]:  # fmt: skip
    first = declared.inputs[0]
    frame = inputs[first]

    def build(rows: pd.DataFrame) -> pd.DataFrame:
        own = {**{n: inputs[n] for n in declared.inputs}, first: rows}
        return conform(declared.build(own, parameters, declared), declared)

    masks = withheld_by(frame, declared, parameters.as_of, parameters.agreements)
    kept = np.ones(len(frame), dtype=bool)
    result, counts = build(frame), {}
    for gate in GATES:
        more = kept & masks[gate]
        counts[gate] = 0
        if more.any():
            kept &= ~masks[gate]
            narrower = build(frame[kept].reset_index(drop=True))
            counts[gate], result = len(result) - len(narrower), narrower
    return result, counts


def optional_inputs() -> dict[str, pd.DataFrame]:
    """The internal datasets that exist only with a registration source (and those a caller
    building only the AF-municipal datasets may leave out), empty: without them, their
    published datasets are empty and everything else is as before."""
    return {"youth_monitor": empty(YouthMonitor), "handovers": empty(Handovers),
            "intervention_outcomes": empty(InterventionOutcomes), "municipal_flows": empty(MunicipalFlows),
            # A caller that built only the AF-municipal datasets: no pairs of two municipalities.
            "municipal_overlaps": empty(MunicipalOverlaps)}


def empty(model) -> pd.DataFrame:
    """No rows, in the model's storage types."""
    types = {name: "datetime64[s]" if str(column.dtype).startswith("datetime64") else str(column.dtype)
             for name, column in model.to_schema().columns.items()}  # fmt: skip
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in types.items()})


def build_publication(inputs: Mapping[str, pd.DataFrame], contracts: Sequence[Contract], recipients: Recipients,
                      parameters: PublicationParameters, *, key_ids: Sequence[str], run_id: str,
                      published_at: dt.datetime, held: HeldBack = HeldBack(),
                      previous: Mapping[str, pd.DataFrame | None] | None = None) -> Publication:  # fmt: skip
    """A whole publication: the datasets, who receives which rows, and its log. With `held`
    (sources left behind by a key rotation) the held-back part is the `previous` one."""
    by_name = {c.name: c for c in contracts}
    built, withheld = gated_datasets(inputs, contracts, parameters)
    datasets, kept = keep_previous(built, previous or {}, by_name, held)
    log = log_rows(datasets, by_name, recipients.all, run_id=run_id, as_of=parameters.as_of, key_ids=key_ids,
                   published_at=published_at, agreements=parameters.agreements)  # fmt: skip
    return Publication(datasets, log, unreached(datasets, by_name, recipients), kept, withheld)


def missing_agreements(inputs: Mapping[str, pd.DataFrame], contracts: Sequence[Contract],
                       parameters: PublicationParameters) -> list[str]:  # fmt: skip
    """In the runbook's words, per contract and pair of parties whose rows the agreement gate
    withheld: which agreement is missing or not in force. Parties and agreement ids only."""
    agreements = parameters.agreements
    if agreements is None:
        return []
    inputs = {**optional_inputs(), **inputs}
    found = []
    for declared in contracts:
        frame = inputs[declared.inputs[0]]
        withheld = withheld_by(frame, declared, parameters.as_of, agreements)["no_agreement"]
        if not withheld.any():
            continue
        recipient, source = parties(frame[withheld], declared)
        pairs = pd.DataFrame({"r": recipient.to_numpy(), "s": source.to_numpy()}).dropna().drop_duplicates()
        for r, s in sorted(pairs.itertuples(index=False, name=None)):
            found.append(f"{declared.name} from {s} to {r}: {agreements.missing(declared.name, r, s, parameters.as_of)}")
    return found
