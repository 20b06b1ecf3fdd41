"""`mellanrum generate`: write a synthetic inbox for demos, tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from core.synthetic import (
    GENERATED_ENTRIES,
    MIN_PEOPLE,
    OutDirNotEmpty,
    validate_municipalities,
)
from core.synthetic import (
    generate as generate_inbox,
)
from orchestration.cli.errors import UserError
from orchestration.cli.options import ISO_DATE, as_date, echo_table
from schemas.municipalities import GOTEBORGSREGIONEN


def _municipalities(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    try:
        return validate_municipalities(code.strip() for code in value.split(",") if code.strip())
    except ValueError as problem:
        raise click.BadParameter(str(problem), ctx=ctx, param=param) from None


@click.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the inbox into (created if missing; must be empty unless --force).",
)
@click.option(
    "--people", type=click.IntRange(min=MIN_PEOPLE), default=2000, show_default=True, help="Number of people."
)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Random seed.")
@click.option(
    "--municipalities",
    default=",".join(GOTEBORGSREGIONEN),
    callback=_municipalities,
    metavar="CODES",
    help="Comma-separated kommunkoder, one source each. Default: the 13 of Göteborgsregionen.",
)
@click.option(
    "--as-of",
    type=ISO_DATE,
    default=None,
    metavar="YYYY-MM-DD",
    help="The delivery date the data is drawn around. Default: today in Europe/Stockholm.",
)
@click.option(
    "--bad-share",
    type=click.FloatRange(0, 0.5),
    default=0.02,
    show_default=True,
    help="Share of rows made bad (each source gets at least one when above 0).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into a non-empty folder, first removing a previous inbox there "
    f"({', '.join(GENERATED_ENTRIES)}); other files stay.",
)
def generate(
    out_dir: Path,
    people: int,
    seed: int,
    municipalities: tuple[str, ...],
    as_of: dt.datetime | None,
    bad_share: float,
    force: bool,
) -> None:
    """Write a synthetic inbox: one delivery per municipality in its own messy format
    (CSV or Excel; UTF-8, UTF-8 with BOM or Windows-1252; three date formats), AF's
    assignments, the sources file that describes them, and the ground truth (planted
    overlaps, planted bad rows with file and line, expected counts) under truth/.

    People carry Skatteverket's test personnummer, reserved for testing and never
    assigned to anyone. The same arguments (including --as-of) give byte-identical files.

    \b
    Example:
        mellanrum generate --out demo-inbox --people 2000 --seed 7 --as-of 2026-11-23
        mellanrum generate --out demo-inbox --municipalities 1480,1481 --force
    """
    try:
        summary = generate_inbox(
            out_dir,
            people=people,
            seed=seed,
            municipalities=municipalities,
            as_of=as_date(as_of),
            bad_share=bad_share,
            force=force,
        )
    except OutDirNotEmpty:
        raise UserError(
            f"{out_dir} is not empty: choose an empty folder, or pass --force to replace the inbox there"
        ) from None
    echo_table([
        {
            "source": source.source_id,
            "file": source.file,
            "format": source.format,
            "encoding": source.encoding,
            "delimiter": source.delimiter,
            "rows": source.rows,
            "bad rows": source.bad_rows,
        }
        for source in summary.sources
    ])
    click.echo("(auto): the sources file leaves it to the reader to detect.")
    if summary.made_up_numbers:
        click.echo(
            f"{summary.made_up_numbers} people have made-up numbers: the test numbers ran out (see README.txt)."
        )
    click.echo(
        f"\n{summary.people} people as of {summary.as_of}, {summary.overlaps} planted overlaps.\n"
        f"Sources file: {summary.out_dir / 'sources.yaml'}\n"
        f"Truth (overlaps, bad rows, expected counts): {summary.truth_dir}"
    )
