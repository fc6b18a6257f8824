"""Measured block sparsity of a model's linear layers, and the sparsity record a pruned model carries."""

from __future__ import annotations

from torch import nn

from .config import format_block_shape, parse_block_shape
from .criteria import check_divisible, zero_block_mask


def recorded_sparsity(model) -> dict | None:
    """``model.config.sparsity`` (written by ``BlockPruner.finalize``) when the model has one, else ``None``."""
    config = getattr(model, "config", None)
    recorded = getattr(config, "sparsity", None) if config is not None else None
    return recorded if isinstance(recorded, dict) else None


def sparsity_report(model: nn.Module, block_shape=None, module_names=None) -> dict:
    """Measured block sparsity (fraction of all-zero blocks) of ``nn.Linear`` weights.

        report = sparsity_report(model)            # block shape and layers from model.config.sparsity
        report["overall"], report["layers"]["bert.encoder.layer.0.intermediate.dense"]["sparsity"]

    Defaults: the block shape and layer names recorded in ``model.config.sparsity``, else ``1x1`` and every
    ``nn.Linear``. ``overall`` weighs layers by their parameter count.
    """
    recorded = recorded_sparsity(model) or {}
    shape = parse_block_shape(block_shape or recorded.get("block_shape") or (1, 1))
    modules = dict(model.named_modules())
    names = (
        list(module_names)
        if module_names is not None
        else list(recorded.get("layers") or [n for n, m in modules.items() if isinstance(m, nn.Linear)])
    )
    layers, zero_weights, total_weights = {}, 0.0, 0
    for name in names:
        weight = modules[name].weight
        check_divisible(weight.shape, shape, name)
        kept = zero_block_mask(weight, shape)
        block_sparsity = 1.0 - kept.float().mean().item()
        layers[name] = {
            "shape": list(weight.shape),
            "sparsity": round(block_sparsity, 6),
            "zeros": round((weight == 0).float().mean().item(), 6),
        }
        zero_weights += block_sparsity * weight.numel()
        total_weights += weight.numel()
    return {
        "block_shape": list(shape),
        "layers": layers,
        "overall": round(zero_weights / total_weights, 6) if total_weights else 0.0,
    }


def format_sparsity_report(report: dict) -> str:
    """A plain-text table of :func:`sparsity_report`'s result."""
    width = max([len(n) for n in report["layers"]] + [5])
    lines = [f"{'layer':<{width}}  {'shape':>11}  sparsity", "-" * (width + 23)]
    for name, row in report["layers"].items():
        lines.append(f"{name:<{width}}  {'x'.join(map(str, row['shape'])):>11}  {row['sparsity']:8.2%}")
    lines.append(
        f"{'overall (' + format_block_shape(report['block_shape']) + ' blocks)':<{width}}  {'':>11}  "
        f"{report['overall']:8.2%}"
    )
    return "\n".join(lines)
