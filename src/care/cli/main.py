"""Entry point of the ``care`` command: the command group and its error handling.

A user's mistake (a :class:`~care.errors.CareError`, or an operating-system error on a path
the user gave) is printed as one line on standard error and the command exits with code 2,
without a traceback. When an input has several problems the line names the first and
counts the others; ``care validate`` lists every problem.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from care import __version__
from care.errors import CareError, os_error


def _report(error: CareError) -> None:
    """One line: the first problem, with a count of the others (for input files,
    `care validate` lists every problem, one per line)."""
    more = len(getattr(error, "problems", [])) > 1
    hint = " (`care validate` lists them all)" if more else ""
    click.echo(f"error: {error}{hint}", err=True)


class CareGroup(click.Group):
    """A click group that turns :class:`CareError` into a one-line error and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CareError as error:
            _report(error)
            ctx.exit(2)
        except OSError as error:
            # A path the user gave that the system refuses (missing, read-only, full disk,
            # a loop of links, ...): a user's problem, said in one line.
            _report(os_error(error))
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=CareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="care")
def cli() -> None:
    """care: how did the client experience the working alliance, and why?

    Reads counseling session transcripts, predicts the client's ratings on an alliance
    questionnaire, and explains each with quotes from the dialogue.
    """


COMMAND_MODULES = (
    "analyze_commands",
    "assess_commands",
    "calibrate_commands",
    "cv_commands",
    "data_commands",
    "evaluate_commands",
    "instrument_commands",
    "rationales_commands",
    "redact_commands",
    "serve_commands",
    "sft_commands",
    "train_commands",
)
"""Modules of ``care.cli`` whose ``COMMANDS`` lists make up the command line."""


def _register() -> None:
    from importlib import import_module

    for name in COMMAND_MODULES:
        for command in import_module(f"care.cli.{name}").COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the ``care`` command line."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="care")
