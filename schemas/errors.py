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


def withheld(what: str, problem: Exception) -> RuntimeError:
    """An error for an unexpected failure of `what` that keeps the type but not the message.

    Library errors (pandas, pandera, SQLAlchemy) may quote a row's values; raise the result
    `from None` so neither the message nor the chained cause reaches a log.
    """
    return RuntimeError(
        f"{what} failed with {type(problem).__name__}; the message is withheld because it may hold "
        "personal data: reproduce with synthetic data to debug"
    )
