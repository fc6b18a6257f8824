"""A bi-encoder for sentence-pair regression (STS): the objective e5 and sentence-transformers models are made for.

    model = BertForSentenceSimilarity.from_encoder("models/multilingual-e5-small", score_range=(0.0, 5.0))
    pairs = encode_pairs(raw["validation"], tokenizer, ("sentence1", "sentence2"), "score", prefix="query: ")
    collate = PairCollator(tokenizer)
    out = model(**collate([pairs[0], pairs[1]]))   # out.scores in the score range, out.loss when labels are given
    pair_scores(model, pairs, collate)             # {"pearson": ..., "spearman": ...}: e.g. the zero-shot baseline

Each sentence is encoded on its own (``input_ids`` / ``attention_mask`` for the first, ``input_ids_b`` /
``attention_mask_b`` for the second), mean-pooled over its attention mask; the score is the cosine of the two
embeddings mapped onto ``config.score_range`` as ``low + (high - low) * cosine``. The loss is the mean squared
error between the cosine and the score rescaled to [0, 1], sentence-transformers' ``CosineSimilarityLoss``.
``config.score_range`` is saved in ``config.json``, so ``from_pretrained`` gives back the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from transformers import BertModel, BertPreTrainedModel
from transformers.utils import ModelOutput

SIDE_B = "_b"  # suffix of the second sentence's inputs


@dataclass
class SentenceSimilarityOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    scores: Optional[torch.Tensor] = None


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of ``hidden`` (batch, length, dim) over the positions ``attention_mask`` keeps."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class BertForSentenceSimilarity(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        low, high = getattr(config, "score_range", None) or (0.0, 5.0)
        if not float(high) > float(low):
            raise ValueError(f"config.score_range must be (low, high) with high > low, got {config.score_range!r}")
        config.score_range = [float(low), float(high)]
        self.bert = BertModel(config, add_pooling_layer=False)
        self.post_init()

    @classmethod
    def from_encoder(cls, name_or_path, score_range=(0.0, 5.0), **kwargs):
        """The bi-encoder over a pretrained BERT-family encoder (no new parameters: its zero-shot cosine is the
        encoder's own)."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name_or_path)
        if config.model_type != "bert":
            raise ValueError(
                f"{name_or_path} is a {config.model_type!r} model; BertForSentenceSimilarity takes BERT-family "
                "encoders (model_type 'bert', e.g. multilingual-e5-small or optimum-ro's students)"
            )
        config.score_range = [float(v) for v in score_range]
        return cls.from_pretrained(name_or_path, config=config, **kwargs)

    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Mean-pooled sentence embeddings (batch, hidden)."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        input_ids_b=None,
        attention_mask_b=None,
        token_type_ids=None,
        token_type_ids_b=None,
        labels=None,
        **kwargs,
    ) -> SentenceSimilarityOutput:
        if input_ids_b is None:
            raise ValueError("BertForSentenceSimilarity needs both sentences: pass input_ids and input_ids_b")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask_b is None:
            attention_mask_b = torch.ones_like(input_ids_b)
        a = self.embed(input_ids, attention_mask, token_type_ids)
        b = self.embed(input_ids_b, attention_mask_b, token_type_ids_b)
        cosine = F.cosine_similarity(a.float(), b.float(), dim=-1)
        low, high = self.config.score_range
        loss = None
        if labels is not None:
            loss = F.mse_loss(cosine, (labels.float().view(-1) - low) / (high - low))
        return SentenceSimilarityOutput(loss=loss, scores=low + (high - low) * cosine)


def encode_pairs(rows, tokenizer, text_fields, label_field=None, prefix: str = "", max_length: int = 128):
    """A ``datasets.Dataset`` of ``rows`` with each sentence tokenized on its own (``input_ids``,
    ``attention_mask``, ``input_ids_b``, ``attention_mask_b``, float ``labels`` from ``label_field``) and a
    ``length`` column (the longer side) for length grouping. ``prefix`` goes before every sentence (e5 models
    expect ``"query: "`` for symmetric tasks)."""
    first, second = text_fields

    def encode(batch):
        out = {}
        for field, suffix in ((first, ""), (second, SIDE_B)):
            enc = tokenizer([prefix + t for t in batch[field]], truncation=True, max_length=max_length)
            out["input_ids" + suffix] = enc["input_ids"]
            out["attention_mask" + suffix] = enc["attention_mask"]
        out["length"] = [max(len(x), len(y)) for x, y in zip(out["input_ids"], out["input_ids" + SIDE_B])]
        if label_field is not None:
            out["labels"] = [float(v) for v in batch[label_field]]
        return out

    return rows.map(encode, batched=True, remove_columns=rows.column_names)


class PairCollator:
    """Pads each side of a batch of ``encode_pairs`` rows to its own longest sentence."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features):
        batch = {}
        for suffix in ("", SIDE_B):
            side = [
                {"input_ids": f["input_ids" + suffix], "attention_mask": f["attention_mask" + suffix]}
                for f in features
            ]
            padded = self.tokenizer.pad(side, return_tensors="pt")
            batch["input_ids" + suffix] = padded["input_ids"]
            batch["attention_mask" + suffix] = padded["attention_mask"]
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([float(f["labels"]) for f in features])
        return batch


@torch.no_grad()
def predict_pairs(model, pairs, collate, batch_size: int = 64) -> list[float]:
    """The model's scores for every row of ``pairs`` (an ``encode_pairs`` dataset), in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    scores = []
    keep = [c for c in pairs.column_names if c != "length"]
    for start in range(0, len(pairs), batch_size):
        rows = pairs.select(range(start, min(start + batch_size, len(pairs)))).select_columns(keep)
        batch = {k: v.to(device) for k, v in collate(list(rows)).items() if k != "labels"}
        scores.extend(model(**batch).scores.float().cpu().tolist())
    model.train(was_training)
    return scores


def pair_scores(model, pairs, collate, batch_size: int = 64) -> dict:
    """Pearson and Spearman correlation of the model's scores with ``pairs``' labels; before any training this is
    the encoder's zero-shot cosine baseline."""
    from ..metrics.tasks import task_scores

    return task_scores("sts", predict_pairs(model, pairs, collate, batch_size), [float(v) for v in pairs["labels"]])
