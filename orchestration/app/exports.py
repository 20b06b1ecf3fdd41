"""A recipient's sealed export of the latest publication (no Dagster run)."""

from __future__ import annotations

from pathlib import Path

from core.contracts import CONTRACTS
from core.database import create_engine
from core.exports import Export, build_export, record_export
from core.files import keep_private, replaced_atomically
from orchestration.settings import Settings
from schemas.errors import ConfigError
from schemas.recipients import load_recipients


def export_sealed(settings: Settings, recipient_id: str, out: Path, fmt: str = "csv", force: bool = False) -> Export:
    """Write one recipient's rows of the latest publication, sealed to its public key, and
    log the export."""
    keep_private()
    if out.exists() and not force:
        raise ConfigError(f"{out} exists: choose another --out, or add --force to replace it")
    recipients = load_recipients(settings.recipients_file)
    engine = create_engine(settings.publication_database_url())
    made = build_export(engine, CONTRACTS, recipients, recipient_id, fmt)
    with replaced_atomically(out, private=True) as temporary:
        temporary.write_bytes(made.sealed)
    record_export(engine, made)
    return made
