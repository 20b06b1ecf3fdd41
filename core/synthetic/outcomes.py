"""The oracle of the outcome after an intervention (`core/outcomes.py`), stated day by day
from the rule's words and nothing of the pipeline's: the generator's truth
(`truth/outcomes.csv`) and the property test use it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

Period = tuple[dt.date, dt.date | None]


def _runs_on(periods: Iterable[Period], day: dt.date) -> bool:
    return any(start <= day and (end is None or day <= end) for start, end in periods)


def outcome_on(day: dt.date, first_day: dt.date, registrations: Iterable[tuple[dt.date, dt.date | None, str | None]],
               af_programmes: Iterable[Period], municipal: Iterable[Period]) -> str:  # fmt: skip
    """The status on `day` of a person whose intervention began on `first_day`:
    registrations (registered, de-registered or None, reason), AF programmes not cancelled
    and municipal interventions (start, end or None) of the person."""
    registrations = list(registrations)
    begun = [r for r in registrations if r[0] <= day]
    if begun:
        # The latest begun; of those begun on the same day, the one ending last (open: last of all).
        latest = max(begun, key=lambda r: (r[0], r[1] is None, r[1] or dt.date.min))
        registered, deregistered, reason = latest
        if deregistered is not None and first_day <= deregistered <= day and reason in ("work", "studies"):
            return reason
    if _runs_on(af_programmes, day):
        return "af_programme"
    if _runs_on(municipal, day):
        return "municipal_intervention"
    if _runs_on([(r[0], r[1]) for r in registrations], day):
        return "registered"
    return "not_known"
