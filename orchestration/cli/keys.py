"""`mellanrum keys`: create, list, rotate, export, import and check keys.

Secrets are never printed. Passphrases come from environment variables only, so they do
not end up in shell history or in a process listing.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from core.files import replaced_atomically
from core.keys.keyring import ROLES, Keyring, export_package, import_package
from orchestration.cli.options import ISO_DATE, as_date, echo_table, home_option, keyring_option
from orchestration.settings import PASSPHRASE_ENV, Settings
from schemas.errors import KeyringError

PACKAGE_PASSPHRASE_ENV = "MELLANRUM_PACKAGE_PASSPHRASE"

_role_option = click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="linkage: the key K1 shared with partners (level 1). pipeline: the pipeline's own key K2 (level 2).",
)
_package_passphrase_option = click.option(
    "--passphrase-env",
    default=PACKAGE_PASSPHRASE_ENV,
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the passphrase agreed with the partner out of band.",
)


@click.group()
def keys() -> None:
    """Manage the keyring: linkage keys shared with partners and the pipeline's own key.

    \b
    First setup (the pipeline operator):
      export MELLANRUM_KEYRING_PASSPHRASE='...'      # from your secret store
      mellanrum keys new --role pipeline
      mellanrum keys new --role linkage
      MELLANRUM_PACKAGE_PASSPHRASE='...' mellanrum keys export --id L1-... --out l1.key
    At the partner:
      MELLANRUM_PACKAGE_PASSPHRASE='...' mellanrum keys import l1.key
      mellanrum keys check        # compare the check value by phone
    """


def _keyring_file(path: Path | None) -> Path:
    return Settings.load(keyring=path).keyring_file


def passphrase_from_env(variable: str = PASSPHRASE_ENV) -> str:
    return Settings.secret_from_environment(variable)


def _load(path: Path | None) -> Keyring:
    return Keyring.load(_keyring_file(path), passphrase_from_env())


def _load_or_create(path: Path | None) -> Keyring:
    path = _keyring_file(path)
    if path.exists():
        return Keyring.load(path, passphrase_from_env())
    passphrase_from_env()  # fail before creating anything if it is missing
    return Keyring(path=path)


def _describe(keyring: Keyring, on: dt.date) -> list[dict]:
    return [
        {
            "id": key.id,
            "role": key.role,
            "valid from": key.valid_from.isoformat(),
            "valid until": key.valid_until.isoformat() if key.valid_until else "open",
            "status": key.status(on),
            "chained from": key.chained_from or "",
            "check value": key.check_value,
        }
        for key in keyring.keys
    ]


@keys.command("new")
@_role_option
@click.option("--id", "key_id", help="Key id (default: L1-/L2-<valid-from>-<random>).")
@click.option("--valid-from", type=ISO_DATE, help="First day the key is valid (default: today).")
@click.option("--valid-until", type=ISO_DATE, help="Last day the key is valid (default: open).")
@keyring_option
def new(role: str, key_id: str | None, valid_from, valid_until, keyring_path: Path | None) -> None:
    """Add a new random 256-bit key (creates the keyring if there is none)."""
    keyring = _load_or_create(keyring_path)
    starts = as_date(valid_from)
    ring, key = keyring.with_new_key(role, starts, valid_until.date() if valid_until else None, key_id)
    ring.save(passphrase_from_env())
    click.echo(f"added {role} key {key.id} (check value {key.check_value}) to {ring.path}")


@keys.command("list")
@click.option("--on", type=ISO_DATE, help="Show each key's status on this day (default: today).")
@keyring_option
def list_keys(on, keyring_path: Path | None) -> None:
    """List the keys with their validity and check values (never the secrets)."""
    keyring = _load(keyring_path)
    echo_table(_describe(keyring, as_date(on)), empty=f"{keyring.path}: no keys")


@keys.command("rotate")
@_role_option
@click.option("--valid-from", type=ISO_DATE, help="First day of the new key (default: today).")
@click.option(
    "--overlap-days",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Days the old key stays valid after the new one starts: the rotation window.",
)
@keyring_option
def rotate(role: str, valid_from, overlap_days: int, keyring_path: Path | None) -> None:
    """Start a new key; the old one is accepted until the rotation window ends.

    A new pipeline key is chained from the old one: from its first day, the nightly
    reconciliation re-keys the stored pseudonyms by chaining, without the numbers (or now:
    `mellanrum keys epochs --on <valid-from> --bring-forward`). A new linkage key must be
    exported to every partner; during the window the ingest keeps a crosswalk old -> new of
    everyone delivered in plain numbers, so a source whose last good data is under the old
    key is brought forward; after the window such a source is left behind (docs/runbook.md).
    """
    keyring = _load(keyring_path)
    ring, old, new_key = keyring.rotated(role, as_date(valid_from), overlap_days)
    ring.save(passphrase_from_env())
    click.echo(
        f"rotated {role} key: {new_key.id} (check value {new_key.check_value}) valid from "
        f"{new_key.valid_from}; {old.id} now valid until {ring.get(old.id).valid_until}"
    )
    if role == "linkage":
        click.echo(f"next: export {new_key.id} to every partner with `mellanrum keys export --id {new_key.id}`")
    else:
        click.echo(f"the stored data is re-keyed to {new_key.id} by the first nightly run from {new_key.valid_from} "
                   f"(or now: `mellanrum keys epochs --on {new_key.valid_from} --bring-forward`)")


@keys.command("epochs")
@click.option("--on", type=ISO_DATE, help="Against the keys of this day (default: today).")
@click.option("--bring-forward", is_flag=True,
              help="Bring the stored data to those keys now, instead of at the next night's reconciliation.")
@home_option
def epochs(on, bring_forward: bool, home: Path | None) -> None:
    """Show which key ids each source's stored data is under, and whether it can be brought
    to the keys of the day (a rotated pipeline key: re-keyed by chaining; a rotated linkage
    key: through the rotation window's crosswalk). Exits 1 when a source is behind.

    \b
    Examples:
      mellanrum keys epochs
      mellanrum keys epochs --on 2027-01-01 --bring-forward
    """
    from orchestration.app.epochs import stored_epochs

    report = stored_epochs(Settings.load(home=home), as_date(on), persist=bring_forward)
    for change in report.changes:
        click.echo(f"{change['dataset']}/{change['partition']}: {change['action']} to {change['to_key_id']} "
                   f"({change['rows_rekeyed']} rows re-keyed, {change['rows_crosswalked']} through the crosswalk)")  # fmt: skip
    rows = report.table.rename(columns={"source_id": "source", "key_ids": "stored under"})
    echo_table(rows[["source", "kind", "kommunkod", "rows", "stored under", "status", "rekeyed", "crosswalked",
                     "left_out", "behind"]].to_dict("records"), empty="no stored data yet")  # fmt: skip
    click.echo(f"\nthe keys of {as_date(on)}: {report.target}")
    if report.behind:
        click.echo(f"BEHIND: {report.behind}", err=True)
        sys.exit(1)


@keys.command("export")
@click.option("--id", "key_id", required=True, help="The linkage key to export.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Package file to write.")
@_package_passphrase_option
@keyring_option
def export(key_id: str, out: Path, passphrase_env: str, keyring_path: Path | None) -> None:
    """Write a linkage key package for a partner, encrypted under an agreed passphrase."""
    keyring = _load(keyring_path)
    key = keyring.get(key_id)
    if out.exists():
        raise KeyringError(f"{out} already exists; choose another --out")
    package = export_package(key, passphrase_from_env(passphrase_env))
    with replaced_atomically(out, private=True) as temporary:
        temporary.write_bytes(package)
    click.echo(f"exported {key.id} to {out}; check value {key.check_value} (tell it to the partner by phone)")


@keys.command("import")
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_package_passphrase_option
@keyring_option
def import_(package: Path, passphrase_env: str, keyring_path: Path | None) -> None:
    """Add a partner's linkage key package to the keyring (creates the keyring if none)."""
    key = import_package(package, passphrase_from_env(passphrase_env))
    keyring = _load_or_create(keyring_path)
    existing = next((k for k in keyring.keys if k.id == key.id), None)
    if existing is not None:
        if existing.secret != key.secret:
            raise KeyringError(f"the keyring already holds a different key with id {key.id!r}")
        click.echo(f"{key.id} is already in {keyring.path} (check value {key.check_value})")
        return
    ring = keyring.with_key(key)
    ring.save(passphrase_from_env())
    click.echo(f"imported linkage key {key.id} (check value {key.check_value}) into {ring.path}")


@keys.command("check")
@click.option("--id", "key_id", help="Only this key (default: every key).")
@keyring_option
def check(key_id: str | None, keyring_path: Path | None) -> None:
    """Print key check values, to confirm two parties hold the same key without revealing it."""
    keyring = _load(keyring_path)
    for key in [keyring.get(key_id)] if key_id else keyring.keys:
        click.echo(f"{key.id}\t{key.role}\t{key.check_value}")


