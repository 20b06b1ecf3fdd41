"""Errors whose messages are written for the person who must act on them.

Every message names the file, key, line or column and the reason, and is safe to show
anywhere: it never holds a personal identity number or a key. Raise them `from None`
when the cause could carry a value (pandas, pandera and SQLAlchemy errors can), so that a
chained traceback cannot leak it into a log or the Dagster event log.

**Delivered values.** What a municipality or AF delivers (a personal number, a name, a
free-text comment, a whole line) may never reach an error, a log, Dagster's event log or
metadata, a quarantine reason or a published table. Two places here enforce it:

- `delivery_error` builds every error about a delivered file. It takes the file, a line
  number, a column name that is safe to show (`Declared`: from the sources file or our
  schemas; `HeaderName`: from a header line that passed the reader's "looks like data"
  check), a fixed reason, and facts that are counts or such names or `Masked` values.
  A plain `str` fact is refused with a `TypeError`, so a value cannot slip in by accident.
- `shown_values` decides, for quarantine values and reasons, what of a delivered value
  may be shown: a code-shaped value as it is, a value holding something shaped like a
  personal identity number as its shape only (digits N, letters A), and anything else
  (free text) as `<free text, N characters>`.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import LiteralString

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.personnummer import identity_shaped


class MellanrumError(Exception):
    """Base for expected failures; the CLI prints the message and exits non-zero."""


class ConfigError(MellanrumError):
    """A config file (sources, catalogue, rule table) is wrong: names file, key and value."""


class InputError(MellanrumError):
    """A delivered file cannot be used: names the file, line, column and reason."""


class DeliveryError(InputError):
    """A delivered file cannot be used; made only by `delivery_error`, so that its message
    holds the file's name, a line, safe column names, fixed text and counts, nothing else."""


class MachineFault(MellanrumError):
    """A fault of the machine or of a resource, not of a delivery: a full disk, a database
    that cannot be reached or does not exist. The run stops at once, in one sentence that
    names the resource and the fix."""


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


# --- text that may be shown ----------------------------------------------------------------


class Declared(str):
    """Text that is not delivered content: a name from the sources file or our schemas (a
    column name the sources file maps, an encoding, a sheet name), or a fixed description
    from the system (an OS error's strerror). Wrap it explicitly: `Declared(source.encoding)`."""


class HeaderName(str):
    """A column name from a delivered header line that passed the reader's check that the
    line is a header and not data (`core.readers.check_header`); only that check makes them."""


class Masked(str):
    """A delivered value reduced to what may be shown (see `masked`); only `masked` makes them."""


MAX_SHOWN_CHARACTERS = 40
MAX_SHOWN_WORDS = 4
# A code-shaped value: letters and digits in any script, and few other characters.
_CODE_CHARACTERS = r"[\pL\pN_.()/%&+:-]"
_ASCII_CODE_CHARACTERS = r"[A-Za-z0-9_.()/%&+:-]"  # the same, for ASCII text


def code_shaped(values: pd.Series, max_characters: int = MAX_SHOWN_CHARACTERS,
                max_words: int = MAX_SHOWN_WORDS) -> np.ndarray:  # fmt: skip
    """Which values could be a code, an id or a short name rather than free text.

    Code-shaped: at most 40 characters (after stripping), at most four words separated by
    single spaces, made of letters, digits and `_ . ( ) / % & + : -` only. A comma, a
    semicolon, a quote, a question mark, a line break or a fifth word makes it free text.
    Missing values are not code-shaped. (`max_characters` and `max_words` loosen it for
    names, e.g. an AF office's.)
    """
    strings = _strings(values)
    if len(strings) == 0:
        return np.zeros(0, dtype=bool)
    stripped = pc.utf8_trim_whitespace(strings)
    short = pc.less_equal(pc.utf8_length(stripped), max_characters)
    shaped = pc.and_(short, _matches(stripped, _CODE_CHARACTERS, _ASCII_CODE_CHARACTERS, max_words))
    return pc.fill_null(shaped, False).to_numpy(zero_copy_only=False)


def _matches(stripped: pa.Array, characters: str, ascii_characters: str, max_words: int) -> pa.Array:
    """The code pattern over `stripped`. Arrow compiles a pattern on every call, and one with
    Unicode classes (\\pL, \\pN) takes milliseconds: a cost per call that thousands of small
    calls a night pay. ASCII values take the same pattern in ASCII classes (identical for them);
    only the rest, if any, the Unicode one."""
    def pattern(chars: str) -> str:
        return rf"^{chars}+(?: {chars}+){{0,{max_words - 1}}}$"

    ascii_only = pc.fill_null(pc.string_is_ascii(stripped), True)
    matched = pc.match_substring_regex(stripped, pattern(ascii_characters))
    if pc.all(ascii_only).as_py():
        return matched
    other = pc.invert(ascii_only)
    wide = pc.match_substring_regex(pc.filter(stripped, other), pattern(characters))
    placed = np.zeros(len(stripped), dtype=bool)  # back at the non-ASCII rows
    placed[np.flatnonzero(other.to_numpy(zero_copy_only=False))] = wide.to_numpy(zero_copy_only=False)
    return pc.if_else(other, pa.array(placed), matched)


def shown_values(values: pd.Series | Sequence) -> pd.Series:
    """Each delivered value as it may be shown in a quarantine table or reason (same index).

    - missing stays missing, and blank is shown blank;
    - a value holding something shaped like a personal identity number
      (`schemas.personnummer.identity_shaped`) is shown as its shape: digits become N,
      letters A (`19090101-9810` → `NNNNNNNN-NNNN`); when it is also free text, as below;
    - a code-shaped value (`code_shaped`) is shown as delivered (stripped): codes, ids,
      dates and numbers, the things a steward needs to see to fix a mapping;
    - anything else is free text and is shown as `<free text, N characters>`.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    strings = _strings(series)
    if len(strings) == 0:
        return pd.Series([], index=series.index, dtype="string")
    stripped = pc.utf8_trim_whitespace(strings)
    identity = identity_shaped(pd.Series(pd.arrays.ArrowStringArray(stripped)))
    code = code_shaped(pd.Series(pd.arrays.ArrowStringArray(stripped)))
    shape = _shape(stripped) if identity.any() else stripped  # only identity-shaped rows show it
    free = pc.binary_join_element_wise(
        "<free text, ", pc.cast(pc.utf8_length(stripped), pa.string()), " characters>", ""
    )
    empty = pc.fill_null(pc.equal(pc.utf8_length(stripped), 0), False).to_numpy(zero_copy_only=False)
    choice = np.where(empty, 0, np.where(~code, 2, np.where(identity, 1, 0)))
    shown = pc.case_when(
        pc.make_struct(pa.array(choice == 0), pa.array(choice == 1), pa.array(choice == 2)),
        stripped, shape, free,
    )  # fmt: skip
    return pd.Series(pd.arrays.ArrowStringArray(shown.cast(pa.large_string())), index=series.index)


def _shape(stripped: pa.Array) -> pa.Array:
    """Letters as A, digits as N (ASCII text with ASCII classes: the same, and no Unicode
    tables to compile)."""
    letters, digits = (r"[A-Za-z]", r"[0-9]") if pc.all(pc.fill_null(pc.string_is_ascii(stripped), True)).as_py() else (
        r"\pL", r"\pN")  # fmt: skip
    return pc.replace_substring_regex(pc.replace_substring_regex(stripped, letters, "A"), digits, "N")


def masked(value: object) -> Masked:
    """One delivered value as `shown_values` shows it ('' for a missing value)."""
    shown = shown_values(pd.Series([value], dtype="object")).iloc[0]
    return Masked("" if pd.isna(shown) else shown)


def quoted(shown: pd.Series) -> pd.Series:
    """Shown values for a sentence: in quotes, except the `<free text, …>` placeholder."""
    text = shown.astype("string").fillna("")
    return text.where(text.str.startswith("<free text, "), "'" + text + "'")


def _strings(values: pd.Series) -> pa.Array:
    strings = pa.array(pd.Series(values).astype("string[pyarrow]"))
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    return strings.cast(pa.large_string())


# --- errors about a delivered file -----------------------------------------------------------

_SAFE_FACTS = (int, Declared, HeaderName, Masked)


def delivery_error(
    file: Path | str,
    reason: LiteralString,
    *,
    line: int | None = None,
    column: Declared | HeaderName | None = None,
    **facts: int | Declared | HeaderName | Masked | Sequence[Declared | HeaderName | Masked],
) -> DeliveryError:
    """The error for a delivered file that cannot be used: the one place such messages are made.

    `reason` is fixed text (a literal in the code), with `{name}` fields filled from
    `facts`. Facts are counts (`int`) or `Declared`, `HeaderName` or `Masked` text, or
    sequences of those (shown comma-separated); text facts are shown in quotes, or as they
    are with `{name!s}` (an encoding's name in a sentence). Anything
    else, a plain `str` above all, is a programming error (`TypeError`): a delivered value
    must never be formatted into a message.

    The message reads `<file>: line <n>: column '<name>': <reason>`.
    """
    for name, fact in [("column", column), *facts.items()]:
        if fact is not None and not _is_safe(fact):
            raise TypeError(
                f"delivery_error: {name} is a {type(fact).__name__}; only int, Declared, HeaderName or "
                "Masked text may go into a message about a delivery"
            )
    text = "".join(
        literal + ("" if name is None else _render(facts[name], quote=conversion != "s"))
        for literal, name, _, conversion in string.Formatter().parse(reason)
    )
    where = [str(file)]
    if line is not None:
        where.append(f"line {line}")
    if column is not None:
        where.append(f"column {_render(column)}")
    return DeliveryError(": ".join([*where, text]))


def _is_safe(fact: object) -> bool:
    if isinstance(fact, bool):
        return False
    if isinstance(fact, _SAFE_FACTS):
        return True
    return isinstance(fact, (list, tuple)) and all(isinstance(item, _SAFE_FACTS[1:]) for item in fact)


def _render(fact: object, quote: bool = True) -> str:
    if isinstance(fact, int):
        return str(fact)
    if isinstance(fact, (list, tuple)):
        return ", ".join(_render(item, quote) for item in fact)
    return repr(str(fact)) if quote else str(fact)
