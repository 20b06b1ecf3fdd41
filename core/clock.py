"""Dates as the users mean them: the nightly run's "today" is today in Stockholm.

`TIMEZONE` is the one time zone of the pipeline: the nightly schedules, the daily dates,
a file's delivery date.
"""

import datetime as dt
from zoneinfo import ZoneInfo

TIMEZONE = "Europe/Stockholm"
STOCKHOLM = ZoneInfo(TIMEZONE)


def today_in_stockholm() -> dt.date:
    return dt.datetime.now(STOCKHOLM).date()


def local_date(timestamp: float) -> dt.date:
    """The Stockholm date of a POSIX timestamp (a file's modification time, say)."""
    return dt.datetime.fromtimestamp(timestamp, STOCKHOLM).date()
