"""The ``optimum-ro`` command line: one sub-command per pipeline step.

Each sub-command lives in the package that owns it and exposes
``add_parser(subparsers)``, which registers its arguments and sets ``func``.
Modules are imported only when listed here, so ``optimum-ro --help`` is fast.
"""
import argparse
import logging
import sys
from importlib import import_module

# name -> module with add_parser(subparsers)
COMMANDS = {
    "fetch-models": "optimum_ro.hub.fetch",
    "finetune": "optimum_ro.tasks.finetune",
    "pretrain": "optimum_ro.tasks.pretrain",
    "distill": "optimum_ro.distillation.cli",
    "prune": "optimum_ro.pruning.cli",
    "bench": "optimum_ro.sparse.cli",
    "demo": "optimum_ro.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimum-ro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        try:
            mod = import_module(module)
        except ModuleNotFoundError as err:  # a step not built yet in this checkout
            if err.name and err.name.startswith("optimum_ro"):
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
