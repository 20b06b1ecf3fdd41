"""Dates as the users mean them: the nightly run's "today" is today in Stockholm."""

import datetime as dt
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def today_in_stockholm() -> dt.date:
    return dt.datetime.now(STOCKHOLM).date()
