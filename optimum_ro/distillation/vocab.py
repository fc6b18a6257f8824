"""Trim a model's vocabulary to the tokens a corpus uses (plus the special tokens).

With a 250k-piece multilingual vocabulary most parameters sit in the embedding matrix;
a Romanian corpus touches a small fraction of it. Corpus sentences tokenize to the same
pieces after trimming (ids change, consistently); pieces never seen become ``unk``.

A smaller vocabulary than the corpus uses (``max_size``, or ``min_count`` > 1) drops used pieces
too: the tokenizer then re-segments the words that needed them from the kept pieces, and every
single-character piece of the corpus's alphabet stays, so those words get more pieces, not ``unk``.

    from optimum_ro.distillation import trim_vocabulary
    model, tokenizer = trim_vocabulary(model, tokenizer, corpus_lines)
    model, tokenizer = trim_vocabulary(model, tokenizer, corpus_lines, max_size=12_000)  # the most frequent
    model.save_pretrained("out"); tokenizer.save_pretrained("out")   # loads with AutoModel / AutoTokenizer
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn

_CONFIG_TOKEN_IDS = (
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "cls_token_id",
    "unk_token_id",
    "mask_token_id",
    "decoder_start_token_id",
)


def count_token_ids(tokenizer, texts: Iterable[str], batch_size: int = 1000) -> Counter:
    """How often each token id occurs when ``tokenizer`` encodes ``texts`` (no special tokens, no truncation)."""
    counts, batch = Counter(), []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
                counts.update(ids)
            batch = []
    if batch:
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    return counts


def _remap_tokenizer_json(state: dict, old_to_new: dict[int, int], id_to_token: dict[int, str]) -> dict:
    """Rewrite a ``tokenizers`` JSON state so that only the kept ids remain, renumbered."""
    model = state["model"]
    kind = model.get("type")
    if kind == "WordPiece" or (kind == "BPE" and isinstance(model.get("vocab"), dict) and not model.get("merges")):
        model["vocab"] = {id_to_token[old]: new for old, new in sorted(old_to_new.items(), key=lambda kv: kv[1])}
    elif kind == "Unigram":
        vocab = model["vocab"]
        model["vocab"] = [
            vocab[old] for old, _ in sorted(old_to_new.items(), key=lambda kv: kv[1]) if old < len(vocab)
        ]
        if model.get("unk_id") is not None:
            model["unk_id"] = old_to_new[model["unk_id"]]
        # ids past the Unigram list (added tokens) are carried by "added_tokens" below
    elif kind == "WordLevel":
        model["vocab"] = {id_to_token[old]: new for old, new in sorted(old_to_new.items(), key=lambda kv: kv[1])}
    else:
        raise NotImplementedError(
            f"trim_vocabulary supports WordPiece, WordLevel and Unigram (SentencePiece) tokenizers, not {kind}: "
            "BPE merges would reference removed tokens"
        )
    state["added_tokens"] = [
        dict(tok, id=old_to_new[tok["id"]]) for tok in state.get("added_tokens", []) if tok["id"] in old_to_new
    ]

    def remap_processor(proc):
        if proc is None:
            return
        if proc.get("type") == "Sequence":
            for p in proc.get("processors", []):
                remap_processor(p)
        for key in ("sep", "cls"):  # RobertaProcessing / BertProcessing: [token, id]
            if key in proc:
                proc[key] = [proc[key][0], old_to_new[proc[key][1]]]
        for spec in proc.get("special_tokens", {}).values():  # TemplateProcessing
            spec["ids"] = [old_to_new[i] for i in spec["ids"]]

    remap_processor(state.get("post_processor"))
    if state.get("padding") and state["padding"].get("pad_id") is not None:
        state["padding"]["pad_id"] = old_to_new.get(state["padding"]["pad_id"], 0)
    return state


def _trim_tokenizer(tokenizer, old_to_new: dict[int, int]):
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ValueError(
            f"trim_vocabulary needs a fast tokenizer (tokenizer.json); {type(tokenizer).__name__} is not. "
            "Load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    from transformers import AutoTokenizer

    backend = tokenizer.backend_tokenizer
    id_to_token = {i: backend.id_to_token(i) for i in old_to_new}
    state = _remap_tokenizer_json(json.loads(backend.to_str()), old_to_new, id_to_token)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        from pathlib import Path

        for f in Path(tmp).iterdir():  # slow-tokenizer files would describe the old vocabulary
            if f.name in (
                "vocab.txt",
                "sentencepiece.bpe.model",
                "spiece.model",
                "tokenizer.model",
                "vocab.json",
                "merges.txt",
            ):
                f.unlink()
        (Path(tmp) / "tokenizer.json").write_text(json.dumps(state, ensure_ascii=False))
        config_path = Path(tmp) / "tokenizer_config.json"
        if config_path.exists():
            cfg = json.loads(config_path.read_text())
            # added tokens are listed by id in the config as well
            if "added_tokens_decoder" in cfg:
                cfg["added_tokens_decoder"] = {
                    str(old_to_new[int(k)]): v for k, v in cfg["added_tokens_decoder"].items() if int(k) in old_to_new
                }
            config_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2))
        new_tokenizer = AutoTokenizer.from_pretrained(tmp)
        new_tokenizer.name_or_path = tokenizer.name_or_path
    return new_tokenizer


def _select_rows(weight: torch.Tensor, keep: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(
        weight.detach().index_select(0, keep.to(weight.device)).clone(), requires_grad=weight.requires_grad
    )


_MARKERS = ("##", "\u2581", "\u0120")  # WordPiece continuation, SentencePiece word start, byte-level BPE space


def _bare(token: str) -> str:
    """``token`` without its word-boundary / continuation marker."""
    for marker in _MARKERS:
        if token.startswith(marker):
            return token[len(marker) :]
    return token


def _alphabet_ids(tokenizer, used_ids) -> set[int]:
    """Ids of the single-character pieces (bare, ``##``-continued or ``▁``-prefixed) of every character in
    the pieces ``used_ids``, and the bare ``▁`` word marker: with them any word of the corpus still segments."""
    specials = set(tokenizer.all_special_ids)
    alphabet = set()
    for token in tokenizer.convert_ids_to_tokens([i for i in used_ids if i not in specials]):
        alphabet.update(_bare(token))
    return {
        i
        for token, i in tokenizer.get_vocab().items()
        if (len(_bare(token)) == 1 and _bare(token) in alphabet) or token in _MARKERS[1:]
    }


def _check_sizes(min_count: int, max_size: int | None):
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")


def select_vocabulary(tokenizer, counts, min_count: int = 1, keep_ids=None, max_size: int | None = None) -> list[int]:
    """The ids ``trim_vocabulary`` keeps, in order, from token ``counts`` (``count_token_ids``): see there.
    Split out so that one count of a large corpus can serve several tokenizers or sizes."""
    _check_sizes(min_count, max_size)
    vocab_size = len(tokenizer)
    must = set(tokenizer.all_special_ids)
    must |= {i for i in (tokenizer.unk_token_id, tokenizer.pad_token_id) if i is not None}
    must |= {int(i) for i in (keep_ids or [])}
    bad = [i for i in must if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"keep_ids {sorted(bad)[:5]} are outside the tokenizer's {vocab_size} ids")
    if min_count > 1 or max_size is not None:
        alphabet = _alphabet_ids(tokenizer, counts) - must
        must |= alphabet
    frequent = sorted(
        (i for i, c in counts.items() if c >= min_count and i not in must), key=lambda i: (-counts[i], i)
    )
    if max_size is not None:
        if max_size < len(must):
            raise ValueError(
                f"max_size={max_size} is below the {len(must)} tokens that always stay (special tokens, keep_ids and "
                f"the {len(alphabet)} single-character pieces of the corpus's alphabet); give at least {len(must)}"
            )
        frequent = frequent[: max_size - len(must)]
    keep = must | set(frequent)
    return sorted(keep)


def trim_vocabulary(
    model, tokenizer, corpus_texts: Iterable[str], min_count: int = 1, keep_ids=None, max_size: int | None = None
):
    """Keep the tokens occurring at least ``min_count`` times in ``corpus_texts`` (+ all special tokens
    and ``keep_ids``), at most ``max_size`` of them in all (the most frequent; ties: the lower id), and
    return ``(model, tokenizer)`` with the input embeddings, the MLM decoder (weight and bias, if any),
    ``config.vocab_size`` / special token ids, and the tokenizer remapped.

    When used pieces are dropped (``min_count`` > 1 or ``max_size``), the single-character pieces of the
    corpus's alphabet are kept as well (counted in ``max_size``), so that the tokenizer re-segments the
    words that needed a dropped piece instead of mapping them to ``unk``.

    The model is modified in place (and returned); the tokenizer is a new object. New ids follow
    the old order, so special tokens keep their relative positions. ``model`` may be ``None``.
    """
    if isinstance(corpus_texts, str):
        raise TypeError("corpus_texts must be an iterable of texts (e.g. a list of lines), not one string")
    _check_sizes(min_count, max_size)  # before counting a large corpus
    vocab_size = len(tokenizer)
    kept = select_vocabulary(tokenizer, count_token_ids(tokenizer, corpus_texts), min_count, keep_ids, max_size)
    old_to_new = {old: new for new, old in enumerate(kept)}
    new_tokenizer = _trim_tokenizer(tokenizer, old_to_new)
    if model is None:
        return None, new_tokenizer
    return _trim_model(model, kept, old_to_new, vocab_size, new_tokenizer.unk_token_id), new_tokenizer


def _trim_model(model, kept: list[int], old_to_new: dict, vocab_size: int, unk_token_id: int):
    """Keep the embedding rows ``kept`` (input, and MLM output if any) and remap the config's token ids."""
    index = torch.tensor(kept, dtype=torch.long)
    embeddings = model.get_input_embeddings()
    if embeddings.weight.shape[0] < vocab_size:
        raise ValueError(
            f"the model has {embeddings.weight.shape[0]} embedding rows for a {vocab_size}-token tokenizer; "
            "they do not belong together"
        )
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = output is not None and output.weight is embeddings.weight
    old_pad = getattr(model.config, "pad_token_id", None)
    new_embeddings = nn.Embedding(
        len(kept),
        embeddings.embedding_dim,
        padding_idx=old_to_new.get(old_pad) if old_pad is not None else None,
        dtype=embeddings.weight.dtype,
        device=embeddings.weight.device,
    )
    new_embeddings.weight = _select_rows(embeddings.weight, index)
    model.set_input_embeddings(new_embeddings)
    if output is not None:
        _trim_output_layer(model, output, new_embeddings.weight if tied else None, index)
    model.config.vocab_size = len(kept)
    for attr in _CONFIG_TOKEN_IDS:
        old = getattr(model.config, attr, None)
        if isinstance(old, int):
            setattr(model.config, attr, old_to_new.get(old, unk_token_id))
    if tied and hasattr(model, "tie_weights"):
        model.tie_weights()
    return model


def _trim_output_layer(model, output, tied_weight, index) -> None:
    """Keep the rows ``index`` of the MLM decoder (weight, bias, and the prediction head's copy of the bias);
    ``tied_weight``: the trimmed input embedding when the decoder shares it."""
    output.weight = tied_weight if tied_weight is not None else _select_rows(output.weight, index)
    if getattr(output, "bias", None) is not None:
        output.bias = _select_rows(output.bias, index)
    output.out_features = len(index)
    # BERT's prediction head keeps the bias also as a separate parameter tied to decoder.bias
    for module in model.modules():
        if (
            hasattr(module, "decoder")
            and module.decoder is output
            and isinstance(getattr(module, "bias", None), nn.Parameter)
        ):
            module.bias = output.bias if output.bias is not None else _select_rows(module.bias, index)
