"""``IntentSlotPipeline``: utterances -> intent and slot spans with character offsets, on a joint intent + slot model
(``BertForIntentSlot``, or its sparse twin ``AutoModel.from_pretrained(folder, trust_remote_code=True)``).

    nlu = IntentSlotPipeline(model, tokenizer)
    nlu("pune o alarmă mâine la 7")
    # {"intent": "alarm_set", "score": 0.91,
    #  "slots": [{"type": "date", "value": "mâine", "start": 14, "end": 19}, {"type": "time", "value": "7", ...}]}
    nlu(["...", "..."])   # a list in, a list out

Words are the whitespace-separated pieces of the utterance, the unit the NLU data label (``tokens`` of
``../shared/data/nlu``); each word takes the tag predicted on its first sub-token (as in training), and BIO tags
are merged into entities as seqeval's default mode reads them (``bio_spans``). ``start`` / ``end`` index the
original string: ``utterance[start:end] == value``.
"""

from __future__ import annotations

import re

import torch

_WORD = re.compile(r"\S+")
# sentence punctuation glued to a slot's first or last word is not part of its value; a period is kept (the data
# write times and abbreviations with one: "p. m.")
_EDGE_PUNCTUATION = ",;:!?…¿¡"


def bio_spans(tags) -> list[tuple[str, int, int]]:
    """The entities of a BIO tag sequence as ``(type, first, last + 1)`` positions, read as seqeval's default
    (conlleval) mode reads them: ``B-x`` starts an entity; ``I-x`` continues an entity of type ``x`` and
    otherwise starts one; ``O`` ends one.

        bio_spans(["O", "B-loc", "I-loc", "I-date", "O"])   # [("loc", 1, 3), ("date", 3, 4)]
    """
    spans, current = [], None  # current: [type, start]
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = tag[:2], tag[2:]
        if tag != "O" and (prefix not in ("B-", "I-") or not kind):
            raise ValueError(f"slot tags must be O, B-<type> or I-<type>; got {tag!r} at position {i}")
        if current is not None and (tag == "O" or prefix == "B-" or kind != current[0]):
            spans.append((current[0], current[1], i))
            current = None
        if tag != "O" and current is None:
            current = [kind, i]
    return spans


def slot_spans(text: str, word_tags) -> list[dict]:
    """The slots of ``text`` given one BIO tag per whitespace-separated word: ``[{"type", "value", "start",
    "end"}]`` with ``text[start:end] == value`` (edge punctuation ``,;:!?`` left out of the value)."""
    words = [m.span() for m in _WORD.finditer(text)]
    if len(word_tags) != len(words):
        raise ValueError(
            f"{len(word_tags)} tags for {len(words)} words in {text!r:.100} (one tag per whitespace-separated word)"
        )
    slots = []
    for kind, first, last in bio_spans(word_tags):
        start, end = words[first][0], words[last - 1][1]
        while end - start > 1 and text[end - 1] in _EDGE_PUNCTUATION:
            end -= 1
        while end - start > 1 and text[start] in _EDGE_PUNCTUATION:
            start += 1
        slots.append({"type": kind, "value": text[start:end], "start": start, "end": end})
    return slots


class IntentSlotPipeline:
    """Parse utterances with a joint intent + slot model and its (fast) tokenizer; see the module docstring.
    ``max_length`` truncates (words past it are tagged ``O``); ``batch_size`` utterances run per forward."""

    def __init__(self, model, tokenizer, max_length: int = 128, batch_size: int = 32):
        config = getattr(model, "config", None)
        self.intent_labels = list(getattr(config, "intent_labels", None) or [])
        self.slot_labels = list(getattr(config, "slot_labels", None) or [])
        if not self.intent_labels or not self.slot_labels:
            raise ValueError(
                f"{type(model).__name__} has no config.intent_labels / config.slot_labels: "
                "IntentSlotPipeline needs a joint intent + slot model (BertForIntentSlot, or its sparse "
                "folder loaded with AutoModel.from_pretrained(folder, trust_remote_code=True))"
            )
        bio_spans(self.slot_labels)  # refuses names that are not BIO tags
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(
                f"{type(tokenizer).__name__} is a slow tokenizer: IntentSlotPipeline aligns tags to "
                "words with word_ids(), which only fast tokenizers give (load it with use_fast=True)"
            )
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def from_pretrained(cls, folder, **kwargs) -> "IntentSlotPipeline":
        """The pipeline of a saved joint model folder with its tokenizer: a sparse one (``save_sparse_pretrained``,
        ``optimum-ro sparsify``) or a dense ``BertForIntentSlot`` (``optimum-ro finetune-nlu``)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        from .intent_slot import BertForIntentSlot
        from .sparse_bert.configuration_sparse_bert_intent_slot import SparseBertIntentSlotConfig

        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        if config.model_type == SparseBertIntentSlotConfig.model_type:
            model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        elif "BertForIntentSlot" in (getattr(config, "architectures", None) or []):
            model = BertForIntentSlot.from_pretrained(folder)
        else:
            raise ValueError(
                f"{folder} holds a {config.model_type!r} model, not a joint intent + slot one "
                "(BertForIntentSlot, or its sparse folder from save_sparse_pretrained)"
            )
        return cls(model, AutoTokenizer.from_pretrained(folder), **kwargs)

    def __call__(self, utterances):
        single = isinstance(utterances, str)
        texts = [utterances] if single else list(utterances)
        bad = [t for t in texts if not isinstance(t, str)]
        if bad:
            raise ValueError(f"IntentSlotPipeline takes a string or a list of strings; got {type(bad[0]).__name__}")
        results = []
        for i in range(0, len(texts), self.batch_size):
            results += self._parse(texts[i : i + self.batch_size])
        return results[0] if single else results

    @torch.no_grad()
    def _parse(self, texts: list[str]) -> list[dict]:
        words = [_WORD.findall(t) for t in texts]
        enc = self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        device = next(self.model.parameters()).device
        out = self.model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
        intent_probs = out.intent_logits.float().softmax(-1).cpu()
        slot_ids = out.slot_logits.argmax(-1).cpu()
        results = []
        for i, text in enumerate(texts):
            tags = ["O"] * len(words[i])
            seen = set()
            for pos, w in enumerate(enc.word_ids(i)):
                if w is not None and w not in seen:  # the word's first sub-token
                    seen.add(w)
                    tags[w] = self.slot_labels[slot_ids[i, pos]]
            score, intent = intent_probs[i].max(-1)
            results.append(
                {"intent": self.intent_labels[intent], "score": float(score), "slots": slot_spans(text, tags)}
            )
        return results
