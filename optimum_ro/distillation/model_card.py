"""Model cards for distilled students, so ``optimum-ro distill`` output folders are ready for ``push_to_hub``.

write_student_card("runs/students/a/pos", results)   # README.md: teachers, recipe, scores, loyalty, size
"""

from __future__ import annotations

from pathlib import Path

LOYALTY = ("label_loyalty", "probability_loyalty", "regression_loyalty", "student_teacher_pearson")


def render_student_card(results: dict) -> str:
    from optimum_ro.tasks.model_card import DATA_LICENSES, PIPELINE_TAGS
    from optimum_ro.tasks.specs import TASKS

    task, cfg = results["task"], results.get("config", {})
    spec = TASKS.get(task)
    teachers = results.get("teachers", [])
    weights = results.get("teacher_weights") or cfg.get("teacher_weights") or [1.0] * len(teachers)
    teacher_rows = [
        f"| {t} | {w:g} | {p / 1e6:.1f} M |"
        for t, w, p in zip(teachers, weights, results.get("teacher_parameters", []))
    ]
    rows = []
    for split in ("validation", "test"):
        for key, value in sorted((results.get(split) or {}).items()):
            name = key.removeprefix(f"{split}_")
            if isinstance(value, float) and not name.endswith(("seconds", "per_second", "loss", "runtime", "epoch")):
                who = (
                    "teacher(s)"
                    if name.startswith("teacher_score_")
                    else ("loyalty" if name in LOYALTY else "student")
                )
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
    lines = [
        "---",
        "language: ro",
        "library_name: transformers",
        f"pipeline_tag: {PIPELINE_TAGS[spec.kind] if spec else 'fill-mask'}",
        "tags: [optimum-ro, distillation]",
        f"base_model: {teachers[cfg.get('student_from', 0)] if teachers else ''}",
        "---",
        f"# Distilled student for Romanian {task if spec else 'masked-LM (general distillation)'}",
        "",
        f"Made with `optimum-ro distill`: {recipe}; {results.get('train', {}).get('steps')} steps × batch "
        f"{cfg.get('batch_size')}, max length {cfg.get('max_length')}, learning rate {cfg.get('learning_rate')}, "
        f"temperature {cfg.get('temperature')}, loss weights: {alphas or 'defaults'}.",
        f"Student: {results.get('student_parameters', 0) / 1e6:.1f} M parameters"
        + (f"; vocabulary trimmed {vocab['before']:,} → {vocab['after']:,} tokens" if vocab else "")
        + ".",
        "",
        "| teacher | ensemble weight | parameters |",
        "|---|---:|---:|",
        *teacher_rows,
        "",
    ]
    if rows:
        lines += [
            "| split | model | metric | value |",
            "|---|---|---|---:|",
            *rows,
            "",
            "Loyalty compares the student with its (ensembled) teachers on the same rows: label loyalty = share of "
            "equal labels, probability loyalty = 1 − √JSD (log 2), regression loyalty = 1 − mean|ŷs − ŷt| / range.",
            "",
        ]
    if spec:
        lines += [
            f"Training data license: {DATA_LICENSES.get(spec.name, 'see the dataset')}; the teachers' licenses "
            "apply to the weights.",
            "",
            "```python",
            "from transformers import pipeline",
            f"pipe = pipeline('{PIPELINE_TAGS[spec.kind]}', model='<this folder>')",
            "```",
            "",
        ]
    return "\n".join(lines)


def write_student_card(folder, results: dict) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_student_card(results), encoding="utf-8")
    return path
