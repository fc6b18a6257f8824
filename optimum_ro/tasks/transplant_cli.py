"""The ``optimum-ro transplant-vocab`` command: train a tokenizer, transplant a model folder onto it, report.

    optimum-ro transplant-vocab --model models/multilingual-e5-small --text corpus.txt.gz --output runs/e5-ro

:func:`transplant_folder` saves the transplanted model, its tokenizer, ``transplant.json`` (tokens per word,
parameters, how the embedding rows were found) and a model card (``README.md``) to the output folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from . import transplant
from .pretrain import train_wordpiece_tokenizer
from .transplant import corpus_lines, tokens_per_word, transplant_vocabulary
from .transplant_plan import TransplantError, _backend, plan_transplant

logger = logging.getLogger("optimum_ro.transplant")

MIN_VOCAB_SIZE = 100

MODEL_CARD = """\
---
library_name: transformers
tags: [optimum-ro, vocabulary-transplant]
---
# {name}: {source} with a new {vocab_size}-token WordPiece tokenizer

The encoder of `{source}` with its token embeddings transplanted onto a tokenizer trained on
{lines} lines of text (`optimum-ro transplant-vocab`). Each new token's embedding is the mean of the old
model's embeddings of the token's old segmentation; tokens in both vocabularies were copied exactly;
special tokens took the old special tokens' rows. No training has happened since: adapt it with a short
masked-LM run (`optimum-ro pretrain --from <this folder> --text <corpus> --output <folder>`), then fine-tune.

| | old tokenizer | new tokenizer |
|---|---:|---:|
| vocabulary | {old_size} | {vocab_size} |
| tokens per word ({eval_name}) | {old_tpw:.3f} | {new_tpw:.3f} |
| parameters (with the MLM head) | {old_params:,} | {new_params:,} |

Embedding rows: {copied} copied, {from_pieces} from the mean of {mean_pieces} old pieces on average,
{special} special, {unknown} unknown to the old tokenizer (its unknown token's row).
MLM head: {head}.

    from transformers import AutoModel, AutoTokenizer
    model = AutoModel.from_pretrained("{name}"); tokenizer = AutoTokenizer.from_pretrained("{name}")
"""


def _check_folders(model_path: str, out: Path, vocab_size: int) -> None:
    if vocab_size < MIN_VOCAB_SIZE:
        raise TransplantError(f"--vocab-size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    if not (Path(model_path) / "config.json").is_file():
        raise TransplantError(f"no model folder at {model_path} (config.json missing): pass a local model folder")
    if out.exists() and any(out.iterdir()):
        raise TransplantError(f"{out} exists and is not empty: choose another --output or delete it")


def _training_lines(text: list[str], task_data: str | None, max_lines: int | None) -> list[str]:
    from .loading import task_texts

    lines = corpus_lines(text, max_lines)
    if task_data:
        lines += list(task_texts(task_data, "train"))
    if not lines:
        raise TransplantError("the --text files hold no text: pass files with one text per line")
    return lines


def _eval_lines(eval_text: list[str] | None, task_data: str | None, lines: list[str]) -> tuple[list[str], str]:
    """The texts to measure tokens per word on, and how the report names them."""
    from .loading import task_texts

    if eval_text:
        eval_lines, eval_name = corpus_lines(eval_text), "the --eval-text files"
    elif task_data:
        eval_lines, eval_name = list(task_texts(task_data, "validation")), "the tasks' dev texts"
    else:
        eval_lines, eval_name = lines[:20000], "the first lines of the training text"
    if not eval_lines:
        eval_lines, eval_name = lines[:20000], "the first lines of the training text"
    return eval_lines, eval_name


def _model_card(report: dict, out: Path, model_path: str, old_size: int, tpw: dict) -> str:
    summary, parameters = report["embeddings"], report["parameters"]
    return MODEL_CARD.format(
        name=out.name,
        source=Path(model_path).name,
        vocab_size=report["vocab_size"],
        lines=report["training_lines"],
        old_size=old_size,
        eval_name=report["tokens_per_word_text"],
        old_tpw=tpw["old"],
        new_tpw=tpw["new"],
        copied=summary["copied"],
        from_pieces=summary["from_pieces"],
        mean_pieces=summary["mean_pieces_per_segmented_token"],
        special=summary["special"],
        unknown=summary["unknown"],
        head=report["mlm_head"],
        old_params=parameters["old"],
        new_params=parameters["new"],
    )


def transplant_folder(
    model_path: str,
    text: list[str],
    output_dir: str,
    vocab_size: int = 32000,
    task_data: str | None = None,
    eval_text: list[str] | None = None,
    max_lines: int | None = None,
    min_frequency: int = 2,
    lowercase: bool = False,
) -> dict:
    """Train a WordPiece tokenizer, transplant ``model_path``'s encoder onto it, save both to ``output_dir``."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out = Path(output_dir)
    _check_folders(model_path, out, vocab_size)
    lines = _training_lines(text, task_data, max_lines)
    old_tokenizer = AutoTokenizer.from_pretrained(model_path)
    _backend(old_tokenizer, "old")
    model, loading = AutoModelForMaskedLM.from_pretrained(model_path, output_loading_info=True)
    head_missing = any(k.startswith("cls.") for k in loading.get("missing_keys", []))

    logger.info("training a %d-token WordPiece tokenizer on %d lines", vocab_size, len(lines))
    new_tokenizer = train_wordpiece_tokenizer(lines, vocab_size, lowercase=lowercase, min_frequency=min_frequency)
    plan = plan_transplant(old_tokenizer, new_tokenizer)
    old_parameters = sum(p.numel() for p in model.parameters())
    transplant_vocabulary(model, old_tokenizer, new_tokenizer, plan=plan)
    parameters = {"old": old_parameters, "new": sum(p.numel() for p in model.parameters())}

    eval_lines, eval_name = _eval_lines(eval_text, task_data, lines)
    tpw = {"old": tokens_per_word(old_tokenizer, eval_lines), "new": tokens_per_word(new_tokenizer, eval_lines)}

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    new_tokenizer.save_pretrained(out)
    report = {
        "source_model": str(model_path),
        "vocab_size": len(new_tokenizer),
        "training_lines": len(lines),
        "tokens_per_word": {k: round(v, 4) for k, v in tpw.items()},
        "tokens_per_word_text": eval_name,
        "eval_lines": len(eval_lines),
        "parameters": parameters,
        "mlm_head": "newly initialised (the source had none)" if head_missing else "transplanted from the source",
        "embeddings": plan.summary(),
    }
    (out / "transplant.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out / "README.md").write_text(_model_card(report, out, model_path, len(old_tokenizer), tpw))
    return report


def add_parser(subparsers):
    p = subparsers.add_parser(
        "transplant-vocab",
        help="give a pretrained encoder a new WordPiece tokenizer trained on your text",
        description=transplant.__doc__.splitlines()[0],
    )
    p.add_argument("--model", required=True, help="local model folder (config.json, weights, tokenizer.json)")
    p.add_argument(
        "--text", required=True, action="append", help="text file(s) (.txt/.txt.gz, one text per line) or folder(s)"
    )
    p.add_argument("--output", required=True, help="folder for the transplanted model and its tokenizer")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--task-data", default=None, help="Romanian task data root: add its train texts to the corpus")
    p.add_argument("--eval-text", action="append", default=None, help="text file(s) to measure tokens per word on")
    p.add_argument("--max-lines", type=int, default=None, help="read at most this many corpus lines")
    p.add_argument("--min-frequency", type=int, default=2)
    p.add_argument("--lowercase", action="store_true")
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    try:
        report = transplant_folder(
            args.model,
            args.text,
            args.output,
            vocab_size=args.vocab_size,
            task_data=args.task_data,
            eval_text=args.eval_text,
            max_lines=args.max_lines,
            min_frequency=args.min_frequency,
            lowercase=args.lowercase,
        )
    except (TransplantError, FileNotFoundError) as err:  # the CLI reports it as one line, exit status 2
        from ..commands.errors import UsageError

        raise UsageError(str(err)) from None
    tpw = report["tokens_per_word"]
    print(
        f"tokens per word on {report['tokens_per_word_text']}: old {tpw['old']:.3f}, new {tpw['new']:.3f} "
        f"({100 * (1 - tpw['new'] / tpw['old']):.1f}% fewer tokens)"
    )
    print(json.dumps(report["embeddings"]))
    print(f"saved to {args.output}")
    return 0
