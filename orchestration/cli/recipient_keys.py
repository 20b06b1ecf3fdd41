"""`mellanrum recipient-key` and `mellanrum decrypt`: the recipient's side of sealed exports.

A recipient without access to our database (an AF office, a municipality's unit) makes
its own key pair with `recipient-key new`, keeps the private key file, and sends the
printed public key line to the Mellanrum operator, who registers it in the recipients
file with `recipient-key register`.
Its exports then arrive as sealed files that only `decrypt` with that private key opens
(format: core/keys/sealing.py).

The private key's passphrase comes from an environment variable only, so that it ends up
in neither shell history nor a process listing.
"""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric import x25519

from core.files import replaced_atomically
from core.keys.sealing import (
    key_fingerprint,
    load_private_key,
    new_recipient_key,
    open_sealed,
    parse_public_key,
    public_key_text,
    read_sealed_header,
    write_private_key,
)
from orchestration.settings import Settings
from schemas.errors import InputError

RECIPIENT_PASSPHRASE_ENV = "MELLANRUM_RECIPIENT_PASSPHRASE"

_existing_key_option = click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Your private key file, from `mellanrum recipient-key new`; its passphrase is read from "
    f"${RECIPIENT_PASSPHRASE_ENV}.",
)


@click.group("recipient-key")
def recipient_key() -> None:
    """Make and inspect the key pair that sealed exports are encrypted to.

    \b
    At the recipient, once:
      export MELLANRUM_RECIPIENT_PASSPHRASE='...'     # from your password manager, 16+ characters
      mellanrum recipient-key new --out ~/.mellanrum/recipient.key
    then send the printed `mellanrum-x25519:...` line and its fingerprint to the
    Mellanrum operator, and confirm the fingerprint with them by phone.
    """


@recipient_key.command("new")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key file to write (PKCS#8 PEM, encrypted under the passphrase, readable by you only).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing key file. Files already sealed to the old key can then never be opened.",
)
def new(out: Path, force: bool) -> None:
    """Make a key pair and print its public key for the operator.

    The passphrase is read from $MELLANRUM_RECIPIENT_PASSPHRASE (at least 16 characters).

    \b
    Example:
      export MELLANRUM_RECIPIENT_PASSPHRASE='...'
      mellanrum recipient-key new --out recipient.key
    """
    passphrase = Settings.secret_from_environment(RECIPIENT_PASSPHRASE_ENV)
    private_key = new_recipient_key()
    write_private_key(out, private_key, passphrase, overwrite=force)
    click.echo(f"wrote the private key to {out}: keep it, and its passphrase, to yourself")
    _echo_public_key(private_key)


@recipient_key.command("show")
@_existing_key_option
def show(key_path: Path) -> None:
    """Print the public key and fingerprint of a private key file.

    \b
    Example:
      MELLANRUM_RECIPIENT_PASSPHRASE='...' mellanrum recipient-key show --key recipient.key
    """
    _echo_public_key(load_private_key(key_path, Settings.secret_from_environment(RECIPIENT_PASSPHRASE_ENV)))


def _echo_public_key(private_key: x25519.X25519PrivateKey) -> None:
    public_key = private_key.public_key()
    click.echo("public key (put this line in the operator's recipients config):")
    click.echo(public_key_text(public_key))
    click.echo(f"fingerprint: {key_fingerprint(public_key)}")


@recipient_key.command("register")
@click.option("--recipient", "recipient_id", required=True, help="Recipient id from the recipients file.")
@click.argument("public_key", metavar="PUBLIC_KEY")
@click.option("--recipients", "recipients_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Recipients file (default: $MELLANRUM_RECIPIENTS, else recipients.yaml beside the sources file).")
def register(recipient_id: str, public_key: str, recipients_file: Path | None) -> None:
    """At the operator: put a recipient's public key line in the recipients file.

    `mellanrum export` seals to this key, and refuses a recipient without one. Only the
    `public_key:` line of that recipient's entry changes (added, or replaced); comments
    and layout stay. A public key is not a secret; confirm its fingerprint with the
    recipient by phone before the first export. The code server reads the recipients
    file when a run starts, so nothing needs a restart.

    \b
    Example:
      mellanrum recipient-key register --recipient af_goteborg_city mellanrum-x25519:...
    """
    from schemas.recipients import with_public_key

    path = Settings.load(recipients=recipients_file).recipients_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    edited = with_public_key(text, path, recipient_id, public_key)
    fingerprint = key_fingerprint(parse_public_key(public_key, where=f"{path}: recipient {recipient_id!r}"))
    with replaced_atomically(path) as temporary:
        temporary.write_text(edited, encoding="utf-8")
        temporary.chmod(path.stat().st_mode & 0o777)
    click.echo(f"registered the public key of {recipient_id} in {path}; fingerprint {fingerprint} "
               "(confirm it with the recipient by phone)")  # fmt: skip


@click.command("decrypt")
@_existing_key_option
@click.option(
    "--in",
    "sealed_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Sealed file received from Mellanrum (from `mellanrum export`).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write the decrypted contents to (readable by you only): an export is a ZIP with one "
    "file per dataset, so name it .zip.",
)
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def decrypt(key_path: Path, sealed_path: Path, out: Path, force: bool) -> None:
    """Decrypt a sealed export with your private key.

    Nothing is written unless the whole file is authentic: a file sealed to another key,
    altered or truncated is refused with the reason.

    \b
    Example:
      export MELLANRUM_RECIPIENT_PASSPHRASE='...'
      mellanrum decrypt --key recipient.key --in af_samplanering.sealed --out af_samplanering.zip
    """
    passphrase = Settings.secret_from_environment(RECIPIENT_PASSPHRASE_ENV)
    # Output checks come first: they are cheap and must not depend on the file's contents.
    if out.resolve() == sealed_path.resolve():
        raise InputError(f"{out}: would overwrite the sealed file; choose another --out")
    if out.exists() and not force:
        raise InputError(f"{out} already exists; choose another --out, or pass --force to replace it")
    private_key = load_private_key(key_path, passphrase)
    sealed = sealed_path.read_bytes()
    header = read_sealed_header(sealed, name=str(sealed_path))
    plaintext = open_sealed(sealed, private_key, name=str(sealed_path))
    with replaced_atomically(out, private=True) as temporary:
        temporary.write_bytes(plaintext)
    click.echo(f"decrypted {sealed_path} ({len(plaintext)} bytes) to {out}")
    if header.context:
        # The context is authenticated by now, so showing it tells the recipient what it got.
        click.echo(f"context: {header.context.decode('utf-8', errors='backslashreplace')}")
