"""Model cards for the folders our commands write, so each is ready for ``push_to_hub``.

write_model_card("runs/e5-sentiment", results)   # README.md with YAML metadata + scores
"""

from __future__ import annotations

from pathlib import Path

from .specs import get_task

DATA_LICENSES = {
    "pos": "CC BY-SA 4.0 (UD Romanian-RRT)",
    "ner": "MIT (RONEC v1)",
    "sentiment": "CC BY-NC-SA 4.0 (LaRoSeDa)",
    "sts": "CC BY-SA 4.0 (RO-STS)",
    "dialect": "CC BY-NC-SA 4.0 (MOROCO, VarDial 2019 MRC)",
}
PIPELINE_TAGS = {
    "token": "token-classification",
    "sequence": "text-classification",
    "regression": "text-classification",
}


def render_model_card(results: dict) -> str:
    spec = get_task(results["task"])
    scores = []
    for split in ("validation", "test"):
        for metric, value in (results.get(split) or {}).items():
            if isinstance(value, float) and not metric.endswith(("seconds", "per_second", "loss")):
                scores.append(f"| {split} | {metric} | {value:.4f} |")
    cfg = results.get("config", {})
    return "\n".join(
        [
            "---",
            "language: ro",
            "library_name: transformers",
            f"pipeline_tag: {PIPELINE_TAGS[spec.kind]}",
            "tags: [optimum-ro]",
            f"base_model: {results.get('model')}",
            "---",
            f"# {Path(str(results.get('model'))).name} fine-tuned for Romanian {spec.name}",
            "",
            f"Task: {spec.description}. Fine-tuned with `optimum-ro finetune` "
            f"({results.get('train_steps')} steps × batch "
            f"{cfg.get('batch_size')}, max length {cfg.get('max_length')}, "
            f"learning rate {cfg.get('learning_rate')}, word embeddings "
            f"frozen: {results.get('frozen_word_embeddings')}), "
            f"{results.get('train_seconds')} s on CPU.",
            "",
            "| split | metric | score |",
            "|---|---|---:|",
            *scores,
            "",
            f"Training data license: {DATA_LICENSES.get(spec.name, 'see the dataset')}; "
            "the base model's license applies "
            "to the weights.",
            "",
            "```python",
            "from transformers import pipeline",
            f"pipe = pipeline('{PIPELINE_TAGS[spec.kind]}', model='<this folder>')",
            "```",
            "",
        ]
    )


def write_model_card(folder, results: dict) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(results), encoding="utf-8")
    return path
