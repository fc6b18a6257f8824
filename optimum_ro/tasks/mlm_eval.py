"""Masked-LM loss on held-out text, comparable between models: the same lines, the same masked positions.

    loss = heldout_mlm_loss(model, tokenizer, lines, max_length=64, seed=0)

Each line is one sequence (short in-domain utterances stay whole rather than packed); 15% of its tokens are
masked with BERT's 80/10/10 rule from a fixed seed, so two models sharing a tokenizer are scored on exactly
the same predictions (the stage-1 vs stage-2 comparison of continued pretraining).
"""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def heldout_mlm_loss(
    model, tokenizer, lines, max_length: int = 64, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 64
) -> dict:
    """``{"loss", "perplexity", "masked_tokens", "lines"}``: mean cross-entropy over the masked tokens."""
    from transformers import DataCollatorForLanguageModeling

    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("heldout_mlm_loss needs at least one non-empty line of text")
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
    enc = tokenizer(lines, truncation=True, max_length=max_length)
    features = [{"input_ids": ids} for ids in enc["input_ids"]]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the collator masks with torch's global generator
    total, count = 0.0, 0
    try:
        for start in range(0, len(features), batch_size):
            batch = collator(features[start : start + batch_size])
            labels = batch.pop("labels").to(device)
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            masked = labels != -100
            if masked.any():
                total += torch.nn.functional.cross_entropy(
                    logits[masked].float(), labels[masked], reduction="sum"
                ).item()
                count += int(masked.sum())
    finally:
        torch.random.set_rng_state(generator_state)
        model.train(was_training)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "masked_tokens": count, "lines": len(lines)}
