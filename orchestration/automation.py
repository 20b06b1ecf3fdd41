"""The nightly schedule and the delivery sensor (to be built: issue 6)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from schemas.sources import Sources


def automation(sources: Sources, sources_file: Path) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
    """The schedules and sensors of the code location."""
    return [], []
