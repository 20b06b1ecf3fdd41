"""The partner's side: an extract pseudonymized at source, before it is sent (no Dagster)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.files import keep_private, replaced_atomically
from core.ingest import PseudonymizedExtract, pseudonymize_column
from core.keys.keyring import Keyring
from orchestration.settings import Settings
from schemas.errors import ConfigError


def pseudonymize_extract(settings: Settings, source: Path, column: str, out: Path, *, key_id: str | None,
                         encoding: str, delimiter: str, reference_date: dt.date) -> PseudonymizedExtract:  # fmt: skip
    """The partner's side: replace a column of personal numbers by level-1 pseudonyms (the
    same columns and code as a delivery of level-1 pseudonyms is read with)."""
    keep_private()
    keyring = Keyring.load(settings.keyring_file, settings.secret_from_environment())
    key = keyring.usable(key_id, "linkage", reference_date) if key_id else keyring.active("linkage", reference_date)
    if out.resolve() == Path(source).resolve():
        raise ConfigError(f"{out}: would overwrite the input; choose another --out")
    result = pseudonymize_column(source, column, key, reference_date, encoding=encoding, delimiter=delimiter)
    with replaced_atomically(out, private=True) as temporary:
        result.frame.to_csv(temporary, sep=result.delimiter, index=False, encoding="utf-8", lineterminator="\n")
    return result
