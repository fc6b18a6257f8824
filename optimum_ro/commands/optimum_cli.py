"""``optimum-cli ro <command>``: every optimum-ro command under Optimum's own CLI.

Optimum finds ``optimum/commands/register/register_ro.py`` (shipped with optimum-ro) and registers
:class:`RoCommand` from its ``REGISTER_COMMANDS``. Each sub-command's flags are built by the same
``add_parser`` as ``optimum-ro <command>``, and only for the command on the command line, so ``optimum-cli``
starts as fast as before:

    optimum-cli ro --help
    optimum-cli ro prune --model runs/student --task sentiment --output runs/pruned --sparsity 0.8
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from optimum.commands.base import BaseOptimumCLICommand, CommandInfo

from ..cli import COMMANDS, run_parsed
from .logs import LOG_LEVELS

PROG = "optimum-cli ro"


class _OneParser:
    """Stands in for ``subparsers`` in a command's ``add_parser``: hands back the parser Optimum made for it."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_parser(self, name, help=None, description=None, formatter_class=None, **kwargs):
        self.parser.description = description or help
        if formatter_class is not None:
            self.parser.formatter_class = formatter_class
        return self.parser


def _on_command_line(name: str) -> bool:
    argv = sys.argv[1:]
    return "ro" in argv and name in argv[argv.index("ro") + 1 :]


class RoSubcommand(BaseOptimumCLICommand):
    """One optimum-ro command (its name and help come from the ``CommandInfo`` Optimum passes in)."""

    def parse_args(self, parser: argparse.ArgumentParser):  # called by BaseOptimumCLICommand on the instance
        name = self.COMMAND.name
        if _on_command_line(name):
            import_module(COMMANDS[name][0]).add_parser(_OneParser(parser))
            parser.set_defaults(ro_func=parser.get_default("func"))  # Optimum sets its own ``func`` next
            _add_common_options(parser, default=argparse.SUPPRESS)  # also after the command's name
        parser.prog = f"{PROG} {name}"

    def run(self):
        from .logs import configure_logging

        args = self.args
        args.func, args.command = args.ro_func, self.COMMAND.name
        configure_logging(args.ro_log_level)
        sys.exit(run_parsed(args, prog=PROG, debug=args.ro_debug))


class RoCommand(BaseOptimumCLICommand):
    """``optimum-cli ro``: the group of optimum-ro commands."""

    COMMAND = CommandInfo(name="ro", help="optimum-ro: distill, block-prune and run BERT models block-sparse on CPUs")
    SUBCOMMANDS = tuple(
        CommandInfo(name=name, help=help_text, subcommand_class=RoSubcommand)
        for name, (_, help_text) in COMMANDS.items()
    )

    @staticmethod
    def parse_args(parser: argparse.ArgumentParser):
        _add_common_options(parser)


def _add_common_options(parser: argparse.ArgumentParser, default=None) -> None:
    """``--log_level`` and ``--debug`` (see ``optimum_ro.cli``), before or after the command's name."""
    parser.add_argument(
        "--log_level",
        dest="ro_log_level",
        choices=LOG_LEVELS,
        default="info" if default is None else default,
        help="optimum-ro's log level; the libraries' loggers stay at WARNING unless 'debug' (default: info)",
    )
    parser.add_argument(
        "--debug",
        dest="ro_debug",
        action="store_true",
        default=False if default is None else default,
        help="show an error's traceback, not its one-line report",
    )
