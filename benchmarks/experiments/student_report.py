"""The three Romanian students (A, B, A+B) on five tasks: results/archive/students.{json,md} from one command.

    python examples/distill_romanian.py                     # trains them (runs/students/<a|b|ab>/<task>/)
    python examples/latency.py runs/teachers/e5-small/sentiment runs/students/a/sentiment \\
        runs/students/ab/sentiment runs/teachers/ro-bert-base/sentiment runs/students/b/sentiment \\
        --threads 2 --out runs/students/latency.json         # one interleaved latency run (quiet machine)
    python examples/student_report.py                       # this report

Per student and task: teacher and student scores on dev and test (teachers scored on the same rows inside the
distillation run), label / probability loyalty (regression loyalty and student-teacher Pearson for STS),
parameters, weights on disk; per student: latency at batch 1 and 32 (seq 128, 2 threads) and the speed-up,
and the issue's targets, each marked met or missed.
"""

import argparse
import json
import shlex
import statistics
from pathlib import Path

from optimum_ro.hub.folder import folder_mb

TASKS = ["pos", "ner", "sentiment", "sts", "dialect"]
MAIN = {"pos": "accuracy", "ner": "f1", "sentiment": "accuracy", "sts": "pearson", "dialect": "macro_f1"}
STUDENTS = ("a", "b", "ab")  # runs/<students>/<name>/<task>; row labels from student_labels()
TEACHER_FOLDERS = {"a": "teachers/e5-small", "b": "teachers/ro-bert-base"}  # as runs/teachers/<name>/<task>
TEACHER_OF = {"a": "a", "b": "b", "ab": "a"}  # ab is cut from A: its size and speed targets are against A


def weights_mb(folder) -> float:
    return round(folder_mb(folder), 1)


def split_scores(results: dict, split: str, task: str) -> dict:
    r = results.get(split) or {}
    metric = MAIN[task]
    pick = lambda key: r.get(f"{split}_{key}")  # noqa: E731
    return {
        "student": pick(metric),
        "teacher": pick(f"teacher_score_{metric}"),
        "label_loyalty": pick("label_loyalty"),
        "probability_loyalty": pick("probability_loyalty"),
        "regression_loyalty": pick("regression_loyalty"),
        "student_teacher_pearson": pick("student_teacher_pearson"),
    }


def load(runs: Path) -> dict:
    out = {}
    for name in STUDENTS:
        general = runs / name / "general" / "distill_results.json"
        entry = {"general": None, "tasks": {}}
        if general.exists():
            g = json.loads(general.read_text())
            entry["general"] = {
                "teachers": g["teachers"],
                "steps": g["train"]["steps"],
                "loss": g["train"]["loss"],
                "runtime_s": g["train"]["runtime_s"],
                "vocabulary": g.get("vocabulary"),
                "layers": g["config"]["student_layers"],
                "max_texts": g["config"]["max_texts"],
                "alpha": {k: g["config"][k] for k in ("alpha_ce", "alpha_mlm", "alpha_cos")},
            }
        for task in TASKS:
            f = runs / name / task / "distill_results.json"
            if not f.exists():
                continue
            r = json.loads(f.read_text())
            entry["tasks"][task] = {
                "metric": MAIN[task],
                "teachers": r["teachers"],
                "teacher_weights": r.get("teacher_weights") or r["config"]["teacher_weights"],
                "teacher_weights_tuning": {k: r["teacher_weights_tuning"][k] for k in ("previous", "score", "metric")}
                if r.get("teacher_weights_tuning")
                else None,
                "validation": split_scores(r, "validation", task),
                "test": split_scores(r, "test", task),
                "teacher_parameters": r["teacher_parameters"],
                "student_parameters": r["student_parameters"],
                "teacher_weights_mb": [weights_mb(t) for t in r["teachers"]],
                "student_weights_mb": weights_mb(f.parent),
                "train": {k: r["train"][k] for k in ("steps", "loss", "runtime_s")},
                "config": {
                    k: r["config"][k]
                    for k in ("max_steps", "batch_size", "learning_rate", "max_length", "temperature")
                },
            }
        out[name] = entry
    return out


def _paired(teacher_ms, student_ms) -> dict:
    """Median, min and max over rounds of teacher / student time (each round times both back to back)."""
    ratios = sorted(t / s for t, s in zip(teacher_ms, student_ms))
    return {
        "median": round(statistics.median(ratios), 2),
        "min": round(ratios[0], 2),
        "max": round(ratios[-1], 2),
        "rounds": len(ratios),
    }


def teacher_folders(data: dict) -> dict:
    """{"a": "teachers/e5-small", "b": "teachers/ro-bert-base"}, or the folders the students' task teachers came
    from."""
    folders = dict(TEACHER_FOLDERS)
    for name in ("a", "b"):
        teachers = [t["teachers"][0] for t in data.get(name, {}).get("tasks", {}).values() if t.get("teachers")]
        if teachers:  # runs/teachers/<name>/<task>
            folders[name] = f"{Path(teachers[0]).parent.parent.name}/{Path(teachers[0]).parent.name}"
    return folders


def student_labels(data: dict) -> dict:
    """Row labels: "A: e5-small", "B: <teacher B's folder name>", "A+B"."""
    folders = teacher_folders(data)
    return {"a": f"A: {Path(folders['a']).name}", "b": f"B: {Path(folders['b']).name}", "ab": "A+B"}


def latency_table(path: Path, runs_name: str = "students", teachers: dict | None = None) -> dict:
    """{"a": {"teacher": {1: ms, 32: ms}, "student": {...}}, ...} from one interleaved latency.py run; a student is
    the model whose folder is <runs_name>/<a|b|ab>/<task> (a run may time students of several runs folders), a
    teacher one under ``teachers[a|b]`` (default: :data:`TEACHER_FOLDERS`)."""
    if not path.exists():
        return {}
    models = json.loads(path.read_text())["models"]

    def find(part):
        return next((v for k, v in models.items() if part in k), None)

    teacher = {k: find(f"{v}/") for k, v in (teachers or TEACHER_FOLDERS).items()}
    rows = {}
    for name in STUDENTS:
        s, t = find(f"{runs_name}/{name}/"), teacher[TEACHER_OF[name]]
        if s and t:
            rows[name] = {
                "teacher": {b: t[f"batch{b}_median_ms"] for b in (1, 32)},
                "student": {b: s[f"batch{b}_median_ms"] for b in (1, 32)},
                "speedup": {b: round(t[f"batch{b}_median_ms"] / s[f"batch{b}_median_ms"], 2) for b in (1, 32)},
            }
            if all(f"batch{b}_times_ms" in m for b in (1, 32) for m in (s, t)):  # rounds timed back to back
                rows[name]["paired_speedup"] = {
                    b: _paired(t[f"batch{b}_times_ms"], s[f"batch{b}_times_ms"]) for b in (1, 32)
                }
    return rows


def targets(data: dict, latency: dict) -> dict:
    res = {}
    for name, entry in data.items():
        tasks = entry["tasks"]
        if not tasks:
            continue
        ratios = {
            t: v["validation"]["student"] / v["validation"]["teacher"]
            for t, v in tasks.items()
            if v["validation"]["student"] is not None and v["validation"]["teacher"]
        }
        if name == "ab":  # the bar is the better single teacher on each task, not the (weaker or stronger) ensemble
            ratios = {}
            for t, v in tasks.items():
                singles = [data[s]["tasks"].get(t, {}).get("validation", {}).get("teacher") for s in ("a", "b")]
                singles = [x for x in singles if x is not None]
                if singles and v["validation"]["student"] is not None:
                    ratios[t] = v["validation"]["student"] / max(singles)
        params = [v["student_parameters"] / v["teacher_parameters"][0] for v in tasks.values()]
        r = {
            "tasks": len(tasks),
            "score_ratio_by_task": ratios,
            "mean_score_ratio": sum(ratios.values()) / len(ratios) if ratios else None,
            # a student that passes an under-trained teacher on one task must not buy the average on the others
            "mean_score_ratio_capped": sum(min(x, 1.0) for x in ratios.values()) / len(ratios) if ratios else None,
            "param_reduction": 1 - max(params),
        }
        # judged on the five tasks only: None (not judged) while a run folder holds fewer
        r["score_target_met"] = r["mean_score_ratio_capped"] >= 0.98 if len(ratios) == len(TASKS) else None
        r["param_target_met"] = r["param_reduction"] >= 0.35
        if name in latency:
            r["speedup"] = latency[name]["speedup"]
            r["speed_target_met"] = min(latency[name]["speedup"].values()) >= 2.0
        res[name] = r
    if all(data.get(s, {}).get("tasks") for s in ("a", "b", "ab")):
        wins = {}
        for t in TASKS:
            ab = data["ab"]["tasks"].get(t, {}).get("validation", {}).get("student")
            singles = [data[s]["tasks"].get(t, {}).get("validation", {}).get("student") for s in ("a", "b")]
            if ab is not None and None not in singles:
                wins[t] = ab >= max(singles)
        res["ab_vs_singles"] = {
            "tasks_at_least_as_good": [t for t, w in wins.items() if w],
            "count": sum(wins.values()),
            "tasks_compared": len(wins),
            "target_met": sum(wins.values()) >= 3,
        }
    return res


def fmt(v, scale=100, digits=2):
    return "–" if v is None else f"{scale * v:.{digits}f}"


def markdown(
    data,
    latency,
    tg,
    title="The three Romanian students",
    command="python examples/student_report.py",
    runs="runs/students",
) -> str:
    labels = student_labels(data)

    def yes(ok, tasks=None):
        if ok is None:
            return f"**not judged: {tasks} of {len(TASKS)} tasks run**"
        return "**met**" if ok else "**missed**"

    lines = [
        f"# {title}",
        "",
        f"Regenerate: `{command}` (inputs: `{runs}/<a|b|ab>/<task>/distill_results.json` "
        f"from `examples/distill_romanian.py`, latency from `examples/latency.py ... --out {runs}/latency.json`). "
        "Teachers are scored on exactly the rows and tokenisation the student saw, inside the same run; "
        "`pos` and `sentiment` have no public test split (kept by the maintainers), so those cells are empty.",
        "",
        "## Targets",
        "",
    ]
    for name, r in tg.items():
        if name == "ab_vs_singles":
            continue
        line = (
            f"- **{labels[name]}**: {fmt(r['mean_score_ratio'], 100, 1)}% of the teacher's dev score on average over "
            f"{len(r['score_ratio_by_task'])} tasks, "
            f"{fmt(r['mean_score_ratio_capped'], 100, 1)}% with every task capped "
            f"at the teacher (target ≥ 98%, on the capped average: "
            f"{yes(r['score_target_met'], len(r['score_ratio_by_task']))}); "
            f"{fmt(r['param_reduction'], 100, 1)}% fewer parameters (target ≥ 35%: {yes(r['param_target_met'])})"
        )
        if "speedup" in r:
            line += (
                f"; {r['speedup'][1]}x / {r['speedup'][32]}x faster at batch 1 / 32 "
                f"(target ≥ 2x: {yes(r['speed_target_met'])})"
            )
        lines.append(line + ".")
    if "ab_vs_singles" in tg:
        w = tg["ab_vs_singles"]
        lines.append(
            f"- **A+B vs the single-teacher students**: at least as good as both on {w['count']} of "
            f"{w['tasks_compared']} tasks "
            f"({', '.join(w['tasks_at_least_as_good']) or 'none'}; target ≥ 3: {yes(w['target_met'])})."
        )
    if "ab" in tg:
        lines += [
            "",
            "For A+B the score bar on each task is the *better* of the two single teachers; its size and speed "
            "are compared with teacher A, which it is cut from (the ensemble itself costs A + B).",
        ]
    lines += [
        "",
        "## Scores and loyalty",
        "",
        "| student | task | metric | teacher dev | student dev | % | teacher test | student test | label loyalty | "
        "prob. loyalty | regr. loyalty / Pearson(s,t) | params T → S | MB T → S |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, entry in data.items():
        for task, v in entry["tasks"].items():
            dev, test = v["validation"], v["test"]
            ratio = tg.get(name, {}).get("score_ratio_by_task", {}).get(task)
            regr = (
                "–"
                if dev["regression_loyalty"] is None
                else f"{fmt(dev['regression_loyalty'])} / {fmt(dev['student_teacher_pearson'])}"
            )
            tparams = " + ".join(f"{p / 1e6:.1f}" for p in v["teacher_parameters"])
            tmb = " + ".join(f"{m:.0f}" for m in v["teacher_weights_mb"])
            lines.append(
                f"| {labels[name]} | {task} | {v['metric']} | {fmt(dev['teacher'])} | {fmt(dev['student'])} | "
                f"{fmt(ratio, 100, 1)} | {fmt(test['teacher'])} | "
                f"{fmt(test['student'])} | {fmt(dev['label_loyalty'])} | "
                f"{fmt(dev['probability_loyalty'])} | {regr} | {tparams} M → {v['student_parameters'] / 1e6:.1f} M | "
                f"{tmb} → {v['student_weights_mb']:.0f} |"
            )
    lines += [
        "",
        "Loyalty is on dev, against the teacher ensemble the student learned from (A+B: with the ensemble "
        "weights listed under *How they were made*). Label loyalty: share "
        "of (first-sub-token) labels equal to the teacher's; probability "
        "loyalty: 1 − √JSD (log 2); STS: regression loyalty 1 − mean|ŷs − ŷt| / 5 and Pearson(ŷs, ŷt).",
        "",
    ]
    if latency:
        paired = all("paired_speedup" in r for r in latency.values())
        lines += [
            "## CPU latency (seq 128, 2 threads, median ms per forward)",
            "",
            "| student | teacher b1 | student b1 | speed-up b1 | teacher b32 | student b32 | speed-up b32 |"
            + (" paired b1 | paired b32 |" if paired else ""),
            "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if paired else ""),
        ]
        for name, r in latency.items():
            row = (
                f"| {labels[name]} | {r['teacher'][1]} | {r['student'][1]} | {r['speedup'][1]}x | "
                f"{r['teacher'][32]} | {r['student'][32]} | {r['speedup'][32]}x |"
            )
            if paired:
                row += "".join(
                    f" {q['median']}x ({q['min']}–{q['max']}) |" for q in (r["paired_speedup"][b] for b in (1, 32))
                )
            lines.append(row)
        if paired:
            n = next(iter(latency.values()))["paired_speedup"][1]["rounds"]
            lines += [
                "",
                f"Speed-up = ratio of the medians (the target's figure). Paired = median (min–max) over the {n} "
                "rounds of teacher ms / student ms, each round timing every model back to back, so a slow spell "
                "of the shared machine touches both sides of a round's ratio.",
            ]
        lines.append("")
    lines += ["## How they were made", ""]
    for name, entry in data.items():
        g = entry["general"]
        if g:
            vocab = g.get("vocabulary")
            vtxt = f"; vocabulary trimmed {vocab['before']:,} → {vocab['after']:,}" if vocab else ""
            if vocab and vocab.get("max_size"):
                vtxt += " (the corpus's most frequent tokens, with its alphabet's single characters)"
            elif vocab:
                vtxt += " (the tokens the corpus uses)"
            lines.append(
                f"- **{labels[name]}**: {g['layers']} layers cut from {g['teachers'][0]}{vtxt}; general distillation "
                f"{g['steps']} steps × 16 texts of ≤128 tokens in {g['runtime_s'] / 60:.1f} min (losses {g['alpha']}, "
                f"final loss {g['loss']:.2f}); then task distillation per task "
                + ", ".join(f"{t} {v['train']['steps']} steps" for t, v in entry["tasks"].items())
                + "."
            )
    ab = data.get("ab", {}).get("tasks", {})
    if ab:
        parts = []
        for task, v in ab.items():
            w = " / ".join(f"{x:g}" for x in v["teacher_weights"] or [])
            tuning = v.get("teacher_weights_tuning")
            if tuning:
                before = " / ".join(f"{x:g}" for x in tuning["previous"])
                parts.append(
                    f"{task} {w} (tuned on dev: ensemble dev {tuning['metric']} {100 * tuning['score']:.2f}; "
                    f"dev-score weights {before})"
                )
            else:
                parts.append(f"{task} {w} (proportional to the teachers' dev scores)")
        lines.append("- **A+B ensemble weights (A / B)**: " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs/students")
    ap.add_argument("--latency", default=None, help="latency.py JSON (default: RUNS/latency.json)")
    ap.add_argument("--out", default="results/archive")
    ap.add_argument(
        "--cards", default="model_cards/students", help="where the students' model cards are copied ('' to skip)"
    )
    ap.add_argument(
        "--notes", default="results/archive/students-notes.md", help="hand-written reading, appended if present"
    )
    ap.add_argument("--title", default="The three Romanian students")
    args = ap.parse_args()
    runs = Path(args.runs)
    data = load(runs)
    latency = latency_table(
        Path(args.latency) if args.latency else runs / "latency.json", runs.name, teacher_folders(data)
    )
    tg = targets(data, latency)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "students.json").write_text(json.dumps({"students": data, "latency": latency, "targets": tg}, indent=2))
    if args.cards:
        from optimum_ro.distillation.model_card import render_student_card

        Path(args.cards).mkdir(parents=True, exist_ok=True)
        for f in sorted(runs.glob("*/*/distill_results.json")):
            if f.parent.parent.name in STUDENTS and f.parent.name in TASKS:
                card = render_student_card(json.loads(f.read_text()))
                (Path(args.cards) / f"{f.parent.parent.name}-{f.parent.name}.md").write_text(card)
    command = "python examples/student_report.py" + "".join(
        f" --{k} {shlex.quote(str(v))}" for k, v in vars(args).items() if v != ap.get_default(k)
    )
    text = markdown(data, latency, tg, args.title, command, args.runs)
    if args.notes and Path(args.notes).exists():
        text += "\n" + Path(args.notes).read_text()
    (out / "students.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
