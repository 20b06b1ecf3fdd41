"""The `mellanrum` command line.

Each command group lives in its own module and is registered here, so `mellanrum --help`
lists everything a partner's IT, a coordinator or a steward can run.
"""

import click

from core.files import keep_private
from orchestration.cli.errors import MellanrumGroup


@click.group(
    cls=MellanrumGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="mellanrum")
def cli() -> None:
    """Mellanrum: find overlapping interventions between municipalities and
    Arbetsförmedlingen on pseudonyms, never on personal identity numbers."""


def _register() -> None:
    from orchestration.cli import (
        db,
        demo,
        generate,
        keys,
        pnr,
        pseudonymize,
        publish,
        recipient_keys,
        reconcile,
        run,
    )

    commands = (
        demo.demo, run.run, reconcile.reconcile, publish.publish, publish.contracts, publish.export, generate.generate,
        pnr.pnr,
        keys.keys, pseudonymize.pseudonymize, recipient_keys.recipient_key, recipient_keys.decrypt,
        publish.checksum, db.db,
    )  # fmt: skip
    for command in commands:
        cli.add_command(command)


_register()


def main() -> None:
    # Every file a command writes (keyrings, datasets, exports, a partner's output) is its
    # user's only, whatever the umask of the shell it was started from.
    keep_private()
    cli(prog_name="mellanrum")
