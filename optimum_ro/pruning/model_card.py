"""The model card of an ``optimum-ro prune`` folder, so it is ready for ``push_to_hub`` (metadata through
``huggingface_hub.ModelCard``: see :mod:`optimum_ro.hub.cards`).

    write_pruned_card("runs/pruned", results)   # README.md: sparsity, recipe, scores, how to run it sparse
"""

from __future__ import annotations

from pathlib import Path

NOT_SCORES = ("seconds", "per_second", "loss", "runtime", "epoch")


def build_pruned_card(results: dict):
    from ..hub.cards import PIPELINE_TAGS, base_model_id, build_model_card

    task, run, pruning = results["task"], results.get("run", {}), results.get("pruning", {})
    block = "x".join(map(str, pruning.get("block_shape", [])))
    scores = {
        split: {k: v for k, v in results[split].items() if isinstance(v, float) and not k.endswith(NOT_SCORES)}
        for split in ("validation", "test")
        if results.get(split)
    }
    rows = [f"| {s} | {m} | {v:.4f} |" for s, values in scores.items() for m, v in values.items()]
    teacher = results.get("teacher")
    recipe = f"distilling from `{base_model_id(teacher)}` while pruning" if teacher else "fine-tuning while pruning"
    text = "\n\n".join(
        part
        for part in (
            f"Block-pruned with `optimum-ro prune` ({recipe}): {results.get('sparsity', 0):.1%} of the encoder's "
            f"linear weights are zero in {block} blocks (target {pruning.get('target_sparsity')}, criterion "
            f"{pruning.get('criterion')}, {pruning.get('schedule')} schedule), {results.get('train_steps')} steps × "
            f"batch {run.get('batch_size')}, learning rate {run.get('learning_rate')}. The pruning recipe is in "
            "`pruning_config.json` (`BlockPruningConfig.from_pretrained`).",
            "\n".join(["| split | metric | score |", "|---|---|---:|", *rows]) if rows else "",
            "It loads as the dense model it is (exact zeros). To run it on the block-sparse CPU kernels, "
            "`optimum-ro sparsify --model <this folder> --output <sparse folder>`.",
            "\n".join(
                [
                    "```python",
                    "from transformers import pipeline",
                    f"pipe = pipeline('{PIPELINE_TAGS[task]}', model='<this folder>')",
                    "```",
                ]
            ),
        )
        if part
    )
    sparsity = results.get("sparsity", 0)
    title = f"{base_model_id(results.get('model'))} block-pruned ({block}, {sparsity:.0%}) for Romanian {task}"
    return build_model_card(
        title, text, task=task, base_model=results.get("model"), scores=scores, tags=["pruning", "block-sparse"]
    )


def write_pruned_card(folder, results: dict) -> Path:
    path = Path(folder) / "README.md"
    build_pruned_card(results).save(path)
    return path
