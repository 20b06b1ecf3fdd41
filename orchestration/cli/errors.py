"""One place that turns expected failures into a clear message and a non-zero exit.

A `MellanrumError` (schemas/errors.py) is a problem the person running the command can
fix: a bad input file, a wrong passphrase, an unknown key id. Its message is already safe
to print: it never holds a personal identity number. Anything else is a bug and keeps its
traceback.
"""

import click

from schemas.errors import MellanrumError


class UserError(click.ClickException):
    """A failure with a message that names what is wrong and is safe to print."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"mellanrum: error: {self.format_message()}", err=True)


class MellanrumGroup(click.Group):
    """Click group that reports a `MellanrumError` from any subcommand as a `UserError`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MellanrumError as problem:
            # `from None`: the cause may be a pandas/pandera error that carries raw values.
            raise UserError(str(problem)) from None
