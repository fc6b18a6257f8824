"""`BlockPruningConfig`: what to prune, how much, in which blocks, when, and by which score.

    config = BlockPruningConfig(block_shape="16x1", target_sparsity=0.8, end_step=1000)
    config.save_pretrained("out")                      # writes out/pruning_config.json
    config = BlockPruningConfig.from_pretrained("out")
    config.push_to_hub("user/my-pruned-model")         # or from_pretrained("user/my-pruned-model"), like any config

**Block shape convention.** ``(rows, cols)`` of the ``nn.Linear`` weight, whose shape is
``[out_features, in_features]``: ``"16x1"`` is 16 consecutive output features × 1 input
feature; ``"1x1"`` is unstructured pruning. ``"4x1"``, ``(4, 1)`` and ``[4, 1]`` are the same.
Intel's VNNI "4x1" pattern (4 values along the reduction dimension, i.e. the input features)
is *our* ``"1x4"``. The kernels of :mod:`optimum_ro.sparse` use ``"1x4"`` blocks for int8 and
``"16x1"`` blocks for fp32.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from transformers.utils import PushToHubMixin

from ..sparse.format import parse_block_shape  # the one block-shape parser, shared with the kernels

CONFIG_NAME = "pruning_config.json"
SCHEDULES = ("cubic", "linear", "oneshot")
CRITERIA = ("magnitude", "movement", "snip_momentum")
SCOPES = ("local", "global")

#: Every module inside a numbered encoder layer (``...layer.3.attention.self.query`` in BERT,
#: ``...layers.3....`` elsewhere); only ``nn.Linear`` modules are ever pruned.
DEFAULT_TARGET_MODULES = [r"(^|\.)layers?\.\d+\."]
#: Kept dense even when a target pattern matches them.
DEFAULT_EXCLUDE_MODULES = [
    r"embeddings",
    r"pooler",
    r"classifier",
    r"LayerNorm",
    r"layer_norm",
    r"lm_head",
    r"(^|\.)cls\.",
    r"qa_outputs",
]


def format_block_shape(block_shape) -> str:
    """``(16, 1)`` -> ``"16x1"``."""
    rows, cols = parse_block_shape(block_shape)
    return f"{rows}x{cols}"


def _check_sparsity(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be a number in [0, 1) (e.g. 0.8 for 80% of blocks pruned), got {value!r}.")
    return float(value)


def _check_patterns(patterns, what: str) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{what} pattern {pattern!r} is not a valid regular expression: {err}") from None
    return list(patterns)


@dataclass
class BlockPruningConfig(PushToHubMixin):
    """How to block-prune the ``nn.Linear`` layers of a transformer.

    Args:
        block_shape: ``"RxC"`` block of the weight ``[out_features, in_features]``: R output rows × C input
            columns (see the module docstring; Intel's VNNI "4x1" is our ``"1x4"``).
        target_sparsity: fraction of blocks pruned at ``end_step``, in [0, 1).
        target_modules: regular expressions (``re.search`` on the module name from ``model.named_modules()``);
            a ``nn.Linear`` whose name matches any of them is pruned. Default: every linear layer inside the
            encoder layers (attention q/k/v/output and the feed-forward layers).
        sparsity_overrides: ``{pattern: sparsity}`` for targeted modules; the first matching pattern wins,
            e.g. ``{r"intermediate\\.dense|layer\\.\\d+\\.output\\.dense": 0.9, r"attention": 0.8}``.
        exclude_modules: patterns of modules kept dense even if targeted (embeddings, pooler, classifier heads,
            LayerNorms by default). Unlike the two fields above, a pattern here may match nothing.
        schedule: ``"cubic"`` (default), ``"linear"`` or ``"oneshot"`` (target reached at ``start_step``).
            Cubic (Zhu & Gupta 2017, as in nn_pruning and SparseML), for ``t0 <= t <= T``::

                s(t) = s_f + (s_i - s_f) * (1 - (t - t0) / (T - t0)) ** 3

            with ``s_i = initial_sparsity``, ``s_f = target_sparsity``, ``t0 = start_step``, ``T = end_step``:
            fast pruning early, gentle near the end. Neural Compressor's "cubic" is a *different* curve
            (``s_f * ((t - t0) / (T - t0)) ** 3``, slow early, fast late). Linear:
            ``s_i + (s_f - s_i) * (t - t0) / (T - t0)``.
        initial_sparsity: ``s_i``, the sparsity applied at ``start_step``.
        start_step, end_step: optimizer steps (``TrainerState.global_step``) where pruning starts and where the
            target is reached. ``end_step=None`` means 70% of the training's ``max_steps`` (the rest recovers).
        pruning_frequency: masks are recomputed every this many steps between ``start_step`` and ``end_step``
            (and always at ``end_step``).
        criterion: block score. ``"magnitude"``: L2 norm of each block. ``"movement"`` (Sanh et al. 2020):
            ``S += -W * dL/dW`` after every optimizer step, summed per block (weights moving towards zero get low
            scores). ``"snip_momentum"`` (as in Neural Compressor): ``S = momentum * S + |W * dL/dW|``.
        momentum: decay of the ``snip_momentum`` score.
        scope: ``"local"`` ranks blocks inside each layer (every layer reaches its own sparsity);
            ``"global"`` ranks blocks across all layers that share a target sparsity.

    Blocks, once pruned, stay pruned (masks only grow), so the weights of a pruned block stay exactly zero.
    """

    block_shape: tuple[int, int] | str = (16, 1)
    target_sparsity: float = 0.8
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    sparsity_overrides: dict[str, float] = field(default_factory=dict)
    exclude_modules: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE_MODULES))
    schedule: str = "cubic"
    initial_sparsity: float = 0.0
    start_step: int = 0
    end_step: int | None = None
    pruning_frequency: int = 10
    criterion: str = "magnitude"
    momentum: float = 0.9
    scope: str = "local"

    def __post_init__(self):
        self.block_shape = parse_block_shape(self.block_shape)
        self.target_sparsity = _check_sparsity(self.target_sparsity, "target_sparsity")
        self.initial_sparsity = _check_sparsity(self.initial_sparsity, "initial_sparsity")
        if self.initial_sparsity > self.target_sparsity:
            raise ValueError(
                f"initial_sparsity ({self.initial_sparsity}) is larger than target_sparsity ({self.target_sparsity})."
            )
        self.target_modules = _check_patterns(self.target_modules, "target_modules")
        if not self.target_modules:
            raise ValueError("target_modules is empty: give at least one module-name pattern to prune.")
        self.exclude_modules = _check_patterns(self.exclude_modules or [], "exclude_modules")
        overrides = dict(self.sparsity_overrides or {})
        _check_patterns(list(overrides), "sparsity_overrides")
        self.sparsity_overrides = {p: _check_sparsity(s, f"sparsity_overrides[{p!r}]") for p, s in overrides.items()}
        for name, allowed in (("schedule", SCHEDULES), ("criterion", CRITERIA), ("scope", SCOPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Unknown {name} {getattr(self, name)!r}: choose one of {', '.join(allowed)}.")
        for name in ("start_step", "pruning_frequency"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (1 if name == "pruning_frequency" else 0)
            ):
                raise ValueError(
                    f"{name} must be a {'positive' if name == 'pruning_frequency' else 'non-negative'} "
                    f"integer, got {value!r}."
                )
        if self.end_step is not None and (not isinstance(self.end_step, int) or self.end_step < self.start_step):
            raise ValueError(
                f"end_step ({self.end_step!r}) must be an integer >= start_step ({self.start_step}), "
                "or None for 70% of the training steps."
            )
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}.")

    # ---- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``block_shape`` as a ``[rows, cols]`` list)."""
        out = asdict(self)
        out["block_shape"] = list(self.block_shape)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "BlockPruningConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown BlockPruningConfig field(s) {unknown}; known fields: {sorted(known)}.")
        return cls(**data)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs) -> str:
        """Write ``save_directory/pruning_config.json``; returns its path. ``push_to_hub=True`` also uploads it
        (``repo_id``, default the folder's name; ``token``, ``private``, ``commit_message``), as transformers'
        configs do; :meth:`push_to_hub` (from ``PushToHubMixin``) uploads it without a local folder."""
        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory} is a file: give the folder to write {CONFIG_NAME} in.")
        os.makedirs(save_directory, exist_ok=True)
        if push_to_hub:
            from transformers.utils.hub import hf_api

            commit_message, token = kwargs.pop("commit_message", None), kwargs.pop("token", None)
            repo_id = kwargs.pop("repo_id", Path(save_directory).name)
            repo_id = hf_api().create_repo(repo_id, private=kwargs.pop("private", None), token=token, exist_ok=True)
            files_timestamps = self._get_files_timestamps(save_directory)
        path = os.path.join(save_directory, CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())
        if push_to_hub:
            self._upload_modified_files(
                save_directory, repo_id.repo_id, files_timestamps, commit_message=commit_message, token=token
            )
        return path

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **hub_kwargs) -> "BlockPruningConfig":
        """Read ``pruning_config.json`` from a folder, the JSON file itself, or a Hub repository (``hub_kwargs``:
        ``revision``, ``token``, ``cache_dir``, ``local_files_only``, as for ``from_pretrained`` elsewhere)."""
        if os.path.isdir(path):
            file = os.path.join(path, CONFIG_NAME)
        elif os.path.isfile(path) or str(path).endswith(".json"):
            file = str(path)
        else:  # a Hub repository id
            from transformers.utils import cached_file

            try:
                file = cached_file(str(path), CONFIG_NAME, **hub_kwargs)
            except OSError as err:
                raise FileNotFoundError(f"No {CONFIG_NAME} in {path} (a Hub repository?): {err}") from None
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No {CONFIG_NAME} in {path}: save one with BlockPruningConfig.save_pretrained().")
        with open(file, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
