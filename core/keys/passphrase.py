"""The one passphrase policy: for the keyring, key packages and recipients' private keys."""

from schemas.errors import KeyringError

# The keyring's passphrase is read from this variable only (never from a file or an option).
KEYRING_PASSPHRASE_ENV = "MELLANRUM_KEYRING_PASSPHRASE"


def missing_passphrase(variable: str = KEYRING_PASSPHRASE_ENV) -> str:
    """One sentence for a passphrase that is not there, naming its variable."""
    return f"set the passphrase in the environment variable {variable} (it is never read from a file)"


# Sixteen characters: a few random words from a password manager clear it easily; a
# short word does not (OWASP's floor for a password without a second factor is 15).
MIN_PASSPHRASE_CHARS = 16


def check_passphrase_strength(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise KeyringError(
            f"the passphrase is too short: use at least {MIN_PASSPHRASE_CHARS} characters "
            "(a few random words from a password manager)"
        )
