"""Which layers a ``BlockPruningConfig`` prunes, and at what sparsity."""

from __future__ import annotations

import re

from torch import nn

from .config import BlockPruningConfig
from .criteria import check_divisible


def find_target_modules(model: nn.Module, config: BlockPruningConfig) -> dict[str, float]:
    """``{module_name: target_sparsity}`` for every ``nn.Linear`` the config prunes, in model order.

    Raises a clear ``ValueError`` when a target or override pattern matches no module, or when the block
    shape does not divide a targeted layer.
    """
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    for pattern in config.target_modules:
        if not any(re.search(pattern, name) for name in linears):
            raise ValueError(
                f"target_modules pattern {pattern!r} matches no nn.Linear module of {type(model).__name__}. "
                f"Linear modules are named like {sorted(linears)[:4]}; fix the pattern (re.search on these names)."
            )
    targets: dict[str, float] = {}
    for name, module in linears.items():
        if not any(re.search(p, name) for p in config.target_modules):
            continue
        if any(re.search(p, name) for p in config.exclude_modules):
            continue
        sparsity = next(
            (s for p, s in config.sparsity_overrides.items() if re.search(p, name)), config.target_sparsity
        )
        check_divisible(module.weight.shape, config.block_shape, name)
        targets[name] = sparsity
    if not targets:
        raise ValueError(
            f"No module left to prune in {type(model).__name__}: target_modules {config.target_modules} matched only "
            f"modules that exclude_modules {config.exclude_modules} keeps dense."
        )
    for pattern in config.sparsity_overrides:
        if not any(re.search(pattern, name) for name in targets):
            raise ValueError(
                f"sparsity_overrides pattern {pattern!r} matches no pruned module; pruned modules are named like "
                f"{list(targets)[:4]}."
            )
    return targets
