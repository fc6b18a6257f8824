"""The published sparse model's card: Hub metadata through :func:`optimum_ro.hub.cards.build_model_card` (license
derived from the training data's and the base model's, datasets, base model, ``model-index`` with the dev score
and the loyalty to the teacher) plus what a user needs to decide: scores, speed, how it was made, limits.
"""

from __future__ import annotations

from pathlib import Path

KERNEL_NOTE = "int8 weights in 1x4 blocks with per-channel scales; float32 in 16x1 blocks"


def _row(name: str, report: dict, metric: str) -> str:
    m = report["evaluation"]["models"][name]
    lat = report["latency"]["models"][name]
    loyal = m.get("loyalty", {})
    agree = loyal.get("label_loyalty", loyal.get("regression_loyalty"))
    return (
        f"| {name} | {100 * m['dev'][metric]:.2f} | {'—' if agree is None else f'{100 * agree:.1f}%'} | "
        f"{m['nonzero_parameters'] / 1e6:.1f} M | {m['disk_mb']} | {lat['batch1_ms']} | {lat['batch32_ms']} |"
    )


def card_text(report: dict) -> str:
    """The card's human text: what the model is, how to load it, scores and speed, how it was made, limits."""
    from ..hub.cards import TASK_DATA, base_model_id
    from ..tasks.specs import get_task

    cfg = report["config"]
    spec = get_task(cfg["task"])
    data_name = " + ".join(source.name for source in TASK_DATA[spec.name])
    metric = spec.metric
    base = base_model_id(cfg["teacher"])
    pruned = report["stages"]["pruned"]
    lat = report["latency"]
    teacher_ms = lat["models"]["teacher"]["batch1_ms"]
    pub_ms = lat["models"][f"sparse-{cfg['publish_dtype']}"]["batch1_ms"]
    rows = "\n".join(_row(name, report, metric) for name in report["evaluation"]["models"])
    auto = "AutoModelForTokenClassification" if spec.kind == "token" else "AutoModelForSequenceClassification"
    text = f"""A {cfg["student_layers"]}-layer student of `{base}` for **{spec.description}**,
distilled from its fine-tuned teacher, block-pruned to **{100 * pruned["sparsity"]:.0f}%** of its encoder's
weight blocks and stored sparse ({cfg["publish_dtype"]}). It runs **{teacher_ms / pub_ms:.1f}x faster than its
teacher** at batch 1 (sequence 128, {lat["threads"]} threads, {lat["isa"]} kernels) with optimum-ro installed.

```python
from transformers import {auto}, AutoTokenizer

model = {auto}.from_pretrained("<this folder or repo>", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("<this folder or repo>", trust_remote_code=True)
```

`trust_remote_code=True` loads the two model files beside the weights (`SparseBert*`). With `pip install
optimum-ro` they run optimum-ro's block-sparse kernels; without it they rebuild dense weights from the stored
blocks (same predictions, dense speed, one warning).

## Scores ({report["evaluation"]["dev_rows"]} dev rows of {data_name}, {metric})

| model | dev {metric} | agreement with teacher | non-zero parameters | weights MB | batch 1 ms | batch 32 ms |
|---|---:|---:|---:|---:|---:|---:|
{rows}

"Agreement" is label loyalty (the share of predictions equal to the teacher's); probability loyalty
(1 − √JSD) is in the metadata. Latency is the median of {lat["rounds"]} interleaved rounds on this machine.

## How it was made (`optimum-ro demo`, budget in `report.json`)

1. teacher: `{base}` fine-tuned {cfg["teacher_steps"]} steps (batch {cfg["batch_size"]},
   max length {cfg["max_length"]});
2. student: {cfg["student_layers"]} of the teacher's layers, vocabulary trimmed to the task's train texts,
   distilled {cfg["distill_steps"]} steps (soft targets + gold labels);
3. pruning: {cfg["block_shape"]} blocks by magnitude, a cubic schedule to {100 * cfg["sparsity"]:.0f}% over the first
   half of {cfg["prune_steps"]} steps (then the masks stay fixed), distilling from the dense student throughout;
4. `optimum-ro sparsify` ({cfg["publish_dtype"]}; {KERNEL_NOTE}).

## Intended use and limits

- Romanian {spec.description}; trained on {data_name} only: expect lower scores on other domains.
- Scores are on a sample of the dev split with a small training budget: a demonstration of the pipeline, not a
  tuned model. Re-run with `--budget full` for the longer recipe.
"""
    return text


def write_model_card(folder: str | Path, report: dict) -> Path:
    """Write ``folder/README.md`` for the published sparse model from the demo's report dict."""
    from ..hub.cards import build_model_card
    from ..tasks.specs import get_task

    cfg = report["config"]
    spec = get_task(cfg["task"])
    published = report["evaluation"]["models"][f"sparse-{cfg['publish_dtype']}"]
    scores = {"validation": {spec.metric: published["dev"][spec.metric], **published.get("loyalty", {})}}
    card = build_model_card(
        f"{Path(folder).name}: a block-sparse Romanian {spec.name} model",
        card_text(report),
        task=spec.name,
        base_model=cfg["teacher"],
        scores=scores,
        tags=("sparse", "block-sparse", "distillation", "pruning", "sparse_bert"),
        model_name=Path(folder).name,
    )
    path = Path(folder) / "README.md"
    card.save(path)
    return path
