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

from pathlib import Path

import torch
from torch import nn

from .pretrain import read_lines, train_wordpiece_tokenizer
from .transplant_plan import BYTELEVEL as BYTELEVEL
from .transplant_plan import METASPACE as METASPACE
from .transplant_plan import WORDPIECE as WORDPIECE
from .transplant_plan import TransplantError, TransplantPlan, plan_transplant
from .transplant_plan import tokenizer_scheme as tokenizer_scheme

__all__ = [
    "TransplantPlan",
    "plan_transplant",
    "train_wordpiece_tokenizer",
    "transplant_vocabulary",
    "tokens_per_word",
]

# the transplant-vocab command, importable from here without importing it up front (it imports this module)
_CLI_NAMES = ("MIN_VOCAB_SIZE", "MODEL_CARD", "add_parser", "logger", "transplant_folder")


def __getattr__(name: str):
    if name in _CLI_NAMES:
        from . import transplant_cli

        return getattr(transplant_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


METHODS = ("mean", "random")

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


def _check_model(model, old_tokenizer, method: str) -> None:
    if method not in METHODS:
        raise TransplantError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    model_type = getattr(model.config, "model_type", "")
    if model_type in _PAD_OFFSET_MODEL_TYPES:
        raise TransplantError(
            f"{model_type} models derive position ids from pad_token_id, which a new tokenizer changes; "
            "transplanting supports BERT-style models with absolute positions (bert, distilbert, electra, ...)"
        )
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < len(old_tokenizer):
        raise TransplantError(
            f"the model has {rows} embedding rows for a {len(old_tokenizer)}-token old "
            "tokenizer; pass the tokenizer the model was trained with"
        )


def _check_plan(plan: TransplantPlan, old_tokenizer, new_tokenizer) -> None:
    if len(plan.sources) != len(new_tokenizer) or plan.old_size != len(old_tokenizer):
        raise TransplantError(
            f"the plan maps {plan.old_size} old to {len(plan.sources)} new tokens, but the tokenizers have "
            f"{len(old_tokenizer)} and {len(new_tokenizer)}: build it from these two tokenizers"
        )


def _transplant_output(model, output, new_weight, tied: bool, plan: TransplantPlan, method: str, generator) -> None:
    """Give the MLM decoder (and its bias) one row per new token: tied to ``new_weight`` or transplanted."""
    if tied:
        output.weight = new_weight
    else:
        output.weight = nn.Parameter(_new_rows(output.weight, plan, method, generator))
    old_bias = getattr(output, "bias", None)
    if old_bias is not None:
        output.bias = nn.Parameter(_new_rows(old_bias, plan, method, generator))
    output.out_features = len(plan.sources)
    # BERT's prediction head also holds the bias as its own attribute, tied to decoder.bias
    for module in model.modules():
        if hasattr(module, "decoder") and module.decoder is output and hasattr(module, "bias"):
            if output.bias is not None:
                module.bias = output.bias
            elif isinstance(module.bias, nn.Parameter):
                module.bias = nn.Parameter(_new_rows(module.bias, plan, method, generator))


def _update_config(config, new_tokenizer, size: int) -> None:
    """Set ``vocab_size`` and the special token ids the config names to the new tokenizer's."""
    config.vocab_size = size
    for attr, roles in _CONFIG_IDS.items():
        new_id = next(
            (getattr(new_tokenizer, r + "_id") for r in roles if getattr(new_tokenizer, r + "_id") is not None), None
        )
        if attr == "pad_token_id" or isinstance(getattr(config, attr, None), int):
            setattr(config, attr, new_id)


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
    _check_model(model, old_tokenizer, method)
    embeddings = model.get_input_embeddings()
    plan = plan or plan_transplant(old_tokenizer, new_tokenizer, copy_overlap=copy_overlap)
    _check_plan(plan, old_tokenizer, new_tokenizer)
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
        _transplant_output(model, output, new_embeddings.weight, tied, plan, method, generator)
    _update_config(model.config, new_tokenizer, size)
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
