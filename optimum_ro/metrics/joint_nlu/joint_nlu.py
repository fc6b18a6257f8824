"""Joint intent classification + slot filling scores as an `evaluate` module.

Load offline from the package folder::

    import evaluate
    metric = evaluate.load("optimum_ro/metrics/joint_nlu")
    metric.compute(predictions=[{"intent": "aprindeLumina", "slots": ["O", "B-loc"]}],
                   references=[{"intent": "aprindeLumina", "slots": ["O", "B-loc"]}])
"""

import datasets
import evaluate

try:  # inside the optimum-ro package
    from optimum_ro.metrics.nlu import nlu_scores
except ImportError as err:  # pragma: no cover - the module needs the package for its math
    raise ImportError("The joint_nlu metric needs the optimum-ro package (pip install optimum-ro).") from err

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
