"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from tabulate import tabulate

from core.clock import today_in_stockholm

ISO_DATE = click.DateTime(formats=["%Y-%m-%d"])


def as_date(value: dt.datetime | None) -> dt.date:
    """A click ISO_DATE value, or today in Stockholm when the option was not given."""
    return value.date() if value is not None else today_in_stockholm()


def optional_date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path),
    help="Mellanrum home: keyring, storage, Dagster instance (default: $MELLANRUM_HOME, else ~/.mellanrum).",
)  # fmt: skip

sources_option = click.option(
    "--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Sources file (default: $MELLANRUM_SOURCES, else <home>/inbox/sources.yaml).",
)  # fmt: skip


def keyring_option(function):
    return click.option(
        "--keyring",
        "keyring_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Keyring file. Default: $MELLANRUM_KEYRING, else $MELLANRUM_HOME/keyring.json "
        "(MELLANRUM_HOME defaults to ~/.mellanrum). Its passphrase is read from "
        "$MELLANRUM_KEYRING_PASSPHRASE.",
    )(function)


def echo_table(rows: list[dict], empty: str = "(none)") -> None:
    click.echo(tabulate(rows, headers="keys", tablefmt="simple") if rows else empty)
