"""Give a pretrained encoder a new tokenizer: vocabulary transplantation.

A multilingual encoder keeps its layers; only the token embeddings change. Each token of the new
tokenizer gets one embedding row, initialised from the old model's rows of the token's *old*
segmentation (the mean of its pieces), so the encoder starts close to what it saw before. Tokens
present in both vocabularies (same text, same word-start / word-internal role) are copied exactly;
special tokens take the old special tokens' rows by role ([CLS] <- cls/bos, [SEP] <- sep/eos,
[PAD], [UNK], [MASK]). A short MLM adaptation (``optimum-ro pretrain --from``) then closes the gap.

    from optimum_ro.tasks.transplant import train_wordpiece_tokenizer, transplant_vocabulary, tokens_per_word
    new_tokenizer = train_wordpiece_tokenizer(romanian_lines, vocab_size=32000)
    model = transplant_vocabulary(model, old_tokenizer, new_tokenizer)   # in place, returned
    model.save_pretrained("out"); new_tokenizer.save_pretrained("out")  # AutoModel / AutoTokenizer load it

    optimum-ro transplant-vocab --model models/multilingual-e5-small --text corpus.txt.gz --output runs/e5-ro

Word-internal pieces are segmented as word-internal by the old tokenizer: a WordPiece ``##ing`` becomes
the SentencePiece pieces of ``ing`` *without* the ``▁`` word-start marker. WECHSEL and FOCUS refine the
mean with similarity-weighted combinations; exact copies of shared tokens are their cheapest part.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .pretrain import read_lines, train_wordpiece_tokenizer

logger = logging.getLogger("optimum_ro.transplant")

__all__ = [
    "TransplantPlan",
    "plan_transplant",
    "train_wordpiece_tokenizer",
    "transplant_vocabulary",
    "tokens_per_word",
]

METHODS = ("mean", "random")
WORDPIECE, METASPACE, BYTELEVEL = "wordpiece", "metaspace", "bytelevel"
_WORD_START = {METASPACE: "\u2581", BYTELEVEL: "\u0120"}
# new special-token role -> old roles to take the row from, in order of preference
_SPECIAL_ROLES = {
    "cls_token": ("cls_token", "bos_token"),
    "sep_token": ("sep_token", "eos_token"),
    "bos_token": ("bos_token", "cls_token"),
    "eos_token": ("eos_token", "sep_token"),
    "pad_token": ("pad_token",),
    "unk_token": ("unk_token",),
    "mask_token": ("mask_token",),
}
# config attribute -> the new tokenizer's special token that it names
_CONFIG_IDS = {
    "pad_token_id": ("pad_token",),
    "cls_token_id": ("cls_token", "bos_token"),
    "sep_token_id": ("sep_token", "eos_token"),
    "bos_token_id": ("bos_token", "cls_token"),
    "eos_token_id": ("eos_token", "sep_token"),
    "unk_token_id": ("unk_token",),
    "mask_token_id": ("mask_token",),
}
# position ids derived from pad_token_id: a new pad id would shift every position
_PAD_OFFSET_MODEL_TYPES = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl", "longformer", "mpnet"}


class TransplantError(ValueError):
    """A model or tokenizer that vocabulary transplantation cannot handle."""


@dataclass
class TransplantPlan:
    """For each new token id, the old ids whose rows it averages, and how they were found.

    ``sources[i]``: old ids for new id ``i``; ``kinds[i]``: ``"special"`` (an old special token by role),
    ``"copied"`` (the same token exists in the old vocabulary), ``"pieces"`` (the old segmentation) or
    ``"unknown"`` (the old tokenizer has only its unknown token for it)."""

    sources: list[list[int]]
    kinds: list[str]
    old_size: int
    pieces_per_token: list[int] = field(default_factory=list)

    def summary(self) -> dict:
        counts = Counter(self.kinds)
        segmented = [n for n, k in zip(self.pieces_per_token, self.kinds) if k == "pieces"]
        return {
            "new_tokens": len(self.kinds),
            "old_tokens": self.old_size,
            "special": counts["special"],
            "copied": counts["copied"],
            "from_pieces": counts["pieces"],
            "unknown": counts["unknown"],
            "mean_pieces_per_segmented_token": round(sum(segmented) / len(segmented), 3) if segmented else None,
        }


def _backend(tokenizer, which: str):
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not getattr(tokenizer, "is_fast", False) or backend is None:
        raise TransplantError(
            f"the {which} tokenizer must be a fast tokenizer (tokenizer.json); {type(tokenizer).__name__} is not. "
            "Load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    return backend


def tokenizer_scheme(tokenizer) -> str:
    """How the tokenizer's pieces mark word boundaries: ``"wordpiece"`` (``##`` continues a word),
    ``"metaspace"`` (SentencePiece ``▁`` starts one) or ``"bytelevel"`` (GPT-2 ``Ġ`` starts one)."""
    state = json.loads(_backend(tokenizer, "given").to_str())
    if state["model"].get("type") == "WordPiece":
        return WORDPIECE
    text = json.dumps(state.get("pre_tokenizer")) + json.dumps(state.get("decoder"))
    if "Metaspace" in text:
        return METASPACE
    if "ByteLevel" in text:
        return BYTELEVEL
    raise TransplantError(
        f"cannot tell how {type(tokenizer).__name__} marks words (a {state['model'].get('type')} model without a "
        "WordPiece, Metaspace or ByteLevel step); transplanting supports WordPiece and SentencePiece tokenizers"
    )


def _surface(token: str, scheme: str, prefix: str = "##") -> tuple[str, bool]:
    """``(text, starts_a_word)`` of a piece in its tokenizer's scheme."""
    if scheme == WORDPIECE:
        return (token[len(prefix) :], False) if token.startswith(prefix) else (token, True)
    marker = _WORD_START[scheme]
    return (token[len(marker) :], True) if token.startswith(marker) else (token, False)


def _old_token(text: str, word_start: bool, scheme: str, prefix: str = "##") -> str | None:
    """The old vocabulary's spelling of ``text`` in that role (None where bytes are remapped)."""
    if scheme == WORDPIECE:
        return text if word_start else prefix + text
    if scheme == METASPACE:
        return "\u2581" + text if word_start else text
    return None  # byte-level: found through segmentation instead


def _wordpiece_inner(text: str, vocab: dict, prefix: str, unk_id: int) -> list[int]:
    """Greedy longest-match WordPiece of a word-internal string: every piece carries ``prefix``."""
    ids, start = [], 0
    while start < len(text):
        end = len(text)
        while end > start and prefix + text[start:end] not in vocab:
            end -= 1
        if end == start:
            return [unk_id]
        ids.append(vocab[prefix + text[start:end]])
        start = end
    return ids


def _inner_segmentation(text: str, old_tokenizer, scheme: str, vocab: dict, prefix: str) -> list[int]:
    """Old ids of ``text`` as the inside of a word (no word-start marker)."""
    backend = old_tokenizer.backend_tokenizer
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    if scheme == WORDPIECE:
        return _wordpiece_inner(text, vocab, prefix, old_tokenizer.unk_token_id)
    pieces = [text]
    if backend.pre_tokenizer is not None:
        pieces = [p for p, _ in backend.pre_tokenizer.pre_tokenize_str(text)]
    marker = _WORD_START[scheme]
    if pieces and pieces[0].startswith(marker) and not text.startswith(marker):
        pieces[0] = pieces[0][len(marker) :]  # the marker the pre-tokenizer prepends
    return [t.id for p in pieces if p for t in backend.model.tokenize(p)]


def plan_transplant(old_tokenizer, new_tokenizer, copy_overlap: bool = True) -> TransplantPlan:
    """Which old rows each new token's embedding comes from (see :class:`TransplantPlan`)."""
    old_scheme, new_scheme = tokenizer_scheme(old_tokenizer), tokenizer_scheme(new_tokenizer)
    if new_scheme == BYTELEVEL:
        raise TransplantError(
            "the new tokenizer is byte-level BPE, whose pieces are remapped bytes; train a WordPiece "
            "(train_wordpiece_tokenizer) or SentencePiece tokenizer instead"
        )
    old_vocab, new_vocab = old_tokenizer.get_vocab(), new_tokenizer.get_vocab()
    old_prefix = _continuation_prefix(old_tokenizer) if old_scheme == WORDPIECE else "##"
    new_prefix = _continuation_prefix(new_tokenizer) if new_scheme == WORDPIECE else "##"
    old_unk = old_tokenizer.unk_token_id
    size = max(new_vocab.values()) + 1
    sources: list[list[int] | None] = [None] * size
    kinds: list[str] = ["unknown"] * size

    for role, old_roles in _SPECIAL_ROLES.items():
        new_id = getattr(new_tokenizer, role + "_id", None)
        if new_id is None or sources[new_id] is not None:
            continue
        old_id = next(
            (getattr(old_tokenizer, r + "_id") for r in old_roles if getattr(old_tokenizer, r + "_id") is not None),
            None,
        )
        if old_id is None:
            raise TransplantError(
                f"the new tokenizer has a {role} ({getattr(new_tokenizer, role)!r}) but the old one has none of "
                f"{', '.join(old_roles)}; add that special token to the old tokenizer or remove it from the new one"
            )
        sources[new_id], kinds[new_id] = [old_id], "special"

    special_ids = set(new_tokenizer.all_special_ids)
    starts, inner = {}, {}  # new id -> text to segment as a word / as the inside of a word
    for token, new_id in new_vocab.items():
        if sources[new_id] is not None:
            continue
        if new_id in special_ids:  # an extra special token: the same token if the old vocabulary has it
            if token in old_vocab:
                sources[new_id], kinds[new_id] = [old_vocab[token]], "copied"
            else:
                starts[new_id] = token
            continue
        text, word_start = _surface(token, new_scheme, new_prefix)
        old = _old_token(text, word_start, old_scheme, old_prefix) if copy_overlap and text else None
        if old is not None and old in old_vocab:
            sources[new_id], kinds[new_id] = [old_vocab[old]], "copied"
        elif word_start:
            starts[new_id] = text
        else:
            inner[new_id] = text

    ids = list(starts)
    encoded = old_tokenizer([starts[i] for i in ids], add_special_tokens=False)["input_ids"] if ids else []
    segmented = dict(zip(ids, encoded))
    for new_id, text in inner.items():
        segmented[new_id] = _inner_segmentation(text, old_tokenizer, old_scheme, old_vocab, old_prefix)
    for new_id, old_ids in segmented.items():
        known = [i for i in old_ids if i != old_unk]
        if known:
            sources[new_id], kinds[new_id] = known, "pieces"
        else:
            sources[new_id], kinds[new_id] = [old_unk], "unknown"
    missing = [i for i, s in enumerate(sources) if s is None]
    if missing:
        raise TransplantError(f"the new tokenizer's ids are not contiguous: no token has id {missing[0]}")
    return TransplantPlan(
        sources=sources,
        kinds=kinds,
        old_size=len(old_tokenizer),
        pieces_per_token=[len(s) for s in sources],
    )


def _continuation_prefix(tokenizer) -> str:
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    return state["model"].get("continuing_subword_prefix") or "##"


def _gather_mean(weight: torch.Tensor, sources: list[list[int]]) -> torch.Tensor:
    """Row ``i``: the mean of ``weight``'s rows ``sources[i]`` (rows or scalars for a 1-D bias)."""
    flat = torch.tensor([j for s in sources for j in s], dtype=torch.long, device=weight.device)
    owner = torch.repeat_interleave(
        torch.arange(len(sources), device=weight.device),
        torch.tensor([len(s) for s in sources], device=weight.device),
    )
    source = weight.detach().float().index_select(0, flat)
    out = torch.zeros((len(sources),) + tuple(weight.shape[1:]), dtype=torch.float32, device=weight.device)
    out.index_add_(0, owner, source)
    counts = torch.tensor([len(s) for s in sources], dtype=torch.float32, device=weight.device)
    return (out / counts.view(-1, *([1] * (weight.dim() - 1)))).to(weight.dtype)


def _new_rows(weight: torch.Tensor, plan: TransplantPlan, method: str, generator) -> torch.Tensor:
    rows = _gather_mean(weight, plan.sources)
    if method == "random":  # baseline: only special tokens keep their rows; the rest drawn like the old rows
        fresh = [i for i, k in enumerate(plan.kinds) if k != "special"]
        if weight.dim() == 1:
            rows[fresh] = 0.0
        else:
            std = weight.detach().float().std().item()
            noise = torch.randn(len(fresh), weight.shape[1], generator=generator) * std
            rows[fresh] = noise.to(rows.dtype).to(rows.device)
    return rows


def transplant_vocabulary(
    model,
    old_tokenizer,
    new_tokenizer,
    method: str = "mean",
    copy_overlap: bool = True,
    plan: TransplantPlan | None = None,
    seed: int = 0,
):
    """Replace ``model``'s token embeddings with one row per token of ``new_tokenizer`` and return ``model``.

    Each new row is the mean of the old rows of the token's segmentation by ``old_tokenizer`` (``method="mean"``;
    ``"random"`` draws non-special rows at the old rows' scale, a baseline). With ``copy_overlap``, a token
    that exists in both vocabularies in the same role is copied exactly. Special tokens take the old special
    tokens' rows. A tied MLM decoder follows the embeddings; an untied one, and the decoder bias, are
    transplanted the same way. ``config.vocab_size`` and the special token ids are updated. ``model`` is
    modified in place; save ``new_tokenizer`` beside it.
    """
    if method not in METHODS:
        raise TransplantError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    model_type = getattr(model.config, "model_type", "")
    if model_type in _PAD_OFFSET_MODEL_TYPES:
        raise TransplantError(
            f"{model_type} models derive position ids from pad_token_id, which a new tokenizer changes; "
            "transplanting supports BERT-style models with absolute positions (bert, distilbert, electra, ...)"
        )
    embeddings = model.get_input_embeddings()
    if embeddings.weight.shape[0] < len(old_tokenizer):
        raise TransplantError(
            f"the model has {embeddings.weight.shape[0]} embedding rows for a {len(old_tokenizer)}-token old "
            "tokenizer; pass the tokenizer the model was trained with"
        )
    plan = plan or plan_transplant(old_tokenizer, new_tokenizer, copy_overlap=copy_overlap)
    if len(plan.sources) != len(new_tokenizer) or plan.old_size != len(old_tokenizer):
        raise TransplantError(
            f"the plan maps {plan.old_size} old to {len(plan.sources)} new tokens, but the tokenizers have "
            f"{len(old_tokenizer)} and {len(new_tokenizer)}: build it from these two tokenizers"
        )
    generator = torch.Generator().manual_seed(seed)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = output is not None and output.weight is embeddings.weight
    size = len(plan.sources)

    new_embeddings = nn.Embedding(
        size,
        embeddings.embedding_dim,
        padding_idx=new_tokenizer.pad_token_id,
        dtype=embeddings.weight.dtype,
        device=embeddings.weight.device,
    )
    new_embeddings.weight = nn.Parameter(
        _new_rows(embeddings.weight, plan, method, generator), requires_grad=embeddings.weight.requires_grad
    )
    model.set_input_embeddings(new_embeddings)
    if output is not None:
        if tied:
            output.weight = new_embeddings.weight
        else:
            output.weight = nn.Parameter(_new_rows(output.weight, plan, method, generator))
        old_bias = getattr(output, "bias", None)
        if old_bias is not None:
            output.bias = nn.Parameter(_new_rows(old_bias, plan, method, generator))
        output.out_features = size
        # BERT's prediction head also holds the bias as its own attribute, tied to decoder.bias
        for module in model.modules():
            if hasattr(module, "decoder") and module.decoder is output and hasattr(module, "bias"):
                if output.bias is not None:
                    module.bias = output.bias
                elif isinstance(module.bias, nn.Parameter):
                    module.bias = nn.Parameter(_new_rows(module.bias, plan, method, generator))
    model.config.vocab_size = size
    for attr, roles in _CONFIG_IDS.items():
        new_id = next(
            (getattr(new_tokenizer, r + "_id") for r in roles if getattr(new_tokenizer, r + "_id") is not None), None
        )
        if attr == "pad_token_id" or isinstance(getattr(model.config, attr, None), int):
            setattr(model.config, attr, new_id)
    if tied and hasattr(model, "tie_weights"):
        model.tie_weights()
    return model


def tokens_per_word(tokenizer, texts, batch_size: int = 1000) -> float:
    """Tokens (special tokens excluded) per whitespace-separated word of ``texts``: lower is shorter input."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of texts (e.g. a list of lines), not one string")
    words = tokens = 0
    batch = []

    def flush():
        nonlocal tokens
        if batch:
            tokens += sum(len(ids) for ids in tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"])
            batch.clear()

    for text in texts:
        words += len(text.split())
        batch.append(text)
        if len(batch) == batch_size:
            flush()
    flush()
    if words == 0:
        raise ValueError("texts contain no words: pass non-empty lines of text")
    return tokens / words


def corpus_lines(sources, max_lines: int | None = None) -> list[str]:
    """Lines of text from files (``.txt``, ``.txt.gz``) and folders (every such file inside, recursively)."""
    files = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".txt", ".txt.gz")))
            if not found:
                raise FileNotFoundError(f"no .txt or .txt.gz file under {path}: pass text files, one text per line")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"text file or folder not found: {path}")
    return list(read_lines([str(f) for f in files], max_lines))


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

    from .loading import task_texts

    out = Path(output_dir)
    if vocab_size < MIN_VOCAB_SIZE:
        raise TransplantError(f"--vocab-size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    if not (Path(model_path) / "config.json").is_file():
        raise TransplantError(f"no model folder at {model_path} (config.json missing): pass a local model folder")
    if out.exists() and any(out.iterdir()):
        raise TransplantError(f"{out} exists and is not empty: choose another --output or delete it")
    lines = corpus_lines(text, max_lines)
    if task_data:
        lines += list(task_texts(task_data, "train"))
    if not lines:
        raise TransplantError("the --text files hold no text: pass files with one text per line")
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

    if eval_text:
        eval_lines, eval_name = corpus_lines(eval_text), "the --eval-text files"
    elif task_data:
        eval_lines, eval_name = list(task_texts(task_data, "validation")), "the tasks' dev texts"
    else:
        eval_lines, eval_name = lines[:20000], "the first lines of the training text"
    if not eval_lines:
        eval_lines, eval_name = lines[:20000], "the first lines of the training text"
    tpw = {"old": tokens_per_word(old_tokenizer, eval_lines), "new": tokens_per_word(new_tokenizer, eval_lines)}

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    new_tokenizer.save_pretrained(out)
    summary = plan.summary()
    report = {
        "source_model": str(model_path),
        "vocab_size": len(new_tokenizer),
        "training_lines": len(lines),
        "tokens_per_word": {k: round(v, 4) for k, v in tpw.items()},
        "tokens_per_word_text": eval_name,
        "eval_lines": len(eval_lines),
        "parameters": parameters,
        "mlm_head": "newly initialised (the source had none)" if head_missing else "transplanted from the source",
        "embeddings": summary,
    }
    (out / "transplant.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out / "README.md").write_text(
        MODEL_CARD.format(
            name=out.name,
            source=Path(model_path).name,
            vocab_size=len(new_tokenizer),
            lines=len(lines),
            old_size=len(old_tokenizer),
            eval_name=eval_name,
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
    )
    return report


def add_parser(subparsers):
    p = subparsers.add_parser(
        "transplant-vocab",
        help="give a pretrained encoder a new WordPiece tokenizer trained on your text",
        description=__doc__.splitlines()[0],
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
