"""Collect distilled students into results/students.{json,md} (one command regenerates the report).

    python examples/latency.py <teacher> <student> --out runs/students/<name>/latency.json   # per student
    python examples/student_report.py [--runs runs/students] [--out results]

Per student: teacher and student dev scores, label/probability (or regression) loyalty, parameters,
weights on disk, CPU latency at batch 1 and 32 (seq 128) and the speed-up over the teacher.
"""
import argparse
import json
from pathlib import Path

MAIN = {"pos": "accuracy", "ner": "f1", "sentiment": "accuracy", "sts": "pearson", "dialect": "macro_f1"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs/students")
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    rows = {}
    for f in sorted(Path(args.runs).glob("*/distill_results.json")):
        r = json.loads(f.read_text())
        task, metric = r["task"], MAIN.get(r["task"])
        teacher_eval = Path(r["teachers"][0]) / "eval_results.json"
        teacher_dev = json.loads(teacher_eval.read_text())["validation"] if teacher_eval.exists() else {}
        dev = r.get("validation", {})
        latency = json.loads((f.parent / "latency.json").read_text())["models"] if (f.parent / "latency.json").exists() else {}
        lat_teacher, lat_student = (list(latency.values()) + [{}, {}])[:2]
        rows[f.parent.name] = {
            "task": task, "teachers": r["teachers"], "metric": metric,
            "teacher_dev": teacher_dev.get(metric), "student_dev": dev.get(f"validation_{metric}"),
            "loyalty": {k.removeprefix("validation_"): v for k, v in dev.items() if "loyalty" in k or "teacher_pearson" in k},
            "teacher_parameters": r["teacher_parameters"][0], "student_parameters": r["student_parameters"],
            "student_parameters_before_trim": r.get("student_parameters_before_trim"), "vocabulary": r.get("vocabulary"),
            "train": r["train"], "config": {k: r["config"][k] for k in ("student_layers", "max_steps", "batch_size",
                                                                      "learning_rate", "max_length")},
            "latency": latency}
        rows[f.parent.name]["speedup"] = {b: lat_student.get(f"batch{b}_speedup") for b in (1, 32)}
        rows[f.parent.name]["latency_ms"] = {
            "teacher": {b: lat_teacher.get(f"batch{b}_median_ms") for b in (1, 32)},
            "student": {b: lat_student.get(f"batch{b}_median_ms") for b in (1, 32)}}
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "students.json").write_text(json.dumps(rows, indent=2))
    pct = lambda v: "–" if v is None else f"{100 * v:.2f}"  # noqa: E731
    lines = ["# Distilled students", "",
             "Regenerate: `python examples/student_report.py` (after `optimum-ro distill ...` and "
             "`python examples/latency.py <teacher> <student> --out runs/students/<name>/latency.json`). "
             "Latency: median ms per forward, seq 128, 2 threads, teacher and student interleaved in one run.", "",
             "| student | task | teacher dev | student dev | % of teacher | label loyalty | prob. loyalty | params teacher → student | "
             "latency b1 (T/S ms) | latency b32 (T/S ms) | speed-up b1 / b32 |",
             "|---|---|---:|---:|---:|---:|---:|---|---|---|---|"]
    for name, r in rows.items():
        loy = r["loyalty"]
        ratio = (r["student_dev"] / r["teacher_dev"]) if r["teacher_dev"] and r["student_dev"] is not None else None
        lt, ls = r["latency_ms"]["teacher"], r["latency_ms"]["student"]
        lines.append(
            f"| {name} | {r['task']} | {pct(r['teacher_dev'])} | {pct(r['student_dev'])} | {pct(ratio)} | "
            f"{pct(loy.get('label_loyalty'))} | {pct(loy.get('probability_loyalty'))} | "
            f"{r['teacher_parameters'] / 1e6:.1f} M → {r['student_parameters'] / 1e6:.1f} M | {lt[1]} / {ls[1]} | "
            f"{lt[32]} / {ls[32]} | {r['speedup'][1]}x / {r['speedup'][32]}x |")
    (out / "students.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
