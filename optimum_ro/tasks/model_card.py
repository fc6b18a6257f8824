"""Model cards for the folders ``optimum-ro finetune`` and ``optimum-ro pretrain`` write, ready for ``push_to_hub``
(metadata through ``huggingface_hub.ModelCard``: see :mod:`optimum_ro.hub.cards`).

    write_model_card("runs/e5-sentiment", results)   # README.md: metadata, scores, how it was trained, usage
"""

from __future__ import annotations

from pathlib import Path

from ..hub.cards import LICENSE_NAMES, PIPELINE_TAGS, TASK_DATA, base_model_id
from .specs import get_task

# "Training data license" per task, as the sources state it (kept for the reports that quote it)
DATA_LICENSES = {
    task: "; ".join(f"{LICENSE_NAMES[s.license]} ({s.name})" for s in sources) for task, sources in TASK_DATA.items()
}


def usage(pipeline_tag: str) -> str:
    return "\n".join(
        [
            "```python",
            "from transformers import pipeline",
            f"pipe = pipeline('{pipeline_tag}', model='<this folder or Hub id>')",
            "```",
        ]
    )


def split_scores(results: dict, splits=("validation", "test")) -> dict:
    """``{split: {metric: value}}`` of the numeric scores in a results dict."""
    return {s: {k: v for k, v in results[s].items() if isinstance(v, (int, float))} for s in splits if results.get(s)}


def score_table(scores: dict) -> str:
    rows = [
        f"| {split} | {metric} | {value:.4f} |"
        for split, metrics in scores.items()
        for metric, value in metrics.items()
        if not metric.endswith(("seconds", "per_second", "loss", "runtime", "epoch"))
    ]
    return "\n".join(["| split | metric | score |", "|---|---|---:|", *rows]) if rows else ""


def build_finetune_card(results: dict):
    from ..hub.cards import build_model_card

    spec = get_task(results["task"])
    cfg = results.get("config", {})
    name = base_model_id(results.get("model"))
    scores = split_scores(results)
    text = "\n\n".join(
        part
        for part in (
            f"Task: {spec.description}. Fine-tuned from `{name}` with `optimum-ro finetune` "
            f"({results.get('train_steps')} steps × batch {cfg.get('batch_size')}, "
            f"max length {cfg.get('max_length')}, learning rate {cfg.get('learning_rate')}, word embeddings frozen: "
            f"{results.get('frozen_word_embeddings')}), {results.get('train_seconds')} s.",
            score_table(scores),
            usage(PIPELINE_TAGS[spec.name]),
        )
        if part
    )
    return build_model_card(
        f"{Path(str(name)).name} fine-tuned for Romanian {spec.name}",
        text,
        task=spec.name,
        base_model=results.get("model"),
        scores=scores,
        tags=["fine-tuned"],
    )


def render_model_card(results: dict) -> str:
    return build_finetune_card(results).content


def write_model_card(folder, results: dict) -> Path:
    path = Path(folder) / "README.md"
    build_finetune_card(results).save(path)
    return path


def write_pretrain_card(folder, summary: dict) -> Path:
    """The card of an ``optimum-ro pretrain`` folder (masked-LM on raw Romanian text)."""
    from ..hub.cards import build_model_card

    cfg = summary.get("config", {})
    start = cfg.get("from_model")
    how = (
        f"continued masked-LM pretraining of `{base_model_id(start)}`"
        if start
        else "masked-LM pretraining from scratch (WordPiece vocabulary trained on the same text)"
    )
    text = "\n\n".join(
        [
            f"Made with `optimum-ro pretrain`: {how}; {summary.get('steps')} steps × batch {cfg.get('batch_size')} × "
            f"{cfg.get('max_length')} tokens ({summary.get('tokens_seen'):,} tokens seen), final MLM loss "
            f"{summary.get('final_loss')}, {summary.get('parameters', 0) / 1e6:.1f} M parameters.",
            usage("fill-mask"),
        ]
    )
    texts = [Path(t) for t in str(cfg.get("text", "")).split(",") if t]
    shared_corpus = bool(texts) and all(t.parent.name == "raw" and t.name.startswith("train.txt") for t in texts)
    card = build_model_card(
        "Romanian BERT (masked-LM " + ("continued pretraining)" if start else "pretraining)"),
        text,
        task="mlm",
        base_model=start,
        tags=["pretraining"],
        data=None if shared_corpus else (),  # the project's raw corpus, or text the card cannot vouch for
    )
    path = Path(folder) / "README.md"
    card.save(path)
    return path
