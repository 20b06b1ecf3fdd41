"""People: Skatteverket's test numbers (and made-up valid numbers when they run out), ages
and age bands, and drawing everyone with their kommun and the AF office that serves them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from core.synthetic.randomness import _rng
from schemas.municipalities import municipality_names

_REFERENCE = Path(__file__).resolve().parents[2] / "schemas" / "reference"
TEST_PERSONNUMMER = _REFERENCE / "skatteverket_testpersonnummer.json"
TEST_SAMORDNINGSNUMMER = _REFERENCE / "skatteverket_testsamordningsnummer.json"

MIN_PEOPLE_PER_KOMMUN = 8
YOUTH_SHARE = 0.30  # people aged 16–24: DUA follows youth separately
SAMORDNING_SHARE = 0.05
MONTH_ZERO_PEOPLE = 2  # samordningsnummer with birth month 00, as Skatteverket issues some
MIN_AGE, YOUTH_MAX_AGE, TEEN_MAX_AGE, MAX_AGE = 16, 24, 19, 66
TEEN, YOUNG, ADULT = 0, 1, 2  # age bands: 16–19 (KAA age), 20–24, 25–66

# Approximate population in thousands (SCB, 2023) for the default region; any other
# kommun weighs as a mid-sized one.
_POPULATION_THOUSANDS = {
    "1480": 604, "1384": 85, "1481": 71, "1482": 48, "1441": 44, "1489": 42, "1402": 41,
    "1401": 39, "1440": 32, "1415": 27, "1419": 16, "1462": 14, "1407": 13,
}  # fmt: skip
_OTHER_POPULATION_THOUSANDS = 30

# The AF office that serves each kommun in the region; Göteborg has two.
_AF_OFFICES = {
    "1480": ("Arbetsförmedlingen Göteborg City", "Arbetsförmedlingen Angered"),
    "1481": ("Arbetsförmedlingen Mölndal",),
    "1401": ("Arbetsförmedlingen Mölndal",),
    "1384": ("Arbetsförmedlingen Kungsbacka",),
    "1489": ("Arbetsförmedlingen Alingsås",),
    "1482": ("Arbetsförmedlingen Kungälv",),
    "1440": ("Arbetsförmedlingen Kungälv",),
    "1462": ("Arbetsförmedlingen Kungälv",),
    "1407": ("Arbetsförmedlingen Göteborg City",),
    "1402": ("Arbetsförmedlingen Partille",),
    "1441": ("Arbetsförmedlingen Lerum",),
    "1415": ("Arbetsförmedlingen Stenungsund",),
    "1419": ("Arbetsförmedlingen Stenungsund",),
}


def _luhn_check_digits(nine_digits: pd.Series) -> np.ndarray:
    """Check digit for each YYMMDDNNN string (Luhn: double every other digit from the left)."""
    digits = np.frombuffer("".join(nine_digits).encode("ascii"), dtype=np.uint8).reshape(-1, 9) - ord("0")
    products = digits * np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])
    total = (products // 10 + products % 10).sum(axis=1)
    return (10 - total % 10) % 10


def _ages(birth: pd.Series, as_of: dt.date) -> np.ndarray:
    """Completed years at as-of."""
    before_birthday = birth.dt.month * 100 + birth.dt.day > as_of.month * 100 + as_of.day
    return (as_of.year - birth.dt.year - before_birthday).to_numpy()


def _band(age: np.ndarray) -> np.ndarray:
    return np.select([age <= TEEN_MAX_AGE, age <= YOUTH_MAX_AGE], [TEEN, YOUNG], ADULT)


@cache
def _skatteverket_numbers() -> pd.DataFrame:
    """The published test numbers: number (12 digits) and whether it is a samordningsnummer."""
    frames = [
        pd.DataFrame({"number": json.loads(path.read_text(encoding="utf-8")), "samordning": samordning})
        for path, samordning in ((TEST_PERSONNUMMER, False), (TEST_SAMORDNINGSNUMMER, True))
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates("number", ignore_index=True)


def skatteverket_pool(as_of: dt.date) -> pd.DataFrame:
    """Test numbers of people aged 16–66 at as-of: number, samordning, month_zero, band.

    Samordningsnummer count only when their date (day − 60) is a calendar date, or when
    the month is 00 and the whole birth year falls in one age band.
    """
    numbers = _skatteverket_numbers()
    year = numbers.number.str[:4].astype(int)
    month = numbers.number.str[4:6].astype(int)
    day = numbers.number.str[6:8].astype(int) - np.where(numbers.samordning, 60, 0)
    month_zero = numbers.samordning & (month == 0) & day.between(1, 31)
    earliest = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month.where(~month_zero, 1), "day": day.where(~month_zero, 1)}),
        errors="coerce",
    )
    latest = earliest.where(~month_zero, pd.to_datetime(pd.DataFrame({"year": year, "month": 12, "day": 31})))
    oldest, youngest = _ages(earliest, as_of), _ages(latest, as_of)
    band = _band(oldest)
    usable = (
        earliest.notna().to_numpy()
        & (youngest >= MIN_AGE)
        & (oldest <= MAX_AGE)
        & (band == _band(youngest))
    )
    return pd.DataFrame({
        "number": numbers.number,
        "samordning": numbers.samordning,
        "month_zero": month_zero,
        "band": band,
        "made_up": False,
    })[usable].reset_index(drop=True)


def _birth_dates(numbers: pd.Series, samordning: bool) -> pd.Series:
    day = numbers.str[6:8].astype(int) - (60 if samordning else 0)
    return pd.to_datetime(numbers.str[:6] + day.map("{:02d}".format), format="%Y%m%d")


def made_up_numbers(
    count: int, youth: bool, samordning: bool, as_of: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    """Valid numbers (date, serial 001–999, Luhn) for when the test numbers run out."""
    lowest_age, highest_age = (MIN_AGE, YOUTH_MAX_AGE) if youth else (YOUTH_MAX_AGE + 1, MAX_AGE)
    first_birth = pd.Timestamp(as_of) - pd.DateOffset(years=highest_age + 1) + pd.Timedelta(days=1)
    span = (pd.Timestamp(as_of) - pd.DateOffset(years=lowest_age) - first_birth).days + 1
    test_numbers = _skatteverket_numbers().number
    numbers = pd.Series([], dtype=str)
    while len(numbers) < count:
        birth = pd.Series(first_birth + pd.to_timedelta(rng.integers(0, span, size=count), unit="D"))
        day = birth.dt.day + (60 if samordning else 0)
        serial = pd.Series(rng.integers(1, 1000, size=count)).map("{:03d}".format)
        nine = birth.dt.strftime("%y%m") + day.map("{:02d}".format) + serial
        made = birth.dt.strftime("%Y").str[:2] + nine + pd.Series(_luhn_check_digits(nine)).astype(str)
        numbers = pd.concat([numbers, made[~made.isin(test_numbers)]], ignore_index=True).drop_duplicates()
    numbers = numbers[:count].reset_index(drop=True)
    band = _band(_ages(_birth_dates(numbers, samordning), as_of))
    return pd.DataFrame(
        {"number": numbers, "samordning": samordning, "month_zero": False, "band": band, "made_up": True}
    )


def _draw_numbers(
    count: int, youth: bool, samordning: bool, pool: pd.DataFrame, as_of: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    in_group = pool[(pool.samordning == samordning) & ((pool.band != ADULT) == youth)]
    month_zero = in_group[in_group.month_zero]
    calendar = in_group[~in_group.month_zero]
    wanted_zero = min(MONTH_ZERO_PEOPLE, len(month_zero), count) if samordning and not youth else 0
    drawn = [
        month_zero.iloc[rng.choice(len(month_zero), wanted_zero, replace=False)],
        calendar.iloc[rng.choice(len(calendar), min(count - wanted_zero, len(calendar)), replace=False)],
    ]
    missing = count - sum(len(d) for d in drawn)
    if missing:
        drawn.append(made_up_numbers(missing, youth, samordning, as_of, rng))
    return pd.concat(drawn, ignore_index=True)


def draw_people(count: int, municipalities: Sequence[str], as_of: dt.date, seed: int) -> pd.DataFrame:
    """People in random order: personnummer (12 digits), samordning, made_up, band, youth,
    kommunkod, af_office."""
    rng = _rng(seed, "people")
    pool = skatteverket_pool(as_of)
    youth_count = round(YOUTH_SHARE * count)
    groups = []
    for youth, group_count in ((True, youth_count), (False, count - youth_count)):
        samordning_count = round(SAMORDNING_SHARE * group_count)
        groups.append(_draw_numbers(samordning_count, youth, True, pool, as_of, rng))
        groups.append(_draw_numbers(group_count - samordning_count, youth, False, pool, as_of, rng))
    people = pd.concat(groups, ignore_index=True)
    people = people.iloc[rng.permutation(count)].reset_index(drop=True)
    weights = np.array([_POPULATION_THOUSANDS.get(code, _OTHER_POPULATION_THOUSANDS) for code in municipalities])
    # A few people in every kommun first, so that no delivery is empty (an empty file is
    # an error the pipeline reports); the rest by population.
    per_kommun = min(MIN_PEOPLE_PER_KOMMUN, count // len(municipalities))
    floor = np.repeat(np.arange(len(municipalities)), per_kommun)
    weighted = rng.choice(len(municipalities), size=count - len(floor), p=weights / weights.sum())
    kommun = np.asarray(municipalities)[np.concatenate([floor, weighted])]
    return pd.DataFrame({
        "personnummer": people.number,
        "samordning": people.samordning,
        "made_up": people.made_up,
        "band": people.band,
        "youth": people.band != ADULT,
        "kommunkod": kommun,
        "af_office": _af_offices(kommun, rng),
    })


def _offices_of(kommunkod: str) -> tuple[str, ...]:
    """The AF offices that serve a kommun: the region's real ones, else one named after it."""
    return _AF_OFFICES.get(kommunkod, (f"Arbetsförmedlingen {municipality_names()[kommunkod]}",))


def _af_offices(kommun: np.ndarray, rng: np.random.Generator) -> list[str]:
    """The office serving each person's kommun (Göteborg's people split between two)."""
    pick = rng.random(len(kommun))
    offices = [_offices_of(code) for code in kommun]
    return [choices[int(p * len(choices))] for choices, p in zip(offices, pick, strict=True)]
