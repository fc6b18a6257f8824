"""DeepSparse as a whole-model peer of bench_model.py, in its own venv (it needs Python < 3.12).

Per model, two ONNX files are exported once: *dense* (the unpruned model) and *sparse* (every encoder linear
layer magnitude-pruned, unstructured, to the run's sparsity, zeros stored dense: DeepSparse finds the sparsity
in the weights). A long-lived peer process (``deepsparse_model_peer.py``) compiles an engine per (model, variant,
batch, threads) group, its output is checked against torch on the same weights, and the harness's round-robin
times it alongside the in-process methods. Nothing here stops a run: a peer that does not start, an engine
DeepSparse refuses (CPU whitelist, license) or a peer that dies is recorded in the result, and the other
methods go on.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import torch
from model_onnx import export_onnx
from model_peer import PeerError, PeerMethod, PeerProcess, PeerRefused
from torch import nn

PEER_SCRIPT = Path(__file__).resolve().parent / "deepsparse_model_peer.py"
VARIANTS = ("dense", "sparse")  # method names deepsparse_dense, deepsparse_sparse
OPSET = 14  # LayerNorm as primitive ops, as in the ONNX files of DeepSparse's own tools; 14: SDPA attention
COMPILE_TIMEOUT_S = 3600  # a BERT-base engine compiles in about a minute on an idle core; the machine may be busy
CALL_TIMEOUT_S = 600


def magnitude_prune(model: nn.Module, sparsity: float) -> float:
    """Zero the ``sparsity`` share of smallest-magnitude weights of every encoder linear layer (each layer on
    its own, unstructured), in place; returns the share of zeros over those layers' weights."""
    zeros = total = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if not (isinstance(module, nn.Linear) and ".encoder." in f".{name}"):
                continue
            w = module.weight
            k = int(round(sparsity * w.numel()))
            if k:
                threshold = w.abs().flatten().kthvalue(k).values
                w.masked_fill_(w.abs() <= threshold, 0.0)
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0


class DeepSparseRunner:
    """The DeepSparse side of one run; ``record`` is what goes into the result JSON."""

    def __init__(self, python: str, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record: dict = {"python": python, "available": False, "refused": [], "checks": [], "models": {}}
        self.peer = None
        self.torch_models: dict = {}  # (label, variant) -> torch model on the same weights (for the check)
        self.references: dict = {}  # (label, variant, batch) -> torch's last_hidden_state
        try:
            self.peer = PeerProcess([python, PEER_SCRIPT], log=self.workdir / "deepsparse_peer.log")
            self.record.update(self.peer.request("hello", timeout=600))
            self.record["available"] = True
        except (PeerError, PeerRefused) as err:
            self.fail(f"peer did not start: {err}")

    @property
    def alive(self) -> bool:
        return self.peer is not None

    def fail(self, message: str) -> None:
        """Stop using the peer for the rest of the run; the message goes into the result and the report."""
        print(f"  DeepSparse left out from here on: {message}", flush=True)
        self.record.setdefault("errors", []).append(message)
        if self.peer is not None:
            self.peer.kill()
            self.peer.close()
            self.peer = None

    def group_failed(self, label: str, batch: int, threads: int, err: Exception) -> None:
        """A peer call failed during a group's round-robin: a refusal is recorded, a dead peer left out."""
        if isinstance(err, PeerRefused):
            print(f"  DeepSparse failed in {label} threads={threads} batch={batch}: {err}", flush=True)
            case = {"preset": label, "variant": "timing", "batch": batch, "threads": threads}
            self.record["refused"].append({**case, "error": str(err)})
        else:
            self.fail(f"{label} threads={threads} batch={batch}: {err}")

    def prepare(self, label: str, base: nn.Module, sparsity: float, seq: int) -> None:
        """Export the dense and the magnitude-pruned model of ``label`` to ONNX (once per model)."""
        if not self.alive:
            return
        sparse = copy.deepcopy(base).eval()
        achieved = magnitude_prune(sparse, sparsity)
        self.record["models"][label] = {"sparse_share_of_zeros": achieved}
        for variant, model in zip(VARIANTS, (base, sparse)):
            self.torch_models[label, variant] = model
            export_onnx(model, seq, self._onnx(label, variant), opset=OPSET)

    def methods(self, label: str, batch: int, threads: int, ids: torch.Tensor, mask: torch.Tensor) -> dict:
        """Compile both variants for this group and check their output; the round-robin methods of those that
        compiled (``deepsparse_dense``, ``deepsparse_sparse``). Refusals are recorded, not raised."""
        out: dict = {}
        if not self.alive:
            return out
        inputs = self.workdir / "inputs.npz"
        np.savez(inputs, input_ids=ids.numpy(), attention_mask=mask.numpy())
        for variant in VARIANTS:
            key = f"{label}/{variant}/b{batch}/t{threads}"
            output = self.workdir / "output.npy"
            case = {"preset": label, "variant": variant, "batch": batch, "threads": threads}
            try:
                answer = self.peer.request(
                    "compile",
                    timeout=COMPILE_TIMEOUT_S,
                    key=key,
                    path=str(self._onnx(label, variant)),
                    batch=batch,
                    threads=threads,
                    inputs=str(inputs),
                    output=str(output),
                )
            except PeerRefused as err:
                print(f"  DeepSparse refused {key}: {err}", flush=True)
                self.record["refused"].append({**case, "error": str(err)})
                continue
            except PeerError as err:
                self.fail(str(err))
                return {}
            diff = float(np.abs(np.load(output) - self._reference(label, variant, batch, ids, mask)).max())
            self.record["checks"].append({**case, "compile_s": answer["compile_s"], "max_abs_diff": diff})
            out[f"deepsparse_{variant}"] = PeerMethod(self.peer, key, timeout=CALL_TIMEOUT_S)
        return out

    def release(self, methods: dict) -> None:
        """Free the engines of a finished group (a BERT-base engine holds its own copy of the weights)."""
        for method in methods.values():
            if self.alive:
                try:
                    self.peer.request("free", key=method.key, timeout=CALL_TIMEOUT_S)
                except PeerRefused:
                    pass
                except PeerError as err:
                    self.fail(str(err))

    def finish_model(self, label: str) -> None:
        for variant in VARIANTS:
            self.torch_models.pop((label, variant), None)
            self._onnx(label, variant).unlink(missing_ok=True)
        self.references = {k: v for k, v in self.references.items() if k[0] != label}

    def close(self) -> dict:
        if self.peer is not None:
            self.peer.close()
            self.peer = None
        self.record["engine"] = engine_banner(self.workdir / "deepsparse_peer.log")
        for scratch in ("inputs.npz", "output.npy"):
            (self.workdir / scratch).unlink(missing_ok=True)
        return self.record

    def _onnx(self, label: str, variant: str) -> Path:
        return self.workdir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.deepsparse-{variant}.onnx"

    def _reference(self, label, variant, batch, ids, mask) -> np.ndarray:
        if (label, variant, batch) not in self.references:
            with torch.inference_mode():
                hidden = self.torch_models[label, variant](input_ids=ids, attention_mask=mask).last_hidden_state
            self.references[label, variant, batch] = hidden.numpy()
        return self.references[label, variant, batch]


def engine_banner(log: Path) -> str:
    """DeepSparse's own line about itself from the peer's stderr, e.g. ``DeepSparse 1.8.0 COMMUNITY (system=avx2,
    binary=avx2)``; empty when it printed none."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if "DeepSparse" in line and "version:" in line:
            version = line.split("version:", 1)[1].split("|")[0].strip()
            system = line[line.find("(system=") :].strip() if "(system=" in line else ""
            return f"DeepSparse {version} {system}".strip()
    return ""
