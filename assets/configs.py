"""The run config of every job, and the builders that fill it: defined once, used by
definitions, automation, the application layer and the CLI.

Dagster's run config is text: the as-of date crosses it as YYYY-MM-DD and is parsed back
into a date here, once (`as_of_date`). A field left empty (or None) takes the default from
the settings, through the `RunDefaults` resource.
"""

import datetime as dt

import dagster as dg
import pydantic

from assets.names import (
    ADHOC_NODE,
    FREEZE_NODE,
    PUBLISH_NODE,
    RECONCILE_NODE,
    SourceKind,
    ingest_node,
)
from core.clock import today_in_stockholm

_DATE_OR_EMPTY = r"^(\d{4}-\d{2}-\d{2})?$"


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


class IngestConfig(dg.Config):
    as_of: str = pydantic.Field(
        default="",
        pattern=_DATE_OR_EMPTY,
        description="Reference date YYYY-MM-DD for the century of 10-digit numbers, the age bands and the "
        "delivery's age; empty: today in Stockholm.",
    )

    def as_of_date(self) -> dt.date:
        return _date(self.as_of) or today_in_stockholm()


class ReconcileConfig(dg.Config):
    as_of: str = pydantic.Field(
        default="", pattern=_DATE_OR_EMPTY, description="As-of date YYYY-MM-DD; empty: today in Stockholm."
    )
    look_back_days: int | None = pydantic.Field(
        default=None, ge=0, description="Report overlaps that touch this many days before the as-of date "
        "(empty: the settings' default, 90)."
    )  # fmt: skip
    look_ahead_days: int | None = pydantic.Field(
        default=None, ge=0, description="… and this many days after it (empty: the settings' default, 180)."
    )
    cut_off: str = pydantic.Field(
        default="", pattern=_DATE_OR_EMPTY,
        description="Transition list: interventions planned to continue past this date YYYY-MM-DD; "
        "empty: the as-of date.",
    )  # fmt: skip

    def as_of_date(self) -> dt.date:
        return _date(self.as_of) or today_in_stockholm()

    def cut_off_date(self, as_of: dt.date) -> dt.date:
        return _date(self.cut_off) or as_of


class AdhocReconcileConfig(ReconcileConfig):
    kommuner: list[str] = pydantic.Field(
        default=[], description='Kommunkoder (four digits) to reconcile, e.g. ["1480"]; empty: every municipality.'
    )


class FreezeConfig(dg.Config):
    name: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
                               description="The event the list is frozen for, e.g. krom-2026-09-29 (published once "
                               "as af_pagaende_insatser_fryst_<name>; a name frozen before is refused).")
    cut_off: str = pydantic.Field(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                  description="Interventions planned to continue past this date YYYY-MM-DD.")
    as_of: str = pydantic.Field(default="", pattern=_DATE_OR_EMPTY,
                                description="As-of date YYYY-MM-DD of the data; empty: today in Stockholm.")

    def as_of_date(self) -> dt.date:
        return _date(self.as_of) or today_in_stockholm()

    def cut_off_date(self, as_of: dt.date) -> dt.date:
        return _date(self.cut_off) or as_of


class PublishConfig(dg.Config):
    suppression_threshold: int | None = pydantic.Field(
        default=None, ge=2,
        description="Statistics: counts below this are suppressed (and more with them, so none can be worked "
        "out from the totals); empty: the settings' default, 5.",
    )  # fmt: skip


# --- run config builders -------------------------------------------------------------------


def ingest_run_config(kind: SourceKind, as_of: dt.date) -> dict:
    return {"ops": {ingest_node(kind): {"config": _given(IngestConfig(as_of=as_of.isoformat()))}}}


def reconcile_run_config(as_of: dt.date, look_back_days: int | None = None, look_ahead_days: int | None = None,
                         cut_off: dt.date | None = None) -> dict:  # fmt: skip
    config = ReconcileConfig(as_of=as_of.isoformat(), look_back_days=look_back_days, look_ahead_days=look_ahead_days,
                             cut_off=cut_off.isoformat() if cut_off else "")  # fmt: skip
    return {"ops": {RECONCILE_NODE: {"config": _given(config)}}}


def adhoc_run_config(as_of: dt.date, kommuner: list[str], look_back_days: int | None = None,
                     look_ahead_days: int | None = None, cut_off: dt.date | None = None) -> dict:  # fmt: skip
    config = AdhocReconcileConfig(as_of=as_of.isoformat(), kommuner=list(kommuner), look_back_days=look_back_days,
                                  look_ahead_days=look_ahead_days, cut_off=cut_off.isoformat() if cut_off else "")  # fmt: skip
    return {"ops": {ADHOC_NODE: {"config": _given(config)}}}


def publish_run_config(suppression_threshold: int | None = None) -> dict:
    return {"ops": {PUBLISH_NODE: {"config": _given(PublishConfig(suppression_threshold=suppression_threshold))}}}


def freeze_run_config(name: str, cut_off: dt.date, as_of: dt.date | None = None) -> dict:
    config = FreezeConfig(name=name, cut_off=cut_off.isoformat(), as_of=as_of.isoformat() if as_of else "")
    return {"ops": {FREEZE_NODE: {"config": _given(config)}}}


def reconcile_and_publish_run_config(as_of: dt.date) -> dict:
    """The nightly second half: reconcile as of the night; publication follows its data."""
    return reconcile_run_config(as_of)


def _given(config: dg.Config) -> dict:
    # Only what differs from the defaults (Dagster's config schema has no null for an
    # optional int): the run's config in the UI says what was asked for, nothing more.
    return config.model_dump(exclude_defaults=True)
