"""Retention of Dagster's run history (to be built: issue 6)."""

from __future__ import annotations

import dagster as dg


def retention() -> tuple[list[dg.JobDefinition], list[dg.ScheduleDefinition]]:
    """The retention job(s) and their schedule(s)."""
    return [], []
