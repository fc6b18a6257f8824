"""Self-checks of a converted model folder, recorded in ``verification.json``.

    report = Verification("multilingual-e5-small")
    report.check("last_hidden_state max|diff| vs NumPy", 9e-7, tolerance=1e-4)
    report.raise_if_failed()          # VerificationError naming every failed check

The sentences are our own, English and Romanian, short and long, run as one padded batch so
that attention masks are exercised too.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .wheels import FetchError

logger = logging.getLogger(__name__)

SENTENCES = [
    "Please close the windows in the living room.",
    "How long does the train from Cluj to Brașov take on a Sunday afternoon?",
    "Închide ferestrele din sufragerie, te rog.",
    "Mâine dimineață vreau să plec devreme spre munte, așa că pune alarma la ora șase.",
    "Trimite un mesaj Mariei și spune-i că întârzii zece minute.",
    "The museum near the old town square opens at nine and stays open until late in the evening "
    "during the summer festival.",
]

# (English, Romanian translation) pairs on unrelated topics: each sentence must be closer
# to its translation than to the other pairs' sentences.
TRANSLATION_PAIRS = [
    ("Please close the windows in the living room.", "Închide ferestrele din sufragerie, te rog."),
    ("I love eating pizza on Fridays.", "Îmi place să mănânc pizza vinerea."),
    ("The train to Brașov leaves at eight in the morning.", "Trenul spre Brașov pleacă la opt dimineața."),
    ("My sister bought a new red bicycle.", "Sora mea și-a cumpărat o bicicletă roșie nouă."),
]

# English paraphrase pairs for the English-only models.
PARAPHRASE_PAIRS = [
    ("Please close the windows in the living room.", "Could you shut the living room windows?"),
    ("I love eating pizza on Fridays.", "On Fridays I really enjoy having pizza."),
    ("The train to Brasov leaves at eight in the morning.", "At 8 am the train departs for Brasov."),
    ("My sister bought a new red bicycle.", "A new red bike was purchased by my sister."),
]


class VerificationError(FetchError):
    """A converted folder failed one of its self-checks."""


@dataclass
class Verification:
    """Named checks with values and tolerances; ``notes`` hold informative values."""

    model: str
    checks: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def check(self, name: str, value: float, tolerance: float, at_least: bool = False) -> bool:
        value = float(value)
        ok = value >= tolerance if at_least else value <= tolerance
        self.checks.append(
            {"check": name, "value": value, "tolerance": tolerance, "kind": ">=" if at_least else "<=", "ok": ok}
        )
        logger.info(
            "[%s] %s: %.4g (%s %g) %s",
            self.model,
            name,
            value,
            ">=" if at_least else "<=",
            tolerance,
            "ok" if ok else "FAILED",
        )
        return ok

    def note(self, name: str, value) -> None:
        self.notes[name] = value
        logger.info("[%s] %s: %s", self.model, name, value)

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.checks if not c["ok"]]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failed

    def raise_if_failed(self) -> None:
        if self.failed:
            details = "; ".join(
                f"{c['check']} = {c['value']:.4g} (needs {c['kind']} {c['tolerance']:g})" for c in self.failed
            )
            raise VerificationError(
                f"{self.model}: {len(self.failed)} verification check(s) failed: "
                f"{details}. The converted folder was not kept."
            )

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "passed": self.passed,
            "checks": self.checks,
            "notes": self.notes,
            "sentences": SENTENCES,
        }


@contextmanager
def _hub_offline():
    """Set ``HF_HUB_OFFLINE=1`` for the duration of the block and restore the caller's value."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def load_offline(folder: str | os.PathLike, has_pooler: bool = True):
    """Load ``AutoTokenizer`` + ``AutoModel`` from ``folder`` with local files only, hub switched off.

    Raises :class:`VerificationError` when the load report shows any missing, unexpected or
    size-mismatched key, or when the tokenizer is not a fast one.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with _hub_offline():
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            kwargs = {} if has_pooler else {"add_pooling_layer": False}
            model, info = AutoModel.from_pretrained(folder, output_loading_info=True, local_files_only=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    problems = {
        k: sorted(map(str, info.get(k) or ()))
        for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
    }
    if any(problems.values()):
        raise VerificationError(
            f"loading {folder} with AutoModel reported { {k: v for k, v in problems.items() if v} }"
        )
    if not tokenizer.is_fast:
        raise VerificationError(f"{folder}: AutoTokenizer gave a slow tokenizer ({type(tokenizer).__name__})")
    return tokenizer, model.eval()


def run_model(tokenizer, model, texts: list[str]):
    """Token ids, attention mask and float64 last hidden state for one padded batch."""
    import torch

    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return batch["input_ids"].numpy(), batch["attention_mask"].numpy(), hidden.double().numpy()


def unpadded_ids(ids: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    return [row[m.astype(bool)].tolist() for row, m in zip(ids, mask)]


def pair_scores(embeddings: np.ndarray) -> dict:
    """Scores of rows ``[a0, b0, a1, b1, ...]`` where ``a_i`` and ``b_i`` mean the same thing.

    ``retrieval``: fraction of a_i whose nearest b is b_i and of b_i whose nearest a is a_i;
    ``margin``: mean cos(a_i, b_i) minus mean cos(a_i, b_j) over i != j; plus the extremes.
    """
    from .reference import cosine_matrix

    cos = cosine_matrix(embeddings)[0::2, 1::2]  # a_i (rows) against b_j (columns)
    n = len(cos)
    matched = np.diag(cos)
    crossed = cos[~np.eye(n, dtype=bool)]
    hits = (cos.argmax(axis=1) == np.arange(n)).sum() + (cos.argmax(axis=0) == np.arange(n)).sum()
    return {
        "retrieval": float(hits) / (2 * n),
        "margin": float(matched.mean() - crossed.mean()),
        "min_matched": float(matched.min()),
        "max_crossed": float(crossed.max()),
    }


def write_verification(report: Verification, folder: str | os.PathLike, extra: dict | None = None) -> Path:
    path = Path(folder) / "verification.json"
    data = report.to_dict()
    data.update(extra or {})
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
