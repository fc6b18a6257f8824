"""Collect teacher fine-tuning results into results/teachers.{json,md}.

    python examples/teacher_report.py [--runs runs/teachers] [--out results]

Reads every ``runs/teachers/<teacher>/<task>/eval_results.json`` written by
``optimum-ro finetune`` (and ``pretrain_results.json`` of in-house teachers when given).
"""
import argparse
import json
import platform
from pathlib import Path

MAIN = {"pos": ("accuracy",), "ner": ("f1",), "sentiment": ("accuracy", "macro_f1"), "sts": ("pearson", "spearman"),
        "dialect": ("macro_f1", "accuracy")}
ORDER = ["pos", "ner", "sentiment", "sts", "dialect"]


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs/teachers")
    ap.add_argument("--out", default="results")
    ap.add_argument("--pretrain", nargs="*", default=["runs/ro-bert-base/pretrain_results.json"])
    args = ap.parse_args()
    import torch
    import transformers

    rows = {}
    for f in sorted(Path(args.runs).glob("*/*/eval_results.json")):
        r = json.loads(f.read_text())
        rows.setdefault(f.parent.parent.name, {})[r["task"]] = {
            "validation": r.get("validation"), "test": r.get("test"), "train_seconds": r["train_seconds"],
            "train_steps": r["train_steps"], "batch_size": r["config"]["batch_size"],
            "max_length": r["config"]["max_length"], "learning_rate": r["config"]["learning_rate"],
            "parameters": r["parameters"], "size_mb": r["size_mb"], "frozen_word_embeddings": r["frozen_word_embeddings"],
            "torch_threads": r.get("torch_threads")}
    pretrain = {p: json.loads(Path(p).read_text()) for p in args.pretrain if Path(p).exists()}
    env = {"cpu": cpu_model(), "cores": __import__("os").cpu_count(), "torch": torch.__version__,
           "transformers": transformers.__version__}
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "teachers.json").write_text(json.dumps({"environment": env, "teachers": rows, "pretraining": pretrain},
                                                  indent=2))
    lines = ["# Teacher baselines (dev and test scores)", "",
             f"Machine: {env['cpu']}, {env['cores']} cores, torch {env['torch']}, transformers {env['transformers']}. "
             "Regenerate with `python examples/teacher_report.py` after `bash examples/train_teachers.sh ...`.", "",
             "| teacher | task | metric | dev | test | train steps × batch (max len) | train time | params | size |",
             "|---|---|---|---:|---:|---|---:|---:|---:|"]
    for teacher, tasks in rows.items():
        for task in ORDER:
            if task not in tasks:
                continue
            r = tasks[task]
            for i, metric in enumerate(MAIN[task]):
                dev = (r["validation"] or {}).get(metric)
                test = (r["test"] or {}).get(metric)
                fmt = lambda v: "–" if v is None else f"{100 * v:.2f}"  # noqa: E731
                extra = (f"{r['train_steps']} × {r['batch_size']} ({r['max_length']})", f"{r['train_seconds'] / 60:.1f} min",
                         f"{r['parameters'] / 1e6:.1f} M", f"{r['size_mb']:.0f} MB") if i == 0 else ("", "", "", "")
                lines.append(f"| {teacher if i == 0 else ''} | {task if i == 0 else ''} | {metric} | {fmt(dev)} | "
                             f"{fmt(test)} | " + " | ".join(extra) + " |")
    for path, p in pretrain.items():
        c = p["config"]
        lines += ["", f"In-house teacher pretraining ({path}): BERT {c['num_layers']} layers × {c['hidden_size']}, "
                  f"{c['num_heads']} heads, FFN {c['intermediate_size']}, WordPiece vocab {c['vocab_size']}; "
                  f"{p['steps']} steps × {c['batch_size']} blocks of {c['max_length']} tokens "
                  f"({p['tokens_seen'] / 1e6:.1f} M tokens) in {p['train_seconds'] / 60:.1f} min, "
                  f"final MLM loss {p['final_loss']}, {p['parameters'] / 1e6:.1f} M parameters."]
    (out / "teachers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
