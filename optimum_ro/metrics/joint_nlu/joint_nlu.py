"""Joint intent classification + slot filling scores as an `evaluate` module.

Load offline from the package folder::

    import evaluate
    metric = evaluate.load("optimum_ro/metrics/joint_nlu")
    metric.compute(predictions=[{"intent": "aprindeLumina", "slots": ["O", "B-loc"]}],
                   references=[{"intent": "aprindeLumina", "slots": ["O", "B-loc"]}])
"""

import datasets
import evaluate

# Self-contained (plain Python), so the module runs where optimum-ro is not installed, e.g. as a Hub Space; the
# tests check it against optimum_ro.metrics.nlu.nlu_scores (which uses seqeval).


def _ends(prev_tag, tag, prev_type, kind) -> bool:
    if prev_tag in ("B", "I") and tag in ("B", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != kind


def _starts(prev_tag, tag, prev_type, kind) -> bool:
    if tag == "B" or (prev_tag == "O" and tag == "I"):
        return True
    return tag not in ("O", ".") and prev_type != kind


def conlleval_entities(sentences) -> set:
    """``(type, start, end)`` of the entities in BIO tag sequences, as conlleval (and seqeval's default mode)
    read them: an ``I-X`` after ``O`` or after another type starts an entity."""
    tags = [tag for sentence in sentences for tag in [*sentence, "O"]]
    entities, prev_tag, prev_type, begin = set(), "O", "", 0
    for i, chunk in enumerate([*tags, "O"]):
        tag, kind = chunk[0], chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _ends(prev_tag, tag, prev_type, kind):
            entities.add((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, kind):
            begin = i
        prev_tag, prev_type = tag, kind
    return entities


def slot_f1(gold_slots, pred_slots) -> float:
    gold, pred = conlleval_entities(gold_slots), conlleval_entities(pred_slots)
    tp = len(gold & pred)
    precision, recall = (tp / len(pred) if pred else 0.0), (tp / len(gold) if gold else 0.0)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def nlu_scores(gold_intents, pred_intents, gold_slots, pred_slots) -> dict:
    n = len(gold_intents)
    if not (len(pred_intents) == len(gold_slots) == len(pred_slots) == n):
        raise ValueError("joint_nlu needs one prediction and one reference per utterance")
    if n == 0:
        raise ValueError("joint_nlu got no utterances")
    for i, (g, p) in enumerate(zip(gold_slots, pred_slots)):
        if len(g) != len(p):
            raise ValueError(f"utterance {i}: {len(g)} gold slot tags but {len(p)} predicted (one tag per word)")
    intent_ok = [g == p for g, p in zip(gold_intents, pred_intents)]
    semantic = sum(i and list(g) == list(p) for i, g, p in zip(intent_ok, gold_slots, pred_slots)) / n
    return {
        "intent_accuracy": sum(intent_ok) / n,
        "slot_f1": float(slot_f1([list(g) for g in gold_slots], [list(p) for p in pred_slots])),
        "semantic_accuracy": semantic,
        "semantic_error_rate": 1.0 - semantic,
    }


_DESCRIPTION = """intent_accuracy: share of utterances with the gold intent; slot_f1: seqeval micro entity F1 over
word-level BIO tags (default conlleval-compatible mode); semantic_accuracy: intent and every tag right;
semantic_error_rate = 1 - semantic_accuracy."""
_KWARGS = """predictions/references: one {"intent": str, "slots": [BIO tag per word]} per utterance."""
_FRAME = {"intent": datasets.Value("string"), "slots": datasets.Sequence(datasets.Value("string"))}


class JointNLU(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": _FRAME, "references": _FRAME}),
        )

    def _compute(self, predictions, references):
        return nlu_scores(
            [r["intent"] for r in references],
            [p["intent"] for p in predictions],
            [r["slots"] for r in references],
            [p["slots"] for p in predictions],
        )
