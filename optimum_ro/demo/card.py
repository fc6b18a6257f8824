"""The published sparse model's card: Hub metadata (``ModelCardData``) plus what a user needs to decide.

The license follows the most restrictive of the base model's and the training data's licenses: a model
trained on CC BY-NC-SA data (LaRoSeDa, MOROCO) is itself CC BY-NC-SA and not for commercial use.
"""

from __future__ import annotations

from pathlib import Path

#: task -> (dataset name, Hub dataset id, data license as a Hub license id)
TASK_DATA = {
    "sentiment": ("LaRoSeDa (Romanian product reviews)", "universityofbucharest/laroseda", "cc-by-nc-sa-4.0"),
    "dialect": ("MOROCO (Moldavian vs Romanian news)", "universityofbucharest/moroco", "cc-by-nc-sa-4.0"),
    "ner": ("RONEC v1 (Romanian named entities)", "dumitrescustefan/ronec", "mit"),
    "pos": ("UD Romanian-RRT (UPOS)", "universal_dependencies", "cc-by-sa-4.0"),
    "sts": ("RO-STS (Romanian semantic similarity)", "dumitrescustefan/ro_sts", "cc-by-sa-4.0"),
}
#: short model names the demo builds -> their Hub ids and licenses
BASE_MODELS = {"multilingual-e5-small": ("intfloat/multilingual-e5-small", "mit")}
#: most restrictive first
LICENSE_ORDER = ("cc-by-nc-sa-4.0", "cc-by-sa-4.0", "mit", "apache-2.0")


def combined_license(*licenses: str) -> str:
    """The most restrictive of the given Hub license ids (unknown ones win: they need a human to read them)."""
    unknown = [lic for lic in licenses if lic not in LICENSE_ORDER]
    if unknown:
        return unknown[0]
    return min(licenses, key=LICENSE_ORDER.index)


def base_model_id(name: str) -> str:
    """A Hub id for the base model, never a machine path."""
    if name in BASE_MODELS:
        return BASE_MODELS[name][0]
    return name if not Path(name).exists() else Path(name).name


def _row(name: str, report: dict, metric: str) -> str:
    m = report["evaluation"]["models"][name]
    lat = report["latency"]["models"][name]
    loyal = m.get("loyalty", {})
    agree = loyal.get("label_loyalty", loyal.get("regression_loyalty"))
    return (
        f"| {name} | {100 * m['dev'][metric]:.2f} | {'—' if agree is None else f'{100 * agree:.1f}%'} | "
        f"{m['nonzero_parameters'] / 1e6:.1f} M | {m['disk_mb']} | {lat['batch1_ms']} | {lat['batch32_ms']} |"
    )


def write_model_card(folder: str | Path, report: dict) -> Path:
    """Write ``folder/README.md`` for the published sparse model from the demo's report dict."""
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.repocard_data import EvalResult

    from ..tasks.specs import get_task

    cfg = report["config"]
    spec = get_task(cfg["task"])
    data_name, data_id, data_license = TASK_DATA[spec.name]
    base_license = BASE_MODELS.get(cfg["teacher"], (None, None))[1]  # None: a model this table does not know
    license_id = combined_license(data_license, *filter(None, [base_license]))
    published = report["evaluation"]["models"][f"sparse-{cfg['publish_dtype']}"]
    metric = spec.metric
    card_data = ModelCardData(
        language="ro",
        license=license_id,
        library_name="transformers",
        pipeline_tag="token-classification" if spec.kind == "token" else "text-classification",
        tags=["optimum-ro", "sparse", "block-sparse", "distillation", "pruning", "sparse_bert"],
        datasets=[data_id],
        base_model=base_model_id(cfg["teacher"]),
        model_name=Path(folder).name,
        eval_results=[
            EvalResult(
                task_type="text-classification" if spec.kind != "token" else "token-classification",
                dataset_type=data_id,
                dataset_name=data_name,
                dataset_split="validation",
                metric_type=metric,
                metric_value=round(published["dev"][metric], 4),
            )
        ]
        + [
            EvalResult(
                task_type="text-classification" if spec.kind != "token" else "token-classification",
                dataset_type=data_id,
                dataset_name=data_name,
                dataset_split="validation",
                metric_type=k,
                metric_name=f"{k.replace('_', ' ')} to the teacher",
                metric_value=round(v, 4),
            )
            for k, v in published.get("loyalty", {}).items()
        ],
    )
    pruned = report["stages"]["pruned"]
    lat = report["latency"]
    teacher_ms = lat["models"]["teacher"]["batch1_ms"]
    pub_ms = lat["models"][f"sparse-{cfg['publish_dtype']}"]["batch1_ms"]
    rows = "\n".join(_row(name, report, metric) for name in report["evaluation"]["models"])
    non_commercial = "nc" in license_id.split("-")
    auto = "AutoModelForTokenClassification" if spec.kind == "token" else "AutoModelForSequenceClassification"
    text = f"""---
{card_data.to_yaml()}
---

# {Path(folder).name}: a block-sparse Romanian {spec.name} model

A {cfg["student_layers"]}-layer student of `{base_model_id(cfg["teacher"])}` for **{spec.description}**,
distilled from its fine-tuned teacher, block-pruned to **{100 * pruned["sparsity"]:.0f}%** of its encoder's
weight blocks and stored sparse ({cfg["publish_dtype"]}). It runs **{teacher_ms / pub_ms:.1f}x faster than its
teacher** at batch 1 (sequence 128, {lat["threads"]} threads, {lat["isa"]} kernels) with optimum-ro installed.

```python
from transformers import {auto}, AutoTokenizer
model = {auto}.from_pretrained("<this folder or repo>", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("<this folder or repo>")
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

1. teacher: `{base_model_id(cfg["teacher"])}` fine-tuned {cfg["teacher_steps"]} steps (batch {cfg["batch_size"]},
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
- License **{license_id}** (the most restrictive of the base model's and the data's{
        "" if base_license else "; the base model's own license was not known here: check it"
    })"""
    text += ": **not for commercial use**.\n" if non_commercial else ".\n"
    path = Path(folder) / "README.md"
    card = ModelCard(text)
    card.save(path)
    return path


KERNEL_NOTE = "int8 weights in 1x4 blocks with per-channel scales; float32 in 16x1 blocks"
