"""Model cards for distilled students, so ``optimum-ro distill`` output folders are ready for ``push_to_hub``
(metadata through ``huggingface_hub.ModelCard``: see :mod:`optimum_ro.hub.cards`).

write_student_card("runs/students/a/pos", results)   # README.md: teachers, recipe, scores, loyalty, size
"""

from __future__ import annotations

from pathlib import Path

LOYALTY = ("label_loyalty", "probability_loyalty", "regression_loyalty", "student_teacher_pearson")
NOT_SCORES = ("seconds", "per_second", "loss", "runtime", "epoch")


def student_scores(results: dict) -> dict:
    """``{split: {metric: value}}``: the student's scores, its teachers' (``teacher_score_*``) and loyalty."""
    scores = {}
    for split in ("validation", "test"):
        values = {
            key.removeprefix(f"{split}_"): value
            for key, value in sorted((results.get(split) or {}).items())
            if isinstance(value, float) and not key.endswith(NOT_SCORES)
        }
        if values:
            scores[split] = values
    return scores


def build_student_card(results: dict):
    from optimum_ro.hub.cards import PIPELINE_TAGS, base_model_id, build_model_card
    from optimum_ro.tasks.specs import TASKS

    task, cfg = results["task"], results.get("config", {})
    spec = TASKS.get(task)
    teachers = results.get("teachers", [])
    weights = results.get("teacher_weights") or cfg.get("teacher_weights") or [1.0] * len(teachers)
    teacher_rows = [
        f"| {base_model_id(t)} | {w:g} | {p / 1e6:.1f} M |"
        for t, w, p in zip(teachers, weights, results.get("teacher_parameters", []))
    ]
    scores = student_scores(results)
    rows = []
    for split, values in scores.items():
        for name, value in values.items():
            who = "teacher(s)" if name.startswith("teacher_score_") else ("loyalty" if name in LOYALTY else "student")
            rows.append(f"| {split} | {who} | {name.removeprefix('teacher_score_')} | {value:.4f} |")
    recipe = (
        "general distillation (masked-LM stage: soft targets where the teacher has an MLM head, MLM, cosine on "
        "hidden states)"
        if task == "mlm"
        else "task distillation (teacher soft labels / scores + gold labels)"
    )
    weights_used = results.get("loss_weights") or cfg
    alphas = ", ".join(
        f"{k} {weights_used[k]}"
        for k in ("alpha_ce", "alpha_mlm", "alpha_cos", "alpha_task", "alpha_mse")
        if weights_used.get(k) is not None
    )
    vocab = results.get("vocabulary")
    parts = [
        f"Made with `optimum-ro distill`: {recipe}; {results.get('train', {}).get('steps')} steps × batch "
        f"{cfg.get('batch_size')}, max length {cfg.get('max_length')}, learning rate {cfg.get('learning_rate')}, "
        f"temperature {cfg.get('temperature')}, loss weights: {alphas or 'defaults'}.\n"
        f"Student: {results.get('student_parameters', 0) / 1e6:.1f} M parameters"
        + (f"; vocabulary trimmed {vocab['before']:,} → {vocab['after']:,} tokens" if vocab else "")
        + ".",
        "\n".join(["| teacher | ensemble weight | parameters |", "|---|---:|---:|", *teacher_rows]),
    ]
    if rows:
        parts += [
            "\n".join(["| split | model | metric | value |", "|---|---|---|---:|", *rows]),
            "Loyalty compares the student with its (ensembled) teachers on the same rows: label loyalty = share of "
            "equal labels, probability loyalty = 1 − √JSD (log 2), regression loyalty = 1 − mean|ŷs − ŷt| / range.",
        ]
    pipeline_tag = PIPELINE_TAGS["mlm" if task == "mlm" else task]
    parts.append(
        "\n".join(
            [
                "```python",
                "from transformers import pipeline",
                f"pipe = pipeline('{pipeline_tag}', model='<this folder>')",
                "```",
            ]
        )
    )
    base = cfg.get("student") or (teachers[cfg.get("student_from", 0)] if teachers else None)
    title = f"Distilled student for Romanian {task if spec else 'masked-LM (general distillation)'}"
    return build_model_card(
        title, "\n\n".join(parts), task=task, base_model=base, scores=scores, tags=["distillation"]
    )


def render_student_card(results: dict) -> str:
    return build_student_card(results).content


def write_student_card(folder, results: dict) -> Path:
    path = Path(folder) / "README.md"
    build_student_card(results).save(path)
    return path
