"""`BlockPruner`: block pruning as a `transformers.TrainerCallback`, plus one-shot `prune_model`.

    pruner = BlockPruner(BlockPruningConfig(block_shape="16x1", target_sparsity=0.8, end_step=700))
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[pruner]).train()   # or a DistillationTrainer
    pruner.finalize(model); model.save_pretrained("pruned")                          # config.sparsity recorded

Hooks used (standard callback events only, so any `Trainer` subclass works):
``on_train_begin`` binds the model (and restores the pruner state when resuming), ``on_step_begin`` recomputes
the masks when the schedule says so, ``on_pre_optimizer_step`` accumulates gradient-based scores (the gradients
are complete there: accumulated, synchronised across processes and clipped), ``on_optimizer_step`` re-applies
the masks so pruned weights stay exactly zero, ``on_save`` writes ``block_pruner.safetensors`` (masks, scores,
step) into the checkpoint folder. Why a file and not ``ExportableState``: that state goes into
``trainer_state.json`` (JSON, no tensors), and restoring it builds a *new* callback object, so the ``pruner``
the user holds would no longer be the one that trained.
"""

from __future__ import annotations

import json
import logging
import os
import warnings

import torch
from torch import nn
from transformers import TrainerCallback

from .config import BlockPruningConfig, format_block_shape, parse_block_shape
from .criteria import (
    apply_block_mask,
    magnitude_scores,
    movement_update,
    select_blocks,
    snip_momentum_update,
    zero_block_mask,
)
from .report import format_sparsity_report, recorded_sparsity, sparsity_report
from .schedule import is_pruning_step, scheduled_sparsity
from .targets import find_target_modules

logger = logging.getLogger(__name__)

STATE_NAME = "block_pruner.safetensors"
DEFAULT_END_FRACTION = 0.7  # end_step=None -> 70% of max_steps


class BlockPruner(TrainerCallback):
    """Prunes ``nn.Linear`` weights in constant blocks during training (see the module docstring).

        pruner = BlockPruner(BlockPruningConfig(block_shape="1x4", target_sparsity=0.9, end_step=1000))
        trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[pruner]); trainer.train()
        pruner.finalize(model); print(format_sparsity_report(pruner.sparsity_report()))

    Args:
        config: a :class:`BlockPruningConfig` (default: ``BlockPruningConfig()``).
        model: bind a model now (checks patterns and shapes early); otherwise the Trainer's model is bound at
            ``on_train_begin``.

    Resuming: ``trainer.train(resume_from_checkpoint=...)`` restores masks, scores and step from the checkpoint
    folder under ``args.output_dir``; for a checkpoint elsewhere call ``pruner.load_state(checkpoint_dir)`` first.
    Without a Trainer, call ``update_masks(step)`` before the forward pass, ``accumulate_scores()`` after the
    backward pass and ``apply_masks()`` after ``optimizer.step()``.
    """

    def __init__(self, config: BlockPruningConfig | None = None, model: nn.Module | None = None):
        self.config = config if config is not None else BlockPruningConfig()
        if not isinstance(self.config, BlockPruningConfig):
            raise TypeError(f"config must be a BlockPruningConfig, got {type(self.config).__name__}.")
        self.model = None
        self.targets: dict[str, float] = {}
        self.masks: dict[str, torch.Tensor] = {}
        self.scores: dict[str, torch.Tensor] = {}
        self.score_updates = 0
        self.step = -1  # last step at which masks were recomputed
        self.end_step = self.config.end_step
        self.finalized = False
        self._loaded_step = None
        self._state_loaded = False
        if model is not None:
            self.bind(model)

    # ---- binding -------------------------------------------------------------------------------
    @property
    def uses_gradients(self) -> bool:
        return self.config.criterion in ("movement", "snip_momentum")

    def bind(self, model: nn.Module) -> "BlockPruner":
        """Resolve the target modules of ``model`` and start with every block kept (or with the blocks already
        zero, when ``model.config.sparsity`` records an earlier pruning with the same block shape)."""
        if self.model is model:
            return self
        if self.model is not None:
            if any(m is self.model for m in model.modules()):  # the Trainer wraps the bound model (e.g. a student)
                return self
            raise ValueError("This BlockPruner is bound to another model; create one BlockPruner per model.")
        recorded = recorded_sparsity(model)
        if recorded is not None and recorded.get("block_shape") is not None:
            previous = parse_block_shape(recorded["block_shape"])
            if previous != self.config.block_shape:
                raise ValueError(
                    f"The model is already pruned with {format_block_shape(previous)} blocks (model.config.sparsity) "
                    f"but this config asks for {format_block_shape(self.config.block_shape)} blocks: blocks of "
                    f"another shape would break the earlier structure. Use block_shape="
                    f"'{format_block_shape(previous)}', or start from the dense model."
                )
        targets = find_target_modules(model, self.config)
        modules = dict(model.named_modules())
        if self._state_loaded and set(self.masks) == set(targets):  # load_state() ran before the model came
            self.targets = targets
            self.masks = {n: m.to(modules[n].weight.device) for n, m in self.masks.items()}
            self.scores = {n: s.to(modules[n].weight.device) for n, s in self.scores.items()}
            self.model = model
            return self
        self.targets = targets
        shape = self.config.block_shape
        self.masks, self.scores = {}, {}
        for name in self.targets:
            weight = modules[name].weight
            if recorded is not None and name in (recorded.get("layers") or {}):
                self.masks[name] = zero_block_mask(weight, shape)
            else:
                rows, cols = shape
                self.masks[name] = torch.ones(
                    weight.shape[0] // rows, weight.shape[1] // cols, dtype=torch.bool, device=weight.device
                )
            if self.uses_gradients:
                self.scores[name] = torch.zeros(self.masks[name].shape, dtype=torch.float32, device=weight.device)
        self.model = model
        return self

    def _modules(self) -> dict[str, nn.Linear]:
        if self.model is None:
            raise RuntimeError("BlockPruner has no model yet: pass model=... or add it to a Trainer's callbacks.")
        modules = dict(self.model.named_modules())
        return {name: modules[name] for name in self.targets}

    # ---- the three actions of a training step ---------------------------------------------------
    @torch.no_grad()
    def update_masks(self, step: int, sparsity: float | None = None) -> dict[str, float]:
        """Recompute the masks for the schedule's sparsity at ``step`` (or a given ``sparsity`` for every
        layer), apply them, and return ``{module_name: block_sparsity}``."""
        modules = self._modules()
        goals = {}
        for name, target in self.targets.items():
            if sparsity is not None:
                goals[name] = sparsity
            else:
                goals[name] = scheduled_sparsity(self.config, step, self.end_step, final_sparsity=target)
        if self.uses_gradients and self.score_updates == 0 and any(g > 0 for g in goals.values()):
            raise RuntimeError(
                f"The {self.config.criterion!r} criterion needs gradients, but no optimizer step has run before step "
                f"{step}: set start_step > 0 (and initial_sparsity=0), or use criterion='magnitude'."
            )
        shape = self.config.block_shape
        scores = {
            name: (self.scores[name] if self.uses_gradients else magnitude_scores(m.weight, shape))
            for name, m in modules.items()
        }
        if self.config.scope == "local":
            for name in modules:
                self.masks[name] = select_blocks(scores[name], goals[name], self.masks[name])
        else:  # global: rank blocks across all layers that share a goal
            for goal in sorted(set(goals.values())):
                group = [n for n in modules if goals[n] == goal]
                flat = torch.cat([scores[n].flatten().cpu() for n in group])
                prev = torch.cat([self.masks[n].flatten().cpu() for n in group])
                keep = select_blocks(flat, goal, prev)
                for name, part in zip(group, keep.split([scores[n].numel() for n in group])):
                    self.masks[name] = part.view_as(scores[name]).to(self.masks[name].device)
        self.step = step
        self.apply_masks()
        return self.block_sparsity()

    @torch.no_grad()
    def accumulate_scores(self) -> None:
        """Add this step's gradient contribution to the movement / snip-momentum scores (no-op for magnitude)."""
        if not self.uses_gradients:
            return
        shape, updated = self.config.block_shape, False
        for name, module in self._modules().items():
            grad = module.weight.grad
            if grad is None:
                continue
            if self.config.criterion == "movement":
                movement_update(self.scores[name], module.weight, grad, shape)
            else:
                snip_momentum_update(self.scores[name], module.weight, grad, shape, self.config.momentum)
            updated = True
        self.score_updates += int(updated)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero every pruned block (called after each optimizer step)."""
        shape = self.config.block_shape
        for name, module in self._modules().items():
            apply_block_mask(module.weight, self.masks[name], shape)

    def block_sparsity(self) -> dict[str, float]:
        """``{module_name: fraction of pruned blocks}`` according to the masks."""
        return {name: 1.0 - mask.float().mean().item() for name, mask in self.masks.items()}

    # ---- TrainerCallback events -----------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.finalized:
            raise RuntimeError("This BlockPruner was finalized; create a new one to prune again.")
        if model is None and self.model is None:
            raise RuntimeError("BlockPruner got no model from the Trainer: pass BlockPruner(config, model=...).")
        self.bind(model if model is not None else self.model)
        if self.config.end_step is None:
            self.end_step = max(self.config.start_step, int(DEFAULT_END_FRACTION * state.max_steps))
            logger.info(
                "BlockPruner: end_step=None -> %d (%.0f%% of %d steps)",
                self.end_step,
                100 * DEFAULT_END_FRACTION,
                state.max_steps,
            )
        elif self.config.end_step > state.max_steps:
            logger.warning(
                "BlockPruner: end_step %d is beyond max_steps %d, so the target sparsity %.2f will not be reached.",
                self.config.end_step,
                state.max_steps,
                self.config.target_sparsity,
            )
        if state.global_step > 0 and self._loaded_step != state.global_step:  # resuming from a checkpoint
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            if not os.path.isfile(os.path.join(folder, STATE_NAME)):
                raise FileNotFoundError(
                    f"Resuming at step {state.global_step}, but {folder} holds no {STATE_NAME}. If the checkpoint is "
                    "elsewhere, call pruner.load_state(checkpoint_dir) "
                    "before trainer.train(resume_from_checkpoint=...)."
                )
            self.load_state(folder)
        self.apply_masks()

    def on_step_begin(self, args, state, control, **kwargs):
        if self.finalized:
            return
        step = state.global_step
        if is_pruning_step(self.config, step, self.end_step) and step != self.step:
            sparsities = self.update_masks(step)
            mean = sum(sparsities.values()) / max(len(sparsities), 1)
            logger.info("BlockPruner: step %d, mean block sparsity %.4f", step, mean)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if not self.finalized:
            self.accumulate_scores()

    def on_optimizer_step(self, args, state, control, **kwargs):
        if not self.finalized:
            self.apply_masks()

    def on_train_end(self, args, state, control, **kwargs):
        if self.finalized:
            return
        best = state.best_model_checkpoint
        if args.load_best_model_at_end and best and os.path.isfile(os.path.join(best, STATE_NAME)):
            # The Trainer just loaded the best checkpoint's weights: take that checkpoint's masks with them.
            self.load_state(best)
            reached = self.block_sparsity()
            mean = sum(reached.values()) / max(len(reached), 1)
            if self.end_step is not None and self.step < self.end_step:
                logger.warning(
                    "BlockPruner: the best checkpoint (%s) predates end_step %d; its mean block sparsity is "
                    "%.4f, below the target. Prefer load_best_model_at_end=False or evaluate only after "
                    "end_step.",
                    best,
                    self.end_step,
                    mean,
                )

    def on_save(self, args, state, control, **kwargs):
        if self.finalized or not args.should_save:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            self.save_state(folder, state.global_step)

    # ---- state (checkpoints) -------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict]:
        """``(tensors, metadata)``: masks and scores, and the step / config they belong to."""
        tensors = {f"mask.{n}": m.cpu().contiguous() for n, m in self.masks.items()}
        tensors.update({f"score.{n}": s.cpu().contiguous() for n, s in self.scores.items()})
        meta = {
            "step": self.step,
            "score_updates": self.score_updates,
            "end_step": self.end_step,
            "targets": self.targets,
            "config": self.config.to_dict(),
        }
        return tensors, meta

    def save_state(self, folder: str | os.PathLike, global_step: int | None = None) -> str:
        """Write ``folder/block_pruner.safetensors`` (``global_step``: the Trainer step it belongs to)."""
        from safetensors.torch import save_file

        tensors, meta = self.state_dict()
        meta["global_step"] = global_step
        path = os.path.join(folder, STATE_NAME)
        save_file(tensors, path, metadata={"block_pruner": json.dumps(meta)})
        return path

    def load_state(self, folder: str | os.PathLike) -> None:
        """Restore masks, scores and step from a checkpoint folder written by :meth:`save_state`."""
        from safetensors import safe_open

        path = os.path.join(folder, STATE_NAME) if os.path.isdir(folder) else str(folder)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No {STATE_NAME} in {folder}.")
        with safe_open(path, framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("block_pruner", "null") or "null")
            if meta is None:
                raise ValueError(f"{path} is not a BlockPruner state file (no 'block_pruner' metadata).")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        saved = BlockPruningConfig.from_dict(meta["config"])
        for key in ("block_shape", "criterion", "scope"):
            if getattr(saved, key) != getattr(self.config, key):
                raise ValueError(
                    f"Checkpoint {path} was pruned with {key}={getattr(saved, key)!r}, but this "
                    f"BlockPruner has {key}={getattr(self.config, key)!r}; use the same config to resume."
                )
        if self.targets and set(meta["targets"]) != set(self.targets):
            raise ValueError(f"Checkpoint {path} prunes other modules than this BlockPruner; use the same config.")
        self.targets = dict(meta["targets"])
        devices = {n: m.device for n, m in self.masks.items()}
        self.masks = {n: tensors[f"mask.{n}"].to(devices.get(n, "cpu")) for n in self.targets}
        self.scores = {
            n: tensors[f"score.{n}"].to(devices.get(n, "cpu")) for n in self.targets if f"score.{n}" in tensors
        }
        self.step, self.score_updates, self.end_step = meta["step"], meta["score_updates"], meta["end_step"]
        self._loaded_step = meta.get("global_step")
        self._state_loaded = True
        if self.model is not None:
            self.apply_masks()

    # ---- after training ------------------------------------------------------------------------
    def local_names(self, model: nn.Module) -> dict[str, str]:
        """``{target name: name inside model}``. ``model`` may be the bound model, a module inside it (the student
        of a wrapper such as ``StudentWithProjections``: prefixes are dropped) or a copy with the same names."""
        if model is self.model:
            return {n: n for n in self.targets}
        for prefix, module in self.model.named_modules() if self.model is not None else ():
            if module is model and prefix:
                cut = prefix + "."
                if all(n.startswith(cut) for n in self.targets):
                    return {n: n[len(cut) :] for n in self.targets}
        local = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        missing = [n for n in self.targets if n not in local]
        if missing:
            raise ValueError(
                f"{type(model).__name__} has no module named {missing[0]!r} (pruned by this BlockPruner): "
                "pass the model that was trained, or the model inside the Trainer's wrapper."
            )
        return {n: n for n in self.targets}

    def names_in(self, model: nn.Module) -> dict[str, str]:
        """Deprecated name of :meth:`local_names`."""
        warnings.warn("BlockPruner.names_in is renamed local_names; the old name will be removed", FutureWarning, 2)
        return self.local_names(model)

    @torch.no_grad()
    def finalize(self, model: nn.Module | None = None) -> nn.Module:
        """Make the sparsity permanent and record it in ``model.config.sparsity``; returns the model.

        Weights are multiplied by the masks, the callback stops acting, and ``model.config.sparsity`` becomes
        ``{"block_shape": [r, c], "layers": {name: block_sparsity}, "target_sparsity": ..., "criterion": ...}``
        (plain JSON, so ``save_pretrained`` keeps it and the sparse models can read it).
        """
        model = model if model is not None else self.model
        if model is None:
            raise RuntimeError("Nothing to finalize: this BlockPruner never saw a model.")
        if self.model is None:
            self.bind(model)
        names = self.local_names(model)
        modules = dict(model.named_modules())
        for name, local in names.items():
            apply_block_mask(modules[local].weight, self.masks[name], self.config.block_shape)
        layers = {names[name]: round(value, 6) for name, value in self.block_sparsity().items()}
        record = {
            "block_shape": list(self.config.block_shape),
            "layers": layers,
            "target_sparsity": self.config.target_sparsity,
            "criterion": self.config.criterion,
        }
        if self.config.sparsity_overrides:
            record["sparsity_overrides"] = dict(self.config.sparsity_overrides)
        if hasattr(model, "config"):
            previous = recorded_sparsity(model)
            if previous and previous.get("layers"):
                record["layers"] = {**previous["layers"], **layers}
            model.config.sparsity = record
        else:
            logger.warning("%s has no .config; the sparsity record is not stored.", type(model).__name__)
        self.finalized = True
        return model

    def sparsity_report(self, model: nn.Module | None = None) -> dict:
        """Measured block sparsity of the pruned layers (see :func:`sparsity_report`), with each layer's target."""
        model = model if model is not None else self.model
        names = self.local_names(model)
        report = sparsity_report(model, self.config.block_shape, list(names.values()))
        for name, local in names.items():
            report["layers"][local]["target"] = self.targets[name]
        return report


def prune_model(model: nn.Module, config: BlockPruningConfig | None = None) -> nn.Module:
    """One-shot magnitude block pruning of a trained model (no training); returns the finalized model.

    model = prune_model(model, BlockPruningConfig(block_shape="1x4", target_sparsity=0.5))
    model.config.sparsity["layers"]     # per-layer block sparsity
    model.save_pretrained("pruned")
    """
    config = config if config is not None else BlockPruningConfig()
    if config.criterion != "magnitude":
        raise ValueError(
            f"prune_model is one-shot and has no gradients, so criterion {config.criterion!r} cannot be "
            "scored; use criterion='magnitude', or train with a BlockPruner callback."
        )
    pruner = BlockPruner(config, model)
    pruner.end_step = config.start_step  # every schedule is at its target at its end step
    pruner.update_masks(config.start_step)
    return pruner.finalize(model)


__all__ = [
    "BlockPruner",
    "prune_model",
    "sparsity_report",
    "format_sparsity_report",
    "find_target_modules",
    "STATE_NAME",
]
