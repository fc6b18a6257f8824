"""A BERT encoder exported to ONNX for the whole-model peers (ONNX Runtime, DeepSparse): inputs ``input_ids`` and
``attention_mask`` (int64, batch axis dynamic, sequence fixed), output ``last_hidden_state``."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


class _LastHiddenState(nn.Module):  # torch.onnx.export of a transformers-5 BERT needs keyword inputs
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_onnx(model: nn.Module, seq: int, path: Path, opset: int = 17) -> Path:
    """Write ``model`` (a BertModel, fp32) to ``path`` as ONNX with the TorchScript exporter; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones(1, seq, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model).eval(),
            (ids, torch.ones_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return path
