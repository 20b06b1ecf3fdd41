"""Personnummer rules: normalize, validate and classify Swedish personal identity numbers.

A **personnummer** is the personal identity number Skatteverket gives everyone registered
in Sweden: birth date, a three-digit serial and a Luhn check digit, written
YYMMDD-NNNC (10 digits) or YYYYMMDDNNNC (12 digits). A **samordningsnummer**
(co-ordination number) is issued to people who are not, or not yet, registered; it has
the same form with 60 added to the day of birth (day 61–91). As Skatteverket issues them,
a samordningsnummer may also carry month 00, day 60 or a day that is no calendar date
(30 Feb + 60), so for those only the ranges of month and day are checked. A day of 60
or more is what marks a samordningsnummer.

`normalize` turns a column of raw values into the canonical 12-digit form used for
pseudonymization, or a short plain-English reason why the value is not a usable number.
It is vectorized (pyarrow string kernels, then numpy over a fixed-width digit matrix)
because it runs on every row of every delivery. A reason never holds the value or any
digit at all, so it is safe in logs and quarantine tables.

Each invalid value gets the first reason that applies, in this order (from "the text is
not shaped like a number" to "the number is shaped right but does not check out"):

1. empty (missing, or only whitespace)
2. shape: interim number, whitespace inside, another unexpected character, separator in
   the wrong place, nine or eleven digits (a lost leading zero is never guessed), other
   lengths
3. organisation number (month 20 or more; in a 12-digit form only after "16")
4. date: month, day, calendar date (personnummer only), birth date after the reference date
5. serial number all zeros
6. Luhn check digit
"""

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KIND_PERSONNUMMER = "personnummer"
KIND_SAMORDNINGSNUMMER = "samordningsnummer"

REASON_EMPTY = "empty"
REASON_INTERIM = "interim number (letter in serial), not a personnummer"
REASON_INNER_SPACE = "unexpected character: space inside the number"
REASON_CHARACTER = "unexpected character (only digits and one - or + separator are allowed)"
REASON_SEPARATOR = "separator in the wrong place (expected before the last four digits)"
REASON_NINE_DIGITS = (
    "nine digits: a leading zero was probably lost (e.g. by a spreadsheet); never guessed"
)
REASON_ELEVEN_DIGITS = "eleven digits: a digit was probably lost or added; never guessed"
REASON_ORGANISATION = "organisation number, not a personnummer"
REASON_MONTH = "month out of range"
REASON_DAY = "day out of range"
REASON_CALENDAR = "birth date is not a calendar date"
REASON_FUTURE = "birth date after the reference date"
REASON_SERIAL = "serial number is all zeros (never issued)"
REASON_CHECK_DIGIT = "check digit wrong"

# Lengths are spelled out so that no reason contains a digit (see the module docstring).
_COUNT_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_OVER_TWENTY = len(_COUNT_WORDS) + 1  # the digit count that stands for all longer values


def _length_reason(count: int) -> str:
    """Reason for `count` digits (not ten or twelve) with at most a well-placed separator."""
    if count == 9:
        return REASON_NINE_DIGITS
    if count == 11:
        return REASON_ELEVEN_DIGITS
    if count == _OVER_TWENTY:
        return "wrong length (more than twenty digits; expected ten or twelve)"
    noun = "digit" if count == 1 else "digits"
    return f"wrong length ({_COUNT_WORDS[count - 1]} {noun}; expected ten or twelve)"


_LENGTH_REASONS = {
    count: _length_reason(count) for count in range(1, _OVER_TWENTY + 1) if count not in (10, 12)
}

# Every reason `normalize` can give, in priority order (the lengths exclude each other).
REASONS: tuple[str, ...] = (
    REASON_EMPTY,
    REASON_INTERIM,
    REASON_INNER_SPACE,
    REASON_CHARACTER,
    REASON_SEPARATOR,
    *_LENGTH_REASONS.values(),
    REASON_ORGANISATION,
    REASON_MONTH,
    REASON_DAY,
    REASON_CALENDAR,
    REASON_FUTURE,
    REASON_SERIAL,
    REASON_CHECK_DIGIT,
)
# Rows carry a small reason code until the end: 0 is valid, otherwise the index + 1.
_VALID = 0
_CODE = {reason: code for code, reason in enumerate(REASONS, start=1)}
# Indexed by digit count (capped at _OVER_TWENTY); counts with no length reason give 0.
_CODE_BY_DIGIT_COUNT = np.array(
    [_CODE.get(_LENGTH_REASONS.get(count), _VALID) for count in range(_OVER_TWENTY + 1)],
    dtype=np.uint8,
)

_STRING = pd.StringDtype("pyarrow")  # <NA> for missing, Arrow storage

# A well-formed value: 6 or 8 date digits, an optional separator, the last four digits.
_WELL_FORMED = r"^(?:[0-9]{6}|[0-9]{8})[-+]?[0-9]{4}$"
# Interim ("T-number") form: a letter in place of the serial's first digit.
_INTERIM = r"^(?:[0-9]{6}|[0-9]{8})[-+]?[A-Za-z][0-9]{3}$"
# Exactly the characters Python's str.isspace() and Arrow's utf8_trim_whitespace call
# whitespace; RE2's \s alone is ASCII-only, and \pZ lacks the C0/C1 separators.
_WHITESPACE = r"[\s\pZ\x0b\x1c-\x1f\x85]"
_NOT_ALLOWED = r"[^0-9+\-]"
_SEPARATOR_PLACED_RIGHT = r"^[0-9]+(?:[-+][0-9]{4})?$"

# Well-formed values are left-padded with '0' to this width, so that the last four digits
# are always columns 9–12 and a separator, if any, is column 8.
_PADDED_WIDTH = 13
_SEPARATOR_COLUMN = 8
_PLACEHOLDER = "0" * 10  # stands in for values that are not well-formed

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_SAMORDNING_DAY_OFFSET = 60
# Luhn doubles every other digit from the left, starting with the first, and adds the
# digits of each product: 2*d gives these digit sums for d = 0..9.
_LUHN_DOUBLED_DIGIT_SUM = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int16)


# --- identity-shaped values ----------------------------------------------------------------
#
# A value *looks like* a personal identity number, wherever it stands and whatever the
# column, when it holds a run of digits that a reader would take for one:
#
# - 6 or 8 digits of date (YYMMDD or YYYYMMDD), then an optional separator (a `-` or `+`,
#   with at most one space or tab on either side), then 4 digits;
# - the run is not part of a longer run of digits (digits on neither side);
# - month 00–12 and day 01–31 or 60–91: every date part `normalize` can accept,
#   samordningsnummer included. The century, the calendar (30 Feb), the serial and the
#   Luhn check digit are *not* checked: a number that fails them still reads as a
#   personal number to a person, and refusing it costs nothing.
#
# It is conservative on purpose: a case system whose ids are YYYYMMDD-NNNN would have every
# id refused, which is right: nobody can tell such an id from a personnummer.
_IDENTITY_DATE = r"(?:[0-9]{2})?[0-9]{2}(?:0[0-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]|[6-8][0-9]|9[01])"
_IDENTITY_SEPARATOR = r"[ \t]?[-+]?[ \t]?"
# RE2 (pyarrow) has no look-arounds: the neighbours are matched as "start or a non-digit".
IDENTITY_SHAPED = rf"(?:^|[^0-9]){_IDENTITY_DATE}{_IDENTITY_SEPARATOR}[0-9]{{4}}(?:[^0-9]|$)"
# The same for Python's `re`, with look-arounds, to find (and mask) the number itself.
IDENTITY_SHAPED_SPAN = rf"(?<![0-9]){_IDENTITY_DATE}{_IDENTITY_SEPARATOR}[0-9]{{4}}(?![0-9])"


def identity_shaped(values: pd.Series) -> np.ndarray:
    """Which values hold something shaped like a personal identity number (see above).

    Vectorized (RE2 over Arrow strings): a million cells take a fraction of a second.
    Missing values are not identity-shaped.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    return _as_bool(pc.match_substring_regex(_to_arrow_strings(values), IDENTITY_SHAPED), null=False)


def normalize(values: pd.Series, reference_date: datetime.date) -> pd.DataFrame:
    """Normalize raw personnummer/samordningsnummer values to the canonical 12-digit form.

    `reference_date` fixes the century of 10-digit forms (the most recent century in
    which the birth date is not after it; a `+` separator means 100 years or older) and
    rejects 12-digit forms born after it.

    Returns a DataFrame with the index of `values` and three string columns:
    `canonical` (12 digits, <NA> when invalid), `kind` (`KIND_PERSONNUMMER` or
    `KIND_SAMORDNINGSNUMMER`, <NA> when invalid) and `reason` (<NA> when valid, else one
    of `REASONS`).
    """
    trimmed = pc.utf8_trim_whitespace(_to_arrow_strings(values))
    empty = _as_bool(pc.equal(pc.binary_length(trimmed), 0), null=True)
    well_formed = _as_bool(pc.match_substring_regex(trimmed, _WELL_FORMED), null=False)

    reason = np.zeros(len(trimmed), dtype=np.uint8)
    reason[empty] = _CODE[REASON_EMPTY]
    misshapen = ~well_formed & ~empty
    if misshapen.any():
        reason[misshapen] = _shape_reason_codes(trimmed.filter(pa.array(misshapen)))

    digits, short_form, plus = _digit_matrix(trimmed, well_formed)
    given_century = _number(digits, 0, 2)
    year_in_century, month, day = (_number(digits, 2, 4), _number(digits, 4, 6),
                                   _number(digits, 6, 8))
    samordning = day >= _SAMORDNING_DAY_OFFSET
    birth_day = np.where(samordning, day - _SAMORDNING_DAY_OFFSET, day)
    reference_key = _date_key(reference_date.year, reference_date.month, reference_date.day)
    year = np.where(
        short_form,
        _infer_year(year_in_century, month, birth_day, plus, reference_date),
        given_century * 100 + year_in_century,
    )

    organisation = (month >= 20) & (short_form | (given_century == 16))
    month_valid = np.where(samordning, month <= 12, (month >= 1) & (month <= 12))
    day_valid = np.where(samordning, day <= 91, (day >= 1) & (day <= 31))
    # Only personnummer must be a calendar date; see the module docstring.
    calendar_date = samordning | (day <= _days_in_month(year, month))
    # Only a 12-digit form can fail this: a 10-digit form's century is chosen to pass.
    born_after_reference = _date_key(year, month, birth_day) > reference_key
    serial_zero = _number(digits, 8, 11) == 0
    check_digit_right = luhn_valid(digits[:, 2:12])

    # First failing check wins; rows with a shape reason already keep it.
    for reason_text, failed in (
        (REASON_ORGANISATION, organisation),
        (REASON_MONTH, ~month_valid),
        (REASON_DAY, ~day_valid),
        (REASON_CALENDAR, ~calendar_date),
        (REASON_FUTURE, born_after_reference),
        (REASON_SERIAL, serial_zero),
        (REASON_CHECK_DIGIT, ~check_digit_right),
    ):
        reason[(reason == _VALID) & failed] = _CODE[reason_text]

    valid = reason == _VALID
    century = year // 100
    digits[:, 0], digits[:, 1] = century // 10, century % 10
    kind_code = np.where(valid, np.where(samordning, 2, 1), 0)
    return pd.DataFrame(
        {
            "canonical": _digit_strings(digits, valid),
            "kind": _lookup((None, KIND_PERSONNUMMER, KIND_SAMORDNINGSNUMMER), kind_code),
            "reason": _lookup((None, *REASONS), reason),
        },
        index=values.index,
    )


def normalize_one(
    value: str | None, reference_date: datetime.date
) -> tuple[str | None, str | None, str | None]:
    """Normalize one value: `(canonical, kind, reason)`, None where `normalize` gives <NA>."""
    row = normalize(pd.Series([value], dtype=_STRING), reference_date).iloc[0]
    return tuple(None if pd.isna(field) else field for field in row)


def birth_dates(canonical: pd.Series) -> pd.Series:
    """Birth dates (datetime64[s]) of canonical 12-digit numbers, same index.

    For a samordningsnummer the day is the given day minus 60. NaT where there is no
    calendar date to give: a samordningsnummer with month 00, day 60 or a date such as
    30 Feb, and any value that is missing or not 12 digits.
    """
    strings = _to_arrow_strings(canonical)
    twelve_digits = pa.array(
        _as_bool(pc.match_substring_regex(strings, r"^[0-9]{12}$"), null=False)
    )
    digits = _fixed_width_bytes(pc.if_else(twelve_digits, strings, "0" * 12), 12) - ord("0")
    year, month, day = _number(digits, 0, 4), _number(digits, 4, 6), _number(digits, 6, 8)
    day = np.where(day >= _SAMORDNING_DAY_OFFSET, day - _SAMORDNING_DAY_OFFSET, day)
    has_date = (
        twelve_digits.to_numpy(zero_copy_only=False)
        & (month >= 1) & (month <= 12)
        & (day >= 1) & (day <= _days_in_month(year, month))
    )
    first_of_month = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
    dates = first_of_month.astype("datetime64[D]") + (day - 1)
    dates[~has_date] = np.datetime64("NaT")
    return pd.Series(dates.astype("datetime64[s]"), index=canonical.index, name="birth_date")


def luhn_check_digit(nine_digits: np.ndarray) -> np.ndarray:
    """Luhn check digit for each row of an (n, 9) integer array of digits (YYMMDDNNN)."""
    nine_digits = np.asarray(nine_digits)
    total = np.zeros(len(nine_digits), dtype=np.int16)
    # Column by column: nine vector additions beat a row-wise reduction on an (n, 9) array.
    for column in range(9):
        digit = nine_digits[:, column]
        total += _LUHN_DOUBLED_DIGIT_SUM[digit] if column % 2 == 0 else digit
    return (10 - total % 10) % 10


def luhn_valid(ten_digits: np.ndarray) -> np.ndarray:
    """Whether each row of an (n, 10) integer array of digits (YYMMDDNNNC) passes Luhn."""
    ten_digits = np.asarray(ten_digits)
    return luhn_check_digit(ten_digits[:, :9]) == ten_digits[:, 9]


def _shape_reason_codes(trimmed: pa.Array) -> np.ndarray:
    """Reason codes for non-empty values that are not well-formed."""

    def matches(pattern: str) -> np.ndarray:
        return _as_bool(pc.match_substring_regex(trimmed, pattern), null=False)

    digit_count = pc.binary_length(pc.replace_substring_regex(trimmed, "[-+]", ""))
    by_length = _CODE_BY_DIGIT_COUNT[np.minimum(digit_count.to_numpy(), _OVER_TWENTY)]
    codes = np.select(
        [matches(_INTERIM), matches(_WHITESPACE), matches(_NOT_ALLOWED),
         ~matches(_SEPARATOR_PLACED_RIGHT)],
        [_CODE[REASON_INTERIM], _CODE[REASON_INNER_SPACE], _CODE[REASON_CHARACTER],
         _CODE[REASON_SEPARATOR]],
        default=by_length.astype(np.int64),
    )
    return codes.astype(np.uint8)


def _digit_matrix(trimmed: pa.Array, well_formed: np.ndarray):
    """Digits of the well-formed values as an (n, 12) uint8 matrix, zeros elsewhere.

    Also returns which rows are 10-digit forms (their first two columns are then 0, to
    be filled in from the inferred year) and which have a `+` separator.
    """
    # Only well-formed values go on; they are ASCII, so the ASCII kernels are safe.
    shaped = pc.if_else(pa.array(well_formed), trimmed, _PLACEHOLDER)
    chars = _fixed_width_bytes(pc.ascii_lpad(shaped, _PADDED_WIDTH, "0"), _PADDED_WIDTH)
    separator = chars[:, _SEPARATOR_COLUMN]
    has_separator = (separator == ord("-")) | (separator == ord("+"))
    # Up to 8 date characters (left-padded with zeros) followed by the last four digits.
    date_part = np.where(has_separator[:, None], chars[:, 0:8], chars[:, 1:9])
    digits = np.concatenate([date_part, chars[:, 9:13]], axis=1) - ord("0")
    # From the length: a padded "00" cannot be told from a given century "00".
    short_form = pc.binary_length(shaped).to_numpy() - has_separator == 10
    return digits, short_form, separator == ord("+")


def _infer_year(year_in_century, month, birth_day, plus, reference_date) -> np.ndarray:
    """Full birth year of 10-digit forms.

    The most recent year ending in the given two digits whose birth date (month and day
    compared as numbers, so month 00 still works) is not after the reference date; a `+`
    means 100 years or older, so one century more.
    """
    year = reference_date.year - (reference_date.year - year_in_century) % 100
    reference_key = _date_key(reference_date.year, reference_date.month, reference_date.day)
    year = np.where(_date_key(year, month, birth_day) > reference_key, year - 100, year)
    return np.where(plus, year - 100, year)


def _date_key(year, month, day):
    """YYYYMMDD as one integer: orders dates, and also month 00 / non-calendar days."""
    return year * 10000 + month * 100 + day


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Days in each month (0 for a month outside 1–12), Gregorian leap years."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.where((month >= 1) & (month <= 12), month, 0)]
    return days + ((month == 2) & leap)


def _number(digits: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The decimal number written by columns start..stop-1 of a digit matrix."""
    number = np.zeros(len(digits), dtype=np.int64)
    for column in range(start, stop):
        number = number * 10 + digits[:, column]
    return number


def _to_arrow_strings(values: pd.Series) -> pa.Array:
    """The values as one Arrow large_string array (missing values as nulls)."""
    strings = pa.array(values.astype(_STRING))
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    return strings.cast(pa.large_string())


def _fixed_width_bytes(strings: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8 view of an Arrow string array whose values all have `width` bytes."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)
    start = offsets[strings.offset]
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8, count=len(strings) * width,
                         offset=start)
    return data.reshape(len(strings), width)


def _digit_strings(digits: np.ndarray, valid: np.ndarray) -> pd.arrays.ArrowStringArray:
    """12-character strings from an (n, 12) digit matrix; <NA> where not `valid`."""
    count = len(digits)
    data = (digits + ord("0")).astype(np.uint8).tobytes()
    offsets = np.arange(0, 12 * (count + 1), 12, dtype=np.int64)
    validity = np.packbits(valid, bitorder="little")
    strings = pa.LargeStringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(data), pa.py_buffer(validity)
    )
    return pd.arrays.ArrowStringArray(strings)


def _lookup(table: tuple[str | None, ...], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """Strings `table[code]` per row as an Arrow-backed string array (None → <NA>)."""
    return pd.arrays.ArrowStringArray(
        pc.take(pa.array(table, pa.large_string()), pa.array(codes.astype(np.int32)))
    )


def _as_bool(mask, null: bool) -> np.ndarray:
    """An Arrow boolean result as a numpy bool array, nulls replaced by `null`."""
    return pc.fill_null(mask, null).to_numpy(zero_copy_only=False)
