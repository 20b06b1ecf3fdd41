"""Errors whose messages are written for the person who must act on them.

Every message names the file, key, line or column and the reason, and is safe to show
anywhere: it never holds a personal identity number or a key. Raise them `from None`
when the cause could carry a value (pandas, pandera and SQLAlchemy errors can), so that a
chained traceback cannot leak it into a log or the Dagster event log.
"""


class MellanrumError(Exception):
    """Base for expected failures; the CLI prints the message and exits non-zero."""


class ConfigError(MellanrumError):
    """A config file (sources, catalogue, rule table) is wrong: names file, key and value."""


class InputError(MellanrumError):
    """A delivered file cannot be used: names the file, line, column and reason."""


class KeyringError(MellanrumError):
    """Keyring or key problem: wrong passphrase, unknown or expired key, no keyring."""
