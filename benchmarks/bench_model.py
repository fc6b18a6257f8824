"""Whole-model latency: a BERT encoder whose linear layers are block-sparse, run dense by torch and
sparse by our kernels (``sparsify_model``), in one interleaved run.

    python benchmarks/bench_model.py                          # BERT-base and BERT-Mini, 90%, seq 128
    python benchmarks/bench_model.py --presets bert-mini --sparsity 0.8 --batches 1 --threads 1
    python benchmarks/bench_model.py --ort --deepsparse-python .ds-venv/bin/python --student runs/real-students/X

The kernels' benchmark (bench_spmm.py) times one linear layer; here the same layers sit inside a model,
with everything that stays dense around them (attention scores and softmax, LayerNorm, embeddings, the
GELU of the dense peers, the per-call cost of each layer), so the speed-up is what a user of a pruned model gets.
Weights are random (latency does not depend on their values): every encoder linear layer keeps a random
(1 - sparsity) share of its blocks, 16x1 for the fp32/bf16 models and 1x4 for the int8 model, as the pruner
leaves them. Peers: torch dense fp32 on the same weights (zeros and all) and torch dynamic int8
(``quantize_dynamic``). Before timing, the sparse fp32 model's output is checked against torch's on the
same weights. Optional peers in the same round-robin: ONNX Runtime (``--ort``) on the same dense pruned model, and
DeepSparse (``--deepsparse-python``, its own venv, see model_deepsparse.py) on the unpruned model and on the model
magnitude-pruned to the same sparsity, unstructured. ``--student`` adds a real BERT folder (its architecture and
weights; pruned for the sparse methods as the presets are). Writes JSON to benchmarks/results and a Markdown
report (BENCHMARKS-model.md by default).
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import sys
import warnings
from pathlib import Path

import torch
from model_deepsparse import DeepSparseRunner
from model_onnx import export_onnx
from model_peer import PeerError, PeerRefused
from torch import nn

from optimum_ro.sparse import BlockSparseLinear, kernels, ops, sparsify_model

from spmm.methods import block_mask
from spmm.report import format_paired, machine_lines
from spmm.timing import cpu_info, paired_ratio, time_round_robin

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {  # layers, hidden, heads, intermediate
    "bert-base": (12, 768, 12, 3072),
    "bert-mini": (4, 256, 4, 1024),
    "tiny": (2, 64, 2, 128),  # for tests
}
FP32_TOLERANCE = 1e-3  # max |difference| of last_hidden_state, sparse fp32 vs torch dense (LayerNorm'd: O(1))
MAX_TOKEN_ID = 8000  # input ids are drawn from [5, min(this, vocab size))


def build_model(preset: str, seed: int = 0):
    from transformers import BertConfig, BertModel

    layers, hidden, heads, inter = PRESETS[preset]
    config = BertConfig(
        vocab_size=8000,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    return BertModel(config, add_pooling_layer=False).eval()


def load_student(path: str, seq: int):
    """The BertModel (encoder, no head) of a saved BERT folder; ValueError with the reason when it cannot be
    benchmarked here."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{path}: no config.json there (pass a folder written by save_pretrained)")
    from transformers import AutoConfig, BertModel
    from transformers.utils import logging as hf_logging

    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "bert":
        raise ValueError(f"{path}: model_type {config.model_type!r}, not 'bert' (pass the dense BERT folder)")
    if config.max_position_embeddings < seq:
        raise ValueError(f"{path}: {config.max_position_embeddings} positions < --seq {seq}")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the task head's weights are not used: no warning about them
    try:
        return BertModel.from_pretrained(folder, add_pooling_layer=False).float().eval()
    finally:
        hf_logging.set_verbosity(verbosity)


def random_ids(model: nn.Module, batch: int, seq: int, seed: int) -> torch.Tensor:
    high = min(MAX_TOKEN_ID, model.config.vocab_size)
    return torch.randint(5, high, (batch, seq), generator=torch.Generator().manual_seed(seed))


def encoder_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name, layer) of every linear layer of the model's encoder (the layers the benchmark prunes)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and ".encoder." in f".{name}"]


def prune_randomly(model: nn.Module, block: tuple[int, int], sparsity: float, gen: torch.Generator) -> int:
    """Zero a random ``sparsity`` share of the ``block`` blocks of every encoder linear layer, in place."""
    layers = encoder_linears(model)
    with torch.no_grad():
        for _, module in layers:
            n, k = module.weight.shape
            module.weight.mul_(block_mask(n, k, block, sparsity, gen))
    return len(layers)


class NoLinear(nn.Module):
    """Stands in for a linear layer to time the rest of the model: zeros of the output's shape."""

    def __init__(self, out_features: int):
        super().__init__()
        self.out_features = out_features

    def forward(self, x):
        return x.new_zeros(*x.shape[:-1], self.out_features)


def without_linears(model: nn.Module) -> nn.Module:
    """The model with every encoder linear layer replaced by ``NoLinear``: what no kernel can speed up."""
    for name, module in encoder_linears(model):
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, NoLinear(module.out_features))
    return model


class ZeroKernel(BlockSparseLinear):
    """Stands in for a sparse layer to time the rest of a sparse model: zeros of the output's shape, or the residual
    it is given (a fused kernel adds that in its epilogue, so the add is the kernel's work, not the rest's). A
    LayerNorm it is given is the rest's work: it runs on that output through the same C++ pass the kernel call
    runs (``ops.layer_norm``)."""

    def forward(self, x, residual=None, layer_norm=None):
        y = residual if residual is not None else x.new_zeros(*x.shape[:-1], self.out_features)
        return y if layer_norm is None else ops.layer_norm(y, layer_norm)


def zero_kernels(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The sparse model with every ``BlockSparseLinear`` (also the stacked Q/K/V weight the SparseBert classes build
    on their first call, hence one call on ``example`` first) returning ``ZeroKernel``'s output."""
    with torch.inference_mode():
        model(input_ids=example)
    for module in model.modules():
        stacked = module.__dict__.get("_qkv")
        for layer in (module,) if stacked is None else (module, stacked[2]):
            if isinstance(layer, BlockSparseLinear):
                layer.__class__ = ZeroKernel
    return model


def onnx_sessions(model: nn.Module, seq: int, tmpdir: Path) -> dict:
    """ONNX files of the dense model (fp32, and ``quantize_dynamic`` int8) for ONNX Runtime; sessions per thread
    count are made in ``run``. Empty when onnx/onnxruntime are missing or the export fails."""
    try:
        import onnxruntime  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return {}

    fp32 = export_onnx(model, seq, tmpdir / "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = tmpdir / "model.int8.onnx"
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return {"ort_fp32": fp32, "ort_int8": int8}


def ort_method(path: Path, threads: int, ids: torch.Tensor, mask: torch.Tensor):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle ORT threads spin for a while after each run by default, taking the cores the next method needs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    return lambda: session.run(None, feeds)


def build_methods(
    base: nn.Module, sparsity: float, gen: torch.Generator, classes: bool = True, compile_: bool = False
):
    m16 = copy.deepcopy(base)
    pruned = prune_randomly(m16, (16, 1), sparsity, gen)
    m4 = copy.deepcopy(base)
    prune_randomly(m4, (1, 4), sparsity, gen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(m16), {nn.Linear}, dtype=torch.qint8)
    models = {
        "torch_fp32": m16,
        "torch_int8": torch_int8,
        "ours_fp32": sparsify_model(copy.deepcopy(m16), (16, 1), torch.float32, min_sparsity=0.5),
        "ours_bf16": sparsify_model(copy.deepcopy(m16), (16, 1), torch.bfloat16, min_sparsity=0.5),
        "ours_int8": sparsify_model(copy.deepcopy(m4), (1, 4), torch.int8, min_sparsity=0.5),
        "rest": without_linears(copy.deepcopy(m16)),
    }
    example = random_ids(base, 1, 16, seed=3)
    models["rest_ours"] = zero_kernels(copy.deepcopy(models["ours_fp32"]), example)
    if classes:
        from optimum_ro.models import to_sparse_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models["classes_fp32"] = to_sparse_model(m16, torch.float32, (16, 1), min_sparsity=0.5)
            models["classes_int8"] = to_sparse_model(m4, torch.int8, (1, 4), min_sparsity=0.5)
        models["rest_classes"] = zero_kernels(copy.deepcopy(models["classes_fp32"]), example)
        if compile_:
            models["classes_fp32_compiled"] = torch.compile(copy.deepcopy(models["classes_fp32"]), dynamic=False)
    facts = {
        "encoder_linear_layers": pruned,
        "sparse_layers": {k: sum(isinstance(x, BlockSparseLinear) for x in m.modules()) for k, m in models.items()},
        "fused_gelu_layers": {k: len(getattr(m, "fused_gelu_modules", [])) for k, m in models.items()},
        "parameters": sum(p.numel() for p in base.parameters()),
    }
    return models, facts


def check_fp32(models: dict, batch: int, seq: int, name: str = "ours_fp32") -> float:
    """Max |difference| between a sparse fp32 model and torch on the same weights; raises above tolerance."""
    ids = random_ids(models["torch_fp32"], batch, seq, seed=1)
    with torch.inference_mode():
        ref = models["torch_fp32"](input_ids=ids).last_hidden_state
        ours = models[name](input_ids=ids).last_hidden_state
    diff = (ref - ours).abs().max().item()
    if not diff <= FP32_TOLERANCE:
        raise RuntimeError(f"{name} differs from torch by {diff:.3g} (> {FP32_TOLERANCE}): not timing it")
    return diff


def bench_models(args, result: dict):
    """(label, BertModel) of every preset, then of every ``--student`` folder that can be loaded; a folder that
    cannot is skipped with one line saying why (and listed in ``result["skipped"]``)."""
    for preset in args.presets:
        yield preset, build_model(preset)
    for path in args.student:
        try:
            model = load_student(path, args.seq)
        except (ValueError, OSError) as err:
            print(f"student skipped: {err}", flush=True)
            result.setdefault("skipped", []).append({"student": path, "reason": str(err)})
            continue
        yield Path(path).resolve().name, model


def run_model(args, result: dict, label: str, base: nn.Module, tmpdir: Path, deepsparse) -> None:
    """Every (threads, batch) group of one model, each timed round-robin over all its methods."""
    models, facts = build_methods(
        base, args.sparsity, torch.Generator().manual_seed(0), not args.no_classes, args.compile
    )
    facts["fp32_max_abs_diff"] = check_fp32(models, 2, args.seq)
    if "classes_fp32" in models:
        facts["classes_fp32_max_abs_diff"] = check_fp32(models, 2, args.seq, "classes_fp32")
    onnx_files = onnx_sessions(models["torch_fp32"], args.seq, tmpdir) if args.ort else {}
    if deepsparse is not None:
        deepsparse.prepare(label, base, args.sparsity, args.seq)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            ids = random_ids(base, batch, args.seq, seed=2)
            mask = torch.ones_like(ids)
            methods = {name: (lambda m=m: m(input_ids=ids, attention_mask=mask)) for name, m in models.items()}
            for name, path in onnx_files.items():
                methods[name] = ort_method(path, threads, ids, mask)
            peer_methods = deepsparse.methods(label, batch, threads, ids, mask) if deepsparse is not None else {}
            try:
                with torch.inference_mode():
                    timings = time_round_robin({**methods, **peer_methods}, args.repeats)
            except (PeerError, PeerRefused) as err:  # the peer failed mid-group: time the group again without it
                deepsparse.group_failed(label, batch, threads, err)
                deepsparse.release(peer_methods)
                peer_methods = {}
                with torch.inference_mode():
                    timings = time_round_robin(methods, args.repeats)
            if deepsparse is not None:
                deepsparse.release(peer_methods)
            result["groups"].append(
                {"preset": label, "threads": threads, "batch": batch, "timings": timings, "facts": facts}
            )
            line = f"{label} threads={threads} batch={batch}: " + ", ".join(
                f"{name} {timings[name]['min_ms']:.1f} ms"
                for name in ("torch_fp32", "ours_fp32", "classes_fp32", "deepsparse_dense", "deepsparse_sparse")
                if name in timings
            )
            print(line, flush=True)
    if deepsparse is not None:
        deepsparse.finish_model(label)


def run(args) -> dict:
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_info(),
        "isa": kernels.current_isa(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "load_average_start": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "sparsity": args.sparsity,
        "seq": args.seq,
        "repeats": args.repeats,
        "groups": [],
    }
    import transformers

    result["versions"]["transformers"] = transformers.__version__
    tmpdir = Path(args.out_dir) / ".onnx_tmp"
    deepsparse = DeepSparseRunner(args.deepsparse_python, tmpdir) if args.deepsparse_python else None
    old_threads = torch.get_num_threads()
    try:
        for label, base in bench_models(args, result):
            run_model(args, result, label, base, tmpdir, deepsparse)
    finally:
        torch.set_num_threads(old_threads)
        if deepsparse is not None:
            result["deepsparse"] = deepsparse.close()
            if "version" in result["deepsparse"]:
                result["versions"]["deepsparse"] = result["deepsparse"]["version"]
    result["load_average_end"] = os.getloadavg()
    try:
        import onnxruntime

        result["versions"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return result


def summarize(result: dict) -> list[dict]:
    rows = []
    for g in result["groups"]:
        t = g["timings"]
        row = {k: g[k] for k in ("preset", "threads", "batch")}
        for name in t:
            row[name] = t[name]["min_ms"]
        row["x_fp32"] = t["torch_fp32"]["min_ms"] / t["ours_fp32"]["min_ms"]
        row["x_bf16"] = t["torch_fp32"]["min_ms"] / t["ours_bf16"]["min_ms"]
        row["x_int8"] = t["torch_int8"]["min_ms"] / t["ours_int8"]["min_ms"]
        row["x_fp32_paired"] = paired_ratio(t["torch_fp32"], t["ours_fp32"])
        row["x_int8_paired"] = paired_ratio(t["torch_int8"], t["ours_int8"])
        row["x_ceiling"] = t["torch_fp32"]["min_ms"] / t["rest"]["min_ms"]
        row["linear_share_ours_fp32"] = 1 - t["rest"]["min_ms"] / t["ours_fp32"]["min_ms"]
        rows.append(row)
    return rows


EXTRA_COLUMNS = {  # method -> column title, in table order; a column shows only when the run has it
    "torch_fp32": "torch fp32",
    "ort_fp32": "ORT fp32",
    "ort_int8": "ORT int8",
    "ours_fp32": "ours fp32 (sparsify_model)",
    "classes_fp32": "SparseBert fp32",
    "classes_int8": "SparseBert int8",
    "classes_fp32_compiled": "SparseBert fp32 torch.compile",
    "rest": "rest (dense model)",
    "rest_ours": "rest (sparsify_model)",
    "rest_classes": "rest (SparseBert)",
    "deepsparse_dense": "DeepSparse dense",
    "deepsparse_sparse": "DeepSparse {pct}%",
}


def peer_table(result: dict) -> list[str]:
    """The second table: ONNX Runtime, the SparseBert classes (fused Q/K/V, residual in the kernel), torch.compile,
    the three measures of the rest and DeepSparse, as min / median ms; empty for runs without them."""
    peers = ("classes_fp32", "ort_fp32", "deepsparse_dense", "deepsparse_sparse")
    groups = [g for g in result["groups"] if any(p in g["timings"] for p in peers)]
    if not groups:
        return []
    names = [n for n in EXTRA_COLUMNS if any(n in g["timings"] for g in groups)]
    pct = round(100 * result["sparsity"])
    titles = [EXTRA_COLUMNS[n].format(pct=pct) for n in names]
    ds_ratio = "deepsparse" in result
    ds_title = f" ×DeepSparse {pct}% (SparseBert fp32 / int8) |" if ds_ratio else ""
    out = [
        "",
        "## The SparseBert classes, peers and the rest",
        "",
        "Same run, same round-robin (every method below was in each round), **min / median** ms of the warm call. "
        "*SparseBert* = `to_sparse_model` (the classes a saved sparse checkpoint loads as): Q, K and V as one "
        "sparse op, the residual added in the output layers' kernel epilogue, attention through SDPA, GELU fused. "
        "*rest (dense model)* is the rest as the table above measures it (GELU pass included); *rest "
        "(sparsify_model)* / *rest (SparseBert)*: those sparse models with every sparse kernel returning zeros "
        "(or the residual it fuses), i.e. everything but the sparse kernels. ORT = ONNX Runtime "
        f"{result['versions'].get('onnxruntime', '')} on the dense pruned model (fp32; int8 = `quantize_dynamic`, "
        "MatMulInteger), intra-op threads = thr. The machine was shared with other jobs (load average above): "
        "medians move with them, minima much less.",
        *deepsparse_lines(result),
        "",
        "| model | thr | batch | " + " | ".join(titles) + " | ×ORT fp32 (SparseBert fp32) |" + ds_title,
        "|---|---|---|" + "---|" * (len(names) + 1 + ds_ratio),
    ]
    for g in groups:
        t = g["timings"]
        cells = [f"{t[n]['min_ms']:.3g} / {t[n]['median_ms']:.3g}" if n in t else "–" for n in names]
        ratio = (
            t["ort_fp32"]["min_ms"] / t["classes_fp32"]["min_ms"] if {"ort_fp32", "classes_fp32"} <= set(t) else None
        )
        row = f"| {g['preset']} | {g['threads']} | {g['batch']} | " + " | ".join(cells) + f" | {_fmt(ratio)} |"
        if ds_ratio:
            ds = t.get("deepsparse_sparse", {}).get("min_ms")
            fp32, int8 = (ds / t[n]["min_ms"] if ds and n in t else None for n in ("classes_fp32", "classes_int8"))
            row += f" {_fmt(fp32)} / {_fmt(int8)} |"
        out.append(row)
    return out


def _group(result: dict, preset: str, threads: int, batch: int) -> dict | None:
    for g in result["groups"]:
        if (g["preset"], g["threads"], g["batch"]) == (preset, threads, batch):
            return g["timings"]
    return None


def _min(t: dict, name: str) -> float | None:
    return t[name]["min_ms"] if name in t else None


def targets_section(result: dict) -> list[str]:
    """The runtime's targets (2 threads, sequence 128, batch 1: BERT-base ≥ 2x DeepSparse at the same sparsity
    and ≥ 8x ONNX Runtime fp32 dense, BERT-Mini ≥ 1.5x DeepSparse, the rest of the SparseBert model ≤ 40% of the
    dense model's, batch 8 no worse than batch 1), each met or missed with what stands in the way: the time the
    SparseBert model spends outside its sparse kernels (its rest) against the time the target allows."""
    pct = round(100 * result["sparsity"])
    rows = []

    def ratio_target(preset, peer, peer_title, goal):
        t = _group(result, preset, 2, 1)
        if not t or peer not in t or "classes_fp32" not in t:
            return
        best = min(_min(t, n) for n in ("classes_fp32", "classes_int8") if n in t)
        got = _min(t, peer) / best
        allowed, rest = _min(t, peer) / goal, _min(t, "rest_classes")
        why = ""
        if got < goal and rest is not None:
            why = (
                f"the target allows {allowed:.3g} ms; the SparseBert model spends {rest:.3g} ms outside its sparse "
                f"kernels and {best - rest:.3g} ms in them"
            )
        rows.append(
            (f"{preset}: ≥ {goal}x {peer_title}", f"{got:.2f}x (best of SparseBert fp32 / int8)", got >= goal, why)
        )

    ratio_target("bert-base", "deepsparse_sparse", f"DeepSparse {pct}%", 2.0)
    ratio_target("bert-base", "ort_fp32", "ONNX Runtime fp32", 8.0)
    ratio_target("bert-mini", "deepsparse_sparse", f"DeepSparse {pct}%", 1.5)
    t = _group(result, "bert-base", 2, 1)
    if t and {"rest", "rest_classes"} <= set(t):
        share = _min(t, "rest_classes") / _min(t, "rest")
        rows.append(
            (
                "bert-base: the rest ≤ 40% of the dense model's",
                f"{_min(t, 'rest_classes'):.3g} ms of {_min(t, 'rest'):.3g} ms ({100 * share:.0f}%)",
                share <= 0.4,
                ""
                if share <= 0.4
                else "attention (SDPA: the score and value products, 2 x 12 x 128² x 64 "
                "multiply-adds per layer) is most of what is left, and no sparse kernel touches it",
            )
        )
    for preset in ("bert-base", "bert-mini"):
        one, eight = _group(result, preset, 2, 1), _group(result, preset, 2, 8)
        if one and eight and {"deepsparse_sparse", "classes_fp32"} <= set(one) & set(eight):
            r1 = _min(one, "deepsparse_sparse") / _min(one, "classes_fp32")
            r8 = _min(eight, "deepsparse_sparse") / _min(eight, "classes_fp32")
            rows.append(
                (
                    f"{preset}: batch 8 no worse than batch 1 (×DeepSparse, fp32)",
                    f"{r8:.2f}x at batch 8, {r1:.2f}x at batch 1",
                    r8 >= 0.95 * r1,
                    "",
                )
            )
    if not rows:
        return []
    out = ["", f"## Targets (2 threads, sequence {result['seq']}, batch 1, kernel ISA {result['isa']})", ""]
    out += ["| target | measured | status | what stands in the way |", "|---|---|---|---|"]
    out += [f"| {n} | {m} | {'met' if ok else 'missed'} | {why or '–'} |" for n, m, ok, why in rows]
    return out


def deepsparse_lines(result: dict) -> list[str]:
    """What the DeepSparse columns are, which DeepSparse ran them, and every case it refused or failed."""
    ds = result.get("deepsparse")
    if ds is None:
        return []
    pct = round(100 * result["sparsity"])
    engine = ds.get("engine") or f"DeepSparse {ds.get('version', '?')}"
    out = [
        "",
        f"*DeepSparse dense* / *DeepSparse {pct}%*: {engine} (Python {ds.get('python_version', '?')}, its own "
        "venv and process; `compile_model(onnx, batch_size=batch, num_cores=thr)`) on the model without pruning / "
        f"the model with every encoder linear layer magnitude-pruned to {pct}%, unstructured (DeepSparse's kind "
        "of sparsity; zeros stored in the dense ONNX weights), ONNX fp32. It is one more method of the same "
        "round-robin: each round asks the DeepSparse process for its two calls in a row, timed there (the pipe "
        "is not in the times). *×DeepSparse* = DeepSparse's time / SparseBert's (fp32 / int8): above 1, ours "
        "is faster.",
    ]
    if not ds.get("available"):
        out.append(f"DeepSparse did not run: {'; '.join(ds.get('errors', [])) or 'no peer'}.")
    elif ds.get("errors"):
        out.append(f"DeepSparse was left out after: {'; '.join(ds['errors'])}.")
    for r in ds.get("refused", []):
        out.append(
            f"DeepSparse refused {r['preset']} {r['variant']} thr {r['threads']} batch {r['batch']}: {r['error']}."
        )
    return out


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def overload_line(result: dict) -> list[str]:
    """A warning when the machine ran more jobs than it has cores: every figure then carries other jobs' time."""
    cores = result.get("cpu_count")
    load = max(result["load_average_start"][0], result["load_average_end"][0])
    if not cores or load <= cores:
        return []
    return [
        f"- **Overloaded machine**: load average up to {load:.1f} on {cores} cores during this run, so every method "
        "waited for other jobs' time slices (2-thread runs most: one descheduled thread stalls the other). Minima "
        "are upper bounds of the quiet-machine times and ratios are rough; re-run on a quiet machine to compare."
    ]


def markdown(result: dict, json_name: str) -> str:
    pct = round(100 * result["sparsity"])
    out = [
        "# Whole-model benchmark",
        "",
        f"Generated by `benchmarks/bench_model.py` from `benchmarks/results/{json_name}` (one run; every "
        f"method of a (model, threads, batch) group timed round-robin, each called twice in a row per round, "
        f"{result['repeats']} rounds; the table shows the **min over rounds of the second (warm) call** in ms "
        f"per forward, sequence {result['seq']}; *paired* = median (min–max) over rounds of torch's time / ours "
        "in the same round).",
        "",
        *machine_lines(result),
        *overload_line(result),
        f"- models: BERT encoders with random weights (latency does not depend on them); every encoder linear "
        f"layer keeps a random {100 - pct}% of its blocks ({pct}% sparsity): 16x1 for torch fp32/int8 and ours "
        "fp32/bf16, 1x4 for ours int8. torch runs them dense (zeros included), torch int8 is `quantize_dynamic`; "
        "ours is `sparsify_model(model, block, dtype)` (every encoder linear layer a `BlockSparseLinear`, the "
        "intermediate layers' GELU fused into their kernel). Attention scores, softmax, LayerNorm and embeddings "
        "stay dense torch in all of them, and GELU in torch's.",
        "- *rest*: the same model with every encoder linear layer replaced by zeros of its output's shape and "
        "GELU left in place, i.e. what no linear kernel can speed up (less the GELU ours "
        "fuses); *ceiling ×* = torch fp32 / rest, the whole-model speed-up infinitely "
        "fast linear layers would give; *linears' share* = 1 − rest / ours fp32, the part of our fp32 model's "
        "time still in its (sparse) linear layers.",
        "",
        "| model | thr | batch | torch fp32 | torch int8 | ours fp32 | ours bf16 | ours int8 | ×fp32 | ×fp32 paired "
        "| ×bf16 | ×int8 (vs torch int8) | ×int8 paired | rest | ceiling × | linears' share (ours fp32) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    for r in summarize(result):
        out.append(
            f"| {r['preset']} | {r['threads']} | {r['batch']} | {r['torch_fp32']:.3g} | {r['torch_int8']:.3g} | "
            f"{r['ours_fp32']:.3g} | {r['ours_bf16']:.3g} | {r['ours_int8']:.3g} | {r['x_fp32']:.1f} | "
            f"{format_paired(r['x_fp32_paired'])} | {r['x_bf16']:.1f} | {r['x_int8']:.1f} | "
            f"{format_paired(r['x_int8_paired'])} | {r['rest']:.3g} | {r['x_ceiling']:.1f} | "
            f"{100 * r['linear_share_ours_fp32']:.0f}% |"
        )
    out += peer_table(result)
    out += targets_section(result)
    checks = {g["preset"]: g["facts"] for g in result["groups"]}
    out += [
        "",
        "How to read it: a whole model gains less than its linear layers do (BENCHMARKS.md), because the "
        "*rest* stays: attention scores and softmax, LayerNorm, embeddings, and the Python of every module (and "
        "the GELU pass of torch's models; ours runs GELU in the intermediate layers' kernel). "
        "The smaller the model, the larger that share (BERT-Mini's 256-wide layers leave little work per call). "
        "The SparseBert classes (second table) already run Q/K/V as one sparse op and the residual in the output "
        "layers' kernels; what remains of the rest is mostly attention (SDPA), LayerNorm, embeddings and the "
        "Python of each module (see the rest columns).",
    ]
    out += skipped_lines(result)
    out += [
        "",
        "Checks before timing: "
        + "; ".join(
            f"{p}: {f['sparse_layers']['ours_fp32']} of {f['encoder_linear_layers']} linear layers sparse "
            f"({f.get('fused_gelu_layers', {}).get('ours_fp32', 0)} with their GELU fused), sparse fp32 output within "
            f"{f['fp32_max_abs_diff']:.2g} of torch's"
            for p, f in checks.items()
        )
        + "."
        + deepsparse_check(result),
        "",
    ]
    return "\n".join(out)


def deepsparse_check(result: dict) -> str:
    checks = result.get("deepsparse", {}).get("checks", [])
    if not checks:
        return ""
    worst: dict = {}
    for c in checks:
        key = (c["preset"], c["variant"])
        worst[key] = max(worst.get(key, 0.0), c["max_abs_diff"])
    shares = result["deepsparse"].get("models", {})
    return (
        " DeepSparse's output against torch's on the same weights (max |difference| over its engines): "
        + "; ".join(
            f"{p} {v}"
            + (f" ({100 * shares[p]['sparse_share_of_zeros']:.1f}% zeros)" if v == "sparse" and p in shares else "")
            + f" {d:.2g}"
            for (p, v), d in worst.items()
        )
        + "."
    )


def skipped_lines(result: dict) -> list[str]:
    return (
        ["", *(f"Student skipped: {s['reason']}" for s in result.get("skipped", []))] if result.get("skipped") else []
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["bert-base", "bert-mini"])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batches", "--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--markdown", default=str(ROOT / "BENCHMARKS-model.md"))
    ap.add_argument("--from-json", help="no run: render the report of a saved result JSON to --markdown")
    ap.add_argument("--no-classes", action="store_true", help="leave out the SparseBert classes (to_sparse_model)")
    ap.add_argument("--compile", action="store_true", help="add torch.compile of the SparseBert fp32 model")
    ap.add_argument("--ort", action="store_true", help="add ONNX Runtime fp32 and dynamic int8 on the dense model")
    ap.add_argument(
        "--deepsparse-python",
        default=os.environ.get("OPTIMUM_RO_DEEPSPARSE_PYTHON"),
        help="Python of a venv with deepsparse==1.8.0 (Python<3.12, numpy<2, onnx<1.15, see "
        "benchmarks/deepsparse_model_peer.py): adds DeepSparse dense and magnitude-pruned",
    )
    ap.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="FOLDER",
        help="also a real BERT folder (config.json + weights, e.g. runs/real-students/...); repeatable; "
        "skipped with a message when it cannot be loaded",
    )
    args = ap.parse_args(argv)
    if args.from_json:
        path = Path(args.from_json)
        Path(args.markdown).write_text(markdown(json.loads(path.read_text()), path.name))
        print(f"wrote {args.markdown}")
        return 0
    if not 0.0 <= args.sparsity < 1.0:
        ap.error(f"--sparsity must be in [0, 1); got {args.sparsity}")
    result = run(args)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
    json_path = out_dir / f"model-{result['isa']}-{stamp}.json"
    json_path.write_text(json.dumps(result, indent=1))
    Path(args.markdown).write_text(markdown(result, json_path.name))
    print(f"wrote {json_path} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
