"""Vocabulary transplant planning: which old embedding rows each new token starts from.

A new token takes an old special token's row by role, the row of the same token in the old vocabulary, or
the old rows of its segmentation by the old tokenizer (word-internal pieces segmented without the
word-start marker). :func:`plan_transplant` returns the result as a :class:`TransplantPlan`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

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


def _continuation_prefix(tokenizer) -> str:
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    return state["model"].get("continuing_subword_prefix") or "##"


@dataclass
class _Side:
    """One tokenizer as the planner sees it: its word-boundary scheme, ``##``-style prefix and vocabulary."""

    tokenizer: object
    scheme: str
    prefix: str
    vocab: dict


def _side(tokenizer) -> _Side:
    scheme = tokenizer_scheme(tokenizer)
    prefix = _continuation_prefix(tokenizer) if scheme == WORDPIECE else "##"
    return _Side(tokenizer, scheme, prefix, tokenizer.get_vocab())


def _take_special_rows(old_tokenizer, new_tokenizer, sources: list, kinds: list[str]) -> None:
    """Give each new special token the row of the old special token of the same role."""
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


def _copy_shared_tokens(
    old: _Side, new: _Side, copy_overlap: bool, sources: list, kinds: list[str]
) -> tuple[dict[int, str], dict[int, str]]:
    """Copy tokens the old vocabulary has; return the rest as ``(starts, inner)``: new id -> text to segment
    as a word / as the inside of a word."""
    special_ids = set(new.tokenizer.all_special_ids)
    starts, inner = {}, {}
    for token, new_id in new.vocab.items():
        if sources[new_id] is not None:
            continue
        if new_id in special_ids:  # an extra special token: the same token if the old vocabulary has it
            if token in old.vocab:
                sources[new_id], kinds[new_id] = [old.vocab[token]], "copied"
            else:
                starts[new_id] = token
            continue
        text, word_start = _surface(token, new.scheme, new.prefix)
        old_token = _old_token(text, word_start, old.scheme, old.prefix) if copy_overlap and text else None
        if old_token is not None and old_token in old.vocab:
            sources[new_id], kinds[new_id] = [old.vocab[old_token]], "copied"
        elif word_start:
            starts[new_id] = text
        else:
            inner[new_id] = text
    return starts, inner


def _take_segmentations(old: _Side, starts: dict, inner: dict, sources: list, kinds: list[str]) -> None:
    """Point each remaining new token at the old ids of its old segmentation (unknown pieces dropped)."""
    old_unk = old.tokenizer.unk_token_id
    ids = list(starts)
    encoded = old.tokenizer([starts[i] for i in ids], add_special_tokens=False)["input_ids"] if ids else []
    segmented = dict(zip(ids, encoded))
    for new_id, text in inner.items():
        segmented[new_id] = _inner_segmentation(text, old.tokenizer, old.scheme, old.vocab, old.prefix)
    for new_id, old_ids in segmented.items():
        known = [i for i in old_ids if i != old_unk]
        if known:
            sources[new_id], kinds[new_id] = known, "pieces"
        else:
            sources[new_id], kinds[new_id] = [old_unk], "unknown"


def plan_transplant(old_tokenizer, new_tokenizer, copy_overlap: bool = True) -> TransplantPlan:
    """Which old rows each new token's embedding comes from (see :class:`TransplantPlan`)."""
    old, new = _side(old_tokenizer), _side(new_tokenizer)
    if new.scheme == BYTELEVEL:
        raise TransplantError(
            "the new tokenizer is byte-level BPE, whose pieces are remapped bytes; train a WordPiece "
            "(train_wordpiece_tokenizer) or SentencePiece tokenizer instead"
        )
    size = max(new.vocab.values()) + 1
    sources: list[list[int] | None] = [None] * size
    kinds: list[str] = ["unknown"] * size
    _take_special_rows(old_tokenizer, new_tokenizer, sources, kinds)
    starts, inner = _copy_shared_tokens(old, new, copy_overlap, sources, kinds)
    _take_segmentations(old, starts, inner, sources, kinds)
    missing = [i for i, s in enumerate(sources) if s is None]
    if missing:
        raise TransplantError(f"the new tokenizer's ids are not contiguous: no token has id {missing[0]}")
    return TransplantPlan(
        sources=sources,
        kinds=kinds,
        old_size=len(old_tokenizer),
        pieces_per_token=[len(s) for s in sources],
    )
