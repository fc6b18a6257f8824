"""Joint intent classification + slot filling scores (Alexa Teacher Model style NLU).

    nlu_scores(["aprindeLumina"], ["aprindeLumina"], [["O", "B-loc"]], [["O", "B-loc"]])
    # {"intent_accuracy": 1.0, "slot_f1": 1.0, "semantic_accuracy": 1.0, "semantic_error_rate": 0.0}

- intent accuracy: share of utterances whose predicted intent string equals the gold one;
- slot F1: micro entity-level F1 of seqeval over word-level BIO tags (default, conlleval-compatible mode, not
  strict): an entity counts only with its type and exact span right;
- semantic accuracy (sentence-level semantic frame accuracy): intent right *and* every slot tag right;
  semantic error rate = 1 - semantic accuracy.
"""

from __future__ import annotations


def nlu_scores(gold_intents, pred_intents, gold_slots, pred_slots) -> dict[str, float]:
    """Scores of predicted (intent, slot tags) against gold; one entry per utterance, one tag per word."""
    from seqeval.metrics import f1_score

    n = len(gold_intents)
    if not (len(pred_intents) == len(gold_slots) == len(pred_slots) == n):
        raise ValueError(
            f"nlu_scores needs one entry per utterance everywhere; got {n} gold intents, "
            f"{len(pred_intents)} predicted, {len(gold_slots)} gold and {len(pred_slots)} predicted slot lists"
        )
    if n == 0:
        raise ValueError("nlu_scores got no utterances")
    for i, (g, p) in enumerate(zip(gold_slots, pred_slots)):
        if len(g) != len(p):
            raise ValueError(f"utterance {i}: {len(g)} gold slot tags but {len(p)} predicted (one tag per word)")
    intent_ok = [g == p for g, p in zip(gold_intents, pred_intents)]
    frame_ok = [i and list(g) == list(p) for i, g, p in zip(intent_ok, gold_slots, pred_slots)]
    semantic = sum(frame_ok) / n
    return {
        "intent_accuracy": sum(intent_ok) / n,
        "slot_f1": float(f1_score([list(g) for g in gold_slots], [list(p) for p in pred_slots])),
        "semantic_accuracy": semantic,
        "semantic_error_rate": 1.0 - semantic,
    }
