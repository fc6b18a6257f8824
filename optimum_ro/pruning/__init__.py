"""Block pruning: a config, schedules, block scores and a `TrainerCallback` that prunes while training.

from optimum_ro.pruning import BlockPruner, BlockPruningConfig
pruner = BlockPruner(BlockPruningConfig(block_shape="16x1", target_sparsity=0.8, end_step=700))
trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[pruner])
trainer.train()
pruner.finalize(model)
"""

from .config import (
    CONFIG_NAME,
    CRITERIA,
    DEFAULT_EXCLUDE_MODULES,
    DEFAULT_TARGET_MODULES,
    SCHEDULES,
    BlockPruningConfig,
    format_block_shape,
    parse_block_shape,
)
from .pruner import STATE_NAME, BlockPruner, find_target_modules, format_sparsity_report, prune_model, sparsity_report
from .schedule import cubic_sparsity, is_pruning_step, linear_sparsity, scheduled_sparsity

__all__ = [
    "BlockPruningConfig",
    "BlockPruner",
    "prune_model",
    "sparsity_report",
    "format_sparsity_report",
    "find_target_modules",
    "parse_block_shape",
    "format_block_shape",
    "cubic_sparsity",
    "linear_sparsity",
    "scheduled_sparsity",
    "is_pruning_step",
    "CONFIG_NAME",
    "STATE_NAME",
    "CRITERIA",
    "SCHEDULES",
    "DEFAULT_TARGET_MODULES",
    "DEFAULT_EXCLUDE_MODULES",
]
