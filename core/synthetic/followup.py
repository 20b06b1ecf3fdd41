"""The slow, obvious form of the registration rules (`core/registrations.py`), day by day,
one person at a time: the generator's ground truth for the youth monitor and the hand-over
lists, and the oracle the property tests compare the vectorized rules with.

Inputs are plain rows (dicts) per person; dates are `datetime.date`, an open end None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

ONE = dt.timedelta(days=1)


def _registered_days(registrations: Iterable[dict], until: dt.date) -> set[dt.date]:
    days: set[dt.date] = set()
    for reg in registrations:
        day, last = reg["start"], reg["end"] or until
        while day <= min(last, until):
            days.add(day)
            day += ONE
    return days


def youth_spells(registrations: list[dict], as_of: dt.date) -> list[dict]:
    """Spells walked day by day up to `as_of` (+1, to tell open from ended): a registered day
    more than 30 days after the last registered day before it starts a new spell."""
    horizon = as_of + ONE
    days = sorted(_registered_days(registrations, horizon))
    spells: list[dict] = []
    last = None
    for day in days:
        if last is None or (day - last).days > 30:
            spells.append({"day0": day, "last": day})
        spells[-1]["last"] = day
        last = day
    for spell in spells:
        began = [r for r in registrations if r["start"] == spell["day0"]]
        first = min(began, key=lambda r: r["id"])
        spell["registration_id"] = first["id"]
        spell["age_band"] = first["age_band"]
        spell["open"] = spell["last"] >= as_of
        members = [r for r in registrations if spell["day0"] <= r["start"] <= spell["last"] and r["start"] <= as_of]
        latest = max(members, key=lambda r: (r["start"], r["id"]))  # ties: the highest id
        spell["af_office"], spell["consent"] = latest["office"], latest.get("consent", True)
    return spells


def youth_status(spell: dict, starts: Iterable[dt.date], as_of: dt.date) -> tuple[str, int | None]:
    """(status, days to start) of one spell on `as_of`, walking the days 0..90."""
    starts = set(starts)
    day0 = spell["day0"]
    for t in range(0, 91):
        day = day0 + dt.timedelta(days=t)
        if day > as_of:
            break
        if day in starts:
            return "met", t
    if not spell["open"]:
        return "ended", None
    elapsed = (as_of - day0).days
    return ("breached" if elapsed >= 90 else "approaching" if elapsed >= 60 else "pending"), None


def nothing_next(end: dt.date, periods: Iterable[tuple[dt.date, dt.date | None]]) -> bool:
    """No period runs on any day from end+1 to end+30, checked day by day."""
    periods = list(periods)
    for t in range(1, 31):
        day = end + dt.timedelta(days=t)
        if any(start <= day and (stop is None or stop >= day) for start, stop in periods):
            return False
    return True
